"""Pieces of a request shared by messages and the App Home: status, outcome, findings, decision buttons."""

from collections.abc import Callable

from blocks import ids
from blocks.cards import FindingCard, RequestCard
from blocks.kit import (
    SECTION_TEXT_MAX,
    Block,
    actions,
    and_more,
    button,
    confirm_dialog,
    date,
    escape,
    fit,
    mention,
    take_lines,
    truncate,
)
from blocks.modals import role_type_label
from bot.domain.errors import FIELD_LABELS

SEVERITIES = {
    "high": ":red_circle: High",
    "warning": ":large_orange_circle: Warning",
    "info": ":information_source: Info",
}
"""Finding severities, most severe first, with how each is headed."""

STATUS = {
    "submitted": ("⏳", "Waiting for approval"),
    "approved": ("👍", "Approved"),
    "provisioning": ("⚙️", "Provisioning"),
    "created": ("✅", "Created"),
    "deleted": ("🗑️", "Deleted"),
    "extended": ("📅", "Extended"),
    "edited": ("✏️", "Changed"),
    "accepted": ("✅", "Accepted as approved"),
    "restored": ("↩️", "Restored"),
    "failed": ("⚠️", "Failed"),
    "rejected": ("❌", "Rejected"),
    "cancelled": ("🚫", "Cancelled"),
    "expired": ("⌛", "Expired"),
}
CONFIRM_TITLES = {
    "delete": "Delete this role in AWS?",
    "accept": "Accept this state as approved?",
}
"""What confirming Approve of a high-risk request asks, per kind."""
FINDING_TITLE_MAX = 150
FINDING_EXPLANATION_MAX = 600
OUTCOME_DETAIL_MAX = 2000
ACCOUNT_LABEL_MAX = 200


def status_text(status: str) -> str:
    """``⏳ Waiting for approval``: a status with its emoji (bot-defined words: safe as plain text and mrkdwn)."""
    emoji, label = STATUS.get(status, ("•", status.capitalize()))
    return f"{emoji} {label}"


def age(card: RequestCard) -> str:
    """How long ago the request was made, as Slack renders it for each reader ("3 hours ago")."""
    return date(card.created_at, "{ago}")


def account_text(card: RequestCard) -> str:
    """``Payments prod (`111122223333`)``, or just the id when the label already shows it."""
    label = fit(card.account_label, ACCOUNT_LABEL_MAX)
    return label if card.account_id in card.account_label else f"{label} (`{escape(card.account_id)}`)"


def approvers_of(card: RequestCard) -> str:
    """Who approved: every recorded approval, else the decider."""
    if card.automatic:
        return "the role's expiry, approved with the role"
    ids = card.approvals or ([card.decided_by] if card.decided_by else [])
    return ", ".join(mention(user_id) for user_id in ids) or "an approver"


def one_line(card: RequestCard) -> str:
    """``*R-1042* `payments-reader` in Payments prod``: a request in a list."""
    return f"*{escape(card.id)}* `{escape(truncate(card.role_name, 80))}` in {account_text(card)}"


def headline(card: RequestCard) -> str:
    """```payments-reader` in Payments prod (`111122223333`) — Web identity / OIDC …``: what is asked for."""
    return (
        f"`{escape(truncate(card.role_name, 120))}` in {account_text(card)} — {escape(role_type_label(card.role_type))}"
    )


def decider(card: RequestCard) -> str:
    return mention(card.decided_by) if card.decided_by else "an approver"


def cancellation(card: RequestCard) -> str:
    """``🚫 Cancelled by the requester`` or, when an approver withdrew it, ``🚫 Cancelled by <@U…>``."""
    if card.decided_by is None or card.decided_by == card.requester:
        return "🚫 Cancelled by the requester"
    return f"🚫 Cancelled by {mention(card.decided_by)}"


def rejection(card: RequestCard) -> str:
    """``❌ Rejected by <@U…>: reason``."""
    return f"❌ Rejected by {decider(card)}: {fit(card.reason or 'no reason given', OUTCOME_DETAIL_MAX)}"


def failure(card: RequestCard) -> str:
    """What went wrong while provisioning, escaped and bounded."""
    return fit(card.error or "unknown error", OUTCOME_DETAIL_MAX)


def outcome(card: RequestCard) -> str | None:
    """The one-line outcome of a decided request (None while it waits for approval)."""
    match card.status:
        case "submitted":
            return None
        case "approved":
            return f"✅ Approved by {approvers_of(card)}"
        case "provisioning":
            return f"⚙️ Provisioning… (approved by {approvers_of(card)})"
        case "created":
            arn = (card.result or {}).get("role_arn", "")
            return f"✅ Approved by {approvers_of(card)} — created `{escape(str(arn))}`"
        case "deleted":
            return f"🗑️ Approved by {approvers_of(card)} — role deleted"
        case "edited":
            return f"✏️ Approved by {approvers_of(card)} — role changed"
        case "extended":
            return f"📅 Approved by {approvers_of(card)} — expiry moved"
        case "accepted":
            return f"✅ Approved by {approvers_of(card)} — the role's state in AWS is its approved state"
        case "restored":
            return f"↩️ Restored by {approvers_of(card)} — the role is back in its approved state"
        case "failed":
            return f"⚠️ Failed: {failure(card)}"
        case "rejected":
            return rejection(card)
        case "cancelled":
            return cancellation(card)
        case "expired":
            return "⌛ Expired — nobody decided in time"
    return status_text(card.status)


def high_findings(card: RequestCard) -> list[FindingCard]:
    return [finding for finding in card.findings if finding.severity == "high"]


def decision_buttons(card: RequestCard) -> Block:
    """**Approve** / **Reject** for a waiting request; Approve asks to confirm when there are high findings."""
    high = len(high_findings(card))
    confirm = (
        confirm_dialog(
            CONFIRM_TITLES.get(card.kind, "Create this role in AWS?"),
            f"{card.id} has {high} high-severity finding{'s' if high > 1 else ''}. "
            "Approving creates the role exactly as planned.",
            "Approve",
        )
        if high
        else None
    )
    return actions(
        button("Approve", ids.APPROVE, card.id, style="primary", confirm=confirm),
        button("Reject", ids.REJECT, card.id, style="danger"),
    )


def review_summary(card: RequestCard) -> str:
    """``Review: 2 high, 1 warning`` or ``Review: nothing flagged``."""
    counts = [(severity, sum(f.severity == severity for f in card.findings)) for severity in SEVERITIES]
    found = [f"{count} {severity}" for severity, count in counts if count]
    return "Review: " + (", ".join(found) if found else "nothing flagged")


def finding_line(finding: FindingCard) -> str:
    where = FIELD_LABELS.get(finding.concerns, finding.concerns)
    line = f"• *{escape(truncate(finding.title, FINDING_TITLE_MAX))}*"
    if finding.explanation:
        line += f" — {escape(truncate(finding.explanation, FINDING_EXPLANATION_MAX))}"
    return line + (f" _({escape(where)})_" if where else "")


def findings_by_severity(findings: list[FindingCard]) -> list[tuple[str, list[str]]]:
    """``(heading, lines)`` per severity present, most severe first."""
    order = [*SEVERITIES, *sorted({f.severity for f in findings} - set(SEVERITIES))]
    groups = []
    for severity in order:
        lines = [finding_line(f) for f in findings if f.severity == severity]
        if lines:
            groups.append((f"*{SEVERITIES.get(severity, escape(severity.capitalize()))}*", lines))
    return groups


def findings_sections(
    findings: list[FindingCard], budget: int = 3 * SECTION_TEXT_MAX, more: Callable[[int], str] = and_more
) -> list[str]:
    """One mrkdwn text per severity present, most severe first, each within a section's limit and all
    within ``budget`` characters; ``more(n)`` stands for the n findings left out of a group."""
    texts = []
    left = budget
    for heading, lines in findings_by_severity(findings):
        room = min(SECTION_TEXT_MAX, left) - len(heading) - 1
        text = f"{heading}\n{take_lines(lines, room, more)}"
        texts.append(text)
        left -= len(text)
    return texts
