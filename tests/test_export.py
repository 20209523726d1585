"""The role as code: for every role type, the role the executor created in moto, exported as
CloudFormation and deployed with moto's CloudFormation into a second account, is the same role
(apart from the account id); the Terraform export parses as HCL and names the created values, each
resource with its import block; cfn-lint is clean on every template."""

import ast
import itertools
import json
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import hcl2
import pytest
from cfnlint.api import ManualArgs, lint
from moto import mock_aws

from bot.aws import AccountSessions
from bot.config import Executor as ExecutorSettings
from bot.domain import RoleRequest, parse_role_request
from bot.executor import Executor
from bot.export import CreatedRole, export_role, file_name
from bot.sandbox.aws import add_identity_providers
from tests.cfn_lint import cfn_lint_rules

HOME = "123456789012"
SECOND = "210987654321"
REGION = "us-east-1"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
BOUNDARY = "arn:aws:iam::aws:policy/PowerUserAccess"
SAML_PROVIDER = f"arn:aws:iam::{HOME}:saml-provider/Okta"
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        # A policy variable: Terraform would read ${…} as its own template unless escaped.
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "*",
            "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "%{weird}"]}},
        },
    ],
}
NAMES = itertools.count()
PROVENANCE = ("U0REQ", ["U0APP", "U0SEC"])


def user(name: str) -> dict[str, Any]:
    return {
        "role_type": "user",
        "role_name": name,
        "path": "/team/",
        "description": 'Reads "${bucket}" and %{x}; quotes \\ and all',
        "max_session_duration": 7200,
        "trusted_account_ids": ["111122223333"],
        "external_id": "ext-123",
        "require_mfa": True,
        "managed_policy_arns": [READ_ONLY],
        "inline_policy": INLINE,
        "permissions_boundary_arn": BOUNDARY,
        "tags": {"team": "platform", "cost-center": "42"},
    }


FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "user": user,
    "service-ec2": lambda name: {
        "role_type": "service",
        "role_name": name,
        "path": "/servers/",
        "service_principal": "ec2.amazonaws.com",
        "managed_policy_arns": [READ_ONLY, SSM_CORE],
        "inline_policy": INLINE,
        "permissions_boundary_arn": BOUNDARY,
    },
    "service-ecs-tasks": lambda name: {
        "role_type": "service",
        "role_name": name,
        "service_principal": "ecs-tasks.amazonaws.com",
        "restrict_source_account": True,
    },
    "saml": lambda name: {
        "role_type": "saml",
        "role_name": name,
        "provider_arn": SAML_PROVIDER,
        "managed_policy_arns": [READ_ONLY],
        "max_session_duration": 43200,
    },
    "oidc": lambda name: {
        "role_type": "oidc",
        "role_name": name,
        "github_repo": "acme/web",
        "github_ref_type": "environment",
        "github_ref": "prod",
        "inline_policy": INLINE,
        "tags": {"repo": "acme/web"},
    },
    "custom": lambda name: {
        "role_type": "custom",
        "role_name": name,
        "trust_policy_document": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HOME}:role/admin"}, "Action": "sts:AssumeRole"}
            ],
        },
    },
}


@pytest.fixture(scope="module")
def aws() -> Iterator[boto3.Session]:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        add_identity_providers(iam)
        yield session


@pytest.fixture(scope="module")
def second_account(aws: boto3.Session) -> boto3.Session:
    return session_in_second_account(aws)


def session_in_second_account(aws: boto3.Session) -> boto3.Session:
    """moto keeps accounts apart; credentials from AssumeRole act in the account of the role's ARN."""
    credentials = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{SECOND}:role/OrganizationAccountAccessRole", RoleSessionName="deploy"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


@pytest.fixture(scope="module")
def executor(aws: boto3.Session) -> Executor:
    sessions = AccountSessions(ExecutorSettings(), [], base_session=aws, region=REGION)
    return Executor(sessions)


def create(executor: Executor, request: RoleRequest) -> CreatedRole:
    """The role made by the bot's executor, and what the export is given (as the bot gives it)."""
    request_id = f"R-{next(NAMES)}"
    requester, approvers = PROVENANCE
    result = executor.provision(request, request_id=request_id, requester=requester, approvers=approvers)
    tags = executor.provenance_tags(request_id, requester, approvers)
    return CreatedRole(request, request_id, tags, result.role_arn, result.instance_profile_arn)


def assumable(role_type: str) -> RoleRequest:
    fields = FIELDS[role_type](f"{role_type}-{next(NAMES)}")
    return parse_role_request({"account_id": HOME, "justification": "export test", **fields})


def described(iam: Any, name: str) -> dict[str, Any]:
    """Everything about a role that the request decides, with the account id taken out of ARNs."""
    role = iam.get_role(RoleName=name)["Role"]
    account = role["Arn"].split(":")[4]
    profiles = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    return {
        "arn": role["Arn"].replace(account, "ACCOUNT"),
        "path": role["Path"],
        "trust": role["AssumeRolePolicyDocument"],
        "description": role.get("Description") or "",
        "max_session_duration": role["MaxSessionDuration"],
        "boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        "tags": sorted((tag["Key"], tag["Value"]) for tag in iam.list_role_tags(RoleName=name)["Tags"]),
        "inline": {
            policy: document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        },
        "profiles": [
            (
                p["InstanceProfileName"],
                p["Path"],
                p["Arn"].replace(account, "ACCOUNT"),
                [r["RoleName"] for r in p["Roles"]],
            )
            for p in profiles
        ],
    }


def document(answer: dict[str, Any] | str) -> dict[str, Any]:
    """An inline policy as GetRolePolicy gave it. moto's CloudFormation keeps the template's document as
    a Python dict and answers with its repr (real IAM answers JSON); read that repr as the data it is."""
    return answer if isinstance(answer, dict) else ast.literal_eval(answer)


def managed(iam: Any, name: str) -> list[str]:
    return sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])


def lint_findings(template: str) -> list[str]:
    return [str(match) for match in lint(template, rules=cfn_lint_rules(), config=ManualArgs(regions=[REGION]))]


def deploy(session: boto3.Session, template: str) -> None:
    cloudformation = session.client("cloudformation")
    stack = f"adopt-{next(NAMES)}"
    cloudformation.create_stack(StackName=stack, TemplateBody=template)
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


# --- CloudFormation ---------------------------------------------------------------------------


@pytest.mark.parametrize("role_type", list(FIELDS))
def test_the_template_deployed_elsewhere_makes_the_same_role(
    role_type: str, executor: Executor, aws: boto3.Session, second_account: boto3.Session
) -> None:
    role = create(executor, assumable(role_type))
    template = export_role(role, "cloudformation")

    assert lint_findings(template) == []
    deploy(second_account, template)

    home, second = aws.client("iam"), second_account.client("iam")
    created = described(home, role.role_name)
    assert described(second, role.role_name) == created
    assert ("iam-role-bot:request-id", role.request_id) in created["tags"]
    assert bool(created["profiles"]) == (role_type == "service-ec2")
    # moto's CloudFormation does not attach ManagedPolicyArns: compare the template with the role.
    properties = json.loads(template)["Resources"]["Role"]["Properties"]
    assert sorted(properties.get("ManagedPolicyArns", [])) == managed(home, role.role_name)


def test_the_template_names_what_an_import_change_set_needs(executor: Executor) -> None:
    role = create(executor, assumable("service-ec2"))
    template = json.loads(export_role(role, "cloudformation"))

    assert template["Metadata"]["iam-role-bot"]["ResourcesToImport"] == [
        {
            "ResourceType": "AWS::IAM::Role",
            "LogicalResourceId": "Role",
            "ResourceIdentifier": {"RoleName": role.role_name},
        },
        {
            "ResourceType": "AWS::IAM::InstanceProfile",
            "LogicalResourceId": "InstanceProfile",
            "ResourceIdentifier": {"InstanceProfileName": role.role_name},
        },
    ]
    assert {resource["DeletionPolicy"] for resource in template["Resources"].values()} == {"Retain"}
    assert "no Tags" in template["Description"]


def service_linked(suffix: str | None = "export") -> RoleRequest:
    return parse_role_request(
        {
            "role_type": "service-linked",
            "account_id": HOME,
            "justification": "autoscaling",
            "aws_service_name": "autoscaling.amazonaws.com",
            "custom_suffix": suffix,
            "description": "Scaling for the web tier",
        }
    )


def test_a_service_linked_role_is_exported_as_what_iac_has_for_it(executor: Executor, aws: boto3.Session) -> None:
    role = create(executor, service_linked())
    template = export_role(role, "cloudformation")
    terraform = hcl(export_role(role, "terraform"))

    assert lint_findings(template) == []
    created = aws.client("iam").get_role(RoleName=role.role_name)["Role"]
    assert created["RoleName"] == "AWSServiceRoleForAutoScaling_export"
    assert json.loads(template)["Resources"] == {
        "Role": {
            "Type": "AWS::IAM::ServiceLinkedRole",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AWSServiceName": "autoscaling.amazonaws.com",
                "CustomSuffix": "export",
                "Description": created["Description"],
            },
        }
    }
    ((kind, label, attributes),) = resources(terraform)
    assert kind == "aws_iam_service_linked_role"
    assert attributes == {
        "aws_service_name": "autoscaling.amazonaws.com",
        "custom_suffix": "export",
        "description": created["Description"],
    }
    assert imports(terraform) == {f"{kind}.{label}": created["Arn"]}


def test_a_suffix_the_service_refused_is_left_out() -> None:
    """The executor retries without CustomSuffix when a service refuses suffixes; the ARN shows it."""
    arn = f"arn:aws:iam::{HOME}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    role = CreatedRole(service_linked(), "R-9", {}, arn)

    properties = json.loads(export_role(role, "cloudformation"))["Resources"]["Role"]["Properties"]

    assert "CustomSuffix" not in properties
    assert "custom_suffix" not in resources(hcl(export_role(role, "terraform")))[0][2]


# --- Terraform --------------------------------------------------------------------------------


def hcl(text: str) -> dict[str, Any]:
    return hcl2.loads(text)


def value(raw: Any) -> Any:
    """An HCL literal as python-hcl2 gives it (raw source) turned into the value Terraform sees."""
    if not isinstance(raw, str):
        return raw
    if raw.startswith('"<<-EOT'):
        body = textwrap.dedent(raw[1:-1].split("\n", 1)[1].rsplit("\n", 1)[0])
        return json.loads(unescape_templates(body))
    if raw.startswith('"') and raw.endswith('"'):
        return json.loads(unescape_templates(raw))
    if raw.startswith("${") and raw.endswith("}"):
        return raw  # a reference, e.g. ${aws_iam_role.x.name}
    return json.loads(raw)


def unescape_templates(text: str) -> str:
    return text.replace("$${", "${").replace("%%{", "%{")


def resources(parsed: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for block in parsed.get("resource", []):
        for kind, labelled in block.items():
            for label, body in labelled.items():
                attributes = {
                    key: ({value(k): value(v) for k, v in raw.items()} if isinstance(raw, dict) else value(raw))
                    for key, raw in body.items()
                    if not key.startswith("__")
                }
                found.append((value(kind), value(label), attributes))
    return found


def imports(parsed: dict[str, Any]) -> dict[str, str]:
    return {block["to"].removeprefix("${").removesuffix("}"): value(block["id"]) for block in parsed.get("import", [])}


@pytest.mark.parametrize("role_type", list(FIELDS))
def test_the_terraform_configuration_names_the_created_role(
    role_type: str, executor: Executor, aws: boto3.Session
) -> None:
    role = create(executor, assumable(role_type))
    parsed = hcl(export_role(role, "terraform"))
    iam = aws.client("iam")
    created = described(iam, role.role_name)
    found = resources(parsed)
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind, label, attributes in found:
        by_kind.setdefault(kind, []).append((label, attributes))

    ((role_label, attributes),) = by_kind["aws_iam_role"]
    reference = f"${{aws_iam_role.{role_label}.name}}"
    assert attributes.pop("assume_role_policy") == created["trust"]
    assert attributes == {
        "name": role.role_name,
        "path": created["path"],
        "max_session_duration": created["max_session_duration"],
        **({"description": created["description"]} if created["description"] else {}),
        **({"permissions_boundary": created["boundary"]} if created["boundary"] else {}),
        "tags": dict(created["tags"]),
    }
    assert {a["name"]: a["policy"] for _, a in by_kind.get("aws_iam_role_policy", [])} == created["inline"]
    assert {a["role"] for _, a in by_kind.get("aws_iam_role_policy", [])} <= {reference}
    assert sorted(a["policy_arn"] for _, a in by_kind.get("aws_iam_role_policy_attachment", [])) == managed(
        iam, role.role_name
    )
    profiles = [(a["name"], a["path"], a["role"], a["tags"]) for _, a in by_kind.get("aws_iam_instance_profile", [])]
    profile_tags = [
        dict(
            (t["Key"], t["Value"])
            for t in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Tags"]
        )
        for name, *_ in created["profiles"]
    ]
    assert profiles == [
        (name, path, reference, tags)
        for (name, path, _, _), tags in zip(created["profiles"], profile_tags, strict=True)
    ]
    expected_ids = {
        "aws_iam_role": lambda a: role.role_name,
        "aws_iam_role_policy": lambda a: f"{role.role_name}:{a['name']}",
        "aws_iam_role_policy_attachment": lambda a: f"{role.role_name}/{a['policy_arn']}",
        "aws_iam_instance_profile": lambda a: a["name"],
    }
    assert imports(parsed) == {f"{kind}.{label}": expected_ids[kind](attributes) for kind, label, attributes in found}


def test_roles_exported_to_one_directory_do_not_clash(executor: Executor) -> None:
    """Terraform reads every .tf file of a directory as one module: labels must differ between roles."""
    first, second = (create(executor, assumable("service-ec2")) for _ in range(2))
    labels = [
        f"{kind}.{label}"
        for role in (first, second)
        for kind, label, _ in resources(hcl(export_role(role, "terraform")))
    ]

    assert len(labels) == len(set(labels)) == 2 * 5
    assert file_name(first, "terraform") == f"{first.role_name}.terraform.tf"
