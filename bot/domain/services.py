"""AWS services the bot knows by name: the curated choices offered in the modal, and service-linked role names."""

SERVICE_PRINCIPALS: tuple[tuple[str, str], ...] = (
    ("ec2.amazonaws.com", "EC2 instances (with an instance profile)"),
    ("lambda.amazonaws.com", "Lambda functions"),
    ("ecs-tasks.amazonaws.com", "ECS tasks"),
    ("glue.amazonaws.com", "Glue jobs and crawlers"),
    ("states.amazonaws.com", "Step Functions state machines"),
    ("events.amazonaws.com", "EventBridge rules"),
    ("scheduler.amazonaws.com", "EventBridge Scheduler schedules"),
    ("pipes.amazonaws.com", "EventBridge Pipes"),
    ("codebuild.amazonaws.com", "CodeBuild projects"),
    ("codepipeline.amazonaws.com", "CodePipeline pipelines"),
    ("cloudformation.amazonaws.com", "CloudFormation stacks"),
    ("sagemaker.amazonaws.com", "SageMaker notebooks, training jobs and endpoints"),
    ("firehose.amazonaws.com", "Data Firehose streams"),
    ("batch.amazonaws.com", "Batch compute environments"),
    ("elasticmapreduce.amazonaws.com", "EMR clusters"),
    ("backup.amazonaws.com", "AWS Backup plans"),
    ("apigateway.amazonaws.com", "API Gateway"),
)
"""(service principal, plain label) of common services that assume roles; any other ``<name>.amazonaws.com``
may still be typed in."""

EC2_PRINCIPALS = frozenset({"ec2.amazonaws.com", "ec2.amazonaws.com.cn"})
"""EC2 needs an instance profile to hand a role to instances (the console makes one, the API does not)."""

SERVICE_LINKED_ROLE_NAMES = {
    "access-analyzer.amazonaws.com": "AWSServiceRoleForAccessAnalyzer",
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "backup.amazonaws.com": "AWSServiceRoleForBackup",
    "config.amazonaws.com": "AWSServiceRoleForConfig",
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
    "elasticache.amazonaws.com": "AWSServiceRoleForElastiCache",
    "elasticbeanstalk.amazonaws.com": "AWSServiceRoleForElasticBeanstalk",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
    "opensearchservice.amazonaws.com": "AWSServiceRoleForAmazonOpenSearchService",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "ssm.amazonaws.com": "AWSServiceRoleForAmazonSSM",
    "sso.amazonaws.com": "AWSServiceRoleForSSO",
    "support.amazonaws.com": "AWSServiceRoleForSupport",
}
"""Names AWS gives the service-linked roles of common services; they follow no rule that can be derived."""


def service_linked_role_name(service: str, suffix: str | None) -> str:
    """The name AWS gives a service-linked role: ``AWSServiceRoleFor<Service>``, then ``_<suffix>``.

    Exact for the services above; for others it is AWS's usual pattern, so trust the name that
    CreateServiceLinkedRole returns over this one.
    """
    known = SERVICE_LINKED_ROLE_NAMES.get(service)
    name = known or "AWSServiceRoleFor" + "".join(word.capitalize() for word in service.split(".")[0].split("-"))
    return f"{name}_{suffix}" if suffix else name
