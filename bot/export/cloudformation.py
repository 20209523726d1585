"""A created role as a CloudFormation template that a stack can import (adopt) as it is.

Each resource is ``DeletionPolicy: Retain``: CloudFormation imports only resources that have one
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html),
and deleting the stack must never delete a role people rely on. The template's ``Metadata`` lists
the ``--resources-to-import`` an IMPORT change set needs. What CloudFormation cannot express is
said in the template's Description, never dropped silently: AWS::IAM::InstanceProfile has no Tags
property, so the instance profile's provenance tags stay outside the template. A service-linked
role becomes AWS::IAM::ServiceLinkedRole; its primary identifier (RoleName) is read-only, which
CloudFormation's import does not support, so that template documents the role rather than adopts it.
"""

import json
from typing import Any

from bot.export.role import CreatedRole

ROLE = "Role"
INSTANCE_PROFILE = "InstanceProfile"
RETAINED = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
ROLE_PROPERTIES = {
    "RoleName": "RoleName",
    "Path": "Path",
    "MaxSessionDuration": "MaxSessionDuration",
    "Description": "Description",
    "PermissionsBoundary": "PermissionsBoundary",
    "Tags": "Tags",
}
"""CreateRole parameter -> AWS::IAM::Role property (the trust policy is handled apart: it is a JSON string)."""
SERVICE_LINKED_PROPERTIES = ("AWSServiceName", "CustomSuffix", "Description")
KNOWN_ACTIONS = frozenset(
    {"CreateRole", "AttachRolePolicy", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile"}
)


def cloudformation_template(role: CreatedRole) -> str:
    """The template as JSON text (policy documents as objects, exactly the values IAM was given)."""
    if role.one("CreateServiceLinkedRole") is not None:
        resources = {ROLE: service_linked_role(role)}
        imports: list[dict[str, Any]] = []
        outputs: dict[str, Any] = {"RoleName": {"Value": {"Ref": ROLE}}}  # the type has no Arn attribute
        note = " AWS::IAM::ServiceLinkedRole cannot be imported into a stack; this template records the role."
    else:
        resources, imports = assumable_role(role)
        outputs = {"RoleArn": {"Value": {"Fn::GetAtt": [ROLE, "Arn"]}}}
        note = (
            " The instance profile's provenance tags are not in the template (AWS::IAM::InstanceProfile has no Tags)."
            if INSTANCE_PROFILE in resources
            else ""
        )
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": role.summary() + "." + note,
        "Metadata": {"iam-role-bot": {"request-id": role.request_id, "ResourcesToImport": imports}},
        "Resources": resources,
        "Outputs": outputs,
    }
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"


def assumable_role(role: CreatedRole) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The role (with its policies) and its instance profile, and what an IMPORT change set names."""
    unknown = {step.action for step in role.plan()} - KNOWN_ACTIONS
    if unknown:
        raise ValueError(f"the plan has steps a template cannot express: {sorted(unknown)}")
    create = role.one("CreateRole")
    assert create is not None
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": json.loads(create["AssumeRolePolicyDocument"])}
    properties |= {prop: create[param] for param, prop in ROLE_PROPERTIES.items() if param in create}
    managed = [step["PolicyArn"] for step in role.steps("AttachRolePolicy")]
    if managed:
        properties["ManagedPolicyArns"] = managed
    inline = role.steps("PutRolePolicy")
    if inline:
        properties["Policies"] = [
            {"PolicyName": step["PolicyName"], "PolicyDocument": json.loads(step["PolicyDocument"])} for step in inline
        ]
    resources: dict[str, Any] = {ROLE: {"Type": "AWS::IAM::Role", **RETAINED, "Properties": properties}}
    imports = [imported("AWS::IAM::Role", ROLE, RoleName=create["RoleName"])]
    profile = role.one("CreateInstanceProfile")
    if profile is not None:
        roles = [{"Ref": ROLE} for _ in role.steps("AddRoleToInstanceProfile")]
        resources[INSTANCE_PROFILE] = {
            "Type": "AWS::IAM::InstanceProfile",
            **RETAINED,
            "Properties": {
                "InstanceProfileName": profile["InstanceProfileName"],
                "Path": profile["Path"],
                "Roles": roles,
            },
        }
        imports.append(
            imported("AWS::IAM::InstanceProfile", INSTANCE_PROFILE, InstanceProfileName=profile["InstanceProfileName"])
        )
    return resources, imports


def service_linked_role(role: CreatedRole) -> dict[str, Any]:
    create = role.one("CreateServiceLinkedRole")
    assert create is not None
    properties = {name: create[name] for name in SERVICE_LINKED_PROPERTIES if name in create}
    return {"Type": "AWS::IAM::ServiceLinkedRole", **RETAINED, "Properties": properties}


def imported(resource_type: str, logical_id: str, **identifier: str) -> dict[str, Any]:
    """One entry of CreateChangeSet's ResourcesToImport."""
    return {"ResourceType": resource_type, "LogicalResourceId": logical_id, "ResourceIdentifier": identifier}
