"""Editing a role the bot made: what changes between its approved state and the new one, the IAM calls
that make exactly that difference, and whether the change only narrows access.

Pure. The role's name, path, type and account, and whether EC2 uses it (its instance profile), stay
as created: IAM can't rename or move a role, and the rest would be a different role — ask for a new one.
"""

import operator
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bot.domain.drift import RoleState, transition_plan
from bot.domain.models import AssumableRoleRequest
from bot.domain.plan import PlanStep
from bot.domain.policies import to_json

FIXED = {
    "role_type": "the role type",
    "account_id": "the account",
    "role_name": "the role name",
    "path": "the path (IAM can't move a role)",
    "needs_instance_profile": "whether EC2 uses the role (its instance profile)",
    "expires_after_days": "when the role expires (Extend in the reminder moves it)",
}


@dataclass(frozen=True)
class Change:
    """One field's difference, in words for the approver."""

    field: str
    before: str
    after: str


def fixed_changes(before: AssumableRoleRequest, after: AssumableRoleRequest) -> dict[str, str]:
    """Per form field, why the edit can't change it (empty when it changes nothing it can't)."""
    refused = {}
    for field, words in FIXED.items():
        if getattr(before, field) != getattr(after, field):
            where = "service_principal" if field == "needs_instance_profile" else field
            refused[where] = f"An edit can't change {words}; request a new role instead."
    return refused


def _tags(request: AssumableRoleRequest) -> dict[str, str]:
    return {tag.key: tag.value for tag in request.tags}


def _shown(value: Any) -> str:
    if value in (None, "", [], {}):
        return "(none)"
    return to_json(value) if isinstance(value, dict) else str(value)


def role_changes(before: AssumableRoleRequest, after: AssumableRoleRequest) -> list[Change]:
    """Every difference, field by field (empty: the edit changes nothing)."""
    pairs: list[tuple[str, Any, Any]] = [
        ("trust policy", before.trust_policy(), after.trust_policy()),
        ("description", before.description, after.description),
        ("maximum session duration", before.max_session_duration, after.max_session_duration),
        ("permissions boundary", before.permissions_boundary_arn, after.permissions_boundary_arn),
        ("inline policy", before.inline_policy, after.inline_policy),
        ("tags", _tags(before), _tags(after)),
    ]
    changes = [Change(field, _shown(old), _shown(new)) for field, old, new in pairs if old != new]
    added = [arn for arn in after.managed_policy_arns if arn not in before.managed_policy_arns]
    removed = [arn for arn in before.managed_policy_arns if arn not in after.managed_policy_arns]
    if added or removed:
        change = ", ".join([*(f"+ {arn}" for arn in added), *(f"- {arn}" for arn in removed)])
        changes.insert(0, Change("managed policies", ", ".join(before.managed_policy_arns) or "(none)", change))
    return changes


def edit_plan(before: AssumableRoleRequest, after: AssumableRoleRequest) -> list[PlanStep]:
    """The IAM calls that turn the role made as ``before`` into ``after`` — and, swapped, back again.

    The calls are ``transition_plan``'s between the two requests' states (the requests' own tags only: an edit leaves
    the provenance tags alone), documents compared as written and each added managed policy pinned as reviewed.
    """
    return transition_plan(
        RoleState.approved(before, {}),
        RoleState.approved(after, {}),
        same=operator.eq,
        removals_first=False,
        pins=after.managed_policy_pins,
    )


def _statements(policy: dict[str, Any] | None, effect: str) -> list[dict[str, Any]]:
    statements = (policy or {}).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return [item for item in statements if isinstance(item, dict) and item.get("Effect") == effect]


def only_narrows(before: AssumableRoleRequest, after: AssumableRoleRequest, *, deny_free: Collection[str] = ()) -> bool:
    """The bot's own comparison: the edit can only take access away.

    True only when no managed policy is added and each one removed is known to hold no Deny
    (``deny_free``: detaching a policy that denies, e.g. AWSDenyAll, widens access), every Allow
    statement of the new inline policy was in the old one word for word and every old Deny is kept,
    and trust, boundary and tags (which ABAC conditions may read) are unchanged and sessions don't get
    longer. Anything it can't tell is not narrowing.
    """
    removed = set(before.managed_policy_arns) - set(after.managed_policy_arns)
    old_allows = _statements(before.inline_policy, "Allow")
    new_denies = _statements(after.inline_policy, "Deny")
    return (
        set(after.managed_policy_arns) <= set(before.managed_policy_arns)
        and removed <= set(deny_free)
        and all(statement in old_allows for statement in _statements(after.inline_policy, "Allow"))
        and all(statement in new_denies for statement in _statements(before.inline_policy, "Deny"))
        and before.trust_policy() == after.trust_policy()
        and before.permissions_boundary_arn == after.permissions_boundary_arn
        and _tags(before) == _tags(after)
        and after.max_session_duration <= before.max_session_duration
    )
