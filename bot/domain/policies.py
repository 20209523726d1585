"""IAM policy documents: parsing, structural validation and AWS's size accounting."""

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from bot.domain.fields import rule_error

POLICY_VERSION = "2012-10-17"
"""The only policy language the bot accepts, in permission and trust policies alike. AWS refuses a managed
policy below it ("Policy document must be version 2012-10-17 or greater"), and under 2008-10-17 (also what a
policy without Version means) ``${...}`` policy variables are plain text, so a condition that reads like
``${aws:username}`` would compare with those literal characters while the review, and the approver, read a
variable ("IAM JSON policy elements: Version"):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html"""
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
SID_RE = re.compile(r"[A-Za-z0-9]*")
POLICY_CHAR_RE = re.compile(r"[^\t\n\r\u0020-\u00FF]")
"""Characters AWS refuses in a policy document: it allows only tab, LF, CR and U+0020–U+00FF
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names)."""
COGNITO_FEDERATED = ("cognito-identity.amazonaws.com",)
GITHUB_PROVIDER_RE = re.compile(
    r"arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/(token\.actions\.githubusercontent\.com(?:/.*)?)", re.IGNORECASE
)
"""Host names ignore case: ``TOKEN.actions.githubusercontent.com`` is GitHub all the same."""
POLICY_VARIABLE_RE = re.compile(r"\$\{(?![*?$]\})")
"""A policy variable (``${aws:username}``, ``${…:sub}``) other than ``${*}``, ``${?}``, ``${$}``, which stand for
those characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)."""
MAX_DEPTH = 32
"""Nesting deeper than any IAM policy needs; deeper documents are refused rather than recursed into."""
CONDITION_OPERATORS = frozenset(
    {
        *(
            f"String{name}"
            for name in ("Equals", "NotEquals", "EqualsIgnoreCase", "NotEqualsIgnoreCase", "Like", "NotLike")
        ),
        *(
            f"Numeric{name}"
            for name in ("Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals")
        ),
        *(
            f"Date{name}"
            for name in ("Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals")
        ),
        *(f"Arn{name}" for name in ("Equals", "Like", "NotEquals", "NotLike")),
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
    }
)
"""AWS's condition operators; each may end in ``IfExists`` and follow ``ForAnyValue:`` / ``ForAllValues:``, and
``Null`` stands alone (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
Spelled exactly: the evaluator knows no other, and one it doesn't know never holds — in an Allow, that read
``"stringlike": {"…:sub": "*"}`` as keeping everyone out."""
SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")
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
                f"{label} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None
        except (ValueError, RecursionError):
            raise rule_error(f"{label} can't be read: it nests too deeply or has a number too long.") from None
    return value


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is what JSON can carry to AWS: text keys, finite numbers, UTF-8 text, bounded depth.

    Integers are bounded too: Python can't even print one of thousands of digits.
    """
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return is_utf8(value)
    if isinstance(value, list):
        return all(is_plain_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and is_utf8(key) and is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


def is_utf8(text: str) -> bool:
    """False for text with lone surrogates, which can't be encoded to send."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(document: Any, *, label: str) -> list[dict[str, Any]]:
    """The statement list of a policy, after checking Version and Statement."""
    if not isinstance(document, dict):
        raise rule_error(f"{label} must be a JSON object with Version and Statement.")
    if not is_plain_json(document):
        raise rule_error(
            f"{label} may only hold JSON: text, finite 64-bit numbers, true/false, null, lists and objects "
            f"(at most {MAX_DEPTH} levels deep)."
        )
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise rule_error(f"{label} has unknown top-level keys: {', '.join(sorted(unknown))}.")
    if document.get("Version") != POLICY_VERSION:
        raise rule_error(
            f'{label} needs "Version": "{POLICY_VERSION}": older or missing versions make policy variables '
            "plain text, and AWS refuses them in managed policies."
        )
    statements = document.get("Statement")
    if not statements:
        raise rule_error(f"{label} needs a Statement with at least one statement.")
    statements = as_list(statements)
    sids: set[str] = set()
    for number, statement in enumerate(statements, start=1):
        if not isinstance(statement, dict):
            raise rule_error(f"{label}: statement {number} must be a JSON object.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise rule_error(f'{label}: statement {number} needs "Effect": "Allow" or "Deny".')
        sid = statement.get("Sid", "")
        if not isinstance(sid, str) or not SID_RE.fullmatch(sid):
            raise rule_error(f"{label}: statement {number} has a Sid that isn't only letters and digits.")
        if sid and sid in sids:
            raise rule_error(f"{label}: Sid “{sid}” is used by two statements; each must be unique.")
        sids.add(sid)
    return statements


def check_strings(value: Any, *, where: str, what: str) -> list[str]:
    """A text or a non-empty list of non-empty texts, as Action, Resource and principals must be."""
    values = as_list(value)
    if not values or not all(isinstance(item, str) and item for item in values):
        raise rule_error(f"{where}: {what} must be a text or a list of texts, not empty.")
    return values


def check_actions(statement: dict[str, Any], *, where: str) -> list[str]:
    """Exactly one of Action / NotAction, each ``service:Action`` or ``*``."""
    if ("Action" in statement) == ("NotAction" in statement):
        raise rule_error(f"{where} needs exactly one of Action or NotAction.")
    actions = check_strings(statement.get("Action", statement.get("NotAction")), where=where, what="Action")
    for action in actions:
        if not ACTION_RE.fullmatch(action):
            raise rule_error(f"{where}: “{action}” is not an action like s3:GetObject.")
    return actions


def check_policy_chars(document: Any, *, label: str) -> None:
    """Refuse characters AWS refuses anywhere in a policy document (in keys and values alike)."""
    found = POLICY_CHAR_RE.search(to_json(document))
    if found:
        char = found.group()
        raise rule_error(
            f"{label} can't contain “{char}” (U+{ord(char):04X}): AWS accepts only tab, line breaks and "
            "Latin-1 characters (U+0020–U+00FF) in policies."
        )


def check_permissions_policy(document: Any, *, max_chars: int) -> dict[str, Any]:
    """An identity-based (inline) policy: AWS's grammar, its characters and the per-role size quota."""
    label = "Inline policy"
    for number, statement in enumerate(statements_of(document, label=label), start=1):
        where = f"{label}: statement {number}"
        unknown = set(statement) - STATEMENT_KEYS
        if unknown:
            raise rule_error(f"{where} has keys an inline policy can't have: {', '.join(sorted(unknown))}.")
        check_actions(statement, where=where)
        if ("Resource" in statement) == ("NotResource" in statement):
            raise rule_error(f"{where} needs exactly one of Resource or NotResource.")
        check_strings(statement.get("Resource", statement.get("NotResource")), where=where, what="Resource")
        check_condition(statement, where=where)
    check_policy_chars(document, label=label)
    size = policy_size(document)
    if size > max_chars:
        raise rule_error(f"Inline policy is {size} characters (without whitespace); AWS allows {max_chars} per role.")
    return document


def check_condition(statement: dict[str, Any], *, where: str) -> None:
    condition = statement.get("Condition")
    if condition is None:
        return
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        raise rule_error(f'{where}: Condition must look like {{"StringEquals": {{"key": "value"}}}}.')
    for operator, block in condition.items():
        if not is_condition_operator(operator):
            raise rule_error(
                f"{where}: “{operator}” is not a condition operator (spelled as AWS does, e.g. StringEquals, "
                "StringLike, ArnLike, Bool, Null, ForAnyValue:StringLike, StringEqualsIfExists)."
            )
        for key, values in block.items():
            if not is_condition_value(values):
                raise rule_error(
                    f"{where}: the {operator} condition on {key} needs a value or a list of values (text, number or "
                    "true/false), not an empty list, null or an object: who would it let in?"
                )
    for names, what in (
        (list(condition), "condition operator"),
        *((list(b), "condition key") for b in condition.values()),
    ):
        twice = repeated_ignoring_case(names)
        if twice:
            raise rule_error(
                f"{where} names the {what} “{twice}” twice (in different cases). AWS reads keys without regard to "
                "case and doesn't say which of the two it keeps; write it once."
            )


def is_condition_operator(name: str) -> bool:
    if name == "Null":
        return True
    qualifier = next((q for q in SET_QUALIFIERS if name.startswith(q)), "")
    name = name.removeprefix(qualifier)
    return name.removesuffix("IfExists") in CONDITION_OPERATORS


def is_condition_value(values: Any) -> bool:
    """A text, number or boolean, or a non-empty list of them: what a condition compares a key with.

    AWS doesn't say what an empty list, ``null`` or an object means there; the evaluator would read them as
    matching nothing (an exact external id nobody has), which is the wrong way to guess."""
    scalars = as_list(values)
    return bool(scalars) and all(isinstance(value, str | int | float) for value in scalars)


def repeated_ignoring_case(names: list[str]) -> str | None:
    """The first name that appears again in another case (``sub`` and ``SUB``), if any.

    Condition keys are case-insensitive (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html):
    the review ANDs both, while AWS might keep only one, e.g. ``SUB: "*"`` over ``sub: "repo:acme/web:*"``.
    """
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            return name
        seen.add(name.lower())
    return None


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
        check_no_policy_variables(statement, where=where)
        check_required_federated_keys(statement, where=where)
    check_policy_chars(document, label=label)
    return document


def check_no_policy_variables(statement: dict[str, Any], *, where: str) -> None:
    """Refuse policy variables in a trust policy's conditions: AWS replaces ``${key}`` with the caller's own
    value of ``key``, so ``"…:aud": "${cognito-identity.amazonaws.com:aud}"`` reads as one identity pool but
    compares the token's audience with itself — every pool in the world gets in. Who a variable lets in
    depends on values the caller sends, which neither the review nor an approver can read off the text
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)."""
    for block in (statement.get("Condition") or {}).values():
        for key, values in block.items():
            for value in as_list(values):
                if isinstance(value, str) and POLICY_VARIABLE_RE.search(value):
                    raise rule_error(
                        f"{where}: the condition on {key} uses a policy variable (“{value}”); AWS fills it in "
                        "from the caller's own request, so it may let anyone in. Write the exact value."
                    )


def positive_condition_keys(statement: dict[str, Any]) -> set[str]:
    """Condition keys a statement demands a value of: not negated, not ``…IfExists``, not ``Null``, not
    ``ForAllValues:`` (true when the key is missing) — those let a token without the key in
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html)."""
    keys: set[str] = set()
    for operator, pairs in (statement.get("Condition") or {}).items():
        lenient = operator.startswith("ForAllValues:") or operator.endswith("IfExists") or operator == "Null"
        if lenient or "Not" in operator:
            continue
        keys |= {key.lower() for key in pairs}
    return keys


def check_required_federated_keys(statement: dict[str, Any], *, where: str) -> None:
    """What AWS refuses (or should): a Cognito identity pool trust without ``aud``
    (https://docs.aws.amazon.com/cognito/latest/developerguide/iam-roles.html#trust-policies), and a GitHub
    Actions trust without ``sub`` — any repository in the world could assume it."""
    if statement.get("Effect") != "Allow" or not isinstance(statement.get("Principal"), dict):
        return
    keys = positive_condition_keys(statement)
    for federated in as_list(statement["Principal"].get("Federated", [])):
        if federated in COGNITO_FEDERATED and f"{federated}:aud" not in keys:
            raise rule_error(
                f"{where} trusts Cognito identity pools without a {federated}:aud condition naming your "
                "identity pool; AWS refuses that (any identity pool could assume the role)."
            )
        github = GITHUB_PROVIDER_RE.fullmatch(federated) if isinstance(federated, str) else None
        if github and f"{github.group(1)}:sub".lower() not in keys:
            raise rule_error(
                f"{where} trusts GitHub Actions without a {github.group(1)}:sub condition: any GitHub repository "
                "in the world could assume the role."
            )


def check_principal(principal: Any, *, where: str) -> None:
    if principal is None:
        raise rule_error(f"{where} needs a Principal (who may assume the role).")
    if principal == "*":
        raise rule_error(f'{where} has "Principal": "*": anyone at all could assume this role.')
    if not isinstance(principal, dict) or not principal:
        raise rule_error(f'{where}: Principal must look like {{"AWS": "arn:aws:iam::111122223333:root"}}.')
    for kind, values in principal.items():
        if kind == "CanonicalUser":
            # Canonical user ids are an Amazon S3 notion; a role trust policy can't name one
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
            raise rule_error(f"{where}: a role can't trust a CanonicalUser; name the account or role ARN (AWS).")
        if kind not in ("AWS", "Service", "Federated"):
            raise rule_error(f"{where}: “{kind}” is not a principal type (AWS, Service, Federated).")
        if "*" in as_list(values):
            raise rule_error(f'{where} has {{"{kind}": "*"}}: anyone at all could assume this role.')
        for value in check_strings(values, where=where, what=f"the {kind} principal"):
            if "*" in value or "?" in value:
                # AWS refuses wildcards inside a principal (the Principal element page above).
                raise rule_error(
                    f"{where}: “{value}” has a wildcard inside; AWS allows none in a principal. Name it exactly "
                    "(or match names with a condition on aws:PrincipalArn)."
                )


def check_trust_size(document: dict[str, Any], *, max_chars: int) -> None:
    size = policy_size(document)
    if size > max_chars:
        raise rule_error(
            f"The trust policy would be {size} characters (without whitespace); this account allows "
            f"{max_chars}. Trust fewer principals or ask AWS to raise the ACLSizePerRole quota."
        )


@dataclass(frozen=True)
class ManagedPolicy:
    """A managed policy's default version as read from IAM: what is reviewed and pinned for execution."""

    arn: str
    version_id: str
    document: dict[str, Any]
    policy_id: str = ""

    @property
    def pin(self) -> str:
        return policy_pin(self.policy_id, self.version_id)

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def aws_managed(self) -> bool:
        return ":iam::aws:policy/" in self.arn


def policy_pin(policy_id: str, version_id: str) -> str:
    """What names a managed policy's text: its id (a policy deleted and made again under the same name
    gets a new one, and starts again at v1) and its default version."""
    return f"{policy_id}:{version_id}"


def pinned_version(pin: str) -> str:
    return pin.rsplit(":", 1)[-1]
