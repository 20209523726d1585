"""IAM policy documents: parsing, structural validation and AWS's size accounting."""

import json
import re
from typing import Any

from bot.domain.fields import rule_error

POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
TRUST_ACTIONS = frozenset(
    {
        "sts:AssumeRole",
        "sts:AssumeRoleWithSAML",
        "sts:AssumeRoleWithWebIdentity",
        "sts:TagSession",
        "sts:SetSourceIdentity",
    }
)
ACTION_RE = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
TRUST_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "Action", "NotAction", "Condition"}


def to_json(document: dict[str, Any]) -> str:
    """The compact, deterministic JSON sent to AWS."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def to_pretty_json(document: dict[str, Any]) -> str:
    """The indented JSON shown to people."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def policy_size(document: dict[str, Any]) -> int:
    """Characters AWS counts against its quotas: everything but whitespace."""
    return sum(1 for char in to_json(document) if not char.isspace())


def parse_document(value: Any, *, label: str) -> Any:
    """Accept a policy as a dict or as JSON text (as pasted in the modal)."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise rule_error(
                f"{label} is not valid JSON: {error.msg} at line {error.lineno}, "
                f"column {error.colno}."
            ) from None
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(document: Any, *, label: str) -> list[dict[str, Any]]:
    """The statement list of a policy, after checking Version and Statement."""
    if not isinstance(document, dict):
        raise rule_error(f"{label} must be a JSON object with Version and Statement.")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise rule_error(f"{label} has unknown top-level keys: {', '.join(sorted(unknown))}.")
    if document.get("Version") not in POLICY_VERSIONS:
        raise rule_error(f'{label} needs "Version": "2012-10-17".')
    statements = document.get("Statement")
    if not statements:
        raise rule_error(f"{label} needs a Statement with at least one statement.")
    statements = as_list(statements)
    for number, statement in enumerate(statements, start=1):
        if not isinstance(statement, dict):
            raise rule_error(f"{label}: statement {number} must be a JSON object.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise rule_error(f'{label}: statement {number} needs "Effect": "Allow" or "Deny".')
    return statements


def check_actions(statement: dict[str, Any], *, where: str) -> list[str]:
    """Exactly one of Action / NotAction, each ``service:Action`` or ``*``."""
    if ("Action" in statement) == ("NotAction" in statement):
        raise rule_error(f"{where} needs exactly one of Action or NotAction.")
    actions = as_list(statement.get("Action", statement.get("NotAction")))
    for action in actions:
        if not isinstance(action, str) or not ACTION_RE.fullmatch(action):
            raise rule_error(f"{where}: “{action}” is not an action like s3:GetObject.")
    return actions


def check_permissions_policy(document: Any, *, max_chars: int) -> dict[str, Any]:
    """An identity-based (inline) policy: AWS's grammar and the per-role size quota."""
    label = "Inline policy"
    for number, statement in enumerate(statements_of(document, label=label), start=1):
        where = f"{label}: statement {number}"
        unknown = set(statement) - STATEMENT_KEYS
        if unknown:
            raise rule_error(f"{where} has keys an inline policy can't have: {', '.join(sorted(unknown))}.")
        check_actions(statement, where=where)
        if ("Resource" in statement) == ("NotResource" in statement):
            raise rule_error(f"{where} needs exactly one of Resource or NotResource.")
        check_condition(statement, where=where)
    size = policy_size(document)
    if size > max_chars:
        raise rule_error(
            f"Inline policy is {size} characters (without whitespace); AWS allows {max_chars} per role."
        )
    return document


def check_condition(statement: dict[str, Any], *, where: str) -> None:
    condition = statement.get("Condition")
    if condition is None:
        return
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        raise rule_error(f'{where}: Condition must look like {{"StringEquals": {{"key": "value"}}}}.')


def check_trust_policy(document: Any) -> dict[str, Any]:
    """A custom trust policy: only the STS actions a trust policy may allow, a real Principal."""
    label = "Trust policy"
    for number, statement in enumerate(statements_of(document, label=label), start=1):
        where = f"{label}: statement {number}"
        if "NotPrincipal" in statement:
            raise rule_error(f"{where} uses NotPrincipal; name the principals that may assume the role.")
        if "Resource" in statement or "NotResource" in statement:
            raise rule_error(f"{where} has a Resource; a trust policy's resource is the role itself.")
        unknown = set(statement) - TRUST_STATEMENT_KEYS
        if unknown:
            raise rule_error(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        if "NotAction" in statement:
            raise rule_error(f"{where} uses NotAction; list the sts: actions it allows.")
        for action in check_actions(statement, where=where):
            if action not in TRUST_ACTIONS:
                raise rule_error(
                    f"{where}: “{action}” is not allowed in a trust policy; use "
                    + ", ".join(sorted(TRUST_ACTIONS))
                    + "."
                )
        check_principal(statement.get("Principal"), where=where)
        check_condition(statement, where=where)
    return document


def check_principal(principal: Any, *, where: str) -> None:
    if principal is None:
        raise rule_error(f"{where} needs a Principal (who may assume the role).")
    if principal == "*":
        raise rule_error(f'{where} has "Principal": "*": anyone at all could assume this role.')
    if not isinstance(principal, dict) or not principal:
        raise rule_error(f'{where}: Principal must look like {{"AWS": "arn:aws:iam::111122223333:root"}}.')
    for kind, values in principal.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise rule_error(f"{where}: “{kind}” is not a principal type (AWS, Service, Federated).")
        if "*" in as_list(values):
            raise rule_error(f'{where} has {{"{kind}": "*"}}: anyone at all could assume this role.')


def check_trust_size(document: dict[str, Any], *, max_chars: int) -> None:
    size = policy_size(document)
    if size > max_chars:
        raise rule_error(
            f"The trust policy would be {size} characters (without whitespace); this account allows "
            f"{max_chars}. Trust fewer principals or ask AWS to raise the ACLSizePerRole quota."
        )
