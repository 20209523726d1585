"""Retiring a role the bot made: what is there as read in AWS, and the calls that remove it.

AWS deletes a role only once nothing refers to it, so the plan removes it from its instance
profiles, deletes the profiles the bot made, detaches the managed policies and deletes the inline
ones before DeleteRole ("you must delete the items attached to the role manually, or the deletion
fails": https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html). A profile someone
else made is left in place, without the role.

A role deleted because its time is up first gets AWS's "revoke active sessions" policy: an inline
Deny of everything for sessions issued before now (``aws:TokenIssueTime``), as the console's
button adds, so credentials already handed out stop working before the role goes
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.domain.models import AssumableRoleRequest
from bot.domain.plan import PlanStep
from bot.domain.policies import to_json

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
"""The inline policy's name as the console's "Revoke active sessions" gives it."""


def revoke_sessions_policy(before: datetime) -> dict[str, Any]:
    """Denies everything to sessions of the role issued before ``before`` (UTC, whole seconds)."""
    issued = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued}},
            }
        ],
    }


@dataclass(frozen=True)
class InstanceProfile:
    name: str
    made_by_bot: bool
    """It carries the provenance tag of the request that made the role."""


@dataclass(frozen=True)
class RoleToRetire:
    """A role as the bot read it in AWS before deleting it."""

    account_id: str
    role_name: str
    role_arn: str
    made_by: str | None
    """The request id on its provenance tag; None when the bot did not make it."""
    last_used_at: str | None
    """When it was last used to make an AWS request (ISO 8601, GetRole's ``RoleLastUsed``); None: not in
    IAM's tracking window (https://docs.aws.amazon.com/IAM/latest/APIReference/API_RoleLastUsed.html)."""
    last_used_region: str | None
    managed_policy_arns: tuple[str, ...]
    inline_policy_names: tuple[str, ...]
    instance_profiles: tuple[InstanceProfile, ...]
    last_used_read: bool = True
    """False when the role was not read in AWS (a role whose time is up: ``expected``)."""
    revoke_sessions_before: str | None = None
    """ISO 8601 UTC: revoke the sessions issued before this first (a role whose time is up)."""
    role_id: str | None = None
    """IAM's RoleId as read (None: not read, ``as_made``): another than the one the bot recorded is not its role."""

    @classmethod
    def as_made(cls, request: AssumableRoleRequest, role_arn: str, made_by: str) -> "RoleToRetire":
        """The role as its approved request made it, without reading AWS (the executor reads it before deleting)."""
        return cls(
            request.account_id,
            request.role_name,
            role_arn,
            made_by,
            None,
            None,
            managed_policy_arns=tuple(request.managed_policy_arns),
            inline_policy_names=(request.inline_policy_name,) if request.inline_policy else (),
            instance_profiles=(InstanceProfile(request.role_name, True),) if request.needs_instance_profile else (),
            last_used_read=False,
        )

    def plan(self) -> list[PlanStep]:
        """The IAM calls that delete the role, in the order AWS requires (revoking sessions first when asked)."""
        name = self.role_name
        inline = list(self.inline_policy_names)
        steps = []
        if self.revoke_sessions_before:
            before = datetime.fromisoformat(self.revoke_sessions_before)
            revoke = {"RoleName": name, "PolicyName": REVOKE_POLICY_NAME}
            steps.append(
                PlanStep("PutRolePolicy", {**revoke, "PolicyDocument": to_json(revoke_sessions_policy(before))})
            )
            inline += [] if REVOKE_POLICY_NAME in inline else [REVOKE_POLICY_NAME]
        steps += [
            PlanStep("RemoveRoleFromInstanceProfile", {"InstanceProfileName": profile.name, "RoleName": name})
            for profile in self.instance_profiles
        ]
        steps += [
            PlanStep("DeleteInstanceProfile", {"InstanceProfileName": profile.name})
            for profile in self.instance_profiles
            if profile.made_by_bot
        ]
        steps += [PlanStep("DetachRolePolicy", {"RoleName": name, "PolicyArn": a}) for a in self.managed_policy_arns]
        steps += [PlanStep("DeleteRolePolicy", {"RoleName": name, "PolicyName": n}) for n in inline]
        return [*steps, PlanStep("DeleteRole", {"RoleName": name})]

    def last_used(self) -> str:
        """``last used 2026-11-02T10:00:00+00:00 in eu-west-1``, or that IAM has no record of a use."""
        if not self.last_used_read:
            return "last use read when it is deleted"
        if not self.last_used_at:
            return "not used within IAM's tracking period (400 days)"
        where = f" in {self.last_used_region}" if self.last_used_region else ""
        return f"last used {self.last_used_at}{where}"

    def summary(self) -> str:
        """What deleting it removes, for the approver."""
        removes = [f"{len(self.managed_policy_arns)} managed and {len(self.inline_policy_names)} inline policies"]
        removes += [
            f"instance profile {profile.name}" + ("" if profile.made_by_bot else " (kept: not made by the bot)")
            for profile in self.instance_profiles
        ]
        return f"Delete the role {self.role_name} ({self.last_used()}); removes {', '.join(removes)}."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoleToRetire":
        profiles = tuple(InstanceProfile(**profile) for profile in data["instance_profiles"])
        fields = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        fields["instance_profiles"] = profiles
        fields["managed_policy_arns"] = tuple(data["managed_policy_arns"])
        fields["inline_policy_names"] = tuple(data["inline_policy_names"])
        return cls(**fields)
