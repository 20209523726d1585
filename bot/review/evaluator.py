"""Would AWS allow this request under this policy? A small, pure IAM policy evaluator.

moto evaluates no conditions and no principals, so the review and the tests ask this module what
only real AWS would show: whether a GitHub workflow of another organisation, an unknown account or
a token without ``sub`` gets into a trust policy, or whether a boundary lets a role change Lambda
code. It follows AWS's documented semantics:

- Explicit deny wins, then an allow, else implicit deny (IAM User Guide, "Policy evaluation logic"):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
- Condition operators (String*, Arn*, Numeric*, Date*, Bool, BinaryEquals, IpAddress, Null,
  ``…IfExists``); a key missing from the request makes a positive operator false and a negated one
  true ("IAM JSON policy elements: Condition operators"):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- Operators AND-ed, keys under one operator AND-ed, values of one key OR-ed (NOR for negated
  operators) ("Conditions with multiple context keys or values"):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
- ``ForAnyValue:`` is false and ``ForAllValues:`` true for a missing or empty multivalued key
  ("Single-valued vs. multivalued context keys"):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

- Policy variables in condition values (``${aws:username}``, ``${cognito-identity.amazonaws.com:aud}``)
  are replaced by the request's value of that key, or by their default (``${key, 'text'}``); one
  that can't be resolved matches nothing. ``${*}``, ``${?}``, ``${$}`` stand for those characters
  ("IAM policy elements: Variables and tags"; the review treats them as the wildcards they look
  like, which only ever matches more):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
  Compared literally, ``"aud": "${cognito-identity.amazonaws.com:aud}"`` would look like it pins
  one identity pool, while AWS compares the token's audience with itself: any pool gets in.
  Only under ``"Version": "2012-10-17"``: under 2008-10-17, which is also what a policy without Version
  means, ``${...}`` is literal text ("IAM JSON policy elements: Version"; the bot accepts only 2012-10-17,
  but a document read from AWS, as drift reads it, may say otherwise):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html

Not modelled: policy variables outside conditions (Resource), other policy types
(SCPs, boundaries, session policies are separate documents: evaluate each and combine), and the
documents AWS would refuse to store (checked elsewhere, at submission).
"""

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from bot.domain.policies import POLICY_VERSION, as_list

ContextValue = str | bool | int | float | Sequence[str]
ACCOUNT_RE = re.compile(r"\d{12}")
POLICY_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
SPECIAL_VARIABLES = frozenset("*?$")
"""``${*}``, ``${?}`` and ``${$}``: the character itself, not a request value."""
ARN_ACCOUNT_ROOT_RE = re.compile(r"arn:([^:]*):iam::([^:]*):root")


@dataclass(frozen=True)
class Principal:
    """Who makes the request: ``kind`` is ``AWS``, ``Service``, ``Federated`` or ``CanonicalUser``.

    ``identifier`` is an ARN or account id (AWS), a service principal (``ec2.amazonaws.com``), or an
    identity provider (an IAM provider ARN, ``cognito-identity.amazonaws.com``, ``accounts.google.com``).
    """

    kind: str
    identifier: str

    @property
    def account(self) -> str | None:
        """The account of an AWS principal (from its ARN or as an account id)."""
        if self.kind != "AWS":
            return None
        if ACCOUNT_RE.fullmatch(self.identifier):
            return self.identifier
        parts = self.identifier.split(":")
        return parts[4] if len(parts) > 5 and ACCOUNT_RE.fullmatch(parts[4]) else None


@dataclass(frozen=True)
class Request:
    """A request to evaluate: ``resource`` None means the policy's own resource (a trust policy's role).

    ``context`` maps condition keys (any case) to a value, or a list of values for a multivalued key.
    """

    action: str
    principal: Principal | None = None
    resource: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)


def reads_variables(document: Mapping[str, Any]) -> bool:
    """Whether ``${...}`` in the document are policy variables (its Version is 2012-10-17) or literal text."""
    return document.get("Version") == POLICY_VERSION


def is_allowed(document: Mapping[str, Any], request: Request) -> bool:
    """AWS's decision for one policy: an applicable Deny wins, else an applicable Allow, else denied."""
    statements = [statement for statement in as_list(document.get("Statement", [])) if isinstance(statement, dict)]
    variables = reads_variables(document)
    applicable = [statement for statement in statements if statement_applies(statement, request, variables=variables)]
    if any(statement.get("Effect") == "Deny" for statement in applicable):
        return False
    return any(statement.get("Effect") == "Allow" for statement in applicable)


def statement_applies(statement: Mapping[str, Any], request: Request, *, variables: bool = True) -> bool:
    """Whether principal, action, resource and every condition of one statement match the request (``variables``:
    whether its policy's ``${...}`` are variables, ``reads_variables``)."""
    return (
        principal_matches(statement, request.principal)
        and element_matches(statement, "Action", request.action, action_matches)
        and (request.resource is None or element_matches(statement, "Resource", request.resource, glob_matches))
        and conditions_match(statement.get("Condition", {}), request.context, variables=variables)
    )


def element_matches(statement: Mapping[str, Any], name: str, value: str, match: Callable[[str, str], bool]) -> bool:
    """``Action``/``NotAction`` or ``Resource``/``NotResource``; a statement with neither matches everything."""
    if name in statement:
        return any(match(str(pattern), value) for pattern in as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(match(str(pattern), value) for pattern in as_list(statement[f"Not{name}"]))
    return True


def principal_matches(statement: Mapping[str, Any], principal: Principal | None) -> bool:
    """``Principal``/``NotPrincipal``; identity policies have neither and apply to their holder."""
    if "Principal" in statement:
        return principal is not None and names_principal(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        return principal is not None and not names_principal(statement["NotPrincipal"], principal)
    return True


def names_principal(element: Any, principal: Principal) -> bool:
    """Whether a Principal element names the principal: ``*``, or a value of its kind.

    An account (``123456789012`` or ``arn:…:iam::123456789012:root``) names every principal of that
    account. Wildcards are matched as patterns so that the review sees whom e.g. ``arn:aws:iam::*:root``
    would let in (AWS refuses such principals in a role trust policy; the review refuses them too).
    """
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    for value in map(str, as_list(element.get(principal.kind, []))):
        if value == "*":
            return True
        if principal.kind != "AWS":
            if glob_matches(value.lower(), principal.identifier.lower()):
                return True
        elif aws_principal_matches(value, principal):
            return True
    return False


def aws_principal_matches(value: str, principal: Principal) -> bool:
    if ACCOUNT_RE.fullmatch(value):
        value = f"arn:aws:iam::{value}:root"
    root = ARN_ACCOUNT_ROOT_RE.fullmatch(value)
    if root is not None and principal.account is not None:
        partition = principal.identifier.split(":")[1] if principal.identifier.startswith("arn:") else "aws"
        return glob_matches(root.group(1), partition) and glob_matches(root.group(2), principal.account)
    return glob_matches(value, principal.identifier)


def action_matches(pattern: str, action: str) -> bool:
    """Action names and their wildcards ignore case (``S3:get*`` matches ``s3:GetObject``)."""
    return glob_matches(pattern.lower(), action.lower())


# --- conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    """A condition operator split into its set qualifier, base operator and ``IfExists``."""

    qualifier: str | None
    base: str
    if_exists: bool

    @classmethod
    def parse(cls, name: str) -> "Operator":
        qualifier, _, rest = name.rpartition(":")
        if_exists = rest.endswith("IfExists") and rest != "IfExists"
        return cls(qualifier or None, rest.removesuffix("IfExists") if if_exists else rest, if_exists)

    @property
    def negated(self) -> bool:
        return self.base in NEGATED


def conditions_match(
    condition: Mapping[str, Any], context: Mapping[str, ContextValue], *, variables: bool = True
) -> bool:
    """Every operator, and every key under it, must hold (AND); an unknown operator never holds. ``variables``:
    whether ``${...}`` in the values are policy variables (``reads_variables``) or literal text."""
    if not isinstance(condition, Mapping) or not all(isinstance(block, Mapping) for block in condition.values()):
        return False
    lowered = {key.lower(): value for key, value in context.items()}
    return all(
        key_matches(Operator.parse(name), key, [policy_text(value) for value in as_list(values)], lowered, variables)
        for name, block in condition.items()
        for key, values in block.items()
    )


def key_matches(
    operator: Operator, key: str, policy_values: list[str], context: Mapping[str, ContextValue], variables: bool = True
) -> bool:
    present = key.lower() in context
    values = context_values(context[key.lower()]) if present else []
    if operator.base == "Null":
        return operator.qualifier is None and any(
            value.lower() == ("false" if values else "true") for value in policy_values
        )
    match = MATCHERS.get(operator.base)
    if match is None or operator.qualifier not in (None, "ForAnyValue", "ForAllValues"):
        return False
    if not values:
        if operator.if_exists:
            return True
        if operator.qualifier == "ForAllValues":
            return True
        return operator.negated and operator.qualifier is None

    patterns = (
        [resolved for pattern in policy_values if (resolved := resolve_variables(pattern, context)) is not None]
        if variables
        else policy_values
    )

    def value_matches(value: str) -> bool:
        matched = any(safe_match(match, pattern, value) for pattern in patterns)
        return not matched if operator.negated else matched

    if operator.qualifier == "ForAllValues":
        return all(value_matches(value) for value in values)
    if operator.qualifier is None and operator.negated:
        return all(value_matches(value) for value in values)
    return any(value_matches(value) for value in values)


def resolve_variables(pattern: str, context: Mapping[str, ContextValue]) -> str | None:
    """``pattern`` with each ``${key}`` replaced by the request's single value of ``key`` (context keys in
    lower case) or the variable's default; None when one can't be resolved (the value then matches nothing)."""
    unresolved = False

    def replace(variable: re.Match[str]) -> str:
        nonlocal unresolved
        name, _, default = variable.group(1).partition(",")
        name, default = name.strip(), default.strip()
        if name in SPECIAL_VARIABLES:
            return name
        values = context_values(context[name.lower()]) if name.lower() in context else []
        if len(values) == 1:
            return values[0]
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        unresolved = True
        return ""

    resolved = POLICY_VARIABLE_RE.sub(replace, pattern)
    return None if unresolved else resolved


def context_values(value: ContextValue) -> list[str]:
    if isinstance(value, str | bool | int | float):
        return [policy_text(value)]
    return [policy_text(item) for item in value]


def policy_text(value: Any) -> str:
    """A JSON value as IAM compares it: ``true`` for a JSON boolean, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def safe_match(match: Callable[[str, str], bool], pattern: str, value: str) -> bool:
    """A value that can't be read as the operator's type (a date that isn't one) never matches."""
    try:
        return match(pattern, value)
    except ValueError:
        return False


def glob_matches(pattern: str, value: str) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character; everything else literal."""
    return glob_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def arn_matches(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated parts matched on its own, wildcards allowed.

    A pattern that isn't six parts (``"*"``, ``"repo:*"``) is matched as a whole, wildcards spanning colons:
    AWS doesn't document what it does with one, and a reviewer must not read ``ArnLike {sub: "*"}`` as
    keeping everyone out when it may let everyone in.
    """
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6:
        return glob_matches(pattern, value)
    if len(value_parts) != 6:
        return False
    return all(glob_matches(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def number(text: str) -> float:
    return float(text)


def date(text: str) -> datetime:
    """ISO 8601 (``2026-01-01T00:00:00Z``) or seconds since the epoch, as IAM accepts both."""
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def in_network(network: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)


def compare(read: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    """A matcher ``(policy value, request value)`` that reads both values as one type, then tests them."""
    return lambda pattern, value: bool(test(read(value), read(pattern)))


MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringNotEquals": lambda pattern, value: pattern == value,
    "StringEqualsIgnoreCase": lambda pattern, value: pattern.casefold() == value.casefold(),
    "StringNotEqualsIgnoreCase": lambda pattern, value: pattern.casefold() == value.casefold(),
    "StringLike": glob_matches,
    "StringNotLike": glob_matches,
    "NumericEquals": compare(number, lambda a, b: a == b),
    "NumericNotEquals": compare(number, lambda a, b: a == b),
    "NumericLessThan": compare(number, lambda a, b: a < b),
    "NumericLessThanEquals": compare(number, lambda a, b: a <= b),
    "NumericGreaterThan": compare(number, lambda a, b: a > b),
    "NumericGreaterThanEquals": compare(number, lambda a, b: a >= b),
    "DateEquals": compare(date, lambda a, b: a == b),
    "DateNotEquals": compare(date, lambda a, b: a == b),
    "DateLessThan": compare(date, lambda a, b: a < b),
    "DateLessThanEquals": compare(date, lambda a, b: a <= b),
    "DateGreaterThan": compare(date, lambda a, b: a > b),
    "DateGreaterThanEquals": compare(date, lambda a, b: a >= b),
    "Bool": lambda pattern, value: pattern.lower() == value.lower(),
    "BinaryEquals": lambda pattern, value: pattern == value,
    "IpAddress": in_network,
    "NotIpAddress": in_network,
    "ArnEquals": arn_matches,
    "ArnLike": arn_matches,
    "ArnNotEquals": arn_matches,
    "ArnNotLike": arn_matches,
}
"""For each base operator, whether one policy value matches one request value (negation applied later)."""
NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
    }
)
