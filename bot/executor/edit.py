"""Editing a role the bot made: exactly the difference between its approved state and the new one, and
on an AWS error the reverse difference, so the role is back as it was.

Every edit call is safe to repeat and its reverse is the same table read the other way
(``bot.domain.change.edit_plan``): attaching a policy already attached, tagging with the same value or
putting the same document changes nothing, and undoing a step never reached finds nothing to undo
(NoSuchEntity counts as done).
"""

import logging
from typing import Any

from botocore.client import BaseClient

from bot.domain import AssumableRoleRequest
from bot.domain.change import edit_plan
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, explain, failed
from bot.executor.iam import REQUEST_ID_TAG, lookup, replaced, replaced_message, tags_of
from bot.executor.pins import version_changed
from bot.executor.reverse import put_back

log = logging.getLogger(__name__)


def edit_role(
    iam: BaseClient,
    before: AssumableRoleRequest,
    after: AssumableRoleRequest,
    *,
    made_by: str,
    request_id: str,
    role_id: str | None = None,
) -> dict[str, Any]:
    """Turn the role made as ``before`` into ``after``; what changed. ``ProvisioningError`` otherwise, with
    the role put back. ``role_id``: the RoleId the bot recorded for it (None: not known; the tag alone decides)."""
    plan = edit_plan(before, after)
    try:
        found = lookup(iam.get_role, RoleName=before.role_name)
        problems = _preflight(iam, found, before, after, made_by, role_id)
    except AWS_ERRORS as error:
        message = explain(error, doing="check the role before editing it", account_id=before.account_id)
        raise ProvisioningError(message, step="preflight", code=error_code(error)) from error
    if problems:
        raise ProvisioningError(" ".join(problems), step="preflight")
    step = plan[0] if plan else None
    try:
        for step in plan:
            log.info("Request %s: %s", request_id, step.describe())
            getattr(iam, step.method)(**step.params)
    except AWS_ERRORS as error:
        assert step is not None
        problem = failed(error, step=step.action, doing=step.doing(), request=after)
        problem.message += " " + put_back(iam, edit_plan(after, before), "the edit")
        log.warning("Request %s failed at %s: %s", request_id, step.action, problem.message)
        raise problem from error
    return {"role_name": before.role_name, "changed": [step.describe() for step in plan]}


def _preflight(
    iam: BaseClient,
    found: dict[str, Any] | None,
    before: AssumableRoleRequest,
    after: AssumableRoleRequest,
    made_by: str,
    role_id: str | None,
) -> list[str]:
    if found is None:
        return [f"The role {before.role_name} no longer exists in account {before.account_id}."]
    if role_id is not None and replaced(found["Role"], role_id):
        return [replaced_message(before.role_name, before.account_id, role_id, found["Role"].get("RoleId"))]
    if tags_of(found["Role"]).get(REQUEST_ID_TAG) != made_by:
        return [
            f"The role {before.role_name} no longer carries the tag {REQUEST_ID_TAG}={made_by}; "
            "the bot edits only roles it made."
        ]
    problems = []
    for arn in set(after.managed_policy_arns) - set(before.managed_policy_arns):
        policy = lookup(iam.get_policy, PolicyArn=arn)
        if policy is None:
            problems.append(f"The managed policy {arn} does not exist in account {after.account_id}.")
        elif changed := version_changed(arn, policy["Policy"], after.managed_policy_pins.get(arn)):
            problems.append(changed)
    return problems
