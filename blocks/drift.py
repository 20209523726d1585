"""Drift reports: a role the bot made, found in AWS not as approved, as the approvals channel reads it.

The message shows each difference (approved → in AWS) as code blocks, escaped like every other text the bot
shows (Slack markup, and characters that show as nothing or as something else, come out as typed or as
``\\uXXXX``), the review of the role as it is now, and Accept / Restore. It stays within Slack's budget for a
whole message: a part that doesn't fit is cut with a note and posted whole in the thread
(``drift_overflow``), and until it is there the message offers no buttons, as the approval message does.
"""

from blocks import ids
from blocks.cards import DriftCard
from blocks.kit import (
    FIELD_TEXT_MAX,
    Block,
    Rendered,
    actions,
    button,
    confirm_dialog,
    context,
    escape,
    fields_section,
    fit,
    header,
    section,
)
from blocks.messages import SANDBOX_NOTE, Findings, LongText, notice, rendered, within_budget

BUTTONS_PENDING = "⏳ The full text of what is cut above is being posted in the thread; the buttons appear once it is."


def _parts(card: DriftCard) -> list[LongText | Findings]:
    parts: list[LongText | Findings] = [
        LongText(f"{d.aspect}: approved → now in AWS", f"approved:\n{d.before}\n\nnow in AWS:\n{d.after}", "code")
        for d in card.differences
    ]
    if card.findings:
        parts.append(Findings(card.findings))
    return parts


def _buttons(card: DriftCard) -> Block:
    high = sum(1 for finding in card.findings if finding.severity == "high")
    accept_confirm = (
        confirm_dialog(
            "Accept a high-risk state?",
            f"The role as it is now has {high} high-severity finding(s). Accepting asks for approvals as a new "
            "role would.",
            "Ask to accept",
        )
        if high
        else None
    )
    elements = [button("Accept as approved", ids.ACCEPT_DRIFT, card.id, confirm=accept_confirm)]
    if not card.deleted:
        restore_confirm = confirm_dialog(
            "Restore the approved state?",
            "The bot puts the role back exactly as last approved, now: every difference above is undone.",
            "Restore",
        )
        elements.append(
            button("Restore approved state", ids.RESTORE_DRIFT, card.id, style="danger", confirm=restore_confirm)
        )
    return actions(*elements)


REPLACED_NOTE = (
    "This role is not the bot's: the bot's was deleted and another made under its name outside the bot (its RoleId "
    "differs, whatever its tags say). The bot neither restores nor adopts it, and refuses to edit or delete it. "
    "Whoever made it must change or delete it; the next check then reports the bot's role deleted."
)


def _title(card: DriftCard) -> str:
    if card.deleted:
        return "Role deleted outside the bot"
    return "Role replaced outside the bot" if card.replaced else "Role changed outside the bot"


def _layout(card: DriftCard) -> tuple[list[Block], list[LongText | Findings]]:
    title = _title(card)
    head: list[Block] = [
        header(f"⚠️ {title} ({card.id})"),
        fields_section(
            [
                ("Role", fit(card.role_name, FIELD_TEXT_MAX - 20)),
                ("Account", f"{fit(card.account_label, 200)} (`{escape(card.account_id)}`)"),
                ("Created by", escape(card.made_id)),
                ("Risk now", ":red_circle: High" if card.risk == "high" else "Normal"),
            ]
        ),
    ]
    if card.deleted:
        head.append(section("Recreating it is a new request (`/iam-role`). *Accept* stops the bot looking for it."))
    if card.replaced:
        head.append(section(REPLACED_NOTE))
    tail: list[Block] = []
    if not card.open:
        tail.append(context("Closed: the role is no longer as this report says."))
    else:
        if card.acted_by:
            tail.append(context(f"{escape(card.acted_by)} was asked from this report; see its thread."))
        if not card.replaced:
            tail.append(_buttons(card) if card.posted else context(BUTTONS_PENDING))
    if card.sandbox:
        tail.append(context(SANDBOX_NOTE))
    nothing_flagged = (
        [] if card.findings or card.deleted else [context("Review of the role as it is now: nothing to flag.")]
    )
    shown, cut = within_budget(_parts(card), head + nothing_flagged + tail)
    if cut and not card.posted and card.open:
        tail = [context(BUTTONS_PENDING) if block["type"] == "actions" else block for block in tail]
    return [*head, *nothing_flagged, *(block for part in shown for block in part), *tail], cut


def drift_message(card: DriftCard) -> Rendered:
    """The report as approvers see it: the role, each difference, the review of the role now, the two buttons."""
    blocks, _ = _layout(card)
    what = "was deleted" if card.deleted else "differs from its approved state"
    return rendered(f"Drift {card.id}: the role {card.role_name} in {card.account_id} {what}", blocks)


def drift_overflow(card: DriftCard) -> list[Rendered]:
    """Thread replies with the full text of every part the report had to cut (none if all fit)."""
    _, cut = _layout(card)
    return [reply for part in cut for reply in part.full()]


def drift_resolved_reply(card: DriftCard) -> Rendered:
    return notice(f"✅ {escape(card.id)} closed: the role is in its approved state again.")
