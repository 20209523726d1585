"""The plan: the exact, ordered AWS calls a request will make.

The approver sees it and the executor carries it out, so both work from one source of truth.
"""

import json
from dataclasses import dataclass, field
from typing import Any

SHOWN_PARAMS = {
    "CreateRole": ("RoleName", "Path", "MaxSessionDuration", "PermissionsBoundary"),
    "AttachRolePolicy": ("PolicyArn",),
    "PutRolePolicy": ("PolicyName",),
    "CreateInstanceProfile": ("InstanceProfileName", "Path"),
    "AddRoleToInstanceProfile": ("InstanceProfileName", "RoleName"),
    "CreateServiceLinkedRole": ("AWSServiceName", "CustomSuffix"),
}


@dataclass(frozen=True)
class PlanStep:
    """One IAM API call: the operation's name and exactly the boto3 keyword arguments."""

    action: str
    params: dict[str, Any] = field(hash=False)

    @property
    def method(self) -> str:
        """The boto3 client method, e.g. ``create_role`` for ``CreateRole``."""
        return "".join("_" + c.lower() if c.isupper() else c for c in self.action).lstrip("_")

    def describe(self) -> str:
        """One line for people, e.g. ``AttachRolePolicy PolicyArn=arn:aws:iam::aws:policy/X``."""
        shown = [f"{name}={self.params[name]}" for name in SHOWN_PARAMS.get(self.action, ()) if name in self.params]
        if self.action == "CreateRole" and self.params.get("Tags"):
            shown.append(f"Tags={len(self.params['Tags'])}")
        return " ".join([self.action, *shown])

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "params": self.params}


def plan_to_json(plan: list[PlanStep]) -> str:
    return json.dumps([step.to_dict() for step in plan], indent=2)
