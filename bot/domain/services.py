"""AWS services the bot knows by name: how each one's role must trust it, and service-linked role names.

Every row of ``SERVICE_TRUSTS`` cites the AWS page it comes from (see also docs/aws-rules.md). A service
absent from the table can still be typed in; it then gets one principal, ``sts:AssumeRole``, and no
confused-deputy keys, because nothing documents that it sends them.
"""

from dataclasses import dataclass

CONFUSED_DEPUTY_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html"
CHINA_PRINCIPALS_DOC = "https://docs.amazonaws.cn/en_us/IAM/latest/UserGuide/reference_policies_elements_principal.html"
"""AWS China: a service principal is usually ``service.amazonaws.com``, but "some services might use"
``service.amazonaws.com.cn`` "instead of or in addition to" it; no page lists which (docs/aws-rules.md)."""


@dataclass(frozen=True)
class ServiceTrust:
    """How a role for one AWS service must trust it.

    ``principals``: every service principal the trust names (Lambda@Edge needs two); ``actions``: what the
    service calls (EKS Pod Identity tags its sessions); ``sends_source_keys``: whether the service puts
    ``aws:SourceAccount`` / ``aws:SourceArn`` in its AssumeRole request — only then may the trust demand
    them, or the role can never be assumed; ``source``: the AWS page all this comes from;
    ``china_principals``: the principals in partition ``aws-cn`` where they differ (see ``CHINA_PRINCIPALS_DOC``).
    """

    key: str
    label: str
    principals: tuple[str, ...]
    source: str
    actions: tuple[str, ...] = ("sts:AssumeRole",)
    sends_source_keys: bool = False
    china_principals: tuple[str, ...] = ()

    def principals_in(self, partition: str) -> tuple[str, ...]:
        """The principals the trust names in ``partition``: the China ones in ``aws-cn`` if the row has any."""
        return self.china_principals if partition == "aws-cn" and self.china_principals else self.principals


SERVICE_TRUSTS: tuple[ServiceTrust, ...] = (
    ServiceTrust(
        "ec2.amazonaws.com",
        "EC2 instances (with an instance profile)",
        ("ec2.amazonaws.com",),
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html",
        # AWS China: EKS refuses a node role that doesn't trust ec2.amazonaws.com.cn (docs/aws-rules.md).
        china_principals=("ec2.amazonaws.com.cn",),
    ),
    ServiceTrust(
        "lambda.amazonaws.com",
        "Lambda functions",
        ("lambda.amazonaws.com",),
        "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
    ),
    ServiceTrust(
        "edgelambda.amazonaws.com",
        "Lambda@Edge functions (CloudFront)",
        ("lambda.amazonaws.com", "edgelambda.amazonaws.com"),
        "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-edge-permissions.html",
    ),
    ServiceTrust(
        "pods.eks.amazonaws.com",
        "EKS Pod Identity (pods)",
        ("pods.eks.amazonaws.com",),
        "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html",
        actions=("sts:AssumeRole", "sts:TagSession"),
    ),
    ServiceTrust(
        "ecs-tasks.amazonaws.com",
        "ECS tasks",
        ("ecs-tasks.amazonaws.com",),
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html",
        sends_source_keys=True,
    ),
    ServiceTrust(
        "glue.amazonaws.com",
        "Glue jobs and crawlers",
        ("glue.amazonaws.com",),
        "https://docs.aws.amazon.com/glue/latest/dg/create-an-iam-role.html",
    ),
    ServiceTrust(
        "states.amazonaws.com",
        "Step Functions state machines",
        ("states.amazonaws.com",),
        "https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html",
        sends_source_keys=True,
    ),
    ServiceTrust(
        "events.amazonaws.com",
        "EventBridge rules",
        ("events.amazonaws.com",),
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html",
    ),
    ServiceTrust(
        "scheduler.amazonaws.com",
        "EventBridge Scheduler schedules",
        ("scheduler.amazonaws.com",),
        "https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html",
        sends_source_keys=True,
    ),
    ServiceTrust(
        "pipes.amazonaws.com",
        "EventBridge Pipes",
        ("pipes.amazonaws.com",),
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html",
    ),
    ServiceTrust(
        "codebuild.amazonaws.com",
        "CodeBuild projects",
        ("codebuild.amazonaws.com",),
        "https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html",
        sends_source_keys=True,
    ),
    ServiceTrust(
        "codepipeline.amazonaws.com",
        "CodePipeline pipelines",
        ("codepipeline.amazonaws.com",),
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html",
    ),
    ServiceTrust(
        "cloudformation.amazonaws.com",
        "CloudFormation stacks",
        ("cloudformation.amazonaws.com",),
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html",
    ),
    ServiceTrust(
        "sagemaker.amazonaws.com",
        "SageMaker notebooks, training jobs and endpoints",
        ("sagemaker.amazonaws.com",),
        "https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html",
        sends_source_keys=True,
    ),
    ServiceTrust(
        "firehose.amazonaws.com",
        "Data Firehose streams",
        ("firehose.amazonaws.com",),
        "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html",
    ),
    ServiceTrust(
        "batch.amazonaws.com",
        "Batch compute environments",
        ("batch.amazonaws.com",),
        "https://docs.aws.amazon.com/batch/latest/userguide/service_IAM_role.html",
    ),
    ServiceTrust(
        "elasticmapreduce.amazonaws.com",
        "EMR clusters",
        ("elasticmapreduce.amazonaws.com",),
        "https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role.html",
    ),
    ServiceTrust(
        "backup.amazonaws.com",
        "AWS Backup plans",
        ("backup.amazonaws.com",),
        "https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html",
    ),
    ServiceTrust(
        "apigateway.amazonaws.com",
        "API Gateway",
        ("apigateway.amazonaws.com",),
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html",
    ),
)
"""Common services that assume roles. ``sends_source_keys`` is True only where the service's own guide shows
``aws:SourceAccount`` / ``aws:SourceArn`` in the role's trust policy; EC2 and Lambda don't send them."""

SERVICE_TRUSTS_BY_KEY = {service.key: service for service in SERVICE_TRUSTS}

SERVICE_PRINCIPALS: tuple[tuple[str, str], ...] = tuple((service.key, service.label) for service in SERVICE_TRUSTS)
"""(choice, plain label) as offered in the modal; any other ``<name>.amazonaws.com`` may still be typed in."""


def service_trust(key: str) -> ServiceTrust | None:
    """The table row of a service the form offered (None for a principal typed in)."""
    return SERVICE_TRUSTS_BY_KEY.get(key)


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
