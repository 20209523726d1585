"""Asking the evaluator about hostile callers: would anyone with these claims get into this trust policy?

A condition restricts a caller only if the evaluator says it keeps them out, whatever else they
send. So a probe fixes the keys under test (a foreign subject, no external id, …) and tries every
value the policy itself names for the other keys — the caller is assumed to control those (a GitHub
workflow chooses its own audience) — plus leaving each of them out. ``Null``, negated operators,
``…IfExists`` and wildcard-only values then restrict nothing, because a probe gets past them.
"""

import contextlib
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.policies import as_list
from bot.review.evaluator import ContextValue, Operator, Principal, Request, is_allowed, policy_text

MAX_PROBES = 512
"""Bound on the contexts tried per question; trust policies name few keys, so this is rarely reached."""
ABSENT = None
WILDCARD_RE = re.compile(r"[*?]")
FAR_DATES = ("0", "4102444800")
"""1970 and 2100: a caller can't choose the time, but a date condition mustn't hide an open door."""


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


def condition_values(document: Mapping[str, Any]) -> list[ConditionValue]:
    """Every (operator, key in lower case, value) of the Allow statements' conditions."""
    return [
        ConditionValue(Operator.parse(name), key.lower(), policy_text(value))
        for statement in as_list(document.get("Statement", []))
        if isinstance(statement, Mapping) and statement.get("Effect") == "Allow"
        for name, block in (statement.get("Condition") or {}).items()
        if isinstance(block, Mapping)
        for key, values in block.items()
        for value in as_list(values)
    ]


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
    return list(dict.fromkeys(found))


def contexts(
    document: Mapping[str, Any], fixed: Mapping[str, ContextValue | None]
) -> Iterator[dict[str, ContextValue]]:
    """Request contexts with ``fixed`` keys as given (None: left out) and every choice for the others."""
    values = condition_values(document)
    fixed = {key.lower(): value for key, value in fixed.items()}
    others = sorted({item.key for item in values} - set(fixed))
    choices = [candidates(values, key) for key in others]
    for combination in itertools.islice(itertools.product(*choices), MAX_PROBES):
        chosen = {**fixed, **dict(zip(others, combination, strict=True))}
        yield {key: value for key, value in chosen.items() if value is not ABSENT}


def admits(
    document: Mapping[str, Any], principal: Principal, action: str, fixed: Mapping[str, ContextValue | None]
) -> bool:
    """Whether ``principal`` calling ``action`` with the ``fixed`` keys gets in with some choice of the others."""
    return any(
        is_allowed(document, Request(action, principal, context=context)) for context in contexts(document, fixed)
    )
