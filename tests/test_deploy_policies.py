"""The CloudFormation policies, evaluated: what a bounded role, the bot role and the executor may do.

moto evaluates no policy, so the templates are resolved here (a tiny stand-in for CloudFormation's
``Ref``/``Fn::Sub``/``Fn::If``/``Fn::Join``/conditions with test parameter values) and their documents are asked
``bot.review.evaluator.is_allowed`` what real AWS would decide. Request contexts carry the condition
keys AWS documents for each action (docs/aws-rules.md, "deploy/cloudformation").
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_cfn

from bot.review.evaluator import Principal, Request, is_allowed

CFN = Path(__file__).resolve().parent.parent / "deploy" / "cloudformation"
ACCOUNT = "111122223333"
MEMBER = "444455556666"
STRANGER = "777788889999"
ROLE_PATH = "/iam-role-bot/"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/iam-role-bot-boundary"
REQUEST_TAG = "iam-role-bot:request-id"
HANDED_OVER = {"aws:ResourceTag/iam-role-bot:bounded-workload": "true"}
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
BOT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/iam-role-bot-BotRole-ABC"
PARAMETERS = {
    "MemberAccountIds": [MEMBER],
    "AllowedServiceLinkedServices": ["autoscaling.amazonaws.com"],
    "BotRoleArn": BOT_ROLE_ARN,
    "ExternalId": "shared-secret",
}
NO_VALUE = object()
"""``AWS::NoValue``: dropped from the list or mapping that holds it."""
MANAGED_POLICY_LIMIT = 6144
INLINE_POLICIES_LIMIT = 10240


def role_arn(name: str, account: str = ACCOUNT, path: str = ROLE_PATH) -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


class Stack:
    """One template with parameter values, its conditions decided, its intrinsic functions resolved."""

    def __init__(self, name: str, partition: str = "aws", **overrides: str | list[str]) -> None:
        self.template = load_cfn(str(CFN / name))
        declared = self.template.get("Parameters", {})
        values: dict[str, Any] = {key: spec.get("Default", "") for key, spec in declared.items()}
        values.update({key: value for key, value in PARAMETERS.items() if key in declared})
        values.update(overrides)
        for key, spec in declared.items():
            if spec["Type"] == "CommaDelimitedList" and isinstance(values[key], str):
                values[key] = values[key].split(",")
        self.values = values | {"AWS::AccountId": ACCOUNT, "AWS::Partition": partition, "AWS::NoValue": NO_VALUE}
        self.conditions = {key: self.resolve(value) for key, value in self.template.get("Conditions", {}).items()}

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(self.resolve, node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            function = INTRINSICS.get(key)
            if function is not None:
                return function(self, argument)
        return {key: value for key, value in ((k, self.resolve(v)) for k, v in node.items()) if value is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        resource = self.template["Resources"][name]
        assert resource["Type"] == "AWS::IAM::ManagedPolicy", f"no test value for Ref {name}"
        props = self.resolve(resource["Properties"])
        return f"arn:{self.values['AWS::Partition']}:iam::{ACCOUNT}:policy{props['Path']}{props['ManagedPolicyName']}"

    def sub(self, argument: Any) -> str:
        text, names = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m[1]] if m[1] in names else self.ref(m[1])), text)

    def when(self, argument: list[Any]) -> Any:
        condition, if_true, if_false = argument
        return self.resolve(if_true if self.conditions[condition] else if_false)

    def policy(self, logical_id: str) -> dict[str, Any]:
        """The (only) inline policy document of a role."""
        (policy,) = self.resolve(self.template["Resources"][logical_id]["Properties"]["Policies"])
        return policy["PolicyDocument"]

    def trust(self, logical_id: str) -> dict[str, Any]:
        return self.resolve(self.template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"])

    def boundary(self) -> dict[str, Any]:
        return self.resolve(self.template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"])


INTRINSICS: dict[str, Callable[[Stack, Any], Any]] = {
    "Ref": Stack.ref,
    "Fn::Sub": Stack.sub,
    "Fn::If": Stack.when,
    "Fn::Join": lambda stack, argument: argument[0].join(stack.resolve(argument[1])),
    "Fn::Equals": lambda stack, argument: stack.resolve(argument[0]) == stack.resolve(argument[1]),
    "Fn::Not": lambda stack, argument: not stack.resolve(argument[0]),
    "Fn::Or": lambda stack, argument: any(stack.resolve(condition) for condition in argument),
}


def non_whitespace(document: dict[str, Any]) -> int:
    """How IAM counts a policy's size: its JSON without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document)))


# --- the permissions boundary ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["permissions-boundary.yml", "executor-role.yml"])
def bounded(request: pytest.FixtureRequest) -> Callable[..., bool]:
    """Whether a role holding AdministratorAccess, capped by the boundary, may make a request."""
    boundary = Stack(request.param).boundary()

    def may(action: str, resource: str = "*", **context: Any) -> bool:
        keys = {key.replace("__", ":"): value for key, value in context.items()}
        call = Request(action, resource=resource, context=keys)
        return is_allowed(ADMINISTRATOR, call) and is_allowed(boundary, call)

    return may


def test_the_boundary_leaves_ordinary_service_use(bounded: Callable[..., bool]) -> None:
    assert bounded("s3:GetObject", "arn:aws:s3:::reports/q3.csv")
    assert bounded("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:111122223333:table/orders")
    assert bounded("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/deploy")
    assert bounded("iam:PassRole", role_arn("app-task"))
    assert bounded("lambda:UpdateFunctionCode", "arn:aws:lambda:eu-west-1:111122223333:function:api", **HANDED_OVER)


def test_a_bounded_role_cannot_write_iam(bounded: Callable[..., bool]) -> None:
    for action in ("iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"):
        assert not bounded(action, role_arn("app-task"), **{"iam:PermissionsBoundary": BOUNDARY_ARN})
    assert not bounded("iam:DeleteRolePermissionsBoundary", role_arn("app-task"))
    assert not bounded("iam:CreatePolicyVersion", BOUNDARY_ARN)
    assert not bounded("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice")
    assert not bounded("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")


def test_a_bounded_role_cannot_hop_into_other_roles(bounded: Callable[..., bool]) -> None:
    assert not bounded("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role")
    assert not bounded("sts:AssumeRole", role_arn("other-request", MEMBER))
    assert not bounded(
        "sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/moved", **{f"iam:ResourceTag/{REQUEST_TAG}": "r-7"}
    )
    for name in ("OrganizationAccountAccessRole", "AWSControlTowerExecution", "AWSCloudFormationStackSetExecutionRole"):
        assert not bounded("sts:AssumeRole", f"arn:aws:iam::{MEMBER}:role/{name}")
    sso = f"arn:aws:iam::{MEMBER}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    assert not bounded("sts:AssumeRole", sso)


def test_a_bounded_role_cannot_run_code_as_other_roles(bounded: Callable[..., bool]) -> None:
    function = "arn:aws:lambda:eu-west-1:111122223333:function:billing"
    assert not bounded("lambda:UpdateFunctionCode", function)
    assert not bounded("lambda:UpdateFunctionConfiguration", function)
    assert not bounded("codebuild:StartBuild", "arn:aws:codebuild:eu-west-1:111122223333:project/release")
    assert not bounded("ecs:ExecuteCommand", "arn:aws:ecs:eu-west-1:111122223333:task/prod/abc")
    assert not bounded("states:UpdateStateMachine", "arn:aws:states:eu-west-1:111122223333:stateMachine:payouts")
    assert not bounded("glue:UpdateDevEndpoint", "arn:aws:glue:eu-west-1:111122223333:devEndpoint/etl")
    assert not bounded("ssm:SendCommand", "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc", **HANDED_OVER)
    assert not bounded("ssm:StartSession", "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc")
    assert not bounded("cloudformation:CreateStackSet")


def test_stacks_change_only_under_a_bot_made_service_role_or_when_handed_over(bounded: Callable[..., bool]) -> None:
    stack = "arn:aws:cloudformation:eu-west-1:111122223333:stack/network/1"
    assert not bounded("cloudformation:UpdateStack", stack)
    assert not bounded(
        "cloudformation:UpdateStack", stack, **{"cloudformation:RoleArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}
    )
    assert bounded("cloudformation:UpdateStack", stack, **{"cloudformation:RoleArn": role_arn("stack-role")})
    assert bounded("cloudformation:UpdateStack", stack, **HANDED_OVER)
    assert bounded("cloudformation:CreateStack", stack)


def test_a_bounded_role_cannot_set_the_bots_tags(bounded: Callable[..., bool]) -> None:
    function = "arn:aws:lambda:eu-west-1:111122223333:function:billing"
    assert not bounded("lambda:TagResource", function, aws__TagKeys=["iam-role-bot:bounded-workload"])
    assert not bounded("lambda:UntagResource", function, aws__TagKeys=["team", REQUEST_TAG])
    assert bounded("lambda:TagResource", function, aws__TagKeys=["team"])


def test_a_bounded_role_cannot_touch_the_organisation_or_blind_security(bounded: Callable[..., bool]) -> None:
    for action in (
        "organizations:LeaveOrganization",
        "organizations:CreateAccount",
        "account:PutAlternateContact",
        "sso:CreatePermissionSet",
        "identitystore:CreateUser",
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "cloudtrail:PutEventSelectors",
        "guardduty:DeleteDetector",
        "guardduty:UpdateDetector",
        "guardduty:CreateFilter",
        "securityhub:DisableSecurityHub",
        "securityhub:BatchDisableStandards",
        "config:StopConfigurationRecorder",
        "access-analyzer:DeleteAnalyzer",
    ):
        assert not bounded(action), action
    assert not bounded("logs:DeleteLogGroup", "arn:aws:logs:eu-west-1:111122223333:log-group:aws-cloudtrail-logs")
    assert bounded("logs:PutLogEvents", "arn:aws:logs:eu-west-1:111122223333:log-group:/app:log-stream:x")


def test_the_boundary_fits_a_managed_policy() -> None:
    """IAM quotas: a managed policy holds at most 6,144 non-whitespace characters."""
    assert non_whitespace(Stack("permissions-boundary.yml").boundary()) <= MANAGED_POLICY_LIMIT


# --- the bot role and the executor role ---------------------------------------------------------

BOT_ROLES = [("bot-role.yml", "BotRole"), ("executor-role.yml", "ExecutorRole")]


@pytest.fixture(scope="module", params=BOT_ROLES, ids=[name for name, _ in BOT_ROLES])
def bot(request: pytest.FixtureRequest) -> Callable[..., bool]:
    """Whether the bot (or executor) role may make a request; ``tagged`` gives the role the provenance tag."""
    name, logical_id = request.param
    policy = Stack(name).policy(logical_id)

    def may(action: str, resource: str = "*", *, tagged: bool = False, **context: Any) -> bool:
        keys = {key.replace("__", ":"): value for key, value in context.items()}
        if tagged:
            keys[f"iam:ResourceTag/{REQUEST_TAG}"] = "r-42"
        return is_allowed(policy, Request(action, resource=resource, context=keys))

    return may


def test_the_bot_can_carry_out_a_normal_request(bot: Callable[..., bool]) -> None:
    role = role_arn("app-task")
    tags = {"aws:TagKeys": [REQUEST_TAG, "iam-role-bot:requester"], f"aws:RequestTag/{REQUEST_TAG}": "r-42"}
    assert bot("iam:CreateRole", role, iam__PermissionsBoundary=BOUNDARY_ARN, **tags)
    assert bot("iam:TagRole", role, **tags)
    readonly = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert bot(
        "iam:AttachRolePolicy", role, tagged=True, iam__PermissionsBoundary=BOUNDARY_ARN, iam__PolicyARN=readonly
    )
    assert bot("iam:PutRolePolicy", role, tagged=True, iam__PermissionsBoundary=BOUNDARY_ARN)
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile{ROLE_PATH}app-task"
    for action in ("iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile"):
        assert bot(action, profile)
    assert bot("iam:PassRole", role, iam__PassedToService="ec2.amazonaws.com")
    slr = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert bot("iam:CreateServiceLinkedRole", slr, iam__AWSServiceName="autoscaling.amazonaws.com")
    assert not bot("iam:CreateServiceLinkedRole", slr, iam__AWSServiceName="eks.amazonaws.com")


def test_the_bot_rolls_back_only_roles_it_tagged(bot: Callable[..., bool]) -> None:
    role = role_arn("app-task")
    for action in ("iam:DetachRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole"):
        assert bot(action, role, tagged=True), action
        assert not bot(action, role), f"{action} on an untagged role under the bot's path"
        assert not bot(action, f"arn:aws:iam::{ACCOUNT}:role/admin", tagged=True), f"{action} outside the path"
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile{ROLE_PATH}app-task"
    assert bot("iam:RemoveRoleFromInstanceProfile", profile)
    assert bot("iam:DeleteInstanceProfile", profile)


def test_the_bot_cannot_attach_administrator_policies(bot: Callable[..., bool]) -> None:
    role = role_arn("app-task")
    for name in ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess", "AdministratorAccess-Amplify"):
        arn = f"arn:aws:iam::aws:policy/{name}"
        assert not bot(
            "iam:AttachRolePolicy", role, tagged=True, iam__PermissionsBoundary=BOUNDARY_ARN, iam__PolicyARN=arn
        )


def test_the_bot_cannot_escape_the_boundary_or_the_path(bot: Callable[..., bool]) -> None:
    assert not bot("iam:CreateRole", role_arn("app-task"))
    assert not bot(
        "iam:CreateRole", role_arn("app-task"), iam__PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/open"
    )
    assert not bot("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/app-task", iam__PermissionsBoundary=BOUNDARY_ARN)
    assert not bot("iam:DeleteRolePermissionsBoundary", role_arn("app-task"), tagged=True)
    assert not bot("iam:CreatePolicyVersion", BOUNDARY_ARN)
    assert not bot("iam:UpdateAssumeRolePolicy", role_arn("app-task"), tagged=True)
    assert not bot("iam:PassRole", role_arn("app-task"), iam__PassedToService="lambda.amazonaws.com")


@pytest.mark.parametrize(("name", "logical_id", "member_may"), [(*BOT_ROLES[0], True), (*BOT_ROLES[1], False)])
def test_only_the_bot_role_assumes_executors_and_only_in_member_accounts(
    name: str, logical_id: str, member_may: bool
) -> None:
    """The bot role may assume the executor of a listed member account; the executor assumes nothing."""
    policy = Stack(name).policy(logical_id)

    def may(account: str, role: str = "iam-role-bot-executor") -> bool:
        resource = f"arn:aws:iam::{account}:role/{role}"
        return is_allowed(
            policy, Request("sts:AssumeRole", resource=resource, context={"aws:ResourceAccount": account})
        )

    assert may(MEMBER) is member_may
    assert not may(STRANGER)
    assert not may(MEMBER, "OrganizationAccountAccessRole")


@pytest.mark.parametrize("partition", ["aws-us-gov", "aws-cn"])
def test_every_arn_follows_the_partition(partition: str) -> None:
    """Built with ``AWS::Partition``: in GovCloud or China the same rules hold for that partition's ARNs."""
    policy = Stack("bot-role.yml", partition).policy("BotRole")
    boundary = Stack("permissions-boundary.yml", partition).boundary()
    role = f"arn:{partition}:iam::{ACCOUNT}:role{ROLE_PATH}app-task"
    own_boundary = {"iam:PermissionsBoundary": f"arn:{partition}:iam::{ACCOUNT}:policy/iam-role-bot-boundary"}
    assert is_allowed(policy, Request("iam:CreateRole", resource=role, context=own_boundary))
    admin = {**own_boundary, "iam:PolicyARN": f"arn:{partition}:iam::aws:policy/AdministratorAccess"}
    assert not is_allowed(policy, Request("iam:AttachRolePolicy", resource=role, context=admin))
    assert not is_allowed(boundary, Request("sts:AssumeRole", resource=f"arn:{partition}:iam::{ACCOUNT}:role/x"))
    assert is_allowed(boundary, Request("iam:PassRole", resource=role))


@pytest.mark.parametrize(("name", "logical_id"), BOT_ROLES)
def test_roles_pass_to_ec2_under_chinas_principal_too(name: str, logical_id: str) -> None:
    """In aws-cn EC2's principal is ec2.amazonaws.com.cn: the instance profile step passes the role to it."""
    policy = Stack(name, "aws-cn").policy(logical_id)
    role = f"arn:aws-cn:iam::{ACCOUNT}:role{ROLE_PATH}app-task"
    for ec2 in ("ec2.amazonaws.com", "ec2.amazonaws.com.cn"):
        assert is_allowed(policy, Request("iam:PassRole", resource=role, context={"iam:PassedToService": ec2}))
    lambda_ = {"iam:PassedToService": "lambda.amazonaws.com.cn"}
    assert not is_allowed(policy, Request("iam:PassRole", resource=role, context=lambda_))


def test_the_bot_runs_on_ec2_in_china_with_an_instance_profile() -> None:
    stack = Stack("bot-role.yml", "aws-cn", TrustedService="ec2.amazonaws.com.cn")
    (statement, *_) = stack.trust("BotRole")["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com.cn"}
    assert stack.conditions["TrustsEc2"] and not Stack("bot-role.yml").conditions["TrustsEc2"]


def test_the_role_policies_fit_the_inline_quota() -> None:
    """IAM quotas: a role's inline policies hold at most 10,240 non-whitespace characters in total."""
    for name, logical_id in BOT_ROLES:
        assert non_whitespace(Stack(name).policy(logical_id)) <= INLINE_POLICIES_LIMIT


# --- who may become the bot ---------------------------------------------------------------------


def test_ecs_assumes_the_bot_role_only_for_the_bots_account() -> None:
    trust = Stack("bot-role.yml").trust("BotRole")
    ecs = Principal("Service", "ecs-tasks.amazonaws.com")
    assert is_allowed(trust, Request("sts:AssumeRole", ecs, context={"aws:SourceAccount": ACCOUNT}))
    assert not is_allowed(trust, Request("sts:AssumeRole", ecs, context={"aws:SourceAccount": STRANGER}))
    assert not is_allowed(trust, Request("sts:AssumeRole", Principal("Service", "lambda.amazonaws.com")))


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "ec2.amazonaws.com"])
def test_services_that_send_no_source_account_can_still_assume_the_bot_role(service: str) -> None:
    """EC2 and Lambda send no aws:SourceAccount: a condition on it would lock the bot out."""
    trust = Stack("bot-role.yml", TrustedService=service).trust("BotRole")
    assert is_allowed(trust, Request("sts:AssumeRole", Principal("Service", service)))


def test_an_account_cannot_be_the_extra_trusted_principal() -> None:
    pattern = re.compile(Stack("bot-role.yml").template["Parameters"]["TrustedPrincipalArn"]["AllowedPattern"])
    assert pattern.fullmatch(f"arn:aws:iam::{ACCOUNT}:role/runner")
    assert pattern.fullmatch("")
    assert not pattern.fullmatch(f"arn:aws:iam::{ACCOUNT}:root")


def test_the_executor_trusts_only_the_bot_role_with_the_external_id() -> None:
    trust = Stack("executor-role.yml").trust("ExecutorRole")
    bot_role = Principal("AWS", BOT_ROLE_ARN)
    assert is_allowed(trust, Request("sts:AssumeRole", bot_role, context={"sts:ExternalId": "shared-secret"}))
    assert not is_allowed(trust, Request("sts:AssumeRole", bot_role, context={"sts:ExternalId": "guess"}))
    other = Principal("AWS", f"arn:aws:iam::{ACCOUNT}:role/other")
    assert not is_allowed(trust, Request("sts:AssumeRole", other, context={"sts:ExternalId": "shared-secret"}))
