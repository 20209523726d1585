"""Messages: the approval message, its thread replies, the requester's DMs, and command answers.

Each builder returns ``(text, blocks)``: ``text`` is the notification fallback.
"""

import re

from blocks import ids
from blocks.cards import RequestCard
from blocks.kit import (
    FIELD_TEXT_MAX,
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
    fallback_text,
    fields_section,
    fit,
    header,
    link,
    mention,
    mentions,
    quote,
    section,
    take_lines,
    truncate,
)
from blocks.modals import ROLE_TYPE_CHOICES, role_type_label
from blocks.parts import (
    account_text,
    age,
    approvers_of,
    decider,
    decision_buttons,
    failure,
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
ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")


def rendered(text: str, blocks: list[Block]) -> Rendered:
    return fallback_text(text), blocks


def notice(line: str, *details: Block) -> Rendered:
    """A one-section message (``line`` is mrkdwn, already escaped), plus any detail blocks."""
    return rendered(line, [section(fit_mrkdwn(line)), *details])


def fit_mrkdwn(text: str) -> str:
    """Bot-made mrkdwn cut to a section: a safety net, as its user parts are escaped and bounded already."""
    return truncate(text, SECTION_TEXT_MAX)


def titled_code(title: str, raw: str) -> Block:
    """``*title*`` over a code block of ``raw``, truncated to one section."""
    heading = f"*{title}*\n"
    return section(heading + code_block(raw, SECTION_TEXT_MAX - len(heading)))


def summary_context(card: RequestCard) -> Block:
    return context(f"{escape(card.id)} · {fit(card.summary, SECTION_TEXT_MAX - 40)}")


def result_lines(card: RequestCard) -> str:
    """The created role: ARN, instance profile ARN, switch-role link."""
    result = card.result or {}
    lines = [f"*Role ARN*  `{escape(str(result.get('role_arn', '')))}`"]
    if result.get("instance_profile_arn"):
        lines.append(f"*Instance profile*  `{escape(str(result['instance_profile_arn']))}`")
    if result.get("switch_role_url"):
        lines.append(link(str(result["switch_role_url"]), "Switch to this role in the AWS console"))
    return "\n".join(lines)


# --- the approval message ------------------------------------------------------------------------


def approval_progress(card: RequestCard) -> str:
    """``Needs 2 approvals (1 so far: <@U1>)`` for N-of-M requests, else empty."""
    if card.needed <= 1 or card.status != "submitted":
        return ""
    so_far = f"{len(card.approvals)} so far: {mentions(card.approvals)}" if card.approvals else "none yet"
    return f"Needs {card.needed} approvals ({so_far})"


def approval_message(card: RequestCard) -> Rendered:
    """The request as approvers see it: who, what, why, the review, the exact AWS calls, and the decision."""
    blocks: list[Block] = [
        header(f"🔐 IAM role request {card.id}"),
        fields_section(
            [
                ("Requester", mention(card.requester)),
                ("Account", account_text(card)),
                ("Role type", escape(role_type_label(card.role_type))),
                ("Role name", fit(card.role_name, FIELD_TEXT_MAX - 20)),
            ]
        ),
        section(fit(card.summary, SECTION_TEXT_MAX)),
        section("*Justification*\n" + quote(card.justification, SECTION_TEXT_MAX - 20)),
    ]
    findings = findings_sections(card.findings)
    blocks += [section(text) for text in findings] or [context("Review: nothing to flag.")]
    if card.plan:
        calls = len(card.plan)
        blocks.append(titled_code(f"Plan: {calls} AWS call{'s' if calls > 1 else ''}", "\n".join(card.plan)))
    if card.trust_policy_json:
        blocks.append(titled_code("Trust policy", card.trust_policy_json))
    if card.inline_policy_json:
        blocks.append(titled_code("Inline policy", card.inline_policy_json))
    who = [f"Approvers: {mentions(card.approvers)}"] if card.approvers else []
    who += [progress] if (progress := approval_progress(card)) else []
    if who:
        blocks.append(context(" · ".join(who)))
    decided = outcome(card)
    blocks.append(decision_buttons(card) if decided is None else section(decided))
    if card.sandbox:
        blocks.append(context(SANDBOX_NOTE))
    text = f"IAM role request {card.id} from {mention(card.requester)}: {fit(card.summary, SUMMARY_FALLBACK_MAX)}"
    return rendered(text, blocks)


# --- thread replies ------------------------------------------------------------------------------


def approval_recorded(card: RequestCard, approver: str) -> Rendered:
    """One of several approvals is in."""
    missing = card.needed - len(card.approvals)
    progress = f"{len(card.approvals)} of {card.needed} approvals"
    waiting = f"; waiting for {missing} more." if missing > 0 else "; that's enough."
    return notice(f"👍 {mention(approver)} approved — {progress}{waiting}")


def approved_reply(card: RequestCard) -> Rendered:
    return notice(f"✅ Approved by {approvers_of(card)}. Creating the role now.")


def provisioning_reply(card: RequestCard, resumed: bool = False) -> Rendered:
    """Provisioning started (or resumed after a restart or a retry)."""
    if resumed:
        return notice(f"⚙️ Resuming provisioning in {account_text(card)}: steps already done are skipped.")
    calls = len(card.plan)
    return notice(f"⚙️ Creating the role in {account_text(card)}: {calls} AWS call{'s' if calls != 1 else ''}.")


def created_reply(card: RequestCard) -> Rendered:
    return notice("✅ Role created.", section(result_lines(card)))


def failed_reply(card: RequestCard) -> Rendered:
    """The failure and a **Retry** button for approvers."""
    text, blocks = notice(f"⚠️ Provisioning failed: {failure(card)}")
    retry = button("Retry", ids.RETRY, card.id, style="primary")
    return text, [*blocks, context("Approvers can retry once the cause is fixed."), actions(retry)]


def rejected_reply(card: RequestCard) -> Rendered:
    return notice(rejection(card))


def cancelled_reply(card: RequestCard) -> Rendered:
    return notice("🚫 Cancelled by the requester.")


def expired_reply(card: RequestCard) -> Rendered:
    return notice("⌛ Expired: nobody decided in time. The requester can submit it again.")


def reminder_reply(card: RequestCard, hours_waiting: float) -> Rendered:
    """Nudges the approvers who haven't decided yet."""
    waiting = [user for user in card.approvers if user not in card.approvals]
    hours = max(1, round(hours_waiting))
    who = f"{mentions(waiting)} " if waiting else ""
    return notice(f"⏰ {who}This request has been waiting for approval for {hours} hour{'s' if hours > 1 else ''}.")


# --- requester DMs -------------------------------------------------------------------------------


def submitted_dm(card: RequestCard) -> Rendered:
    """Confirms the request, shows the review so the requester can fix things, and offers to cancel."""
    blocks: list[Block] = [
        section(f"📨 Your request *{escape(card.id)}* for {headline(card)} was sent for approval."),
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
    return rendered(f"Your request {card.id} was sent for approval.", blocks)


def approved_dm(card: RequestCard) -> Rendered:
    return notice(
        f"✅ Your request *{escape(card.id)}* was approved by {approvers_of(card)}. "
        "The role is being created; its ARN follows here.",
        summary_context(card),
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
        f"⚠️ Creating the role for your request *{escape(card.id)}* failed: "
        f"{failure(card)}\nThe approvers can retry once the cause is fixed.",
    )


def cancelled_dm(card: RequestCard) -> Rendered:
    return notice(f"🚫 Your request *{escape(card.id)}* was cancelled.", summary_context(card))


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


def refusal(text: str) -> Rendered:
    """An ephemeral explanation of why the bot didn't do something.

    ``text`` is escaped, except the user mentions it names (``<@U…>``, e.g. "already approved by
    <@U1>"), which stay mentions; broadcasts and links never survive.
    """
    line = ESCAPED_MENTION.sub(r"<@\1>", fit(text, SECTION_TEXT_MAX - 10))
    return notice(f"⛔ {line}")
