"""The bot's use cases: submit, ask to delete a role, approve, reject, cancel, retry, provision, resume and
housekeeping.

Listeners call these and render the outcome; nothing here knows about Bolt. Every state change is
committed by the workflow before anything is said in Slack or done in AWS, and the slow part
(AWS) runs on a small thread pool after Slack has had its acknowledgement.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, TypeVar

from blocks import ids, modals
from bot import metrics
from bot.choices import Choices
from bot.domain import AssumableRoleRequest, RequestInvalid, request_from_json
from bot.domain.drift import RoleState
from bot.domain.retire import RoleToRetire
from bot.drift_watch import DriftFound, DriftWatch
from bot.executor import Executor, ProvisioningError
from bot.executor.iam import REQUEST_ID_TAG, replaced_message
from bot.intake import Intake
from bot.lifecycle import BOT_ACTOR, RequestKind, Sentence, Status
from bot.notifier import Notifier
from bot.presenter import Presenter, slack_text
from bot.review import is_high_risk
from bot.review.retirement import retirement_findings
from bot.role_code import RoleCode
from bot.store import AlreadySubmitted, Event, FormSubmission, Notice, RequestRecord, Store, SubmissionTaken
from bot.workflow import POST_ATTEMPTS, REPOST_AFTER_SECONDS, ActionRefused, Workflow, no_request, shown_id

log = logging.getLogger(__name__)

T = TypeVar("T")

SORRY = "Something went wrong on the bot's side; nothing was changed. Please try again, or tell the bot's admins."
"""What a person is told when the bot failed on its side (a form's error, a command's answer)."""
LAST_USE_REFRESH_SECONDS = 3600.0
"""How old a role's last-use reading may get before housekeeping reads it again (App Home shows its age)."""
LAST_USE_READS_PER_RUN = 50
"""Roles whose last use one housekeeping run reads at most (one GetRole each), oldest readings first."""


def checked(check: Callable[[], T], what: str) -> tuple[T | None, dict[str, str]]:
    """A form's checks run: their result and no errors, or no result and the errors to show under its fields.
    A failure on the bot's side is logged (as ``what`` failed) and shown as ``SORRY`` on the role type."""
    try:
        return check(), {}
    except RequestInvalid as invalid:
        return None, invalid.errors
    except Exception:
        log.exception("%s failed", what)
        return None, {ids.ROLE_TYPE: SORRY}


PERMANENT_POST_ERRORS = {
    # https://docs.slack.dev/reference/methods/chat.postMessage (errors): these don't go away by trying again.
    "not_in_channel": "the bot is not a member of the approvals channel",
    "channel_not_found": "the approvals channel does not exist (or the bot cannot see it)",
    "is_archived": "the approvals channel is archived",
    "msg_blocks_too_long": "the approval message is too long for Slack",
    "invalid_blocks": "Slack refused the approval message's layout",
    "missing_scope": "the Slack app lacks the chat:write scope",
}
"""Slack's errors that posting again won't fix, and what they mean for the requester."""
REFUSED_FOR_GOOD = frozenset(PERMANENT_POST_ERRORS) | {"message_not_found", "cant_update_message", "edit_window_closed"}
"""Slack's answers to a message of an announcement that sending it again won't change (the errors of
https://docs.slack.dev/reference/methods/chat.postMessage and https://docs.slack.dev/reference/methods/chat.update):
that message is skipped and the announcement goes on. Any other failure (rate-limited beyond the client's retries,
Slack's own errors, a connection lost) leaves the rest of the announcement to be sent again later."""
DELIVERY_MEMORY_SECONDS = 86400.0
"""How long a Slack event's id is remembered: Slack retries a delivery three times within minutes
(https://docs.slack.dev/apis/events-api/#retries)."""
HOUSEKEEPING_LEASE_SECONDS = 600.0
"""The replica doing housekeeping keeps it while it runs it again within this (``cli`` runs it every 300 s);
another takes over this long after the last run of one that stopped."""


def provenance_tag(made: RequestRecord) -> str:
    """The value of the ``iam-role-bot:request-id`` tag the role ``made`` created carries, as the executor
    reported it (older results: the request id)."""
    return str(((made.result or {}).get("provenance_tags") or {}).get(REQUEST_ID_TAG, made.id))


NOTICE_CLAIM_BATCH = 50
"""The most notices a replica sends at a time (``resume_notices`` claims no more): a backlog (a long Slack outage, many
replicas dead) is shared with the other replicas rather than left to one replica's one announcing thread while the
others idle, each claim's write transaction stays short, and so does the list of leases ``keep_leases`` renews (one
statement with a parameter per notice). Above Slack's rate for one channel (about a message a second) per lease
third, so the batch is not what holds a backlog back."""


class RoleBot:
    """The use cases, on top of intake, the workflow, the executor and the notifier.

    Listeners call these methods, ``choices`` (what the form offers) and ``presenter`` (how things look);
    they never reach the store, the workflow or the notifier themselves.
    """

    def __init__(
        self,
        *,
        store: Store,
        workflow: Workflow,
        executor: Executor,
        notifier: Notifier,
        intake: Intake,
        presenter: Presenter,
        workers: int = 4,
        role_code: RoleCode | None = None,
    ) -> None:
        self.store = store
        self.workflow = workflow
        self.executor = executor
        self.notifier = notifier
        self.intake = intake
        self.choices: Choices = intake.choices
        self.presenter = presenter
        self.role_code = role_code or RoleCode(store, notifier)
        """Gives each created role's code to its thread (and to git when configured)."""
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provision")
        self.announcer = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="announce")
        """Posts that provisioning is under way while the provisioning thread works in AWS."""
        self.pending: set[Future[Any]] = set()
        self.checking: set[str] = set()
        """Keys of the held form submissions this replica is checking: their leases are renewed (``keep_leases``)."""
        self.provisioning: set[str] = set()
        """Ids of the requests this replica is provisioning now: their jobs' leases are renewed (``keep_leases``)."""
        self.announcing: set[int] = set()
        """Ids of the notices this replica is sending (or about to): their leases are renewed (``keep_leases``)."""
        self.announcing_lock = threading.Lock()
        """Held while a notice is looked up and taken into ``announcing``, or let go of (``_take_notices``)."""
        self.drift = DriftWatch(
            store=store, workflow=workflow, executor=executor, notifier=notifier, choices=intake.choices
        )
        """Compares the roles the bot made with their approved states (housekeeping, ``drift check``)."""

    # --- asking for a role -----------------------------------------------------------------

    def open_request_form(self, trigger_id: str, user: str, role_type: str | None = None) -> None:
        self.notifier.open_view(trigger_id, self.presenter.request_modal(role_type), user)

    def show_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace an open view (a form's outcome, after its "checking" view); False if Slack didn't (closed)."""
        return self.notifier.show_view(view_id, view)

    def show_form_errors(self, view_id: str, requester: str, form: dict[str, Any], errors: dict[str, str]) -> None:
        """A form drawn again with its errors; if the user closed it meanwhile, the errors by DM, so none is lost."""
        if not self.show_view(view_id, form):
            made_id = modals.edited_role_id(form)
            self.notifier.dm(
                requester, self.presenter.form_refused(errors, self.store.get(made_id) if made_id else None)
            )

    def hold_submission(
        self, submission_key: str, view_id: str, requester: str, form: dict[str, Any], *, made_id: str | None = None
    ) -> bool:
        """Before the ack of a request form checked after it (for a new role, or a change of the role ``made_id``
        created): keep what was typed, leased to this replica, so another (or a restart) can finish it if this one
        stops (``resume_held_submissions``). False for a copy Slack sent of one held already: its holder (or whoever
        takes it over) finishes it."""
        kind = RequestKind.CREATE if made_id is None else RequestKind.EDIT
        return self._hold(FormSubmission(submission_key, view_id, requester, form, kind, made_id))

    def hold_retirement(self, submission_key: str, requester: str, role_name: str, account_id: str | None) -> bool:
        """Before the ack of ``/iam-role delete`` (which asks AWS after it): keep what was asked, as a request form is
        (``hold_submission``); there is no view, so a restart tells the outcome by DM."""
        asked = {"role_name": role_name, "account_id": account_id}
        return self._hold(FormSubmission(submission_key, "", requester, asked, RequestKind.DELETE))

    def hold_retirement_of(self, submission_key: str, requester: str, made_id: str) -> bool:
        """``hold_retirement`` for Delete now on the role ``made_id`` created (nothing held if there is none: the
        click is refused after its ack)."""
        made = self.store.get(made_id)
        return made is not None and self.hold_retirement(submission_key, requester, made.role_name, made.account_id)

    def _hold(self, submission: FormSubmission) -> bool:
        if not self.workflow.hold_submission(submission):
            return False
        self.checking.add(submission.key)
        return True

    def switch_form_type(self, view: dict[str, Any], role_type: str, *, clicked_at: float = 0.0) -> None:
        """Redraw an open request form for another role type (the latest choice wins; see ``Notifier.update_view``)."""
        modal = self.presenter.request_modal(role_type)
        self.notifier.update_view(view["id"], view.get("hash"), modal, clicked_at=clicked_at)

    def submitted_as(self, submission_key: str) -> RequestRecord | None:
        """The request a form submission already made (Slack sends a submission again when its answer was slow)."""
        return self.store.submitted_as(submission_key)

    def check_locally(self, data: dict[str, Any]) -> bool:
        """Before Slack's ack: what a form's fields say without asking AWS (``RequestInvalid`` per field); True if
        AWS must still be asked (``submit`` does)."""
        return self.intake.check_locally(data)

    def submit_form(
        self, data: dict[str, Any], requester: str, *, made_id: str | None, submission_key: str | None
    ) -> RequestRecord | None:
        """A request form submitted: a new role (``made_id`` None: ``submit``) or a change of the role ``made_id``
        created (``submit_edit``). ``RequestInvalid`` per field; a refusal (e.g. another change of the role is under
        way) comes as one at the top of the form."""
        try:
            if made_id is None:
                return self.submit(data, requester, submission_key=submission_key)
            return self.submit_edit(made_id, data, requester, submission_key=submission_key)
        except ActionRefused as refused:
            raise RequestInvalid({ids.ROLE_TYPE: slack_text(refused.reason)}) from refused

    def submit(
        self, data: dict[str, Any], requester: str, *, submission_key: str | None = None
    ) -> RequestRecord | None:
        """Validate (asking AWS: up to ``Intake.remote_seconds``, so after Slack's ack) and record a request;
        announce it later. ``RequestInvalid`` per field; nothing is recorded then.

        ``submission_key`` names the form submission (``bot.listeners.views.submission_key``): a copy of one
        already recorded makes nothing (None).
        """

        def record() -> RequestRecord:
            self.workflow.check_open_requests(requester)  # before asking AWS anything for a requester over the cap
            request, findings = self.intake.validate(data)
            return self.workflow.submit(
                request,
                requester,
                findings=[f.to_dict() for f in findings],
                high_risk=is_high_risk(findings),
                submission_key=submission_key,
            )

        return self._record_form(submission_key, record)

    def _record_form(self, submission_key: str | None, record: Callable[[], RequestRecord]) -> RequestRecord | None:
        """Run a form's checks and record its request (``record``), once per submission: None for a copy of one
        recorded or held by another replica (which tells its outcome). ``record`` marks a held submission recorded
        in the transaction that stores the request; its errors mark it refused, if this replica holds it (else
        None: the holder tells them)."""
        if submission_key and self.store.submitted_as(submission_key):
            return None
        try:
            return record()
        except AlreadySubmitted as earlier:
            log.info("%s was already made from this form; its copy made nothing", earlier.record.id)
            return None
        except SubmissionTaken:
            log.info("another replica holds this form submission; it finishes it")
            return None
        except Exception:
            if submission_key and not self.workflow.submission_refused(submission_key):
                log.info("another replica holds this form submission; it tells its outcome")
                return None
            raise
        finally:
            if submission_key:
                self.checking.discard(submission_key)

    def open_edit_form(self, trigger_id: str, user: str, role_name: str, account_id: str | None = None) -> None:
        """The request form filled with the role's approved state (a role the bot created, as its store knows).

        Raises ``ActionRefused`` for a role the bot did not create (or not only once)."""
        made = self._made_role(role_name, account_id, verb="edit")
        state = self.store.approved_state(made)
        self.notifier.open_view(trigger_id, self.presenter.edit_modal(made, state), user)

    def open_edit_form_of(self, trigger_id: str, user: str, made_id: str) -> None:
        """App Home's Edit: the form for the role ``made_id`` created (``open_edit_form``)."""
        made = self.store.get(made_id)
        if made is None or made.kind != RequestKind.CREATE:
            raise ActionRefused(f"There is no role made by {shown_id(made_id)}.")
        self.open_edit_form(trigger_id, user, made.role_name, made.account_id)

    def submit_edit(
        self, made_id: str, data: dict[str, Any], requester: str, *, submission_key: str | None = None
    ) -> RequestRecord | None:
        """Validate and record a change of a role the bot made (asking AWS, IAM Access Analyzer's CheckNoNewAccess
        among it, so after Slack's ack); None for a copy of a submission already recorded or held by another replica
        (``submit``). ``RequestInvalid`` per field, ``ActionRefused`` otherwise."""

        def record() -> RequestRecord:
            made = self.store.get(made_id)
            if made is None or made.kind != RequestKind.CREATE:
                raise ActionRefused(f"There is no role made by {shown_id(made_id)}.")
            self.workflow.check_open_requests(requester)
            before = self.store.approved_state(made).request
            after, findings, narrowing = self.intake.validate_edit(data, before)
            findings = [*findings, *narrowing.findings]
            return self.workflow.submit_edit(
                made,
                after,
                requester,
                findings=[f.to_dict() for f in findings],
                high_risk=is_high_risk(findings),
                narrowing=narrowing.narrowing,
                submission_key=submission_key,
            )

        return self._record_form(submission_key, record)

    def _made_role(self, role_name: str, account_id: str | None, *, verb: str) -> RequestRecord:
        """The create request of the one role the bot made by this name (in ``account_id`` when given)."""
        made = self.store.live_roles(account_id, role_name)
        if not made:
            raise ActionRefused(
                f"The bot has not created a role named {role_name}"
                + (f" in account {account_id}" if account_id else "")
                + f", so it can't {verb} it. Only roles the bot created (tag {REQUEST_ID_TAG}) can be changed here."
            )
        accounts = sorted({record.account_id for record in made})
        if len(accounts) > 1:
            raise ActionRefused(
                f"The bot made a role {role_name} in {len(accounts)} accounts ({', '.join(accounts)}); "
                f"say which: `/iam-role {verb} {role_name} ACCOUNT`."
            )
        return made[-1]

    def ask_to_delete(
        self, requester: str, role_name: str, account_id: str | None = None, *, submission_key: str | None = None
    ) -> None:
        """``/iam-role delete``: record the request to delete the role (``request_retirement``) and post it for
        approval; ``ActionRefused`` with why not. ``submission_key``: the held command (``hold_retirement``), recorded
        once."""
        record = self.request_retirement(requester, role_name, account_id, submission_key=submission_key)
        if record is not None:
            self.announce(record)

    def request_retirement(
        self, requester: str, role_name: str, account_id: str | None = None, *, submission_key: str | None = None
    ) -> RequestRecord | None:
        """Ask to delete a role the bot created (reads AWS: call it after Slack's acknowledgement); None for a held
        command another replica finishes (``_record_form``).

        The role must carry the bot's provenance tag and the store must know the request that made it;
        anything else is refused (``ActionRefused``) with what the person can do about it.
        """
        return self._record_form(
            submission_key, lambda: self._request_retirement(requester, role_name, account_id, submission_key)
        )

    def _request_retirement(
        self, requester: str, role_name: str, account_id: str | None, submission_key: str | None
    ) -> RequestRecord:
        made = self.store.live_roles(account_id, role_name)
        accounts = sorted({record.account_id for record in made})
        if account_id is None and len(accounts) > 1:
            raise ActionRefused(
                f"The bot made a role {role_name} in {len(accounts)} accounts ({', '.join(accounts)}); "
                f"say which: `/iam-role delete {role_name} ACCOUNT`."
            )
        account = account_id or (accounts[0] if accounts else None)
        if account is None:
            raise ActionRefused(
                f"The bot has not created a role named {role_name}. If it is in an account the bot serves, "
                f"say which: `/iam-role delete {role_name} ACCOUNT`."
            )
        if account not in self.choices.account_ids():
            raise ActionRefused(f"Account {account} is not one the bot serves.")
        try:
            role = self.executor.read_role(account, role_name)
        except ProvisioningError as error:
            raise ActionRefused(error.message) from error
        if role is None:
            raise ActionRefused(f"There is no role {role_name} in account {account}.")
        if role.made_by is None:
            raise ActionRefused(
                f"The role {role_name} in account {account} was not created by this bot (it has no {REQUEST_ID_TAG} "
                "tag), so the bot will not delete it. Delete it the way it was made."
            )
        ours = [record for record in made if record.account_id == account and provenance_tag(record) == role.made_by]
        if not ours:
            raise ActionRefused(
                f"The role {role_name} in account {account} carries the bot's tag, but this bot has no record of "
                "creating it as it is tagged (another installation of the bot, or a copy?), so it will not delete it."
            )
        known_id = ours[-1].role_id
        if known_id is not None and role.role_id != known_id:
            raise ActionRefused(replaced_message(role_name, account, known_id, role.role_id))
        findings = retirement_findings(role, datetime.fromtimestamp(self.store.clock(), UTC))
        return self.workflow.submit_retirement(
            ours[-1], role, requester, findings=[f.to_dict() for f in findings], submission_key=submission_key
        )

    def delete_role_now(self, made_id: str, user: str, *, submission_key: str | None = None) -> None:
        """The reminder's Delete now: ask to delete the role ``made_id`` created (approved like any deletion)."""
        made = self.store.get(made_id)
        if made is None:
            raise ActionRefused(no_request(made_id))
        self.ask_to_delete(user, made.role_name, made.account_id, submission_key=submission_key)

    def extend_role(self, made_id: str, user: str) -> None:
        """The reminder's Extend: ask to keep the role ``made_id`` created as long again (approved like a change)."""
        made = self.store.get(made_id)
        if made is None:
            raise ActionRefused(no_request(made_id))
        self.announce(self.workflow.submit_extension(made, user))

    # --- drift -----------------------------------------------------------------------------

    def check_drift(self) -> list[DriftFound]:
        """One drift pass now (``iam-role-bot drift check``; housekeeping every ``[drift] interval_minutes``)."""
        return self.drift.check()

    def accept_drift(self, report_id: str, user: str) -> None:
        """A report's Accept: ask to make the role's state in AWS its approved state (approved like a change)."""
        self.announce(self.drift.act(report_id, user, RequestKind.ACCEPT))
        self.notifier.refresh_drift(report_id)

    def restore_drift(self, report_id: str, user: str) -> None:
        """A report's Restore: put the role back as approved now (the approver's click approves it)."""
        record = self.drift.act(report_id, user, RequestKind.RESTORE)
        self.notifier.refresh_drift(report_id)
        record, _ = self.notifier.post_for_approval(record)
        claimed = self.workflow.claim_provisioning(record.id, BOT_ACTOR)
        if claimed is not None:
            self.start(claimed)

    def announce(self, record: RequestRecord) -> RequestRecord:
        """Post a recorded request for approval and confirm it to the requester (or tell them why it wasn't).

        A permanent error (``PERMANENT_POST_ERRORS``) is recorded and told to the requester and, as an
        ERROR log line, to the bot's admins, and never tried again; a transient one is retried by
        ``housekeeping`` with a growing backoff, ``POST_ATTEMPTS`` times at most.
        """
        posted, error = self.notifier.post_for_approval(record)
        if error is not None:
            self._not_posted(record, error, failures=1, tell=True)
        elif posted.status == Status.SUBMITTED:  # not "sent for approval" after it was cancelled meanwhile
            self.notifier.confirm_submitted(posted)
        return posted

    def _not_posted(self, record: RequestRecord, error: str, *, failures: int, tell: bool) -> None:
        final = error in PERMANENT_POST_ERRORS or failures >= POST_ATTEMPTS
        self.workflow.not_posted(record.id, error, final=final)
        channel = self.workflow.config.settings.approval_channel_id
        if final:
            log.error(
                "Request %s could not be posted for approval in %s (%s); the bot will not try again. "
                "Fix the approvals channel, then ask the requester to request again.",
                record.id,
                channel,
                error,
            )
        else:
            log.warning(
                "Request %s could not be posted for approval in %s (%s); trying again later", record.id, channel, error
            )
        if tell or final:
            why = PERMANENT_POST_ERRORS.get(error, f"Slack answered {error}")
            then = "The bot's admins were told." if final else "The bot tries again in a while."
            self.notifier.confirm_submitted(record, not_posted=f"{why}. {then}")

    # --- looking --------------------------------------------------------------------------

    def first_delivery(self, event_id: str) -> bool:
        """Whether this Slack event is new to every replica (False for a retry of one already handled)."""
        return self.store.first_delivery(f"event:{event_id}")

    def requests_of(self, user: str, limit: int = 20) -> list[RequestRecord]:
        """The user's own latest requests."""
        return self.store.for_requester(user, limit=limit)

    def history(self, request_id: str, user: str) -> tuple[RequestRecord, list[Event]]:
        """One request and its history, for its requester and its approvers only (else ``ActionRefused``)."""
        record = self.store.get(request_id)
        if record is None or (user != record.requester and user not in self.workflow.approvers_for(record)):
            raise ActionRefused(f"No request {request_id} of yours (or awaiting you) was found.")
        return record, self.store.events(request_id)

    def publish_home(self, user: str) -> None:
        """The user's App Home, from what the bot stores only (no AWS call: ``app_home_opened`` is on Slack's
        clock, and a call per role added up); roles' last use as housekeeping last read it (``refresh_last_uses``)."""
        awaiting = [r for r in self.store.pending(limit=None) if self.workflow.may_approve(r, user) is None]
        is_approver = bool(awaiting) or any(
            user in self.workflow.approvers_for_account(account) for account in self.choices.account_ids()
        )
        roles = self.store.live_roles(requester=user)
        last_uses = self.store.last_uses([made.id for made in roles])
        self.notifier.publish_home(
            user,
            mine=self.store.for_requester(user, limit=10),
            awaiting=awaiting,
            is_approver=is_approver,
            roles=[(made, last_uses.get(made.id)) for made in roles],
        )

    def refresh_last_uses(self, now: float) -> int:
        """Read in AWS the last use of the roles read longest ago (never read first), at most
        ``LAST_USE_READS_PER_RUN`` not tried within ``LAST_USE_REFRESH_SECONDS``; how many were read.

        Housekeeping runs it, on one replica at a time, so each role is read once per round whoever looks."""
        read = 0
        for made in self.store.last_use_due(now - LAST_USE_REFRESH_SECONDS, LAST_USE_READS_PER_RUN):
            try:
                use = self.executor.last_use(made.account_id, made.role_name, now=now)
            except ProvisioningError as error:
                log.warning("reading %s's last use failed: %s", made.role_name, error.message)
                use = None
            self.store.record_last_use(made.id, use, tried_at=now)
            read += use is not None
        return read

    def refuse(
        self, user: str, reason: Sentence | str, *, channel: str | None = None, thread_ts: str | None = None
    ) -> None:
        """Tell only ``user`` why nothing happened (an ephemeral in ``channel``'s ``thread_ts``, else a DM)."""
        self.notifier.refuse(user, reason, channel=channel, thread_ts=thread_ts)

    # --- decisions -------------------------------------------------------------------------

    def approve(self, request_id: str, user: str) -> None:
        """Record a vote; at the required number, start provisioning. Raises ``ActionRefused``.

        The vote that approves starts provisioning at once; saying so in Slack (the vote, the
        approval) goes out while AWS works, in the same order as ever.
        """
        approval = self.workflow.approve_and_claim(request_id, user)
        metrics.APPROVALS.labels(outcome="approved" if approval.completed else "vote").inc()
        if not approval.completed:
            self.notifier.approval_recorded(approval.record, user)
            return

        def announce() -> None:
            self.notifier.approved(approval.record, user)

        if approval.claimed:
            self.start(approval.claimed, announce=announce)
        else:
            announce()

    def open_rejection_form(self, trigger_id: str, request_id: str, user: str) -> None:
        """Ask an approver why they reject the request; ``ActionRefused`` if they may not reject it."""
        refusal = self.workflow.may_decide(request_id, user)
        record = self.store.get(request_id)
        if refusal or record is None:
            raise ActionRefused(refusal or no_request(request_id))
        self.notifier.open_view(trigger_id, self.presenter.reject_modal(record), user)

    def reject(self, request_id: str, user: str, reason: str) -> RequestRecord:
        """Record an approver's rejection, ``ActionRefused`` if they may not: one write transaction, so the reject form
        does it before its ack and a rejection Slack was told of is never lost. ``rejected`` says it in Slack."""
        return self.workflow.reject(request_id, user, reason)

    def rejected(self, record: RequestRecord) -> None:
        """Say in the thread, the approval message and to the requester that the request was rejected (``tell``)."""
        self.tell(record)

    def cancel(self, request_id: str, user: str) -> None:
        try:
            record = self.workflow.cancel(request_id, user)
        except ActionRefused as refused:
            decided = self.store.get(request_id)
            if decided is not None and decided.status != Status.SUBMITTED:
                raise ActionRefused(refused.reason.then(" It can no longer be cancelled.")) from refused
            raise
        self.tell(record)

    def retry(self, request_id: str, user: str) -> None:
        self.start(self.workflow.retry(request_id, user))

    # --- provisioning ----------------------------------------------------------------------

    def start(
        self, record: RequestRecord, *, resumed: bool = False, announce: Callable[[], None] | None = None
    ) -> None:
        """Provision a request already moved to ``provisioning`` on the pool (``announce``: see ``provision``)."""
        self.provisioning.add(record.id)
        future = self.pool.submit(self.provision, record, resumed=resumed, announce=announce)
        future.add_done_callback(lambda _: self.provisioning.discard(record.id))
        self._track(future)

    def _track(self, future: Future[Any]) -> None:
        """Work on the pool that ``drain`` waits for."""
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)

    def provision(
        self, record: RequestRecord, *, resumed: bool = False, announce: Callable[[], None] | None = None
    ) -> RequestRecord:
        """Create the role in AWS and record the outcome; never raises.

        Meanwhile another thread says in Slack that it is under way (after ``announce``, which says
        what led here): each Slack call and each AWS call is a round trip, and one after the other
        they added up. The outcome is said once those messages are out, so the thread reads in order.
        """
        said = self.announcer.submit(self._say_under_way, record, resumed, announce)
        started = time.monotonic()
        try:
            outcome = self._create(record)
            metrics.PROVISIONING.labels(outcome=outcome.status.value).observe(time.monotonic() - started)
        finally:
            self.provisioning.discard(record.id)  # its job is gone with its outcome: no lease left to renew
            try:
                said.result()
            except Exception:
                log.exception("announcing that %s is being provisioned failed", record.id)
        self.tell(outcome)
        self.role_code.published(outcome)
        return outcome

    # --- announcing outcomes: the outbox ------------------------------------------------------------

    def tell(self, record: RequestRecord) -> None:
        """Announce the outcome ``record`` just reached (created, failed, rejected, …): the notice its move wrote in
        the same transaction, sent now by this replica, which holds it. If this replica dies first, another sends it
        once its lease runs out (``resume_notices``), as it does if this one fails to (the database unreachable). Never
        raises: what the caller does next (the role's code, housekeeping's next request) does not wait on Slack."""
        try:
            notices = self._take_notices(lambda: self.workflow.held_notices(record.id))
        except Exception:
            log.exception("announcing that %s is %s failed; sent once its lease runs out", record.id, record.status)
            return
        for notice in notices:
            self.send_notice(notice)

    def resume_notices(self, now: float | None = None) -> list[Notice]:
        """Claim the notices nobody holds — their replica died before sending them, or Slack failed them and their
        retry is due (at ``now``) — and send them, in order, on the announcing pool. At start-up and every
        ``keep_leases``, on every replica; each notice is claimed by one, and this replica sends at most
        ``NOTICE_CLAIM_BATCH`` at a time."""
        room = NOTICE_CLAIM_BATCH - len(self.announcing)
        if room <= 0:
            return []
        claimed = self._take_notices(lambda: self.workflow.claim_notices(now, limit=room))
        if claimed:
            self._track(self.announcer.submit(self._send_claimed, claimed))
        return claimed

    def _take_notices(self, held: Callable[[], list[Notice]]) -> list[Notice]:
        """The notices ``held`` finds leased to this replica that none of its threads is sending yet, now marked as
        being sent (``announcing``). Every thread of a replica has its one owner name: a notice whose lease ran out
        before its recorder told it (Slack holding the messages before it) is claimed by this same replica's
        ``keep_leases``, and then both would send it. Looking up, taking and letting go (``send_notice``) under one
        lock, one of them does."""
        with self.announcing_lock:
            taken = [notice for notice in held() if notice.id not in self.announcing]
            self.announcing.update(notice.id for notice in taken)
        return taken

    def _send_claimed(self, notices: list[Notice]) -> None:
        for notice in notices:
            self.send_notice(notice)

    def send_notice(self, notice: Notice) -> None:
        """Say one outcome in Slack (``Notifier.outcome``), rendered from its request as stored now, then mark it sent.

        A notice its request moved on from is not said (``Workflow.to_announce``); a role created and deleted since is
        said only in its thread and approval message (``Workflow.made_role_gone``). Before each call the calls made so
        far are recorded (``Workflow.notice_progress``), only while this replica still holds the notice: one that
        another replica took over (this one hung past its lease, or the notice waited its turn behind others that long)
        stops here, and the one taking it over starts after them. So a crash, or a hang past the lease, repeats at most
        the one call in flight. A message Slack refuses for good (``REFUSED_FOR_GOOD``) is skipped; any other failure
        stops the send, and the calls from that one on are made again after a backoff, ``POST_ATTEMPTS`` sends at most
        (then an ERROR log line, and it is given up). A send that raises (a message that cannot be rendered from what
        is stored) counts as a failed one, so it too is given up after ``POST_ATTEMPTS``; one the database failed
        (``Store.DATABASE_ERRORS``: locked, unreachable) does not, and the notice is sent again once its lease runs
        out. Never raises.
        """
        try:
            result = self._announce(notice)
        except Exception:
            log.exception("announcing %s's %s failed; sent again when its lease ends", notice.request_id, notice.kind)
            return
        else:
            metrics.NOTICES.labels(result=result).inc()
            if result == "overtaken":
                log.warning(
                    "another replica took over announcing that %s is %s (this one was too slow); this one stops",
                    notice.request_id,
                    notice.kind,
                )
        finally:
            with self.announcing_lock:
                self.announcing.discard(notice.id)

    def _announce(self, notice: Notice) -> str:
        """``send_notice``'s calls; what became of the notice (``iam_role_bot_notices_total``'s result). Raises what
        the database raised (``Store.DATABASE_ERRORS``)."""
        try:
            record = self.workflow.to_announce(notice)
            if record is None:
                return "superseded"
            steps = self.notifier.outcome(record, history_only=self.workflow.made_role_gone(record))
            for number, step in enumerate(steps):
                if number < notice.parts_done or step is None:
                    continue
                if not self.workflow.notice_progress(notice, number):  # the first call too: a notice queued behind
                    return "overtaken"  # others may have been taken over before its turn
                error = step()
                if error in REFUSED_FOR_GOOD:
                    log.warning(
                        "Slack refused part of %s's %s announcement for good (%s)", record.id, notice.kind, error
                    )
                elif error is not None:
                    return self._notice_failed(notice, number, error)
            return "sent" if self.workflow.notice_sent(notice) else "overtaken"
        except self.store.DATABASE_ERRORS:
            raise
        except Exception as error:  # the same every time it is sent (a bug, a stored value it cannot show)
            log.exception("announcing that %s is %s raised", notice.request_id, notice.kind)
            return self._notice_failed(notice, None, type(error).__name__)

    def _notice_failed(self, notice: Notice, parts_done: int | None, error: str) -> str:
        """Record a failed send of ``notice`` (``Workflow.notice_failed``) and log what becomes of it."""
        failure = self.workflow.notice_failed(notice, parts_done, error)
        if failure == "retry":
            log.warning(
                "announcing that %s is %s failed (%s); trying again later", notice.request_id, notice.kind, error
            )
        elif failure == "given_up":
            log.error(
                "announcing that %s is %s failed %d times (last: %s); the bot gives up. "
                "`iam-role-bot requests show %s` has its outcome.",
                notice.request_id,
                notice.kind,
                notice.attempts + 1,
                error,
                notice.request_id,
            )
        return failure

    def _say_under_way(self, record: RequestRecord, resumed: bool, announce: Callable[[], None] | None) -> None:
        if announce is not None:
            announce()
        self.notifier.provisioning(record, resumed=resumed)

    def _create(self, record: RequestRecord) -> RequestRecord:
        """The request carried out in AWS and marked created (or deleted), or marked failed with why."""
        carry_out = {
            RequestKind.DELETE: self._retire,
            RequestKind.EDIT: self._edit,
            RequestKind.ACCEPT: self._accept,
            RequestKind.RESTORE: self._restore,
        }.get(record.kind, self._provision)
        try:
            tampered = self.workflow.changed_since_approval(record.id)
            if tampered:
                raise ProvisioningError(
                    f"Refused: {record.id} is not what was approved ({tampered}), so the bot did nothing in AWS. "
                    "Submit the request again with /iam-role, so that the approvers see and approve what would be "
                    "done; the bot's admins can check the audit log with `iam-role-bot audit verify`.",
                    step="preflight",
                )
            if record.kind == RequestKind.EXTEND:  # nothing changes in AWS: only when the bot deletes it
                return self.workflow.mark_extended(record.id)
            outcome = carry_out(record)
        except ProvisioningError as error:
            metrics.AWS_ERRORS.labels(code=error.code or error.step).inc()
            return self.workflow.mark_failed(record.id, error.message)
        except Exception as error:
            metrics.AWS_ERRORS.labels(code=type(error).__name__).inc()
            log.exception("provisioning %s failed unexpectedly", record.id)
            return self.workflow.mark_failed(record.id, f"Unexpected error ({type(error).__name__}); see the logs.")
        if record.kind == RequestKind.DELETE:
            return self.workflow.mark_deleted(record.id, outcome)
        if record.kind == RequestKind.EDIT:
            return self.workflow.mark_edited(record.id, outcome)
        if record.kind == RequestKind.ACCEPT:
            return self.workflow.mark_accepted(record.id)
        if record.kind == RequestKind.RESTORE:
            return self.workflow.mark_restored(record.id, outcome)
        return self.workflow.mark_created(record.id, outcome)

    def _provision(self, record: RequestRecord) -> dict[str, Any]:
        """Create the role, while the request still meets the guardrails; what was made."""
        request = record.request
        errors = self.intake.guardrail_errors(request)
        if errors:
            raise ProvisioningError(
                "The request no longer meets the guardrails: " + " ".join(errors.values()), step="preflight"
            )
        approvers = self.workflow.approved_by(record)
        return self.executor.provision(
            request,
            request_id=record.id,
            requester=record.requester,
            approvers=approvers,
            nonce=record.provenance_nonce,
        ).to_dict()

    def _edit(self, record: RequestRecord) -> dict[str, Any]:
        """Change the role from its approved state to the request's, while it still meets the guardrails."""
        subject = record.subject or {}
        before, after = request_from_json(subject["before"]), record.request
        errors = self.intake.guardrail_errors(after)
        if errors:
            raise ProvisioningError(
                "The change no longer meets the guardrails: " + " ".join(errors.values()), step="preflight"
            )
        made = self.store.get(record.target_id or "")
        if made is None or not isinstance(before, AssumableRoleRequest) or not isinstance(after, AssumableRoleRequest):
            raise ProvisioningError(f"{record.id} names no role the bot can edit.", step="preflight")
        return self.executor.edit(
            before, after, made_by=provenance_tag(made), request_id=record.id, role_id=made.role_id
        )

    def _accept(self, record: RequestRecord) -> dict[str, Any]:
        """Nothing to do in AWS, as long as the role is still what the approvers saw (else nothing is recorded)."""
        subject = record.subject or {}
        observed = subject.get("observed")
        state = RoleState.from_dict(observed) if observed else None
        self.executor.confirm_unchanged(record.account_id, RoleState.from_dict(subject["approved"]).role_name, state)
        return {}

    def _restore(self, record: RequestRecord) -> dict[str, Any]:
        """Put the role back as approved, from exactly what the report showed (else nothing is done)."""
        subject = record.subject or {}
        if not subject.get("observed"):
            raise ProvisioningError("The role no longer exists; recreating it is a new request.", step="preflight")
        approved, observed = RoleState.from_dict(subject["approved"]), RoleState.from_dict(subject["observed"])
        return self.executor.restore(record.account_id, approved, observed, request_id=record.id)

    def _retire(self, record: RequestRecord) -> dict[str, Any]:
        """Delete the role, only while it carries the provenance tag it had when the deletion was asked for and is
        the role the bot made (its RoleId, when known: a look-alike made under its name is refused, also at expiry);
        what was removed."""
        subject = record.subject or {}
        made = self.store.get(record.target_id or "")
        return self.executor.retire(
            record.account_id,
            record.request.display_name,
            made_by=str(subject.get("made_by")),
            request_id=record.id,
            revoke_sessions=bool(subject.get("expiry")),
            role_id=made.role_id if made is not None else None,
        )

    def resume_interrupted(self) -> list[RequestRecord]:
        """At start-up: carry on with provisioning jobs nobody holds (``resume_jobs``), finish the held form
        submissions nobody holds (``resume_held_submissions``), send the notices nobody holds (``resume_notices``)."""
        records = self.resume_jobs()
        self.resume_held_submissions()
        self.resume_notices()
        return records

    def resume_held_submissions(self) -> list[FormSubmission]:
        """Claim and finish (on the pool: their checks ask AWS) the form submissions acked and never recorded nor
        refused whose holder stopped or hangs (its lease ran out): each by one replica. At start-up and then every
        ``keep_leases``."""
        claimed = self.workflow.claim_held_submissions()
        for submission in claimed:
            self.checking.add(submission.key)
            self._track(self.pool.submit(self.finish_submission, submission))
        return claimed

    def resume_jobs(self) -> list[RequestRecord]:
        """Carry on with requests whose provisioning job nobody holds (its replica died): at start-up and then
        every ``keep_leases``."""
        records = self.workflow.resume_interrupted(BOT_ACTOR)
        for record in records:
            self.start(record, resumed=True)
        return records

    def finish_submission(self, submission: FormSubmission) -> None:
        """Check and record a held request form (a new role, or an edit) a stopped process acked, and show its outcome
        in its view; a view closed or expired meanwhile gets nothing, so the requester is told by DM (the errors, or
        the confirmation ``announce`` sends anyway). A held ``/iam-role delete`` has no view: its refusal goes by DM."""
        if submission.kind == RequestKind.DELETE:
            self._finish_retirement(submission)
            return
        made_id = submission.target_id if submission.kind == RequestKind.EDIT else None
        form = {**(modals.edit_frame(made_id) if made_id else {}), "state": {"values": submission.form}}
        record, errors = checked(
            lambda: self.submit_form(
                modals.read_request_state(form), submission.requester, made_id=made_id, submission_key=submission.key
            ),
            "checking a submitted form again",
        )
        if not errors:
            if record is not None:
                self.show_view(submission.view_id, self.presenter.request_sent_modal(record))
                self.announce(record)
            return
        again = self.presenter.request_modal_again(form, errors)
        self.show_form_errors(submission.view_id, submission.requester, again, errors)

    def _finish_retirement(self, submission: FormSubmission) -> None:
        asked = submission.form
        try:
            self.ask_to_delete(
                submission.requester, asked["role_name"], asked.get("account_id"), submission_key=submission.key
            )
        except ActionRefused as refused:
            self.refuse(submission.requester, refused.reason)
        except Exception:
            log.exception("asking again to delete a role failed")
            self.refuse(submission.requester, SORRY)

    def keep_leases(self) -> None:
        """Renew the leases on what this replica is provisioning, the form submissions it is checking and the notices it
        is sending, then take over jobs, held submissions and notices whose lease ran out.

        Run every third of ``workflow.lease_seconds`` on every replica (``cli.start_periodic``).
        """
        working = list(self.provisioning)
        renewed = set(self.workflow.renew_leases(working))
        lost = [request_id for request_id in working if request_id in self.provisioning and request_id not in renewed]
        if lost:
            log.warning("another replica took over %s: this one was too slow to renew its lease", ", ".join(lost))
        checking = list(self.checking)
        kept = set(self.workflow.renew_submission_leases(checking))
        if any(key in self.checking and key not in kept for key in checking):
            log.warning("another replica took over a form submission this one was too slow to check")
        self.workflow.renew_notice_leases(list(self.announcing))
        self.resume_jobs()
        self.resume_held_submissions()
        self.resume_notices()

    def housekeeping(self, now: float | None = None) -> None:
        """Expire overdue requests, post again those Slack failed to post (backoff), remind approvers, delete expired
        roles, read roles' last use, check for drift (every ``[drift] interval_minutes``), retry git exports: on
        one replica at a time, the one holding the ``housekeeping`` lease."""
        now = time.time() if now is None else now
        if not self.store.take_lease("housekeeping", self.workflow.owner, HOUSEKEEPING_LEASE_SECONDS):
            return  # another replica does it
        for record in self.workflow.expire_due(now):
            self.tell(record)
        if self.workflow.config.settings.approval_channel_id:
            for record in self.store.by_status(Status.SUBMITTED, before=now - REPOST_AFTER_SECONDS, limit=None):
                if not record.message_ts and self.workflow.post_attempt_due(record, now):
                    posted, error = self.notifier.post_for_approval(record)
                    if error is not None:
                        failures = self.workflow.post_failures(record.id) + 1
                        self._not_posted(record, error, failures=failures, tell=False)
                    elif posted.status == Status.SUBMITTED:  # not "sent for approval" after it was cancelled meanwhile
                        self.notifier.confirm_submitted(posted)
        for record in self.workflow.remind_due(now):
            self.notifier.reminded(record, now)
        for made in self.workflow.expiry_reminders_due(now):
            self.notifier.expiry_reminder(made)
        self.expire_roles(now)
        self.refresh_last_uses(now)
        interval = self.workflow.config.policy.drift.interval_minutes * 60
        if interval and self.store.take_lease("drift", f"{self.workflow.owner}:{now}", interval, now=now):
            self.check_drift()  # once per interval across replicas: the lease is only taken once it ran out
        self.role_code.retry_failed()
        self.store.forget_deliveries(before=now - DELIVERY_MEMORY_SECONDS)

    def expire_roles(self, now: float) -> list[RequestRecord]:
        """Delete the roles whose time is up: each once, whoever else (thread, process) looks at the same time.

        The approved delete request is stored first (``Workflow.expire_role``); shown in the approvals channel,
        then carried out like any other (sessions revoked first).
        """
        started = []
        for made in self.store.expiring(now):
            request = made.request
            if not isinstance(request, AssumableRoleRequest):
                continue
            role = RoleToRetire.as_made(request, str((made.result or {}).get("role_arn", "")), provenance_tag(made))
            retire = self.workflow.expire_role(made, role, now)
            if retire is None:
                continue
            retire, _ = self.notifier.post_for_approval(retire)
            claimed = self.workflow.claim_provisioning(retire.id, BOT_ACTOR)
            if claimed is not None:
                self.start(claimed)
                started.append(claimed)
        return started

    def drain(self, timeout: float = 60) -> None:
        """Wait for provisioning under way (tests, the demo, shutdown)."""
        wait(list(self.pending), timeout=timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
        self.announcer.shutdown(wait=True)
        self.intake.shutdown()
