"""Asking the evaluator about hostile callers: would anyone with these claims get into this trust policy?

A condition restricts a caller only if the evaluator says it keeps them out, whatever else they
send. So a probe fixes the keys under test (a foreign subject, no external id, …) and tries every
value the policy itself names for the other keys — the caller is assumed to control those (a GitHub
workflow chooses its own audience) — plus leaving each of them out. ``Null``, negated operators,
``…IfExists`` and wildcard-only values then restrict nothing, because a probe gets past them.
"""

import contextlib
import ipaddress
import itertools
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.policies import as_list
from bot.review.evaluator import (
    ContextValue,
    Operator,
    Principal,
    Request,
    conditions_match,
    is_allowed,
    policy_text,
    reads_variables,
    statement_applies,
)

MAX_PROBES = 256
"""Combinations tried per statement and question at most; a policy needing more is taken to let the caller in."""
ABSENT = None
WILDCARD_RE = re.compile(r"[*?]")
FAR_DATES = ("0", "4102444800")
"""1970 and 2100: a caller can't choose the time, but a date condition mustn't hide an open door."""
IP_OPERATORS = frozenset({"IpAddress", "NotIpAddress"})


@dataclass(frozen=True)
class ConditionValue:
    """One value a trust policy names for a condition key, with how it is compared."""

    operator: Operator
    key: str
    value: str

    @property
    def is_pattern(self) -> bool:
        """Only the ``…Like`` operators treat ``*`` and ``?`` as wildcards; ``StringEquals`` compares literally."""
        return self.operator.base.endswith("Like") and WILDCARD_RE.search(self.value) is not None

    @property
    def restricts(self) -> bool:
        """A positive comparison (not Null, not negated): the only kind that can keep a caller out."""
        return self.operator.base != "Null" and not self.operator.negated


def condition_values(document: Mapping[str, Any], effect: str | None = "Allow") -> list[ConditionValue]:
    """Every (operator, key in lower case, value) of the conditions of the ``effect`` statements (None: all)."""
    return [
        ConditionValue(Operator.parse(name), key.lower(), policy_text(value))
        for statement in statements_of(document)
        if effect is None or statement.get("Effect") == effect
        for name, block in (statement.get("Condition") or {}).items()
        if isinstance(block, Mapping)
        for key, values in block.items()
        for value in as_list(values)
    ]


def statements_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [statement for statement in as_list(document.get("Statement", [])) if isinstance(statement, Mapping)]


def expand(pattern: str, first: str = "x") -> str:
    """A value a pattern matches: its first ``*`` replaced by ``first``, every other wildcard by ``x``."""
    match = WILDCARD_RE.search(pattern)
    if match is None:
        return pattern
    filler = first if match.group() == "*" else "x"
    return pattern[: match.start()] + filler + WILDCARD_RE.sub("x", pattern[match.end() :])


def candidates(values: list[ConditionValue], key: str) -> list[ContextValue | None]:
    """What a caller may send for ``key``: nothing, or a value the policy names (patterns filled in)."""
    found: list[ContextValue | None] = [ABSENT]
    for item in values:
        if item.key != key or item.operator.base == "Null":
            continue
        text = expand(item.value) if item.is_pattern else item.value
        found.append(text)
        if item.operator.base.startswith("Numeric"):
            with contextlib.suppress(ValueError):
                found += [policy_text(float(text) - 1), policy_text(float(text) + 1)]
        if item.operator.base.startswith("Date"):
            found += list(FAR_DATES)
        if item.operator.base in IP_OPERATORS:
            # A network is no address: a caller sends one inside it (and the policy's own text never matched).
            with contextlib.suppress(ValueError):
                found.append(str(ipaddress.ip_network(text, strict=False).network_address))
    return list(dict.fromkeys(found))


def on_keys(condition: Mapping[str, Any], keys: Collection[str]) -> dict[str, dict[str, Any]]:
    """The part of a Condition element that compares ``keys`` (lower case)."""
    return {
        name: {key: values for key, values in block.items() if key.lower() in keys}
        for name, block in condition.items()
        if isinstance(block, Mapping) and any(key.lower() in keys for key in block)
    }


def admits(
    document: Mapping[str, Any], principal: Principal, action: str, fixed: Mapping[str, ContextValue | None]
) -> bool:
    """Whether ``principal`` calling ``action`` with the ``fixed`` keys gets in with some choice of the others.

    Keys of one statement are AND-ed and each condition compares one key, so for each Allow statement
    the values that satisfy it are found key by key; only their combinations (with the keys Deny
    statements look at) are tried against the whole document. That keeps a policy with many keys
    from costing a product of all values (submission must answer within Slack's three seconds).
    """
    fixed = {key.lower(): value for key, value in fixed.items()}
    fixed_context = {key: value for key, value in fixed.items() if value is not ABSENT}
    values = condition_values(document, effect=None)
    deny_keys = {item.key for item in condition_values(document, effect="Deny")} - set(fixed)
    caller = Request(action, principal)
    variables = reads_variables(document)
    for statement in statements_of(document):
        condition = statement.get("Condition") or {}
        if statement.get("Effect") != "Allow" or not isinstance(condition, Mapping):
            continue
        if not statement_applies({k: v for k, v in statement.items() if k != "Condition"}, caller):
            continue
        if not conditions_match(on_keys(condition, set(fixed)), fixed_context, variables=variables):
            continue
        keys = sorted({key.lower() for block in condition.values() if isinstance(block, Mapping) for key in block})
        choices: list[tuple[str, list[ContextValue | None]]] = []
        for key in [key for key in keys if key not in fixed]:
            keeps = [
                value for value in candidates(values, key) if satisfies(condition, key, value, variables=variables)
            ]
            if not keeps:
                break
            choices.append((key, keeps))
        else:
            choices += [(key, candidates(values, key)) for key in sorted(deny_keys - set(keys))]
            if math.prod(len(keeps) for _, keeps in choices) > MAX_PROBES:
                return True
            names = [key for key, _ in choices]
            for combination in itertools.product(*(keeps for _, keeps in choices)):
                chosen = {key: value for key, value in zip(names, combination, strict=True) if value is not ABSENT}
                if is_allowed(document, Request(action, principal, context={**fixed_context, **chosen})):
                    return True
    return False


def satisfies(condition: Mapping[str, Any], key: str, value: ContextValue | None, *, variables: bool = True) -> bool:
    """Whether sending ``value`` for ``key`` (None: not sending it) passes the condition's tests of that key."""
    return conditions_match(on_keys(condition, {key}), {} if value is ABSENT else {key: value}, variables=variables)


def only_exact_values_pass(document: Mapping[str, Any], principal: Principal, action: str, key: str) -> bool:
    """Whether a caller gets in only with a value the policy names exactly (StringEquals) for ``key``.

    Tried: leaving the key out, a guess, a value each pattern matches, each named value in another case.
    """
    key = key.lower()
    named = [item for item in condition_values(document) if item.key == key]
    exact = {item.value for item in named if item.restricts and not item.is_pattern}
    guesses: list[ContextValue | None] = [ABSENT, "outsider-guess"]
    guesses += [expand(item.value, "outsider") for item in named if item.is_pattern]
    guesses += [item.value.swapcase() for item in named]
    return not any(admits(document, principal, action, {key: guess}) for guess in guesses if guess not in exact)
