"""What the bot says in Slack, and where: the approval message and its thread, DMs, App Home.

The notifier decides nothing. It is called after a state change has been committed, has the
presenter turn the stored request into a ``RequestCard`` for ``blocks/`` once per change, and posts
that one card wherever the change is told (thread, root message, DM). A Slack error here is logged,
never raised: the request's state is already safe in the database.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from blocks import drift, home, messages
from blocks.cards import RequestCard
from blocks.kit import Rendered
from bot.channel_queue import ChannelQueues
from bot.config import Config
from bot.domain.last_use import LastUse
from bot.lifecycle import Sentence, Status
from bot.metrics import SLACK_ERRORS
from bot.presenter import Presenter
from bot.store import DriftReport, RequestRecord, Store

log = logging.getLogger(__name__)

MAX_TRACKED_VIEWS = 10_000
QUEUED_METHODS = frozenset({"chat.postMessage", "chat.update"})
"""What goes through a channel's queue: messages and their updates, so a thread reads in order."""

Step = Callable[[], str | None]
"""One Slack call of an announcement: Slack's error, or None (said)."""

OUTCOME_MESSAGES: dict[Status, tuple[Callable[[RequestCard], Rendered], Callable[[RequestCard], Rendered]]] = {
    Status.CREATED: (messages.created_reply, messages.created_dm),
    Status.EDITED: (messages.edited_reply, messages.edited_dm),
    Status.EXTENDED: (messages.extended_reply, messages.extended_dm),
    Status.DELETED: (messages.deleted_reply, messages.deleted_dm),
    Status.ACCEPTED: (messages.drift_done_reply, messages.drift_done_dm),
    Status.RESTORED: (messages.drift_done_reply, messages.drift_done_dm),
    Status.FAILED: (messages.failed_reply, messages.failed_dm),
    Status.REJECTED: (messages.rejected_reply, messages.rejected_dm),
    Status.CANCELLED: (messages.cancelled_reply, messages.cancelled_dm),
    Status.EXPIRED: (messages.expired_reply, messages.expired_dm),
}
"""Per announced outcome (``bot.lifecycle.ANNOUNCED_STATUSES``): its reply in the request's thread and its DM."""


class Notifier:
    """Posts to the approvals channel, the request's thread, the requester's DMs and App Home."""

    def __init__(
        self,
        client: WebClient,
        *,
        store: Store,
        config: Config,
        presenter: Presenter,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.presenter = presenter
        self.queues = ChannelQueues(self._api_call)
        self.views_lock = threading.Lock()
        self.latest_clicks: dict[str, float] = {}
        """The latest redrawing click per open view (``update_view``), oldest views forgotten first."""

    # --- transport -------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> dict[str, Any] | None:
        """One Web API call; failures are logged (without tokens) and swallowed."""
        return self.attempt(method, **params)[0]

    def attempt(self, method: str, **params: Any) -> tuple[dict[str, Any] | None, str | None]:
        """One Web API call: (Slack's answer, None), or (None, Slack's error code or the connection error's name).

        Messages (``QUEUED_METHODS``) wait their turn in their channel's queue (``bot.channel_queue``).
        """
        if method in QUEUED_METHODS and params.get("channel"):
            answer, code = self.queues.deliver(str(params["channel"]), method, params)
        else:
            answer, code = self.queues.send(method, params)
        if code is not None:
            log.warning("Slack %s failed: %s", method, code)
        return answer, code

    def _api_call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.client.api_call(method, json=params).data  # type: ignore[return-value]

    def post(self, channel: str, rendered: Rendered, *, thread_ts: str | None = None) -> dict[str, Any] | None:
        return self.call("chat.postMessage", **_message(channel, rendered, thread_ts))

    def say(self, channel: str, rendered: Rendered, *, thread_ts: str | None = None) -> str | None:
        """``post``, answering Slack's error (None: posted)."""
        return self.attempt("chat.postMessage", **_message(channel, rendered, thread_ts))[1]

    def thread(self, record: RequestRecord, rendered: Rendered) -> None:
        """A reply in the request's thread (the whole history lives there)."""
        if record.channel and record.message_ts:
            self.post(record.channel, rendered, thread_ts=record.message_ts)

    def dm(self, user_id: str, rendered: Rendered) -> None:
        self.post(user_id, rendered)

    def refresh_root(self, record: RequestRecord, card: RequestCard) -> str | None:
        """Show the request's current state (and buttons only while it awaits approval); Slack's error, or None."""
        if not (record.channel and record.message_ts):
            return None
        text, blocks = messages.approval_message(card)
        return self.attempt("chat.update", channel=record.channel, ts=record.message_ts, text=text, blocks=blocks)[1]

    def open_view(self, trigger_id: str, view: dict[str, Any], user_id: str) -> None:
        """Open a modal; if Slack refuses (e.g. the trigger expired after 3 s), tell the user by DM to try again."""
        if self.call("views.open", trigger_id=trigger_id, view=view) is None:
            self.dm(user_id, self.presenter.refusal("Slack could not open the form in time; please try again."))

    def show_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace a view the bot's own answer last drew (a form's "checking" view, which has no inputs).

        Without a hash: the ack's ``response_action: update`` gave the view a new hash the bot never sees
        (https://docs.slack.dev/reference/methods/views.update: ``hash`` is optional), and a view without
        inputs can't have changed meanwhile. A view the user closed (or one expired) is ``not_found``: False.
        """
        return self.call("views.update", view_id=view_id, view=view) is not None

    def update_view(self, view_id: str, view_hash: str | None, view: dict[str, Any], *, clicked_at: float) -> None:
        """Redraw an open view for the click made at ``clicked_at`` (Slack's ``action_ts``); the latest click wins.

        Two quick clicks both carry the hash the view had before either redraw, so the second
        ``views.update`` is ``hash_conflict`` (https://docs.slack.dev/reference/methods/views.update: the
        hash guards against a stale update). The click that is still the latest is redrawn again without
        the hash; an older one steps aside, so a slow first update never overwrites a newer choice.
        """
        with self.views_lock:
            latest = self.latest_clicks.get(view_id, 0.0)
            if clicked_at < latest:
                return
            self.latest_clicks[view_id] = clicked_at
            while len(self.latest_clicks) > MAX_TRACKED_VIEWS:
                self.latest_clicks.pop(next(iter(self.latest_clicks)))
        _, error = self.attempt("views.update", view_id=view_id, hash=view_hash, view=view)
        if error == "hash_conflict":
            with self.views_lock:
                if self.latest_clicks.get(view_id) != clicked_at:
                    return
            self.call("views.update", view_id=view_id, view=view)

    def refuse(
        self, user_id: str, reason: Sentence | str, *, channel: str | None = None, thread_ts: str | None = None
    ) -> None:
        """Tell only ``user_id`` why nothing happened: an ephemeral in ``channel`` (in its thread ``thread_ts``),
        else a DM. https://docs.slack.dev/reference/methods/chat.postEphemeral takes ``thread_ts``."""
        text, blocks = self.presenter.refusal(reason)
        if channel:
            where = {"thread_ts": thread_ts} if thread_ts else {}
            self.call("chat.postEphemeral", channel=channel, user=user_id, text=text, blocks=blocks, **where)
        else:
            self.dm(user_id, (text, blocks))

    # --- what happened (one card per change, told everywhere it goes) -------------------------

    def post_for_approval(self, record: RequestRecord) -> tuple[RequestRecord, str | None]:
        """Post the approval message, the full text of any part it had to cut in its thread, and only then
        remember where (the request counts as posted): (the record with its message, None), or (the record as
        it was, Slack's error).

        A message that cut something goes out without Approve / Reject (``messages.approval_layout``)
        and gets them once its thread holds the full text, in order: nobody approves unread text. A request decided
        while its message was on its way (cancelled during housekeeping's post again, say) has it show that instead.
        """
        channel = self.config.settings.approval_channel_id
        if not channel:
            return record, None
        card = self.presenter.card(record)
        overflow = messages.approval_overflow(card)
        text, blocks = messages.approval_message(card)
        posted, error = self.attempt("chat.postMessage", channel=channel, text=text, blocks=blocks, unfurl_links=False)
        if posted is None or not posted.get("ok"):
            return record, error or "unknown_error"
        for reply_text, reply_blocks in overflow:  # the full text of what the message had to cut
            where = {"channel": posted["channel"], "thread_ts": posted["ts"]}
            answer, error = self.attempt(
                "chat.postMessage", **where, text=reply_text, blocks=reply_blocks, unfurl_links=False
            )
            if answer is None or not answer.get("ok"):  # posted again whole later, as if the message had failed
                notice_text, notice_blocks = messages.incomplete_approval_message(card)
                self.call(
                    "chat.update", channel=posted["channel"], ts=posted["ts"], text=notice_text, blocks=notice_blocks
                )
                return record, error or "unknown_error"
        stored = self.store.set_message(record.id, posted["channel"], posted["ts"])
        if overflow or stored.status != record.status:  # decided while it was being posted: its outcome's notice
            self.refresh_root(stored, self.presenter.card(stored))  # found no message to show it on
        return stored, None

    def post_drift(self, report: DriftReport) -> None:
        """Post a drift report to the approvals channel, the full text of what it cut in its thread, then remember
        where it is and show its buttons (nobody acts on a difference they could not read whole)."""
        channel = self.config.settings.approval_channel_id
        if not channel:
            return
        card = self.presenter.drift_card(report)
        posted = self.post(channel, drift.drift_message(card))
        if posted is None or not posted.get("ok"):
            log.error("Drift report %s could not be posted in %s; see `iam-role-bot drift check`", report.id, channel)
            return
        for reply in drift.drift_overflow(card):
            if self.post(posted["channel"], reply, thread_ts=posted["ts"]) is None:
                return  # without its full text, the report keeps no buttons
        self.store.set_drift_message(report.id, posted["channel"], posted["ts"])
        self.refresh_drift(report.id)

    def refresh_drift(self, report_id: str) -> None:
        """Show a report's current state on its message (closed: no buttons)."""
        report = self.store.drift_report(report_id)
        if report is None or not (report.channel and report.message_ts):
            return
        text, blocks = drift.drift_message(self.presenter.drift_card(report))
        self.call("chat.update", channel=report.channel, ts=report.message_ts, text=text, blocks=blocks)

    def drift_resolved(self, report: DriftReport) -> None:
        """A report closed because the role is as approved again: said in its thread, its buttons gone."""
        if report.channel and report.message_ts:
            self.post(
                report.channel,
                drift.drift_resolved_reply(self.presenter.drift_card(report)),
                thread_ts=report.message_ts,
            )
        self.refresh_drift(report.id)

    def confirm_submitted(self, record: RequestRecord, *, not_posted: str | None = None) -> None:
        """Tell the requester their request was sent for approval, or why it could not be posted yet."""
        self.dm(record.requester, messages.submitted_dm(self.presenter.card(record), not_posted))

    def approval_recorded(self, record: RequestRecord, approver: str) -> None:
        """A vote that left the request still waiting for more."""
        card = self.presenter.card(record)
        self.thread(record, messages.approval_recorded(card, approver))
        self.refresh_root(record, card)

    def approved(self, record: RequestRecord, approver: str) -> None:
        """The vote that approved the request, and the approval itself."""
        card = self.presenter.card(record)
        self.thread(record, messages.approval_recorded(card, approver))
        self.refresh_root(record, card)
        self.thread(record, messages.approved_reply(card))
        self.dm(record.requester, messages.approved_dm(card))

    def provisioning(self, record: RequestRecord, *, resumed: bool = False) -> None:
        card = self.presenter.card(record)
        self.thread(record, messages.provisioning_reply(card, resumed=resumed))
        self.refresh_root(record, card)

    def outcome(self, record: RequestRecord, *, history_only: bool = False) -> list[Step | None]:
        """Telling the outcome ``record`` is in (one of ``OUTCOME_MESSAGES``) as its Slack calls, in order, always these
        four places (None: nothing to say there): a reply in its thread and its approval message showing it (if it was
        posted), a DM to the requester and, for a role created, a post in the notifications channel (if one is set);
        ``history_only``: the thread and the approval message alone. One card for all, from the record as given: the
        caller reads it from the store when it sends, so a late announcement shows the request as it is.
        """
        reply, dm = OUTCOME_MESSAGES[record.status]
        card = self.presenter.card(record)
        channel, thread_ts = record.channel, record.message_ts
        announce_in = self.config.settings.notifications_channel_id if record.status == Status.CREATED else None
        posted = bool(channel and thread_ts)
        return [
            (lambda: self.say(str(channel), reply(card), thread_ts=thread_ts)) if posted else None,
            (lambda: self.refresh_root(record, card)) if posted else None,
            None if history_only else lambda: self.say(record.requester, dm(card)),
            (lambda: self.say(str(announce_in), messages.created_announcement(card)))
            if announce_in and not history_only
            else None,
        ]

    def expiry_reminder(self, made: RequestRecord) -> None:
        """DM the requester of a time-limited role that it ends soon."""
        self.dm(made.requester, messages.expiry_reminder_dm(self.presenter.card(made)))

    def role_as_code(self, record: RequestRecord, files: list[tuple[str, str]]) -> None:
        """Upload the role's code files into the request's thread; if Slack refuses, say so there instead.

        ``files_upload_v2`` runs files.getUploadURLExternal, the upload and files.completeUploadExternal
        (https://docs.slack.dev/reference/methods/files.getUploadURLExternal,
        https://docs.slack.dev/reference/methods/files.completeUploadExternal); it needs ``files:write``.
        """
        if not (record.channel and record.message_ts):
            return
        card = self.presenter.card(record)
        try:
            self.client.files_upload_v2(
                channel=record.channel,
                thread_ts=record.message_ts,
                initial_comment=messages.role_as_code_comment(card),
                file_uploads=[{"filename": name, "title": name, "content": content} for name, content in files],
            )
        except (SlackApiError, SlackRequestError, OSError) as error:
            said = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
            SLACK_ERRORS.labels(error=str(said)).inc()
            log.warning("Slack file upload for %s failed: %s", record.id, said)
            self.thread(record, messages.role_as_code_failed_reply(card))

    def git_export_failed(self, record: RequestRecord, error: str) -> None:
        self.thread(record, messages.git_export_failed_reply(self.presenter.card(record), error))

    def git_exported(self, record: RequestRecord, path: str, commit: str | None) -> None:
        self.thread(record, messages.git_exported_reply(self.presenter.card(record), path, commit))

    def reminded(self, record: RequestRecord, now: float | None = None) -> None:
        hours = ((now or time.time()) - record.created_at) / 3600
        self.thread(record, messages.reminder_reply(self.presenter.card(record), hours))

    def publish_home(
        self,
        user_id: str,
        *,
        mine: list[RequestRecord],
        awaiting: list[RequestRecord],
        is_approver: bool,
        roles: Sequence[tuple[RequestRecord, LastUse | None]] = (),
    ) -> None:
        view = home.home_view(
            user_id=user_id,
            my_requests=self.presenter.cards(mine),
            awaiting_me=self.presenter.cards(awaiting),
            is_approver=is_approver,
            my_roles=[self.presenter.role_card(record, use) for record, use in roles],
        )
        self.call("views.publish", user_id=user_id, view=view)


def _message(channel: str, rendered: Rendered, thread_ts: str | None) -> dict[str, Any]:
    """``chat.postMessage``'s parameters for a message (a reply in the thread ``thread_ts``, if given)."""
    text, blocks = rendered
    params: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks, "unfurl_links": False}
    if thread_ts:
        params["thread_ts"] = thread_ts
    return params
