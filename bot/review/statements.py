"""Reading policy statements the same way in every check: their conditions and action wildcards."""

from typing import Any

from bot.domain.policies import as_list


def condition_entries(statement: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """``(operator, key in lower case, values)`` for every condition of a statement."""
    return [
        (operator, key.lower(), [str(value) for value in as_list(values)])
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    ]


def is_service_wildcard(action: str) -> bool:
    """Whether an action is every action of one service (``service:*``)."""
    return action.endswith(":*")


LITERAL_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})
"""Operators that, with values free of wildcards, allow only the values they name."""


def literal_values(statement: dict[str, Any], key: str) -> set[str] | None:
    """The values a statement's conditions allow for ``key``, when they name them literally; else None.

    None when no positive operator checks the key, or one of its values holds ``*``, ``?`` or a policy
    variable (``${iam:PassedToService}`` is the request's own value: it names every service). Negated
    operators, ``…IfExists``, ``Null`` and ``ForAnyValue:`` restrict nothing here.
    """
    named: set[str] | None = None
    for operator, name, values in condition_entries(statement):
        if name != key.lower() or operator.lower() not in LITERAL_OPERATORS:
            continue
        if any("*" in value or "?" in value or "${" in value for value in values):
            return None
        named = set(values) if named is None else named & set(values)
    return named
