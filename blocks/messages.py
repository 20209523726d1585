"""Messages: the approval message, its thread replies, the requester's DMs, and command answers.

Each builder returns ``(text, blocks)``: ``text`` is the notification fallback.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from blocks import ids
from blocks.cards import FindingCard, RequestCard
from blocks.kit import (
    ELLIPSIS,
    FIELD_TEXT_MAX,
    MESSAGE_TEXT_BUDGET,
    SECTION_TEXT_MAX,
    Block,
    Rendered,
    actions,
    button,
    code_block,
    confirm_dialog,
    context,
    date,
    divider,
    escape,
    escaped_pieces,
    fallback_text,
    fenced,
    fields_section,
    fit,
    header,
    in_thread_note,
    link,
    mention,
    mentions,
    quote,
    section,
    share,
    take_lines,
    text_size,
    truncate,
    unfenced,
)
from blocks.modals import ROLE_TYPE_CHOICES, role_type_label
from blocks.parts import (
    account_text,
    age,
    approvers_of,
    cancellation,
    decider,
    decision_buttons,
    failure,
    findings_by_severity,
    findings_sections,
    headline,
    one_line,
    outcome,
    rejection,
    status_text,
)

SANDBOX_NOTE = ":test_tube: Sandbox — roles are created in a simulated AWS account, not a real one"
SUMMARY_FALLBACK_MAX = 300
EVENT_TEXT_MAX = 300
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def rendered(text: str, blocks: list[Block]) -> Rendered:
    return fallback_text(text), blocks


def notice(line: str, *details: Block) -> Rendered:
    """A one-section message (``line`` is mrkdwn, already escaped), plus any detail blocks."""
    return rendered(line, [section(fit_mrkdwn(line)), *details])


def fit_mrkdwn(text: str) -> str:
    """Bot-made mrkdwn cut to a section: a safety net, as its user parts are escaped and bounded already."""
    return truncate(text, SECTION_TEXT_MAX)


def summary_context(card: RequestCard) -> Block:
    return context(f"{escape(card.id)} · {fit(card.summary, SECTION_TEXT_MAX - 40)}")


PROPAGATION_NOTE = "AWS takes a few seconds (usually under 10) before a new role can be used."
"""IAM is eventually consistent: a role (and instance profile) that GetRole already returns may not yet be
usable by STS or EC2 (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency)."""


def result_lines(card: RequestCard) -> str:
    """The created role: ARN, instance profile ARN, switch-role link, and when it becomes usable."""
    result = card.result or {}
    lines = [f"*Role ARN*  `{escape(str(result.get('role_arn', '')))}`"]
    if result.get("instance_profile_arn"):
        lines.append(f"*Instance profile*  `{escape(str(result['instance_profile_arn']))}`")
    if result.get("switch_role_url"):
        lines.append(link(str(result["switch_role_url"]), "Switch to this role in the AWS console"))
    lines.append(f"_{PROPAGATION_NOTE}_")
    return "\n".join(lines)


# --- the approval message ------------------------------------------------------------------------


def approval_progress(card: RequestCard) -> str:
    """``Needs 2 approvals (1 so far: <@U1>)`` for N-of-M requests, else empty."""
    if card.needed <= 1 or card.status != "submitted":
        return ""
    so_far = f"{len(card.approvals)} so far: {mentions(card.approvals)}" if card.approvals else "none yet"
    return f"Needs {card.needed} approvals ({so_far})"


IN_THREAD = "in the thread"
"""Ends every note that says a part of the approval message was cut and follows in full in its thread."""
BUDGET_MARGIN = 200
"""Characters of the budget kept back: a cut text's note and a findings group's heading may overrun their share."""
OVERFLOW_SECTION_MAX = SECTION_TEXT_MAX - 100
OVERFLOW_SECTIONS_PER_MESSAGE = 3


@dataclass(frozen=True)
class LongText:
    """A part of the approval message that may not fit: shown within its share of the message's
    budget, with a note where it was cut, and posted in full in the thread (``approval_overflow``)."""

    title: str
    raw: str
    style: str
    """``code`` (a code block), ``quote`` (a block quote) or ``plain`` (escaped mrkdwn, no title)."""

    def blocks(self, budget: int) -> list[Block]:
        heading = f"*{self.title}*\n" if self.style != "plain" else ""
        room = min(budget, SECTION_TEXT_MAX) - len(heading)
        if self.style == "code":
            return [section(heading + code_block(self.raw, room, in_thread_note))]
        if self.style == "quote":
            return [section(heading + quote(self.raw, room, in_thread_note))]
        return [section(fit(self.raw, room, in_thread_note))]

    def full(self) -> list[Rendered]:
        """The whole text as thread replies: escaped pieces of at most a section each (code blocks for code)."""
        if self.style == "code":
            pieces = escaped_pieces(unfenced(self.raw), OVERFLOW_SECTION_MAX)
            return in_parts(f"{self.title} (full text)", [fenced(piece) for piece in pieces])
        return in_parts(f"{self.title} (full text)", escaped_pieces(self.raw, OVERFLOW_SECTION_MAX))


@dataclass(frozen=True)
class Findings:
    """The review's findings as a part of the approval message; the full list goes to the thread when cut."""

    findings: list[FindingCard]

    def blocks(self, budget: int) -> list[Block]:
        texts = findings_sections(
            self.findings, budget, lambda n: f"_{ELLIPSIS}and {n} more: all findings {IN_THREAD}_"
        )
        return [section(text) for text in texts]

    def full(self) -> list[Rendered]:
        texts = [
            f"{heading}\n{chunk}"
            for heading, lines in findings_by_severity(self.findings)
            for chunk in pack_lines(lines, OVERFLOW_SECTION_MAX - len(heading))
        ]
        return in_parts("Review findings (all of them)", texts)


def pack_lines(lines: list[str], budget: int) -> list[str]:
    """``lines`` joined into as few texts of at most ``budget`` characters as they fit in (a longer line is cut)."""
    texts: list[str] = []
    for line in lines:
        line = truncate(line, budget)
        if texts and len(texts[-1]) + 1 + len(line) <= budget:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return texts


def in_parts(title: str, texts: list[str]) -> list[Rendered]:
    """``texts`` (section-sized mrkdwn) as messages of a few sections each, titled ``title (part i of n)``."""
    batches = [
        texts[i : i + OVERFLOW_SECTIONS_PER_MESSAGE] for i in range(0, len(texts), OVERFLOW_SECTIONS_PER_MESSAGE)
    ]
    replies = []
    for number, batch in enumerate(batches, 1):
        heading = f"{title}, part {number} of {len(batches)}" if len(batches) > 1 else title
        replies.append(rendered(heading, [context(f"*{escape(heading)}*"), *(section(text) for text in batch)]))
    return replies


def approval_parts(card: RequestCard) -> list[LongText | Findings]:
    """The parts of the approval message that grow with the request, in the order they are shown."""
    parts: list[LongText | Findings] = [
        LongText("Summary", card.summary, "plain"),
        LongText("Justification", card.justification, "quote"),
    ]
    if card.findings:
        parts.append(Findings(card.findings))
    if card.plan:
        calls = len(card.plan)
        parts.append(LongText(f"Plan: {calls} AWS call{'s' if calls > 1 else ''}", "\n".join(card.plan), "code"))
    if card.settings_json:
        parts.append(LongText("Role settings", card.settings_json, "code"))
    if card.trust_policy_json:
        parts.append(LongText("Trust policy", card.trust_policy_json, "code"))
    if card.inline_policy_json:
        parts.append(LongText("Inline policy", card.inline_policy_json, "code"))
    return parts


FULL_TEXT_PENDING = (
    "⏳ The full text of what is cut above is being posted in the thread; Approve and Reject appear here once "
    "all of it is there."
)


def within_budget(
    parts: list[LongText | Findings], fixed: list[Block]
) -> tuple[list[list[Block]], list[LongText | Findings]]:
    """Each part's blocks within what the ``fixed`` blocks leave of a message's budget (``share``: a short part
    whole, the long ones split the rest evenly), and the parts that had to be cut (their full text goes to the
    thread)."""
    wants = [text_size(part.blocks(3 * SECTION_TEXT_MAX)) for part in parts]
    left = MESSAGE_TEXT_BUDGET - BUDGET_MARGIN - text_size(fixed)
    shown = [part.blocks(budget) for part, budget in zip(parts, share(left, wants), strict=True)]
    cut = [part for part, blocks in zip(parts, shown, strict=True) if IN_THREAD in json.dumps(blocks)]
    return shown, cut


def approval_layout(card: RequestCard) -> tuple[list[Block], list[LongText | Findings]]:
    """The approval message's blocks within ``MESSAGE_TEXT_BUDGET``, and the parts that had to be cut.

    The fixed blocks (who, where, the decision) come first; the growing parts share what they leave
    (``share``: a short part is shown whole, the long ones split the rest evenly). A message that cut
    something offers no decision until its full text is in the thread (``card.posted``): nobody
    approves what they could not read yet.
    """
    head: list[Block] = [
        header(f"🗑️ IAM role deletion {card.id}" if card.deletes else f"🔐 IAM role request {card.id}"),
        fields_section(
            [
                ("Requester", mention(card.requester)),
                ("Account", account_text(card)),
                ("Role type", escape(role_type_label(card.role_type))),
                ("Role name", fit(card.role_name, FIELD_TEXT_MAX - 20)),
            ]
        ),
    ]
    nothing_flagged = [] if card.findings else [context("Review: nothing to flag.")]
    tail: list[Block] = []
    who = [f"Approvers: {mentions(card.approvers)}"] if card.approvers else []
    who += [progress] if (progress := approval_progress(card)) else []
    if who:
        tail.append(context(" · ".join(who)))
    decided = outcome(card)
    tail.append(decision_buttons(card) if decided is None else section(decided))
    if card.sandbox:
        tail.append(context(SANDBOX_NOTE))
    shown, cut = within_budget(approval_parts(card), head + nothing_flagged + tail)
    if cut and not card.posted:
        tail = [context(FULL_TEXT_PENDING) if block["type"] == "actions" else block for block in tail]
    summary, justification, *rest = shown
    blocks = [*head, *summary, *justification, *nothing_flagged, *(b for part in rest for b in part), *tail]
    return blocks, cut


def approval_message(card: RequestCard) -> Rendered:
    """The request as approvers see it: who, what, why, the review, the exact AWS calls, and the decision.

    Within Slack's budget for a whole message; a part that doesn't fit is cut with a note saying so,
    and ``approval_overflow`` gives its full text for the thread.
    """
    blocks, _ = approval_layout(card)
    text = f"IAM role request {card.id} from {mention(card.requester)}: {fit(card.summary, SUMMARY_FALLBACK_MAX)}"
    return rendered(text, blocks)


def approval_overflow(card: RequestCard) -> list[Rendered]:
    """Thread replies with the full text of every part the approval message had to cut (none if all fit)."""
    _, cut = approval_layout(card)
    return [reply for part in cut for reply in part.full()]


def incomplete_approval_message(card: RequestCard) -> Rendered:
    """What replaces an approval message whose full text Slack did not take: it will never get buttons."""
    return notice(
        f"⚠️ Slack did not take the full text of request {escape(card.id)}, so it can't be approved here; "
        "the bot posts it again, whole, in a while."
    )


# --- thread replies ------------------------------------------------------------------------------


def approval_recorded(card: RequestCard, approver: str) -> Rendered:
    """One of several approvals is in."""
    missing = card.needed - len(card.approvals)
    progress = f"{len(card.approvals)} of {card.needed} approvals"
    waiting = f"; waiting for {missing} more." if missing > 0 else "; that's enough."
    return notice(f"👍 {mention(approver)} approved — {progress}{waiting}")


def approved_reply(card: RequestCard) -> Rendered:
    return notice(f"✅ Approved by {approvers_of(card)}. {card.doing} the role now.")


def provisioning_reply(card: RequestCard, resumed: bool = False) -> Rendered:
    """Provisioning started (or resumed after a restart or a retry)."""
    if resumed:
        return notice(f"⚙️ Resuming provisioning in {account_text(card)}: steps already done are skipped.")
    calls = len(card.plan)
    return notice(f"⚙️ {card.doing} the role in {account_text(card)}: {calls} AWS call{'s' if calls != 1 else ''}.")


def created_reply(card: RequestCard) -> Rendered:
    return notice("✅ Role created.", section(result_lines(card)))


def deletion_date(at: float) -> str:
    return date(at, "{date_long_pretty} {time}")


def edited_reply(card: RequestCard) -> Rendered:
    return notice("✏️ Role changed: it is now exactly as approved.")


def edited_dm(card: RequestCard) -> Rendered:
    return notice(f"✏️ Your change to the role {headline(card)} is made.", summary_context(card))


def drift_done_reply(card: RequestCard) -> Rendered:
    if card.kind == "restore":
        return notice(f"↩️ Restored by {approvers_of(card)}: the role is back in its approved state.")
    return notice(f"✅ Accepted by {approvers_of(card)}: the role as it is in AWS is its approved state now.")


def drift_done_dm(card: RequestCard) -> Rendered:
    return notice(f"{escape(card.id)}: {drift_done_reply(card)[0]}", summary_context(card))


def extended_reply(card: RequestCard) -> Rendered:
    return notice(f"📅 Extended: the role is now deleted {deletion_date((card.result or {}).get('expires_at', 0))}.")


def extended_dm(card: RequestCard) -> Rendered:
    at = deletion_date((card.result or {}).get("expires_at", 0))
    return notice(f"📅 Your role {headline(card)} is extended: the bot deletes it {at}.", summary_context(card))


def expiry_reminder_dm(card: RequestCard) -> Rendered:
    """Tells the requester their time-limited role ends soon; Extend (approved like a change) or Delete now."""
    at = deletion_date(card.expires_at or 0)
    extend = button("Extend", ids.EXTEND_ROLE, card.id, style="primary")
    delete = button(
        "Delete now",
        ids.DELETE_ROLE,
        card.id,
        style="danger",
        confirm=confirm_dialog("Delete this role?", "An approver confirms the deletion first.", "Delete"),
    )
    return rendered(
        f"Your role {card.role_name} expires soon.",
        [
            section(f"⏰ Your role {headline(card)} expires {at}: the bot then revokes its sessions and deletes it."),
            context("Extend keeps it as long again once an approver agrees; Delete now asks to delete it today."),
            actions(extend, delete),
        ],
    )


def deleted_reply(card: RequestCard) -> Rendered:
    """Also says the role is gone for infrastructure as code: its exported files describe nothing now."""
    text, blocks = notice(f"🗑️ Role deleted: {removed_text(card)}")
    gone = "The role no longer exists, so it has no code: drop it from any CloudFormation stack or Terraform state."
    return text, [*blocks, context(gone)]


def deleted_dm(card: RequestCard) -> Rendered:
    return notice(f"🗑️ The role {headline(card)} is deleted ({removed_text(card)}).", summary_context(card))


def removed_text(card: RequestCard) -> str:
    """What deleting the role took away (AWS calls made), or that it was already gone."""
    result = card.result or {}
    if result.get("already_gone"):
        return "it was already gone."
    removed = result.get("removed") or []
    return f"{len(removed)} AWS call{'s' if len(removed) != 1 else ''}, nothing of it is left."


def role_as_code_comment(card: RequestCard) -> str:
    """The text above the uploaded CloudFormation and Terraform files (plain text: Slack shows it as is)."""
    return (
        f"The role of {card.id} as code: CloudFormation (import it into a stack) and Terraform "
        "(its import blocks adopt the role). `iam-role-bot requests export` prints them again."
    )


def role_as_code_failed_reply(card: RequestCard) -> Rendered:
    return notice(
        f"⚠️ Slack did not take the role's code as a file; the role is fine. An admin can print it with "
        f"`iam-role-bot requests export {escape(card.id)} --format terraform` (or `cloudformation`)."
    )


def git_export_failed_reply(card: RequestCard, error: str) -> Rendered:
    return notice(
        f"⚠️ The role's code could not be committed to the export repository; the role is fine and the bot "
        f"will keep trying. Git said: {escape(fit(error, 1000))}"
    )


def git_exported_reply(card: RequestCard, path: str, commit: str | None) -> Rendered:
    at = f" in commit `{escape(commit[:12])}`" if commit else ""
    return notice(f"✅ The role's code is now in the export repository at `{escape(path)}`{at}.")


def failed_reply(card: RequestCard) -> Rendered:
    """The failure and a **Retry** button for approvers."""
    text, blocks = notice(f"⚠️ Provisioning failed: {failure(card)}")
    retry = button("Retry", ids.RETRY, card.id, style="primary")
    return text, [*blocks, context("Approvers can retry once the cause is fixed."), actions(retry)]


def rejected_reply(card: RequestCard) -> Rendered:
    return notice(rejection(card))


def cancelled_reply(card: RequestCard) -> Rendered:
    return notice(f"{cancellation(card)}.")


def expired_reply(card: RequestCard) -> Rendered:
    return notice("⌛ Expired: nobody decided in time. The requester can submit it again.")


def reminder_reply(card: RequestCard, hours_waiting: float) -> Rendered:
    """Nudges the approvers who haven't decided yet."""
    waiting = [user for user in card.approvers if user not in card.approvals]
    hours = max(1, round(hours_waiting))
    who = f"{mentions(waiting)} " if waiting else ""
    return notice(f"⏰ {who}This request has been waiting for approval for {hours} hour{'s' if hours > 1 else ''}.")


# --- requester DMs -------------------------------------------------------------------------------


def submitted_dm(card: RequestCard, not_posted: str | None = None) -> Rendered:
    """Confirms the request, shows the review so the requester can fix things, and offers to cancel.

    ``not_posted``: why Slack could not post it for approval (then the DM says so instead).
    """
    first = (
        f"⚠️ Your request *{escape(card.id)}* for {headline(card)} was saved but could not be posted for approval: "
        f"{escape(not_posted)}"
        if not_posted
        else f"📨 Your request *{escape(card.id)}* for {headline(card)} was sent for approval."
    )
    blocks: list[Block] = [
        section(fit(first, SECTION_TEXT_MAX)),
        section(fit(card.summary, SECTION_TEXT_MAX)),
    ]
    findings = findings_sections(card.findings)
    if findings:
        blocks.append(context("The approvers see this review. To change something, cancel and request again."))
        blocks += [section(text) for text in findings]
    cancel = button(
        "Cancel request",
        ids.CANCEL,
        card.id,
        confirm=confirm_dialog("Cancel this request?", f"{card.id} will be withdrawn.", "Cancel request"),
    )
    blocks.append(actions(cancel))
    if card.sandbox:
        blocks.append(context(SANDBOX_NOTE))
    text = f"Your request {card.id} could not be posted for approval." if not_posted else None
    return rendered(text or f"Your request {card.id} was sent for approval.", blocks)


def approved_dm(card: RequestCard) -> Rendered:
    follows = (
        "The role is being deleted; you'll hear here when it is gone."
        if card.deletes
        else "The role is being created; its ARN follows here."
    )
    return notice(
        f"✅ Your request *{escape(card.id)}* was approved by {approvers_of(card)}. {follows}", summary_context(card)
    )


def rejected_dm(card: RequestCard) -> Rendered:
    reason = quote(card.reason or "No reason given.", 2000)
    return notice(
        f"❌ Your request *{escape(card.id)}* was rejected by {decider(card)}:\n{reason}",
        context("Fix what the reason says and request again with `/iam-role`."),
    )


def created_dm(card: RequestCard) -> Rendered:
    return notice(f"✅ Your role {headline(card)} is ready.", section(result_lines(card)), summary_context(card))


def failed_dm(card: RequestCard) -> Rendered:
    return notice(
        f"⚠️ {card.doing} the role for your request *{escape(card.id)}* failed: "
        f"{failure(card)}\nThe approvers can retry once the cause is fixed.",
    )


def cancelled_dm(card: RequestCard) -> Rendered:
    by = f" by {mention(card.decided_by)}" if card.decided_by and card.decided_by != card.requester else ""
    return notice(f"🚫 Your request *{escape(card.id)}* was cancelled{by}.", summary_context(card))


def expired_dm(card: RequestCard) -> Rendered:
    return notice(
        f"⌛ Your request *{escape(card.id)}* expired: nobody decided in time. "
        "Request it again with `/iam-role` if you still need it.",
        summary_context(card),
    )


def created_announcement(card: RequestCard) -> Rendered:
    """For the notifications channel: a role was created, by whose request and approval."""
    line = (
        f"🆕 IAM role {headline(card)} was created for {mention(card.requester)}, "
        f"approved by {approvers_of(card)} ({escape(card.id)})."
    )
    blocks = [section(fit_mrkdwn(line)), context(f"`{escape(str((card.result or {}).get('role_arn', '')))}`")]
    return rendered(line, blocks)


# --- commands ------------------------------------------------------------------------------------


def help_message() -> Rendered:
    """How to use ``/iam-role``."""
    types = "\n".join(f"• `/iam-role {choice.value}` — {escape(choice.label)}" for choice in ROLE_TYPE_CHOICES)
    blocks = [
        section("*Request an AWS IAM role.* An approver reviews each request; then the bot creates the role."),
        section("*Start a request*\n• `/iam-role` — open the form and choose the role type\n" + types),
        section(
            "*Follow up*\n• `/iam-role list` — your recent requests\n"
            "• `/iam-role status ID` — one request and its history, e.g. `/iam-role status R-1042`\n"
            "• `/iam-role edit ROLE [ACCOUNT]` — change a role the bot created (its form, filled in)\n"
            "• `/iam-role delete ROLE [ACCOUNT]` — ask to delete a role the bot created\n"
            "• `/iam-role help` — this message"
        ),
    ]
    return rendered("How to use /iam-role", blocks)


def request_list(cards: list[RequestCard]) -> Rendered:
    """The requester's recent requests: status, id, name, account and age."""
    if not cards:
        return notice("You have no requests yet. Start one with `/iam-role`.")
    lines = [f"{status_text(card.status)} · {one_line(card)} · {age(card)}" for card in cards]
    body = take_lines(lines, SECTION_TEXT_MAX - 20)
    return rendered(f"Your {len(cards)} recent requests", [section(f"*Your requests*\n{body}")])


def event_line(at: float, actor: str, kind: str, text: str) -> str:
    who = mention(actor) if SLACK_USER_ID.fullmatch(actor) else escape(actor)
    detail = f": {fit(text, EVENT_TEXT_MAX)}" if text else ""
    return f"• {date(at, '{date_short_pretty} {time}')} {who} — {escape(kind)}{detail}"


def request_status(card: RequestCard, events: list[tuple[float, str, str, str]]) -> Rendered:
    """One request: what it is, where it stands, and its history, latest first (older ones cut when long)."""
    blocks = [
        header(f"{card.id}: {status_text(card.status)}"),
        section(f"{headline(card)}\nRequested by {mention(card.requester)} {age(card)}"),
        section(fit(card.summary, SECTION_TEXT_MAX)),
    ]
    if decided := outcome(card):
        blocks.append(section(decided))
    if card.status == "created":
        blocks.append(section(result_lines(card)))
    if events:
        lines = [event_line(*event) for event in reversed(events)]
        body = take_lines(lines, SECTION_TEXT_MAX - 40, lambda n: f"_…and {n} earlier_")
        blocks += [divider(), section(f"*History* (latest first)\n{body}")]
    return rendered(f"{card.id}: {status_text(card.status)}", blocks)


def refusal(text: str, mentions: Iterable[str] = ()) -> Rendered:
    """An ephemeral explanation of why the bot didn't do something.

    ``text`` is escaped, except mentions of the ``mentions`` user ids (the people the bot's sentence
    names, e.g. "already approved by <@U1>"), which stay mentions. A mention, broadcast or link in
    anything else the text holds (what the user typed) is shown, never acted on.
    """
    line = fit(text, SECTION_TEXT_MAX - 10)
    for user_id in mentions:
        line = line.replace(escape(mention(user_id)), mention(user_id))
    return notice(f"⛔ {line}")
