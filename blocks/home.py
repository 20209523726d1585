"""The App Home tab: a button to start a request, what awaits the user's approval, their roles and their own
requests."""

from typing import Any

from blocks import ids
from blocks.cards import LastUseCard, RequestCard
from blocks.kit import (
    SECTION_TEXT_MAX,
    Block,
    actions,
    and_more,
    button,
    confirm_dialog,
    context,
    date,
    divider,
    escape,
    header,
    mention,
    section,
    take_lines,
)
from blocks.parts import age, decision_buttons, one_line, review_summary, status_text

BEING_POSTED = "Being posted in the approvals channel: Approve and Reject appear once it is there in full."


def not_posted_notice(error: str) -> str:
    """What approvers see of a request Slack refused for good to post: the bot stopped trying, so someone must
    fix the approvals channel (invite the bot, unarchive it, correct APPROVAL_CHANNEL_ID) before it expires."""
    return (
        f":warning: Slack refused to post it in the approvals channel (`{escape(error)}`) and the bot stopped trying:"
        " it can't be approved and will expire. Fix the channel, then the requester submits it again."
    )


ROLES_MAX = 10
"""Roles shown with Edit and Delete buttons in Your roles (2 blocks each)."""
AWAITING_MAX = 15
"""Pending requests shown with buttons (3 blocks each), keeping the tab well under 100 blocks."""


def awaiting_blocks(cards: list[RequestCard]) -> list[Block]:
    """Each pending request with **Approve** / **Reject**, the oldest first as given, capped."""
    if not cards:
        return [section("Nothing is waiting for your approval.")]
    blocks: list[Block] = []
    for card in cards[:AWAITING_MAX]:
        line = f"{one_line(card)}\nfrom {mention(card.requester)} {age(card)} · {review_summary(card)}"
        if card.not_posted:
            decision = context(not_posted_notice(card.not_posted))
        else:
            decision = decision_buttons(card) if card.posted else context(BEING_POSTED)
        blocks += [section(line), decision, divider()]
    if len(cards) > AWAITING_MAX:
        blocks.append(context(and_more(len(cards) - AWAITING_MAX) + " — see the approvals channel."))
    return blocks


def last_use_text(use: LastUseCard | None) -> str:
    """When the role was last used, with how old that reading is: it comes from the bot's store, read in the
    background, not from AWS at the moment the tab opens."""
    if use is None:
        return "last use not read yet"
    as_of = f"(as of {date(use.read_at, '{date_short_pretty} {time}')})"
    if not use.found:
        return f"not found in AWS {as_of}"
    if use.used_at is None:
        return f"not used within IAM's tracking period (400 days) {as_of}"
    where = f" in {escape(use.region)}" if use.region else ""
    return f"last used {date(use.used_at, '{date_short_pretty} {time}')}{where} {as_of}"


def role_blocks(roles: list[RequestCard]) -> list[Block]:
    """Each role the user's requests made: where, until when, when last used, with Edit and Delete."""
    if not roles:
        return [section("None yet.")]
    blocks: list[Block] = []
    for card in roles[:ROLES_MAX]:
        until = f"deleted {date(card.expires_at, '{date_short_pretty} {time}')}" if card.expires_at else "no expiry"
        used = last_use_text(card.last_used)
        delete = button(
            "Delete",
            ids.DELETE_ROLE,
            card.id,
            confirm=confirm_dialog("Delete this role?", "An approver confirms the deletion first.", "Delete"),
        )
        edit = button("Edit", ids.EDIT_ROLE, card.id)
        drift = f"\n⚠️ {escape(card.drift)}" if card.drift else ""
        blocks += [section(f"{one_line(card)}\n{until} · {used}{drift}"), actions(edit, delete)]
    if len(roles) > ROLES_MAX:
        blocks.append(context(and_more(len(roles) - ROLES_MAX) + " — `iam-role-bot roles list` shows all."))
    return blocks


def home_view(
    *,
    user_id: str,
    my_requests: list[RequestCard],
    awaiting_me: list[RequestCard],
    is_approver: bool,
    my_roles: list[RequestCard] | None = None,
) -> dict[str, Any]:
    """The Home tab for ``user_id``; approvers also see the requests waiting for them."""
    blocks: list[Block] = [
        header("IAM roles"),
        section(
            f"Hi {mention(user_id)}! Request an AWS IAM role here or with `/iam-role`. "
            "An approver reviews it, then the bot creates it.",
            accessory=button("New request", ids.OPEN_REQUEST_FORM, "new", style="primary"),
        ),
    ]
    if is_approver:
        blocks += [divider(), header(f"Waiting for your approval ({len(awaiting_me)})"), *awaiting_blocks(awaiting_me)]
    if my_requests:
        lines = [f"{status_text(card.status)} · {one_line(card)} · {age(card)}" for card in my_requests]
        mine = take_lines(lines, SECTION_TEXT_MAX)
    else:
        mine = "None yet."
    blocks += [divider(), header("Your roles"), *role_blocks(my_roles or [])]
    blocks += [divider(), header("Your requests"), section(mine), context("`/iam-role status ID` shows one in full.")]
    return {"type": "home", "blocks": blocks}
