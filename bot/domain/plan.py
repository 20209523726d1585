"""The plan: the exact, ordered AWS calls a request will make.

The approver sees it and the executor carries it out, so both work from one source of truth.
``ACTIONS`` says, once per IAM operation, how a step reads for people and how a re-run recognises
a step an earlier run already did.
"""

from dataclasses import dataclass, field
from typing import Any

from bot.domain.policies import pinned_version


@dataclass(frozen=True)
class Action:
    """What one IAM operation of a plan does."""

    shown: tuple[str, ...]
    """The parameters ``PlanStep.describe`` shows."""
    doing: str
    """The end of "the bot tried to …", with ``{Param}`` placeholders."""
    made: str | None = None
    """The parameter naming what the call makes, so a re-run skips it once made; None: always call
    (PutRolePolicy overwrites, so repeating it is safe)."""
    answer: str | None = None
    """The key of the answer (and of its ``Get…`` call's) holding what was made, e.g. ``Role``."""
    provenance_tags: bool = False
    """The executor adds the provenance tags to the call (the plan shows them on CreateRole only)."""
    waiter: str | None = None
    """The boto3 waiter, called with the ``made`` parameter, that confirms IAM shows what the call made."""


ACTIONS: dict[str, Action] = {
    "CreateRole": Action(
        ("RoleName", "Path", "MaxSessionDuration", "PermissionsBoundary"),
        "create the role {RoleName}",
        made="RoleName",
        answer="Role",
        waiter="role_exists",
    ),
    "AttachRolePolicy": Action(("PolicyArn",), "attach the managed policy {PolicyArn}", made="PolicyArn"),
    "PutRolePolicy": Action(("PolicyName",), "put the inline policy {PolicyName}"),
    "CreateInstanceProfile": Action(
        ("InstanceProfileName", "Path"),
        "create the instance profile {InstanceProfileName}",
        made="InstanceProfileName",
        answer="InstanceProfile",
        provenance_tags=True,
        waiter="instance_profile_exists",
    ),
    "AddRoleToInstanceProfile": Action(
        ("InstanceProfileName", "RoleName"),
        "add the role to the instance profile {InstanceProfileName}",
        made="InstanceProfileName",
    ),
    "UpdateAssumeRolePolicy": Action(("RoleName",), "replace the trust policy of {RoleName}"),
    "UpdateRole": Action(
        ("Description", "MaxSessionDuration"), "update the description and session length of {RoleName}"
    ),
    "PutRolePermissionsBoundary": Action(
        ("PermissionsBoundary",), "set the permissions boundary {PermissionsBoundary}"
    ),
    "DeleteRolePermissionsBoundary": Action(("RoleName",), "remove the permissions boundary of {RoleName}"),
    "TagRole": Action(("Tags",), "tag the role {RoleName}"),
    "UntagRole": Action(("TagKeys",), "remove tags from the role {RoleName}"),
    "RemoveRoleFromInstanceProfile": Action(
        ("InstanceProfileName", "RoleName"), "remove the role from the instance profile {InstanceProfileName}"
    ),
    "DeleteInstanceProfile": Action(("InstanceProfileName",), "delete the instance profile {InstanceProfileName}"),
    "DetachRolePolicy": Action(("PolicyArn",), "detach the managed policy {PolicyArn}"),
    "DeleteRolePolicy": Action(("PolicyName",), "delete the inline policy {PolicyName}"),
    "DeleteRole": Action(("RoleName",), "delete the role {RoleName}"),
    "CreateServiceLinkedRole": Action(
        ("AWSServiceName", "CustomSuffix"), "create the service-linked role for {AWSServiceName}", answer="Role"
    ),
}


@dataclass(frozen=True)
class PlanStep:
    """One IAM API call: the operation's name and exactly the boto3 keyword arguments.

    ``pin``: for AttachRolePolicy, the policy's id and default version that were reviewed
    (``policy_pin``); the executor attaches it only while they are still current.
    """

    action: str
    params: dict[str, Any] = field(hash=False)
    pin: str | None = None

    @property
    def method(self) -> str:
        """The boto3 client method, e.g. ``create_role`` for ``CreateRole``."""
        return snake_case(self.action)

    @property
    def kind(self) -> Action:
        return ACTIONS[self.action]

    def describe(self) -> str:
        """One line for people, e.g. ``AttachRolePolicy PolicyArn=arn:aws:iam::aws:policy/X``."""
        shown = [f"{name}={self.params[name]}" for name in self.kind.shown if name in self.params]
        if self.action == "CreateRole" and self.params.get("Tags"):
            shown.append(f"Tags={len(self.params['Tags'])}")
        if self.pin:
            shown.append(f"(default version {pinned_version(self.pin)})")
        return " ".join([self.action, *shown])

    def doing(self) -> str:
        """What the step does, as the end of "the bot tried to …"."""
        return self.kind.doing.format_map(self.params)

    @property
    def makes(self) -> tuple[str, str] | None:
        """(action, name) of what the step makes, the key a re-run checks; None if it makes nothing to check."""
        made = self.kind.made
        return (self.action, self.params[made]) if made else None


def snake_case(name: str) -> str:
    """``CreateRole`` -> ``create_role``: a boto3 method or answer name from an IAM one."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
