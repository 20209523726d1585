"""Findings: what an approver should know about a request, how much it matters, in which order."""

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How much a finding matters, ordered: ``info < warning < high``."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


@dataclass(frozen=True)
class Finding:
    """One thing the approver should know; ``concerns`` is the request field it is about."""

    severity: Severity
    title: str
    explanation: str
    concerns: str

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": str(self.severity)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(Severity(data["severity"]), data["title"], data["explanation"], data["concerns"])


def most_severe_first(findings: Iterable[Finding]) -> list[Finding]:
    """The findings without repeats, most severe first, otherwise in their order."""
    return sorted(dict.fromkeys(findings), key=lambda finding: finding.severity, reverse=True)


def is_high_risk(findings: Iterable[Finding]) -> bool:
    """Whether any finding is high: such requests are refused or need more approvers (guardrails)."""
    return any(finding.severity == Severity.HIGH for finding in findings)


def group_by_severity(findings: Iterable[Finding]) -> list[tuple[Severity, list[Finding]]]:
    """Findings grouped by severity, most severe first, keeping their order; empty groups left out."""
    findings = list(findings)
    groups = [(severity, [f for f in findings if f.severity == severity]) for severity in reversed(Severity)]
    return [(severity, group) for severity, group in groups if group]


def listing(items: Iterable[Any], limit: int = 8) -> str:
    """``a, b and c`` for an explanation, or the first ``limit`` items and how many more."""
    items = list(dict.fromkeys(str(item) for item in items))
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)
