"""Drift in AWS: read a role as it is now, and put it back to its approved state.

``observe_role`` reads exactly what ``bot.domain.drift.RoleState`` holds:

- GetRole: the RoleId (which tells the role the bot made from one made again under its name), path, description,
  session length, boundary, and the trust policy, which IAM returns URL-encoded
  (RFC 3986; https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html). botocore decodes IAM's
  policy documents itself (its ``json_decode_policies`` handler) and hands back a dict; a string (another
  client, a stub) is decoded here, so either way the comparison sees JSON, never percent-escapes;
- ListAttachedRolePolicies (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAttachedRolePolicies.html),
  and GetPolicy for each customer managed one (its id and ``DefaultVersionId``:
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetPolicy.html),
  ListRolePolicies and GetRolePolicy per name (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html,
  URL-encoded like GetRole's), ListRoleTags (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoleTags.html),
  every page of each.

A document whose JSON repeats a key (IAM accepts one; AWS documents no meaning for it, and JSON readers, botocore's
among them, keep the last value) is read with every value: the first under its name, each later one as
``"KEY (repeated N)"`` (``keep_repeated_keys``), so it never compares equal to the approved document and the
approvers see all it says.

``restore_role`` runs ``restore_plan(observed, approved)`` only while the role is still exactly what the
approver saw (``observed``); on an AWS error it runs the reverse plan, so the role is left as it was.
"""

import json
import logging
from typing import Any
from urllib.parse import quote, unquote

from botocore.client import BaseClient

from bot.domain.drift import RoleState, customer_managed, restorable, restore_plan
from bot.domain.policies import policy_pin
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, explain
from bot.executor.iam import lookup, paginate
from bot.executor.reverse import put_back

log = logging.getLogger(__name__)


REPEATED_KEYS_HANDLER = "iam-role-bot-keep-repeated-keys"
"""The ``unique_id`` of the handler on a client's ``after-call`` events (registered once per client)."""
READ_DOCUMENTS = {"GetRole": ("Role", "AssumeRolePolicyDocument"), "GetRolePolicy": ("PolicyDocument",)}
"""Where each read's answer holds a policy document (URL-encoded JSON, as IAM sends it)."""


def _every_value(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object keeping each repeat of a key: the first value under the key, later ones as ``KEY (repeated N)``."""
    kept: dict[str, Any] = {}
    for key, value in pairs:
        name, repeat = key, 0
        while name in kept:
            repeat += 1
            name = f"{key} (repeated {repeat})"
        kept[name] = value
    return kept


def _decode(value: Any) -> Any:
    """URL-encoded JSON as a dict keeping repeated keys (``_every_value``); anything else as it is."""
    return json.loads(unquote(value), object_pairs_hook=_every_value) if isinstance(value, str) else value


def keep_repeated_keys(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore ``after-call.iam.<Operation>`` handler, run before botocore's own decoder (which keeps only a repeated
    key's last value): the read's policy document again as URL-encoded JSON, each repeat under a name of its own."""
    *path, name = READ_DOCUMENTS[model.name]
    holder = parsed
    for step in path:
        holder = holder.get(step) or {}
    if isinstance(holder.get(name), str):
        holder[name] = quote(json.dumps(_decode(holder[name])))


def _watch_repeated_keys(iam: BaseClient) -> None:
    for operation in READ_DOCUMENTS:
        iam.meta.events.register_first(
            f"after-call.iam.{operation}", keep_repeated_keys, unique_id=f"{REPEATED_KEYS_HANDLER}-{operation}"
        )


def policy_document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returned it (a dict once decoded, else URL-encoded JSON)."""
    if isinstance(value, dict):
        return value
    document = _decode(str(value))
    if not isinstance(document, dict):
        raise ValueError("IAM returned a policy document that is not a JSON object")
    return document


def observe_role(iam: BaseClient, role_name: str) -> RoleState | None:
    """The role as AWS has it now (None: no such role). AWS errors propagate."""
    _watch_repeated_keys(iam)
    found = lookup(iam.get_role, RoleName=role_name)
    if found is None:
        return None
    role = found["Role"]
    attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name)
    inline = {}
    for name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=role_name):
        policy = lookup(iam.get_role_policy, RoleName=role_name, PolicyName=name)
        if policy is not None:  # deleted between the list and the read: not there
            inline[name] = policy_document(policy["PolicyDocument"])
    tags = paginate(iam, "list_role_tags", "Tags", RoleName=role_name)
    versions = {}
    for arn in sorted({policy["PolicyArn"] for policy in attached if customer_managed(policy["PolicyArn"])}):
        found_policy = lookup(iam.get_policy, PolicyArn=arn)
        if found_policy is not None:  # detached and deleted between the list and the read: not there
            versions[arn] = policy_pin(found_policy["Policy"]["PolicyId"], found_policy["Policy"]["DefaultVersionId"])
    return RoleState(
        role_name=role["RoleName"],
        path=role["Path"],
        trust_policy=policy_document(role["AssumeRolePolicyDocument"]),
        description=role.get("Description") or "",
        max_session_duration=int(role.get("MaxSessionDuration") or 3600),
        permissions_boundary_arn=(role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        managed_policy_arns=tuple(sorted({policy["PolicyArn"] for policy in attached})),
        inline_policies=inline,
        tags={tag["Key"]: tag["Value"] for tag in tags},
        managed_policy_versions=versions,
        role_id=role["RoleId"],
    )


def unchanged_since(iam: BaseClient, account_id: str, role_name: str, shown: RoleState | None) -> RoleState | None:
    """The role read again; ``ProvisioningError`` unless it is still exactly what the approvers were shown (None:
    gone)."""
    try:
        now = observe_role(iam, role_name)
    except AWS_ERRORS as error:
        message = explain(error, doing="read the role again", account_id=account_id)
        raise ProvisioningError(message, step="preflight", code=error_code(error)) from error
    if (now is None) != (shown is None) or (now is not None and shown is not None and not now.same_as(shown)):
        raise ProvisioningError(
            "The role changed again in AWS since this drift was reported, so the bot did nothing: it acts only on "
            "what the approvers saw. The next drift check reports the role as it is now.",
            step="preflight",
        )
    return now


def restore_role(
    iam: BaseClient, account_id: str, approved: RoleState, observed: RoleState, *, request_id: str
) -> dict[str, Any]:
    """Put the role back as ``approved`` from ``observed`` (what was reported); what was done.

    ``ProvisioningError`` if the role changed meanwhile (nothing done), or an AWS error (the role put back).
    """
    refusal = restorable(approved, observed)
    if refusal:
        raise ProvisioningError(refusal, step="preflight")
    unchanged_since(iam, account_id, observed.role_name, observed)
    plan = restore_plan(observed, approved)
    for step in plan:
        try:
            log.info("Request %s: %s", request_id, step.describe())
            getattr(iam, step.method)(**step.params)
        except AWS_ERRORS as error:
            message = explain(error, doing=step.doing(), account_id=account_id)
            message += " " + put_back(iam, restore_plan(approved, observed), "the restore")
            log.warning("Request %s failed at %s: %s", request_id, step.action, message)
            raise ProvisioningError(message, step=step.action, code=error_code(error)) from error
    return {"role_name": approved.role_name, "changed": [step.describe() for step in plan]}
