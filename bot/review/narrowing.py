"""Whether an edit only narrows access: the bot's own comparison, checked by IAM Access Analyzer's
CheckNoNewAccess where it answers. The fewer-approvals path (``[approvals] narrowing_approvals``) rests on it,
so both must agree: an edit is narrowing only if the bot's comparison (``bot.domain.change.only_narrows``) says
so and Access Analyzer, for each document it answered about, says PASS. A FAIL makes it not narrowing; where
Access Analyzer could not answer, the bot's comparison decides alone. The finding says which check decided.

CheckNoNewAccess compares one policy document with another of the same type
(https://docs.aws.amazon.com/access-analyzer/latest/APIReference/API_CheckNoNewAccess.html): the inline policy
as ``IDENTITY_POLICY``, the trust policy as ``RESOURCE_POLICY`` (the API reference: resource policies "include
trust policies for IAM roles"). Managed policies are not sent: the bot's comparison calls no attach narrowing
(an added policy is new access, whatever Access Analyzer would say of it) and no detach of a policy that may
hold a Deny, so on an edit it calls narrowing the managed policies are the same before and after. A document
missing on one side is not sent either: removing an inline policy without a Deny takes access away, and adding
one is narrowing to the bot only when it allows nothing.

This module does no I/O: ``bot.analyzer.NoNewAccess`` makes the call.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.domain.change import only_narrows
from bot.domain.models import AssumableRoleRequest
from bot.domain.policies import to_json
from bot.review.findings import Finding, Severity

IDENTITY = "IDENTITY_POLICY"
RESOURCE = "RESOURCE_POLICY"
NEW_ACCESS_POLICY_TYPES = (IDENTITY, RESOURCE)
"""CheckNoNewAccess's ``policyType`` values (its API reference)."""
MAX_REASONS_CHARS = 600
"""Access Analyzer's reasons are shown to approvers cut to this length (a finding is one Slack section)."""

CheckNoNewAccess = Callable[[str, str, str], dict[str, Any] | None]
"""``check(existing_json, new_json, policy_type)``: CheckNoNewAccess's answer (``result`` PASS or FAIL,
``message``, ``reasons``), None where Access Analyzer could not be asked; raises if it did not answer in time."""

COMPARISON = (
    "no managed policy added or detached, no inline Allow that wasn't there, no Deny dropped, and trust, "
    "boundary, tags and session length not widened"
)


@dataclass(frozen=True)
class ComparedDocument:
    """One policy document an edit changes, as CheckNoNewAccess is asked about it."""

    policy_type: str
    label: str
    concerns: str
    existing: str
    new: str


@dataclass(frozen=True)
class Narrowing:
    """The verdict: whether the edit only narrows access, and what approvers are told about it."""

    narrowing: bool
    findings: list[Finding] = field(default_factory=list)


def compared_documents(before: AssumableRoleRequest, after: AssumableRoleRequest) -> list[ComparedDocument]:
    """The documents present on both sides of the edit that it changes: the inline policy, the trust policy."""
    documents = []
    if before.inline_policy and after.inline_policy and before.inline_policy != after.inline_policy:
        documents.append(
            ComparedDocument(
                IDENTITY, "inline policy", "inline_policy", to_json(before.inline_policy), to_json(after.inline_policy)
            )
        )
    if before.trust_policy() != after.trust_policy():
        old, new = to_json(before.trust_policy()), to_json(after.trust_policy())
        documents.append(ComparedDocument(RESOURCE, "trust policy", after.trust_field, old, new))
    return documents


def narrowing(before: AssumableRoleRequest, after: AssumableRoleRequest, check: CheckNoNewAccess | None) -> Narrowing:
    """Whether the edit from ``before`` to ``after`` only narrows access (see the module's docstring).

    Access Analyzer is asked only when the bot's comparison finds narrowing: its answer can't make anything
    else narrowing, and each check is charged."""
    if not only_narrows(before, after):
        return Narrowing(False)
    if check is None:
        return Narrowing(True, [narrowing_finding([], [], asked=False)])
    confirmed: list[str] = []
    unanswered: list[str] = []
    for document in compared_documents(before, after):
        try:
            answer = check(document.existing, document.new, document.policy_type)
        except Exception:  # no answer in time: as if unavailable
            answer = None
        if answer is None:
            unanswered.append(document.label)
        elif answer.get("result") == "PASS":
            confirmed.append(document.label)
        else:
            return Narrowing(False, [new_access_found(document, answer)])
    return Narrowing(True, [narrowing_finding(confirmed, unanswered, asked=True)])


def narrowing_finding(confirmed: list[str], unanswered: list[str], *, asked: bool) -> Finding:
    """The label approvers see, saying which check decided."""
    if confirmed and not unanswered:
        decided = (
            f"The bot's own comparison ({COMPARISON}) and IAM Access Analyzer's CheckNoNewAccess on the "
            f"{' and '.join(confirmed)} (no new access) agree."
        )
    else:
        decided = f"Decided by the bot's own comparison alone: {COMPARISON}."
        if unanswered:
            decided += (
                f" IAM Access Analyzer's CheckNoNewAccess could not check the {' and '.join(unanswered)} "
                "(not available, or no answer in time)."
            )
        elif asked:
            decided += " No policy document changed on both sides, so IAM Access Analyzer had nothing to compare."
        else:
            decided += " IAM Access Analyzer's CheckNoNewAccess is not used here."
        if confirmed:
            decided += f" Access Analyzer found no new access in the {' and '.join(confirmed)}."
    return Finding(Severity.INFO, "Only narrows access", decided, "managed_policy_arns")


def new_access_found(document: ComparedDocument, answer: dict[str, Any]) -> Finding:
    """Access Analyzer said FAIL: the change may allow new access, so it is approved like any other."""
    reasons = [str(reason.get("description", "")) for reason in answer.get("reasons") or [] if isinstance(reason, dict)]
    said = " ".join(filter(None, [str(answer.get("message") or ""), *reasons]))
    if len(said) > MAX_REASONS_CHARS:
        said = said[: MAX_REASONS_CHARS - 1] + "…"
    return Finding(
        Severity.WARNING,
        "Access Analyzer found new access",
        f"The bot's own comparison found this change only narrows access, but IAM Access Analyzer's "
        f"CheckNoNewAccess says the new {document.label} may allow access the old one didn't"
        + (f": {said}" if said else ".")
        + " So it is not treated as narrowing and needs the usual approvals.",
        document.concerns,
    )
