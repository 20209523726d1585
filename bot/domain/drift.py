"""Drift: a role the bot made, as AWS has it now, compared with its last approved state.

Pure. ``RoleState`` is everything about a role that decides who may assume it and what it may do, plus
its settings; the executor reads one from AWS (``bot.executor.drift.observe_role``), and
``RoleState.approved`` makes one from the request that was approved. ``differences`` compares the two
aspect by aspect, documents by meaning rather than by spelling, so the bot doesn't cry wolf over how IAM
hands a document back; ``transition_plan`` gives the IAM calls that turn one state into another (a restore's,
and an edit's: ``bot.domain.change.edit_plan``).

What counts as the same document (and only this):

- the order of statements and of the values in a list; a one-value list and the bare value (the policy
  grammar lets either stand for the other:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html);
- the case of action names ("The prefix and the action name are case insensitive":
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html) and of condition
  key names ("Condition key names are not case-sensitive":
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html) — but two spellings of
  one key under one operator are two AND-ed tests, so such a condition is compared as written;
- booleans and numbers in condition values written as JSON literals or as strings;
- ``Sid``, which names a statement and grants nothing.

Everything else — an added principal, a value's case in a condition, ``Version`` (which changes how
policy variables are read) — is a difference. Nothing is forgotten: any document that differs after these
rules is reported.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.models import AssumableRoleRequest
from bot.domain.plan import PlanStep
from bot.domain.policies import pinned_version, to_json, to_pretty_json

DELETED = "deleted"
"""The fingerprint of a role that is gone from AWS."""


def _values(value: Any, *, fold: bool = False) -> list[Any]:
    """A policy element that takes one value or a list, as a sorted list without repeats."""
    items = value if isinstance(value, list) else [value]
    shown = [_scalar(item) for item in items]
    if fold:
        shown = [item.lower() if isinstance(item, str) else item for item in shown]
    return sorted(set(shown), key=lambda item: json.dumps(item))


def _scalar(value: Any) -> Any:
    """A condition or principal value as IAM compares it: JSON literals read as their string form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _principal(value: Any) -> Any:
    if isinstance(value, dict):
        return {kind: _values(values) for kind, values in sorted(value.items())}
    return value


def _condition(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    merged: dict[str, dict[str, list[Any]]] = {}
    for operator, keys in value.items():
        if not isinstance(keys, dict):
            return value  # not a condition IAM would take: compared as written
        block = merged.setdefault(operator, {})
        for key, values in keys.items():
            if key.lower() in block:
                # Two spellings of one key under one operator are two AND-ed tests, not one key's OR-ed values
                # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html):
                # merged, a widening to one key listing both values would compare equal. Compared as written.
                return value
            block[key.lower()] = _values(values)
    return {op: dict(sorted(keys.items())) for op, keys in sorted(merged.items())}


def _statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    canonical: dict[str, Any] = {}
    for key, value in statement.items():
        if key == "Sid":
            continue
        if key in ("Action", "NotAction"):
            canonical[key] = _values(value, fold=True)
        elif key in ("Resource", "NotResource"):
            canonical[key] = _values(value)
        elif key in ("Principal", "NotPrincipal"):
            canonical[key] = _principal(value)
        elif key == "Condition":
            canonical[key] = _condition(value)
        else:
            canonical[key] = value
    return canonical


def canonical(document: dict[str, Any] | None) -> Any:
    """A policy document in one spelling per meaning (see the module's rules); None stays None."""
    if not isinstance(document, dict):
        return document
    result = dict(document)
    if "Statement" in result:
        statements = result["Statement"] if isinstance(result["Statement"], list) else [result["Statement"]]
        unique = {json.dumps(_statement(item), sort_keys=True): _statement(item) for item in statements}
        result["Statement"] = [unique[key] for key in sorted(unique)]
    return result


def same_document(one: dict[str, Any] | None, other: dict[str, Any] | None) -> bool:
    return canonical(one) == canonical(other)


@dataclass(frozen=True)
class RoleState:
    """A role's trust, permissions and settings: as approved, or as observed in AWS."""

    role_name: str
    path: str
    trust_policy: dict[str, Any] = field(hash=False)
    description: str = ""
    max_session_duration: int = 3600
    permissions_boundary_arn: str | None = None
    managed_policy_arns: tuple[str, ...] = ()
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    """Inline policies by name."""
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    """Every tag, the bot's provenance tags included."""
    managed_policy_versions: dict[str, str] = field(default_factory=dict, hash=False)
    """The attached customer managed policies' ids and default versions (``policy_pin``): a new default version
    (CreatePolicyVersion, SetDefaultPolicyVersion) changes what the role may do without touching the role. AWS
    managed policies are left out: only AWS gives them new versions."""
    role_id: str | None = None
    """IAM's RoleId: unique, never reused. Approved: the one the bot recorded when it made the role (None: not known);
    observed: GetRole's. Two that differ are two roles: the bot's was deleted and another made under its name
    (``replaced``), whatever it looks like ("IAM identifiers", unique identifiers:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids)."""

    @classmethod
    def approved(cls, request: AssumableRoleRequest, provenance_tags: dict[str, str]) -> "RoleState":
        """The state the bot made from an approved request (its plan's calls), provenance tags included."""
        inline = {request.inline_policy_name: request.inline_policy} if request.inline_policy else {}
        return cls(
            role_name=request.role_name,
            path=request.path,
            trust_policy=request.trust_policy(),
            description=request.description,
            max_session_duration=request.max_session_duration,
            permissions_boundary_arn=request.permissions_boundary_arn,
            managed_policy_arns=tuple(sorted(set(request.managed_policy_arns))),
            inline_policies=inline,
            tags={**{tag.key: tag.value for tag in request.tags}, **provenance_tags},
            managed_policy_versions={
                arn: pin
                for arn, pin in request.managed_policy_pins.items()
                if customer_managed(arn) and arn in request.managed_policy_arns
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """As stored; without customer managed policies or a RoleId, as before they were kept (same fingerprints)."""
        versions = {"managed_policy_versions": dict(sorted(self.managed_policy_versions.items()))}
        return {
            **(versions if self.managed_policy_versions else {}),
            **({"role_id": self.role_id} if self.role_id else {}),
            "role_name": self.role_name,
            "path": self.path,
            "trust_policy": self.trust_policy,
            "description": self.description,
            "max_session_duration": self.max_session_duration,
            "permissions_boundary_arn": self.permissions_boundary_arn,
            "managed_policy_arns": list(self.managed_policy_arns),
            "inline_policies": self.inline_policies,
            "tags": self.tags,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoleState":
        return cls(**{**data, "managed_policy_arns": tuple(sorted(set(data.get("managed_policy_arns") or [])))})

    def canonical(self) -> dict[str, Any]:
        """The state with every document in its canonical spelling (what comparing and fingerprints use)."""
        return {
            **self.to_dict(),
            "trust_policy": canonical(self.trust_policy),
            "inline_policies": {name: canonical(doc) for name, doc in sorted(self.inline_policies.items())},
            "tags": dict(sorted(self.tags.items())),
        }

    def same_as(self, other: "RoleState") -> bool:
        return self.canonical() == other.canonical()


def fingerprint(observed: RoleState | None, approved: RoleState) -> str:
    """Names one difference, the observed state against the approved one: the same difference seen again has the same
    fingerprint, a new one another — also when only the approved state moved (an edit approving part of a drift leaves
    AWS as it was; the report of the old comparison can't act, so a new one must replace it)."""
    if observed is None:
        return DELETED
    both = {"observed": observed.canonical(), "approved": approved.canonical()}
    return hashlib.sha256(json.dumps(both, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Difference:
    """One aspect of a role that is not as approved: what was approved, what AWS has (people's text)."""

    aspect: str
    before: str
    after: str

    def to_dict(self) -> dict[str, str]:
        return {"aspect": self.aspect, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Difference":
        return cls(str(data["aspect"]), str(data["before"]), str(data["after"]))


NONE = "(none)"


def customer_managed(arn: str) -> bool:
    """A managed policy an account made (its ARN names the account, not ``aws``)."""
    return ":iam::aws:policy/" not in arn


def _versions(arns: list[str], versions: dict[str, str]) -> str:
    return "\n".join(f"{arn} {pinned_version(versions[arn])} (policy id {versions[arn].split(':')[0]})" for arn in arns)


def changed_versions(approved: RoleState, observed: RoleState) -> list[str]:
    """The customer managed policies attached as approved whose default version (or the policy itself, made again
    under its name) is not the one approved (a policy not read for the approval has no version to compare)."""
    both = set(approved.managed_policy_versions) & set(observed.managed_policy_versions)
    return sorted(arn for arn in both if approved.managed_policy_versions[arn] != observed.managed_policy_versions[arn])


def _document(document: dict[str, Any] | None) -> str:
    return to_pretty_json(document) if document is not None else NONE


def replaced(approved: RoleState, observed: RoleState | None) -> bool:
    """``observed`` is another role than the one the bot made (their RoleIds differ; not known: no answer)."""
    if observed is None or approved.role_id is None or observed.role_id is None:
        return False
    return approved.role_id != observed.role_id


REPLACED = (
    "The role was deleted and another made under its name outside the bot: it is not the bot's, whatever its tags "
    "say, so the bot neither restores it nor takes it as its own (Accept). Whoever made it must change or delete it; "
    "once it is gone, the next drift check reports the bot's role deleted."
)


def differences(approved: RoleState, observed: RoleState | None) -> list[Difference]:
    """Every aspect in which ``observed`` is not ``approved`` (empty: the role is as approved); a role replaced
    outside the bot (``replaced``) is that one difference: nothing of it is the bot's to compare."""
    if observed is None:
        return [Difference("role", f"{approved.path}{approved.role_name}", "deleted outside the bot")]
    if replaced(approved, observed):
        return [
            Difference(
                "role",
                f"{approved.path}{approved.role_name} (RoleId {approved.role_id})",
                f"deleted and replaced outside the bot by another role of the same name (RoleId {observed.role_id})",
            )
        ]
    found: list[Difference] = []
    if not same_document(approved.trust_policy, observed.trust_policy):
        found.append(Difference("trust policy", _document(approved.trust_policy), _document(observed.trust_policy)))
    added = sorted(set(observed.managed_policy_arns) - set(approved.managed_policy_arns))
    removed = sorted(set(approved.managed_policy_arns) - set(observed.managed_policy_arns))
    if added or removed:
        change = "\n".join([*(f"+ {arn}" for arn in added), *(f"- {arn}" for arn in removed)])
        found.append(Difference("managed policies", "\n".join(approved.managed_policy_arns) or NONE, change))
    versions = changed_versions(approved, observed)
    if versions:
        found.append(
            Difference(
                "managed policy versions",
                _versions(versions, approved.managed_policy_versions),
                _versions(versions, observed.managed_policy_versions),
            )
        )
    for name in sorted(set(approved.inline_policies) | set(observed.inline_policies)):
        old, new = approved.inline_policies.get(name), observed.inline_policies.get(name)
        if not same_document(old, new):
            found.append(Difference(f"inline policy {name}", _document(old), _document(new)))
    if approved.permissions_boundary_arn != observed.permissions_boundary_arn:
        found.append(
            Difference(
                "permissions boundary",
                approved.permissions_boundary_arn or NONE,
                observed.permissions_boundary_arn or NONE,
            )
        )
    if approved.tags != observed.tags:
        keys = sorted(set(approved.tags) | set(observed.tags))
        changed = [key for key in keys if approved.tags.get(key) != observed.tags.get(key)]
        before = {key: approved.tags[key] for key in changed if key in approved.tags}
        after = {key: observed.tags[key] for key in changed if key in observed.tags}
        found.append(Difference("tags", _document(before) if before else NONE, _document(after) if after else NONE))
    settings = [
        ("description", approved.description, observed.description),
        ("maximum session duration", approved.max_session_duration, observed.max_session_duration),
        ("path", approved.path, observed.path),
    ]
    found += [Difference(aspect, json.dumps(old), json.dumps(new)) for aspect, old, new in settings if old != new]
    return found


def transition_plan(
    current: RoleState,
    target: RoleState,
    *,
    same: Callable[[Any, Any], bool] = same_document,
    removals_first: bool = True,
    pins: Mapping[str, str] | None = None,
) -> list[PlanStep]:
    """The IAM calls that turn a role in state ``current`` into ``target``: the one place that knows them, for a
    restore (``restore_plan``) and an edit (``bot.domain.change.edit_plan``), each also swapped to go back.

    ``same`` decides whether two documents differ (by meaning for a restore: AWS hands documents back respelled; as
    written for an edit: AWS gets exactly the spelling the approver saw). ``removals_first`` puts each detach, inline
    delete and untag before its attach, put and tag (a restore takes an unapproved widening away first); an edit
    keeps the order its approvers were shown. ``pins``: each managed policy's reviewed id and default version, for
    ``AttachRolePolicy`` (``PlanStep.pin``). The path is never among the calls: IAM can't move a role.
    """
    role = {"RoleName": current.role_name}
    steps: list[PlanStep] = []
    if not same(current.trust_policy, target.trust_policy):
        steps.append(PlanStep("UpdateAssumeRolePolicy", {**role, "PolicyDocument": to_json(target.trust_policy)}))
    if (current.description, current.max_session_duration) != (target.description, target.max_session_duration):
        update = {**role, "Description": target.description, "MaxSessionDuration": target.max_session_duration}
        steps.append(PlanStep("UpdateRole", update))
    if current.permissions_boundary_arn != target.permissions_boundary_arn:
        if target.permissions_boundary_arn:
            boundary = {**role, "PermissionsBoundary": target.permissions_boundary_arn}
            steps.append(PlanStep("PutRolePermissionsBoundary", boundary))
        else:
            steps.append(PlanStep("DeleteRolePermissionsBoundary", role))
    detach = [
        PlanStep("DetachRolePolicy", {**role, "PolicyArn": arn})
        for arn in current.managed_policy_arns
        if arn not in target.managed_policy_arns
    ]
    attach = [
        PlanStep("AttachRolePolicy", {**role, "PolicyArn": arn}, pin=(pins or {}).get(arn))
        for arn in target.managed_policy_arns
        if arn not in current.managed_policy_arns
    ]
    delete_inline = [
        PlanStep("DeleteRolePolicy", {**role, "PolicyName": name})
        for name in sorted(current.inline_policies)
        if name not in target.inline_policies
    ]
    put_inline = [
        PlanStep("PutRolePolicy", {**role, "PolicyName": name, "PolicyDocument": to_json(document)})
        for name, document in sorted(target.inline_policies.items())
        if not same(current.inline_policies.get(name), document)
    ]
    gone = [key for key in current.tags if key not in target.tags]
    untag = [PlanStep("UntagRole", {**role, "TagKeys": gone})] if gone else []
    put = [{"Key": key, "Value": value} for key, value in target.tags.items() if current.tags.get(key) != value]
    tag = [PlanStep("TagRole", {**role, "Tags": put})] if put else []
    for removals, additions in ((detach, attach), (delete_inline, put_inline), (untag, tag)):
        steps += removals + additions if removals_first else additions + removals
    return steps


def restore_plan(current: RoleState, target: RoleState) -> list[PlanStep]:
    """The IAM calls that put a role in state ``current`` back to ``target`` (swapped: back again).

    Neither the path (IAM can't move a role) nor a managed policy's default version (the policy is shared) is among
    them: a role whose path or versions differ can't be restored (``restorable``).
    """
    return transition_plan(current, target)


def restorable(approved: RoleState, observed: RoleState | None) -> str | None:
    """None if the role can be put back as approved, else why not (for the approver)."""
    if observed is None:
        return "The role no longer exists; recreating it is a new request (/iam-role)."
    if replaced(approved, observed):
        return REPLACED
    if observed.path != approved.path:
        return "IAM can't move a role to another path; delete it and request it again."
    versions = changed_versions(approved, observed)
    if versions:
        return (
            f"The default version of {', '.join(versions)} is not the one approved. The policy is not the role's "
            "alone (other roles, users and groups may use it), so the bot doesn't set its version back: do it in "
            "IAM (SetDefaultPolicyVersion), or accept the role as it is."
        )
    return None
