"""What the bot says in Slack, and where: the approval message and its thread, DMs, App Home.

The notifier decides nothing. It is called after a state change has been committed, turns the
stored request into a ``RequestCard`` for ``blocks/``, and posts. A Slack error here is logged,
never raised: the request's state is already safe in the database.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks import home, messages
from blocks.cards import FindingCard, RequestCard
from bot.config import Config
from bot.domain import AssumableRoleRequest, to_pretty_json
from bot.store import RequestRecord, Store

log = logging.getLogger(__name__)

Rendered = tuple[str, list[dict[str, Any]]]
DECISION_KINDS = ("rejected", "cancelled", "approved", "expired")


class Notifier:
    """Posts to the approvals channel, the request's thread, the requester's DMs and App Home."""

    def __init__(
        self,
        client: WebClient,
        *,
        store: Store,
        config: Config,
        approvers_for: Callable[[RequestRecord], frozenset[str]],
        sandbox: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.approvers_for = approvers_for
        self.sandbox = sandbox

    # --- rendering -------------------------------------------------------------------------

    def card(self, record: RequestRecord) -> RequestCard:
        """Everything ``blocks/`` needs to show a request, from the store."""
        request = record.request
        events = self.store.events(record.id)
        approvals = list(dict.fromkeys(e.actor for e in events if e.kind == "approval"))
        decision = next((e for e in reversed(events) if e.kind in DECISION_KINDS), None)
        account = self.config.account(record.account_id)
        inline = request.inline_policy if isinstance(request, AssumableRoleRequest) else None
        trust = request.trust_policy()
        return RequestCard(
            id=record.id,
            role_type=record.role_type,
            role_name=record.role_name,
            account_id=record.account_id,
            account_label=account.name if account else "this account",
            requester=record.requester,
            summary=request.summary(),
            justification=request.justification,
            status=record.status,
            plan=[step.describe() for step in request.plan()],
            trust_policy_json=to_pretty_json(trust) if trust else None,
            inline_policy_json=to_pretty_json(inline) if inline else None,
            findings=[FindingCard(**finding) for finding in record.findings],
            approvers=sorted(self.approvers_for(record) - {record.requester}),  # who can approve it
            approvals=approvals,
            needed=record.required_approvals,
            decided_by=decision.actor if decision else None,
            reason=decision.details.get("reason") if decision else None,
            result=record.result,
            error=record.error,
            created_at=record.created_at,
            sandbox=self.sandbox,
        )

    # --- transport -------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> dict[str, Any] | None:
        """One Web API call; failures are logged (without tokens) and swallowed."""
        try:
            return self.client.api_call(method, json=params).data  # type: ignore[return-value]
        except SlackApiError as error:
            log.warning("Slack %s failed: %s", method, error.response.get("error"))
        except OSError as error:
            log.warning("Slack %s failed: %s", method, type(error).__name__)
        return None

    def post(self, channel: str, rendered: Rendered, *, thread_ts: str | None = None) -> dict[str, Any] | None:
        text, blocks = rendered
        params: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks, "unfurl_links": False}
        if thread_ts:
            params["thread_ts"] = thread_ts
        return self.call("chat.postMessage", **params)

    def thread(self, record: RequestRecord, rendered: Rendered) -> None:
        """A reply in the request's thread (the whole history lives there)."""
        if record.channel and record.message_ts:
            self.post(record.channel, rendered, thread_ts=record.message_ts)

    def dm(self, user_id: str, rendered: Rendered) -> None:
        self.post(user_id, rendered)

    def refresh_root(self, record: RequestRecord) -> None:
        """Show the request's current state (and buttons only while it awaits approval)."""
        if record.channel and record.message_ts:
            text, blocks = messages.approval_message(self.card(record))
            self.call("chat.update", channel=record.channel, ts=record.message_ts, text=text, blocks=blocks)

    def open_view(self, trigger_id: str, view: dict[str, Any], user_id: str) -> None:
        """Open a modal; if Slack refuses (e.g. the trigger expired after 3 s), tell the user by DM to try again."""
        if self.call("views.open", trigger_id=trigger_id, view=view) is None:
            self.dm(user_id, messages.refusal("Slack could not open the form in time; please try again."))

    def ephemeral(self, channel: str, user_id: str, text: str) -> None:
        rendered = messages.refusal(text)
        self.call("chat.postEphemeral", channel=channel, user=user_id, text=rendered[0], blocks=rendered[1])

    # --- what happened ---------------------------------------------------------------------

    def submitted(self, record: RequestRecord) -> RequestRecord:
        """Post the request for approval, remember where, and confirm to the requester."""
        record = self.post_for_approval(record)
        self.dm(record.requester, messages.submitted_dm(self.card(record)))
        return record

    def post_for_approval(self, record: RequestRecord) -> RequestRecord:
        """Post the approval message and remember where; if Slack failed, the record as it was."""
        channel = self.config.settings.approval_channel_id
        if not channel:
            return record
        posted = self.post(channel, messages.approval_message(self.card(record)))
        if posted and posted.get("ok"):
            return self.store.set_message(record.id, posted["channel"], posted["ts"])
        log.warning("Could not post %s for approval; housekeeping will try again", record.id)
        return record

    def approval_recorded(self, record: RequestRecord, approver: str) -> None:
        self.thread(record, messages.approval_recorded(self.card(record), approver))
        self.refresh_root(record)

    def approved(self, record: RequestRecord) -> None:
        card = self.card(record)
        self.thread(record, messages.approved_reply(card))
        self.dm(record.requester, messages.approved_dm(card))

    def provisioning(self, record: RequestRecord, *, resumed: bool = False) -> None:
        self.thread(record, messages.provisioning_reply(self.card(record), resumed=resumed))
        self.refresh_root(record)

    def created(self, record: RequestRecord) -> None:
        card = self.card(record)
        self.thread(record, messages.created_reply(card))
        self.refresh_root(record)
        self.dm(record.requester, messages.created_dm(card))
        channel = self.config.settings.notifications_channel_id
        if channel:
            self.post(channel, messages.created_announcement(card))

    def failed(self, record: RequestRecord) -> None:
        self.told_everyone(record, messages.failed_reply, messages.failed_dm)

    def rejected(self, record: RequestRecord) -> None:
        self.told_everyone(record, messages.rejected_reply, messages.rejected_dm)

    def cancelled(self, record: RequestRecord) -> None:
        self.told_everyone(record, messages.cancelled_reply, messages.cancelled_dm)

    def expired(self, record: RequestRecord) -> None:
        self.told_everyone(record, messages.expired_reply, messages.expired_dm)

    def told_everyone(
        self, record: RequestRecord, reply: Callable[[RequestCard], Rendered], dm: Callable[[RequestCard], Rendered]
    ) -> None:
        """A change told in the thread, on the root message and to the requester."""
        card = self.card(record)
        self.thread(record, reply(card))
        self.refresh_root(record)
        self.dm(record.requester, dm(card))

    def reminded(self, record: RequestRecord, now: float | None = None) -> None:
        hours = ((now or time.time()) - record.created_at) / 3600
        self.thread(record, messages.reminder_reply(self.card(record), hours))

    def publish_home(
        self, user_id: str, *, mine: list[RequestRecord], awaiting: list[RequestRecord], is_approver: bool
    ) -> None:
        view = home.home_view(
            user_id=user_id,
            my_requests=[self.card(r) for r in mine],
            awaiting_me=[self.card(r) for r in awaiting],
            is_approver=is_approver,
        )
        self.call("views.publish", user_id=user_id, view=view)
