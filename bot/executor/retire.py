"""Retiring a role the bot made: read what it has (and when it was last used), then delete it all.

A role is the bot's when it carries the provenance tag ``iam-role-bot:request-id``; the delete runs
only while the tag still names the request that created it. Deleting cannot be rolled back, so each
step that finds its object already gone (NoSuchEntity: an earlier, interrupted run) counts as done,
and a retry after a failure finishes the job.
"""

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.client import BaseClient

from bot.domain.last_use import LastUse
from bot.domain.retire import InstanceProfile, RoleToRetire
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, explain
from bot.executor.iam import REQUEST_ID_TAG, lookup, paginate, replaced_message, tags_of

log = logging.getLogger(__name__)


def read_role(iam: BaseClient, account_id: str, role_name: str) -> RoleToRetire | None:
    """The role as it is now (None: no such role). AWS errors propagate."""
    found = lookup(iam.get_role, RoleName=role_name)
    if found is None:
        return None
    role = found["Role"]
    made_by = tags_of(role).get(REQUEST_ID_TAG)
    used = role.get("RoleLastUsed") or {}
    profiles = []
    for item in paginate(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role_name):
        profile = lookup(iam.get_instance_profile, InstanceProfileName=item["InstanceProfileName"])
        tag = tags_of(profile["InstanceProfile"]).get(REQUEST_ID_TAG) if profile else None
        ours = made_by is not None and tag == made_by
        profiles.append(InstanceProfile(item["InstanceProfileName"], ours))
    last_used = used.get("LastUsedDate")
    return RoleToRetire(
        account_id=account_id,
        role_name=role_name,
        role_arn=role["Arn"],
        role_id=role["RoleId"],
        made_by=made_by,
        last_used_at=last_used.isoformat() if last_used else None,
        last_used_region=used.get("Region"),
        managed_policy_arns=tuple(
            p["PolicyArn"] for p in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name)
        ),
        inline_policy_names=tuple(paginate(iam, "list_role_policies", "PolicyNames", RoleName=role_name)),
        instance_profiles=tuple(profiles),
    )


def read_last_use(iam: BaseClient, role_name: str, *, now: float) -> LastUse:
    """The role's ``RoleLastUsed`` as GetRole reports it now (one call). AWS errors propagate."""
    found = lookup(iam.get_role, RoleName=role_name)
    if found is None:
        return LastUse(read_at=now, found=False)
    used = found["Role"].get("RoleLastUsed") or {}
    at = used.get("LastUsedDate")
    return LastUse(read_at=now, used_at=at.timestamp() if at else None, region=used.get("Region"))


def retire_role(
    iam: BaseClient,
    account_id: str,
    role_name: str,
    *,
    made_by: str,
    request_id: str,
    revoke_sessions: bool = False,
    role_id: str | None = None,
) -> dict[str, Any]:
    """Delete the role ``made_by`` created, with what refers to it; what was removed, for the record.

    ``revoke_sessions``: first deny every session issued before now (``RoleToRetire.plan``). ``role_id``: the RoleId
    the bot recorded for the role (None: not known; the tag alone decides). Raises ``ProvisioningError`` when the
    role no longer carries that request's tag, is another role than the one recorded, or on an AWS error.
    """
    try:
        role = read_role(iam, account_id, role_name)
    except AWS_ERRORS as error:
        message = explain(error, doing="read the role before deleting it", account_id=account_id)
        raise ProvisioningError(message, step="preflight", code=error_code(error)) from error
    if role is None:
        log.info("Request %s: the role %s is already gone", request_id, role_name)
        return {"role_name": role_name, "already_gone": True, "removed": []}
    if role_id is not None and role.role_id != role_id:
        raise ProvisioningError(replaced_message(role_name, account_id, role_id, role.role_id), step="preflight")
    if role.made_by != made_by:
        raise ProvisioningError(
            f"The role {role_name} in account {account_id} no longer carries the tag {REQUEST_ID_TAG}={made_by}; "
            "the bot deletes only roles it made.",
            step="preflight",
        )
    if revoke_sessions:
        role = replace(role, revoke_sessions_before=datetime.now(UTC).replace(microsecond=0).isoformat())
    removed: list[str] = []
    for step in role.plan():
        log.info("Request %s: %s", request_id, step.describe())
        try:
            getattr(iam, step.method)(**step.params)
        except AWS_ERRORS as error:
            if error_code(error) == "NoSuchEntity":
                continue
            message = explain(error, doing=step.doing(), account_id=account_id)
            if removed:
                message += f" Already done: {len(removed)} of {len(role.plan())} steps; a retry finishes the rest."
            raise ProvisioningError(message, step=step.action, code=error_code(error)) from error
        removed.append(step.describe())
    return {"role_name": role_name, "role_arn": role.role_arn, "already_gone": False, "removed": removed}
