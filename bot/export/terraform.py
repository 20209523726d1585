"""A created role as a Terraform configuration whose ``import`` blocks adopt it (Terraform 1.5+).

Every resource has an ``import`` block with the id the AWS provider documents for it, so
``terraform plan`` adopts the existing role instead of planning a second one:

- aws_iam_role: the role name
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role#import)
- aws_iam_role_policy: ``ROLE:POLICY``
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policy#import)
- aws_iam_role_policy_attachment: ``ROLE/POLICY_ARN``
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policy_attachment#import)
- aws_iam_instance_profile: the profile name
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_instance_profile#import)
- aws_iam_service_linked_role: the role ARN
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_service_linked_role#import)

Strings are written as HCL quoted strings and policy documents as heredocs of JSON; in both, ``${``
and ``%{`` start a template, so IAM policy variables like ``${aws:username}`` are escaped as
``$${`` and ``%%{`` (https://developer.hashicorp.com/terraform/language/expressions/strings).
Resource labels are made from the role name and account, so several exported roles can share one
directory.
"""

import hashlib
import json
import re
from typing import Any

from bot.export.role import CreatedRole

LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
HEREDOC_END = "EOT"


def terraform_configuration(role: CreatedRole) -> str:
    header = [
        f"# {role.summary()}.",
        f"# Import blocks need Terraform 1.5 or later; point the hashicorp/aws provider at account {role.account_id}.",
    ]
    create = role.one("CreateServiceLinkedRole")
    blocks = service_linked_role(role, create) if create is not None else assumable_role(role)
    return "\n".join(header) + "\n\n" + "\n\n".join(blocks) + "\n"


def assumable_role(role: CreatedRole) -> list[str]:
    create = role.one("CreateRole")
    assert create is not None
    name = create["RoleName"]
    label = role_label(name, role.account_id)
    role_ref = f"aws_iam_role.{label}.name"
    attributes: list[tuple[str, str]] = [
        ("name", quoted(name)),
        ("path", quoted(create["Path"])),
        ("assume_role_policy", heredoc(create["AssumeRolePolicyDocument"])),
        ("max_session_duration", str(create["MaxSessionDuration"])),
    ]
    if "Description" in create:
        attributes.append(("description", quoted(create["Description"])))
    if "PermissionsBoundary" in create:
        attributes.append(("permissions_boundary", quoted(create["PermissionsBoundary"])))
    if create.get("Tags"):
        attributes.append(("tags", tag_map(create["Tags"])))
    blocks = [*resource("aws_iam_role", label, name, attributes)]
    for step in role.steps("PutRolePolicy"):
        policy_label = f"{label}_{sanitized(step['PolicyName'])}"
        blocks += resource(
            "aws_iam_role_policy",
            policy_label,
            f"{name}:{step['PolicyName']}",
            [("name", quoted(step["PolicyName"])), ("role", role_ref), ("policy", heredoc(step["PolicyDocument"]))],
        )
    for index, step in enumerate(role.steps("AttachRolePolicy")):
        arn = step["PolicyArn"]
        blocks += resource(
            "aws_iam_role_policy_attachment",
            f"{label}_managed_{index}",
            f"{name}/{arn}",
            [("role", role_ref), ("policy_arn", quoted(arn))],
        )
    profile = role.one("CreateInstanceProfile")
    if profile is not None:
        profile_name = profile["InstanceProfileName"]
        attributes = [("name", quoted(profile_name)), ("path", quoted(profile["Path"]))]
        if role.steps("AddRoleToInstanceProfile"):
            attributes.append(("role", role_ref))
        if profile.get("Tags"):
            attributes.append(("tags", tag_map(profile["Tags"])))
        blocks += resource("aws_iam_instance_profile", label, profile_name, attributes)
    return blocks


def service_linked_role(role: CreatedRole, create: dict[str, Any]) -> list[str]:
    attributes = [("aws_service_name", quoted(create["AWSServiceName"]))]
    if "CustomSuffix" in create:
        attributes.append(("custom_suffix", quoted(create["CustomSuffix"])))
    if "Description" in create:
        attributes.append(("description", quoted(create["Description"])))
    label = role_label(role.role_name, role.account_id)
    return resource("aws_iam_service_linked_role", label, role.role_arn, attributes)


def resource(kind: str, label: str, import_id: str, attributes: list[tuple[str, str]]) -> list[str]:
    """An ``import`` block and the resource it adopts."""
    width = max(len(name) for name, _ in attributes)
    body = "\n".join(f"  {name.ljust(width)} = {value}" for name, value in attributes)
    return [
        f"import {{\n  to = {kind}.{label}\n  id = {quoted(import_id)}\n}}",
        f'resource "{kind}" "{label}" {{\n{body}\n}}',
    ]


def role_label(name: str, account_id: str) -> str:
    """A resource label unique per role and account; a hash keeps apart names that sanitize alike."""
    label = f"{sanitized(name)}_{account_id}"
    if sanitized(name) != name:
        label += "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return label if label[0].isalpha() or label[0] == "_" else f"role_{label}"


def sanitized(text: str) -> str:
    return LABEL_UNSAFE.sub("_", text)


def escape_templates(text: str) -> str:
    return text.replace("${", "$${").replace("%{", "%%{")


def quoted(text: str) -> str:
    """An HCL quoted string that stands for exactly ``text``."""
    body = "".join(ESCAPES.get(char, char if char.isprintable() else unicode_escape(char)) for char in text)
    return '"' + escape_templates(body) + '"'


def unicode_escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def heredoc(document: str) -> str:
    """A policy document as indented JSON in a heredoc (JSON lines never read ``EOT`` alone)."""
    pretty = json.dumps(json.loads(document), indent=2)
    lines = "\n".join(f"    {line}" for line in escape_templates(pretty).splitlines())
    return f"<<-{HEREDOC_END}\n{lines}\n  {HEREDOC_END}"


def tag_map(tags: list[dict[str, str]]) -> str:
    """A map of tags, its ``=`` aligned as ``terraform fmt`` does."""
    keys = [quoted(tag["Key"]) for tag in tags]
    width = max(len(key) for key in keys)
    items = "\n".join(f"    {key.ljust(width)} = {quoted(tag['Value'])}" for key, tag in zip(keys, tags, strict=True))
    return "{\n" + items + "\n  }"
