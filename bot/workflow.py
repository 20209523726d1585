"""The request state machine and who may do what, decided on the server for every action.

    submitted -> approved -> provisioning -> created | deleted (a delete request) | failed
    submitted -> rejected (by an approver, with a reason) | cancelled (requester or approver) | expired
    failed -> provisioning (an approver other than the requester retries)

Approvers come from the configuration: per target account when the account lists its own, else the
global list plus the members of the approver user group. Nobody approves their own request; a
high-risk request needs ``high_risk_approvals`` distinct approvers, each vote an ``approval`` event.
Every status change is one conditional UPDATE plus its event (``Store.transition``), so of racing
clicks exactly one wins and the others are told what happened instead.
"""

import os
import re
import socket
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.config import Config
from bot.domain import AssumableRoleRequest, RequestInvalid, RoleRequest
from bot.domain.change import fixed_changes, role_changes
from bot.domain.retire import RoleToRetire
from bot.lifecycle import (
    ANNOUNCED_STATUSES,
    BOT_ACTOR,
    FINAL_STATUSES,
    ROLE_THERE_STATUSES,
    TRANSITIONS,
    EventKind,
    Person,
    RequestKind,
    Sentence,
    Status,
    approved_by,
    people,
)
from bot.store import DriftReport, DriftState, FormSubmission, Notice, RequestRecord, Store, TooManyOpenRequests

RETRYABLE_DRIFT_OUTCOMES = frozenset({Status.REJECTED, Status.CANCELLED, Status.EXPIRED, Status.FAILED})
"""A drift report's accept or restore that ended so may be asked again (any other outcome acted already). A failed
one (AWS changed again, or an AWS error rolled back) doesn't block the role either: it did nothing."""
REPOST_AFTER_SECONDS = 60.0
"""A request Slack would not post for approval (a transient error) is posted again this long after, then
after twice as long each time, up to ``MAX_REPOST_BACKOFF_SECONDS``; ``POST_ATTEMPTS`` in all."""
MAX_REPOST_BACKOFF_SECONDS = 3600.0
POST_ATTEMPTS = 6
"""Also how many times a notice (an outcome to announce) is sent before it is given up, with the same backoff."""
LEASE_SECONDS = 60.0
"""How long a replica holds a provisioning job without renewing it (it renews every third of that while it
works); a replica that died mid-provisioning has its job taken over this long after its last renewal."""


DAY = 86400.0
EXPIRY_REMINDER_LEAD = 3 * DAY
"""How long before a role expires its requester is reminded, at most (a quarter of its life for short ones)."""


NoticeFailure = Literal["retry", "given_up", "overtaken"]
"""What became of a notice whose send Slack failed (``Workflow.notice_failed``)."""


def retry_backoff(failures: int) -> float:
    """How long after its ``failures``-th failure (1, 2, …) Slack is tried again: ``REPOST_AFTER_SECONDS``, then twice
    as long each time, up to ``MAX_REPOST_BACKOFF_SECONDS``."""
    return min(REPOST_AFTER_SECONDS * 2 ** (failures - 1), MAX_REPOST_BACKOFF_SECONDS)


class _Claimed(Exception):
    """Another caller claimed the expiry first: undo this transaction."""


REQUEST_ID = re.compile(r"R-[0-9]{1,12}")
"""The shape of the ids ``Store.create_request`` gives."""


def shown_id(request_id: str) -> str:
    """A request id to repeat in a refusal. It came from a button's value, a form's metadata or a command (all
    typed or forged by the user), so it is repeated only when it has an id's shape: never thousands of
    characters, and never mrkdwn (``<!channel>``)."""
    return request_id if REQUEST_ID.fullmatch(request_id) else "(not a request id)"


def no_request(request_id: str) -> Sentence:
    return Sentence.of(f"There is no request {shown_id(request_id)}.")


def too_many_open(limit: int) -> str:
    """Why a person's request is refused when they have ``limit`` open already (what they can do about it)."""
    return (
        f"You already have {limit} open request{'' if limit == 1 else 's'} (awaiting approval or being carried out), "
        "as many as one person may have. Cancel those you no longer need (`/iam-role list`) or wait for the "
        "approvers, then submit again."
    )


class ActionRefused(Exception):
    """An action that was not carried out; ``reason`` tells the person who tried (the presenter renders it)."""

    def __init__(self, reason: Sentence | str) -> None:
        self.reason = reason if isinstance(reason, Sentence) else Sentence.of(reason)
        super().__init__(str(self.reason))


@dataclass(frozen=True)
class Approval:
    """The outcome of one approval vote."""

    record: RequestRecord
    completed: bool
    """This vote was the last one needed: the request is now approved."""
    approvals: list[str]
    """Distinct approvers who voted so far, in order."""
    needed: int
    """How many distinct approvals the request needs in all."""
    claimed: RequestRecord | None = None
    """With ``approve_and_claim``: the request moved on to provisioning for this replica (None: not by us)."""

    @property
    def remaining(self) -> int:
        return max(0, self.needed - len(self.approvals))


class Workflow:
    """Moves requests through their life, refusing (``ActionRefused``) whatever a user may not do.

    ``usergroup_members(group_id)`` resolves the configured approver user group (in Slack,
    ``usergroups.users.list``; it should cache). ``clock`` defaults to the store's.
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Callable[[], float] | None = None,
        usergroup_members: Callable[[str], Collection[str]] | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        if config.policy.approvals.approver_usergroup and usergroup_members is None:
            raise ValueError("approvals.approver_usergroup is set, so Workflow needs usergroup_members")
        self.store = store
        self.config = config
        self.clock = clock or store.clock
        self.usergroup_members = usergroup_members
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This replica's name on the provisioning jobs it holds (see ``resume_interrupted``): host and process
        id for operators, made unique by a random part."""
        self.lease_seconds = lease_seconds
        """How long a job stays this replica's without renewal; a lease that ran out is taken over."""

    # --- who may do what ---------------------------------------------------------------------

    def approvers_for_account(self, account_id: str) -> frozenset[str]:
        """The account's own approvers if it lists any; else the global ones and the user group's members."""
        account = self.config.account(account_id)
        if account and account.approvers:
            return frozenset(account.approvers)
        approvers = self.config.approvers_for(account_id)
        group = self.config.policy.approvals.approver_usergroup
        if group and self.usergroup_members:
            approvers |= frozenset(self.usergroup_members(group))
        return approvers

    def approvers_for(self, record: RequestRecord) -> frozenset[str]:
        return self.approvers_for_account(record.account_id)

    def may_approve(self, record: RequestRecord, user: str) -> Sentence | None:
        """None if ``user`` may approve the request now, else why not (for them to read)."""
        return self._approval_refusal(record, user, self.approvers_for(record))

    def may_decide(self, request_id: str, user: str) -> Sentence | None:
        """None if ``user`` may reject the request now (e.g. before opening the reason form), else why not."""
        record = self.store.get(request_id)
        if record is None:
            return no_request(request_id)
        if record.status != Status.SUBMITTED:
            return self._outcome(record)
        if user not in self.approvers_for(record):
            return self._only_approvers(record, "reject")
        return None

    def _approval_refusal(self, record: RequestRecord, user: str, approvers: frozenset[str]) -> Sentence | None:
        if record.status != Status.SUBMITTED:
            return self._outcome(record)
        if user == record.requester:
            return Sentence.of("You can't approve your own request.")
        if user not in approvers:
            return self._only_approvers(record, "approve")
        votes = self._votes(record, approvers)
        if user in votes:
            more = record.required_approvals - len(votes)
            return Sentence.of(
                f"You have already approved {record.id}; it needs {more} more approval(s) from other approvers."
            )
        return None

    def _only_approvers(self, record: RequestRecord, verb: str) -> Sentence:
        return Sentence.of(f"Only the approvers of account {record.account_id} can {verb} {record.id}.")

    def _votes(self, record: RequestRecord, approvers: frozenset[str]) -> list[str]:
        """Distinct people whose approval counts: current approvers other than the requester."""
        voters = ((e.actor, e.kind) for e in self.store.events(record.id))
        return approved_by(voters, approvers=approvers, requester=record.requester)

    def approved_by(self, record: RequestRecord) -> list[str]:
        """Who approved the request so far (the card, the provenance tag): see ``lifecycle.approved_by``."""
        return self._votes(record, self.approvers_for(record))

    def _outcome(self, record: RequestRecord) -> Sentence:
        """What became of a request no longer awaiting a decision, e.g. "R-1042 was already approved by U1."."""
        events = self.store.events(record.id)
        last = {event.kind: event for event in events}
        if record.status in (Status.REJECTED, Status.CANCELLED):
            decided = last.get(EventKind(record.status.value))
            who: tuple[str | Person, ...] = (" by ", Person(decided.actor)) if decided else ()
            return Sentence.of(f"{record.id} was already {record.status.value}", *who, ".")
        if record.status == Status.EXPIRED:
            return Sentence.of(f"{record.id} expired before it got enough approvals.")
        approved = last.get(EventKind.APPROVED)
        who = (" by ", *people(approved.details.get("approvers") or [approved.actor])) if approved else ()
        return Sentence.of(f"{record.id} was already approved", *who, ".")

    # --- submitting and deciding -------------------------------------------------------------

    def submit(
        self,
        request: RoleRequest,
        requester: str,
        *,
        findings: list[dict[str, Any]],
        high_risk: bool,
        submission_key: str | None = None,
    ) -> RequestRecord:
        """Record a validated request; raises ``RequestInvalid`` (on ``account_id``) if nobody could approve it,
        ``AlreadySubmitted`` if ``submission_key`` already made one."""
        needed = self.config.policy.approvals.high_risk_approvals if high_risk else 1
        self._check_approvers(request.account_id, requester, needed)
        return self._create(
            request,
            requester,
            in_form=True,
            risk="high" if high_risk else "normal",
            required_approvals=needed,
            findings=findings,
            submission_key=submission_key,
            submission_owner=self.owner,
        )

    def check_open_requests(self, requester: str) -> None:
        """Raise ``RequestInvalid`` (at the top of the form) if ``requester`` has as many requests open as they may
        (``[limits] max_open_requests_per_requester``): before the checks that ask AWS. ``_create`` counts again
        in the transaction that stores a request."""
        limit = self.config.policy.limits.max_open_requests_per_requester
        if self.store.open_requests(requester) >= limit:
            raise RequestInvalid({"role_type": too_many_open(limit)})

    def _create(self, request: RoleRequest, requester: str, *, in_form: bool, **stored: Any) -> RequestRecord:
        """``Store.create_request`` for a person's own request, capped at their open requests: over the cap, raises
        ``RequestInvalid`` (at the top of the form, ``in_form``) or ``ActionRefused`` (a button or command)."""
        try:
            return self.store.create_request(
                request, requester, max_open=self.config.policy.limits.max_open_requests_per_requester, **stored
            )
        except TooManyOpenRequests as over:
            message = too_many_open(over.limit)
            raise (RequestInvalid({"role_type": message}) if in_form else ActionRefused(message)) from over

    def not_posted(self, request_id: str, error: str, *, final: bool) -> None:
        """Record that Slack refused to post the request for approval (``final``: the bot stops trying)."""
        self.store.add_event(request_id, BOT_ACTOR, EventKind.NOT_POSTED, {"error": error, "final": final})

    def post_attempt_due(self, record: RequestRecord, now: float) -> bool:
        """Whether a request not yet posted for approval should be posted again at ``now``: not after a final
        failure, and only once its backoff has passed (doubling from ``REPOST_AFTER_SECONDS``)."""
        failures = [event for event in self.store.events(record.id) if event.kind == EventKind.NOT_POSTED]
        if any(event.details.get("final") for event in failures):
            return False
        if not failures:
            return now - record.created_at >= REPOST_AFTER_SECONDS
        return now - failures[-1].at >= retry_backoff(len(failures))

    def post_failures(self, request_id: str) -> int:
        """How many times Slack refused to post the request for approval."""
        return sum(1 for event in self.store.events(request_id) if event.kind == EventKind.NOT_POSTED)

    def submit_retirement(
        self,
        made: RequestRecord,
        role: RoleToRetire,
        requester: str,
        *,
        findings: list[dict[str, Any]],
        submission_key: str | None = None,
    ) -> RequestRecord:
        """Record a request to delete the role ``made`` created, as read in AWS (``role``); ``submission_key``: the
        held command it finishes (marked recorded with it, as a form's is).

        Raises ``ActionRefused`` while another request to delete it is open, or if nobody could approve it.
        """
        try:
            self._check_approvers(made.account_id, requester, 1)
        except RequestInvalid as invalid:
            raise ActionRefused(invalid.errors["account_id"]) from invalid
        with self.store.transaction():
            open_ = [r for r in self.store.acting_on(made.id) if r.status not in FINAL_STATUSES]
            if open_:
                raise ActionRefused(f"{open_[0].id} already asks to delete {made.role_name}; it is {open_[0].status}.")
            return self._create(
                made.request,
                requester,
                in_form=False,
                kind=RequestKind.DELETE,
                target_id=made.id,
                subject=role.to_dict(),
                findings=findings,
                submission_key=submission_key,
                submission_owner=self.owner,
            )

    def expire_role(self, made: RequestRecord, role: RoleToRetire, now: float) -> RequestRecord | None:
        """The role ``made`` created is due: a delete request for it, approved by the bot (its life was
        approved with it), or None if another caller (thread, process, replica) got there first.

        Storing the request, claiming the expiry (``Store.claim_expiry``) and approving happen in one
        write transaction, before anything is done in AWS; a restart finds the request approved and
        ``resume_interrupted`` carries it out.
        """
        try:
            with self.store.transaction():
                days = made.request.expires_after_days if isinstance(made.request, AssumableRoleRequest) else None
                retire = self.store.create_request(
                    made.request,
                    made.requester,
                    kind=RequestKind.DELETE,
                    target_id=made.id,
                    subject={**role.to_dict(), "expiry": True},
                    findings=[
                        {
                            "severity": "info",
                            "title": "The role's time is up",
                            "explanation": f"It was approved to live {days} day(s). Sessions already handed out "
                            "are revoked before it is deleted.",
                            "concerns": "expires_after_days",
                        }
                    ],
                )
                if not self.store.claim_expiry(made.id, now, retire.id):
                    raise _Claimed
                approved = self._move(
                    retire.id,
                    Status.SUBMITTED,
                    Status.APPROVED,
                    BOT_ACTOR,
                    EventKind.APPROVED,
                    {"approvers": [], "expiry": True},
                )
                self.store.enqueue_job(retire.id, self.owner, self.lease_seconds)  # as an approval by votes does
                return approved
        except _Claimed:
            return None

    def submit_edit(
        self,
        made: RequestRecord,
        after: RoleRequest,
        requester: str,
        *,
        findings: list[dict[str, Any]],
        high_risk: bool,
        narrowing: bool,
        submission_key: str | None = None,
    ) -> RequestRecord:
        """Record a change of the role ``made`` created, from its approved state to ``after`` (validated).

        Needs as many approvals as a new role (``high_risk_approvals`` when high risk), or
        ``narrowing_approvals`` when that is fewer and the change only narrows access. Raises
        ``RequestInvalid`` (per field) for what an edit can't change or a change of nothing,
        ``ActionRefused`` while the role has another change under way.
        """
        before = self.store.approved_state(made)
        old = before.request
        if not isinstance(old, AssumableRoleRequest) or not isinstance(after, AssumableRoleRequest):
            raise ActionRefused(f"The role {made.role_name} can't be edited: AWS names and owns service-linked roles.")
        fixed = fixed_changes(old, after)
        if fixed:
            raise RequestInvalid(fixed)
        if not role_changes(old, after):
            raise RequestInvalid({"justification": "This changes nothing: the role is already exactly so."})
        approvals = self.config.policy.approvals
        needed = approvals.high_risk_approvals if high_risk else 1
        if narrowing and approvals.narrowing_approvals is not None:
            needed = min(needed, approvals.narrowing_approvals)
        self._check_approvers(made.account_id, requester, needed)
        with self.store.transaction():
            busy = [r for r in self.store.acting_on(made.id) if r.status not in FINAL_STATUSES]
            if busy:
                raise ActionRefused(
                    f"{busy[0].id} already asks to {busy[0].kind} {made.role_name}; it is {busy[0].status}."
                )
            return self._create(
                after,
                requester,
                in_form=True,
                kind=RequestKind.EDIT,
                target_id=made.id,
                subject={"before": before.request_json, "before_id": before.id, "narrowing": narrowing},
                risk="high" if high_risk else "normal",
                required_approvals=needed,
                findings=findings,
                submission_key=submission_key,
                submission_owner=self.owner,
            )

    def mark_edited(self, request_id: str, result: dict[str, Any]) -> RequestRecord:
        """provisioning -> edited, with the calls made: the request's state is the role's approved state now."""
        return self._finish(request_id, Status.EDITED, EventKind.EDITED, result, result=result)

    def submit_extension(self, made: RequestRecord, requester: str) -> RequestRecord:
        """Ask to keep the time-limited role ``made`` created for as long again, counted from its expiry.

        Raises ``ActionRefused`` when the role has no expiry, is already being deleted or extended, or
        the account's ``max_role_days`` no longer allows that long.
        """
        request = made.request
        days = request.expires_after_days if isinstance(request, AssumableRoleRequest) else None
        if made.expires_at is None or days is None:
            raise ActionRefused(f"The role {made.role_name} has no expiry to extend.")
        limit = self.config.max_role_days(made.account_id)
        if limit is not None and days > limit:
            raise ActionRefused(f"Roles in account {made.account_id} may live at most {limit} days now.")
        try:
            self._check_approvers(made.account_id, requester, 1)
        except RequestInvalid as invalid:
            raise ActionRefused(invalid.errors["account_id"]) from invalid
        with self.store.transaction():
            current = self._get(made.id)
            if current.expiry_request_id is not None:
                raise ActionRefused(f"The role {made.role_name} has already expired.")
            busy = [r for r in self.store.acting_on(made.id) if r.status not in FINAL_STATUSES]
            if busy:
                raise ActionRefused(
                    f"{busy[0].id} already asks to {busy[0].kind} {made.role_name}; it is {busy[0].status}."
                )
            expires_at = current.expires_at or made.expires_at
            subject = {"days": days, "from": expires_at, "to": expires_at + days * DAY}
            return self._create(
                made.request, requester, in_form=False, kind=RequestKind.EXTEND, target_id=made.id, subject=subject
            )

    def act_on_drift(
        self,
        report: DriftReport,
        user: str,
        kind: RequestKind,
        *,
        subject: dict[str, Any],
        findings: list[dict[str, Any]],
        high_risk: bool = False,
        still_current: Callable[[], bool],
    ) -> RequestRecord:
        """A click on a drift report's Accept (``kind`` accept) or Restore (``kind`` restore), by ``user``.

        Only the account's approvers may (decided now, from the configuration); a click on a report that is
        closed or already acted on by a request still going (or done) makes nothing (``ActionRefused``). The
        request and the report's claim on it are one write transaction, so of doubled, replayed or racing
        clicks one acts. A report whose approved state is no longer the role's (``still_current``, asked in the
        transaction: an edit or accept carried out since) acts on nothing, as it would undo or replace what was approved
        since. An accept waits for approvals (as many as a new role: ``high_risk_approvals`` when high
        risk; the clicker can't approve it); a restore is approved by the click itself, in the same transaction
        (what it puts back was approved already; docs/ARCHITECTURE.md says why), and its job enqueued.
        """
        if user not in self.approvers_for_account(report.account_id):
            raise ActionRefused(
                f"Only the approvers of account {report.account_id} can act on drift report {report.id}."
            )
        needed = self.config.policy.approvals.high_risk_approvals if high_risk else 1
        if kind == RequestKind.ACCEPT:
            try:
                self._check_approvers(report.account_id, user, needed)
            except RequestInvalid as invalid:
                raise ActionRefused(invalid.errors["account_id"]) from invalid
        with self.store.transaction():
            current = self.store.drift_report(report.id)
            if current is None or current.state != DriftState.OPEN:
                raise ActionRefused(f"Drift report {report.id} is closed: the role is no longer as it reported.")
            if not still_current():
                raise ActionRefused(
                    f"The role's approved state changed since drift report {report.id} (a change was approved and "
                    "carried out): the next drift check compares the role with it."
                )
            previous = self.store.get(current.action_request_id) if current.action_request_id else None
            if previous is not None and previous.status not in RETRYABLE_DRIFT_OUTCOMES:
                raise ActionRefused(
                    Sentence.of(f"{previous.id} already acts on drift report {report.id}; it is {previous.status}.")
                )
            made = self._get(report.made_id)
            busy = [
                r
                for r in self.store.acting_on(made.id)
                if r.status not in FINAL_STATUSES and r.status not in RETRYABLE_DRIFT_OUTCOMES
            ]
            if busy:
                raise ActionRefused(
                    f"{busy[0].id} already asks to {busy[0].kind} {made.role_name}; it is {busy[0].status}."
                )
            record = self.store.create_request(
                self.store.approved_state(made).request,
                user,
                kind=kind,
                target_id=made.id,
                subject=subject,
                risk="high" if high_risk else "normal",
                required_approvals=needed if kind == RequestKind.ACCEPT else 1,
                findings=findings,
            )
            if not self.store.claim_drift_action(report.id, record.id, current.action_request_id):
                raise ActionRefused(f"Drift report {report.id} was acted on meanwhile.")
            if kind == RequestKind.RESTORE:
                approved = self._move(
                    record.id, Status.SUBMITTED, Status.APPROVED, user, EventKind.APPROVED, {"approvers": [user]}
                )
                assert approved is not None, "we hold the write lock and just stored it submitted"
                self.store.enqueue_job(record.id, self.owner, self.lease_seconds)
                record = approved
            return record

    def mark_accepted(self, request_id: str) -> RequestRecord:
        """provisioning -> accepted: the role was still as reported, so its observed state is the approved one now."""
        return self._finish(request_id, Status.ACCEPTED, EventKind.ACCEPTED, {}, result={})

    def mark_restored(self, request_id: str, result: dict[str, Any]) -> RequestRecord:
        """provisioning -> restored, with the calls that put the role back as approved."""
        return self._finish(request_id, Status.RESTORED, EventKind.RESTORED, result, result=result)

    def mark_extended(self, request_id: str) -> RequestRecord:
        """provisioning -> extended, moving the role's expiry; failed if the role expired meanwhile."""
        with self.store.transaction():
            record = self._get(request_id)
            if record.status != Status.PROVISIONING or record.kind != RequestKind.EXTEND:
                raise ActionRefused(f"{request_id} is not an extension being carried out; it can't be marked extended.")
            to = float((record.subject or {})["to"])
            if record.target_id is None or not self.store.extend_expiry(record.target_id, to):
                return self.mark_failed(request_id, f"The role {record.role_name} had already expired.")
            return self._finish(
                request_id, Status.EXTENDED, EventKind.EXTENDED, {"expires_at": to}, result={"expires_at": to}
            )

    def expiry_reminders_due(self, now: float) -> list[RequestRecord]:
        """Created roles whose expiry is near (a quarter of their life, at most ``EXPIRY_REMINDER_LEAD``) and
        whose requester was not told of this expiry yet; each returned once (the event is written first)."""
        due = []
        for candidate in self.store.expiring(now + EXPIRY_REMINDER_LEAD):
            request = candidate.request
            days = request.expires_after_days if isinstance(request, AssumableRoleRequest) else None
            if candidate.expires_at is None or days is None:
                continue
            if now < candidate.expires_at - min(EXPIRY_REMINDER_LEAD, days * DAY / 4):
                continue
            with self.store.transaction():
                record = self._get(candidate.id)
                told = {
                    e.details.get("expires_at")
                    for e in self.store.events(record.id)
                    if e.kind == EventKind.EXPIRY_REMINDED
                }
                if record.expires_at in told or record.expiry_request_id is not None:
                    continue
                self.store.add_event(record.id, BOT_ACTOR, EventKind.EXPIRY_REMINDED, {"expires_at": record.expires_at})
            due.append(record)
        return due

    def _check_approvers(self, account_id: str, requester: str, needed: int) -> None:
        others = self.approvers_for_account(account_id) - {requester}
        if len(others) < needed:
            raise RequestInvalid(
                {
                    "account_id": f"Account {account_id} has {len(others)} approver(s) besides you and "
                    f"this request needs {needed}; ask an admin to add approvers."
                }
            )

    def approve(self, request_id: str, user: str) -> Approval:
        """Record ``user``'s vote; the vote that reaches the required number approves the request.

        The vote, the count and the transition happen in one write transaction, so concurrent votes
        are counted one at a time and the same person's vote counts once.
        """
        approvers = self.approvers_for(self._get(request_id))
        with self.store.transaction():
            record = self._get(request_id)
            refusal = self._approval_refusal(record, user, approvers) or self._not_shown_yet(record)
            if refusal:
                raise ActionRefused(refusal)
            self.store.add_event(record.id, user, EventKind.APPROVAL)
            votes = self._votes(record, approvers)
            completed = len(votes) >= record.required_approvals
            if completed:
                approved = self._move(
                    record.id, Status.SUBMITTED, Status.APPROVED, user, EventKind.APPROVED, {"approvers": votes}
                )
                assert approved is not None, "we hold the write lock and saw the request submitted"
                self.store.enqueue_job(record.id, self.owner, self.lease_seconds)  # ours to claim; others' if we die
                record = approved
            return Approval(record=record, completed=completed, approvals=votes, needed=record.required_approvals)

    def approve_and_claim(self, request_id: str, user: str) -> Approval:
        """``approve``, and when that vote approves, ``claim_provisioning`` in the same write transaction.

        One commit (a disk flush) per approving click instead of two, the same events in the same order.
        A crash after it leaves the job leased to this replica, as ``approve`` alone does (it enqueues the
        job leased to us), so another replica resumes it once the lease runs out.
        """
        with self.store.transaction():
            approval = self.approve(request_id, user)
            if not approval.completed:
                return approval
            return replace(approval, claimed=self.claim_provisioning(request_id, BOT_ACTOR))

    def _not_shown_yet(self, record: RequestRecord) -> Sentence | None:
        """Why nobody may approve a request whose approval message (with the full text of what it cut, in its
        thread) is not in the approvals channel yet: it would be approved unread. None once it is."""
        if record.message_ts or not self.config.settings.approval_channel_id:
            return None
        return Sentence.of(
            f"{record.id} is still being posted in the approvals channel; approve it there once its full text is shown."
        )

    def reject(self, request_id: str, user: str, reason: str) -> RequestRecord:
        """An approver turns the request down; the reason is required and shown to the requester."""
        reason = reason.strip()
        if not reason:
            raise ActionRefused("Say why you are rejecting the request, so the requester can fix it.")
        refusal = self.may_decide(request_id, user)
        if refusal:
            raise ActionRefused(refusal)
        return self._decide(request_id, user, Status.SUBMITTED, Status.REJECTED, EventKind.REJECTED, {"reason": reason})

    def cancel(self, request_id: str, user: str) -> RequestRecord:
        """The requester (or an approver) withdraws a request still awaiting approval."""
        record = self._get(request_id)
        if record.status != Status.SUBMITTED:
            raise ActionRefused(self._outcome(record))
        if user != record.requester and user not in self.approvers_for(record):
            raise ActionRefused(f"Only the requester or an approver can cancel {record.id}.")
        return self._decide(request_id, user, Status.SUBMITTED, Status.CANCELLED, EventKind.CANCELLED)

    def expire_due(self, now: float | None = None) -> list[RequestRecord]:
        """Expire requests that have awaited approval for ``expire_after_hours``."""
        hours = self.config.policy.approvals.expire_after_hours
        cutoff = (self.clock() if now is None else now) - hours * 3600
        expired = []
        for record in self.store.by_status(Status.SUBMITTED, before=cutoff, limit=None):
            moved = self._move(
                record.id, Status.SUBMITTED, Status.EXPIRED, BOT_ACTOR, EventKind.EXPIRED, {"hours": hours}
            )
            if moved:
                expired.append(moved)
        return expired

    def remind_due(self, now: float | None = None) -> list[RequestRecord]:
        """Requests awaiting approval for ``remind_after_hours`` whose approvers were not reminded yet.

        Each gets a ``reminded`` event (checked and written in one transaction), so it is returned once.
        """
        cutoff = (self.clock() if now is None else now) - self.config.policy.approvals.remind_after_hours * 3600
        due = []
        for candidate in self.store.by_status(Status.SUBMITTED, before=cutoff, limit=None):
            with self.store.transaction():
                record = self._get(candidate.id)
                if record.status != Status.SUBMITTED or any(
                    e.kind == EventKind.REMINDED for e in self.store.events(record.id)
                ):
                    continue
                self.store.add_event(record.id, BOT_ACTOR, EventKind.REMINDED)
            due.append(record)
        return due

    # --- provisioning ------------------------------------------------------------------------

    def claim_provisioning(self, request_id: str, actor: str) -> RequestRecord | None:
        """approved -> provisioning, its job leased to this replica (the approving one holds it already); None if
        someone else (another click, another replica's ``resume_interrupted``) got there first."""
        with self.store.transaction():
            if not self.store.claim_job(request_id, self.owner, self.lease_seconds):
                return None
            return self._move(
                request_id, Status.APPROVED, Status.PROVISIONING, actor, EventKind.PROVISIONING, {"owner": self.owner}
            )

    def retry(self, request_id: str, user: str) -> RequestRecord:
        """An approver tries a failed request again (failed -> provisioning); the caller provisions it.

        The same rules as approving: a requester who is also an approver can't retry their own request.
        """
        record = self._get(request_id)
        if record.status != Status.FAILED:
            raise ActionRefused(self._not_retryable(record))
        if user not in self.approvers_for(record):
            raise ActionRefused(self._only_approvers(record, "retry"))
        if user == record.requester:
            raise ActionRefused("You can't retry your own request; another approver has to.")
        with self.store.transaction():
            moved = self._move(
                record.id, Status.FAILED, Status.PROVISIONING, user, EventKind.RETRIED, {"owner": self.owner}
            )
            if moved is None:
                raise ActionRefused(self._not_retryable(self._get(request_id)))
            self.store.enqueue_job(record.id, self.owner, self.lease_seconds)
        return moved

    def _not_retryable(self, record: RequestRecord) -> Sentence:
        retried = [e for e in self.store.events(record.id) if e.kind == EventKind.RETRIED]
        if retried and record.status in (Status.PROVISIONING, Status.CREATED, Status.DELETED):
            return Sentence.of(f"{record.id} was already retried by ", Person(retried[-1].actor), ".")
        return Sentence.of(f"Only a failed request can be retried; {record.id} is {record.status.value}.")

    def changed_since_approval(self, request_id: str) -> str | None:
        """None if the stored request is exactly what was approved (the hash its ``approved`` event holds), else why."""
        return self.store.changed_since(request_id, EventKind.APPROVED)

    def mark_created(self, request_id: str, result: dict[str, Any]) -> RequestRecord:
        """provisioning -> created, with what was made (role_arn, instance_profile_arn, switch_role_url);
        a time-limited role's expiry counts from now."""
        with self.store.transaction():
            created = self._finish(request_id, Status.CREATED, EventKind.CREATED, result, result=result)
            request = created.request
            if isinstance(request, AssumableRoleRequest) and request.expires_after_days:
                created = self.store.set_expiry(request_id, self.clock() + request.expires_after_days * DAY)
            return created

    def mark_deleted(self, request_id: str, result: dict[str, Any]) -> RequestRecord:
        """provisioning -> deleted (a delete request), with what was removed."""
        return self._finish(request_id, Status.DELETED, EventKind.DELETED, result, result=result)

    def mark_failed(self, request_id: str, error: str) -> RequestRecord:
        """provisioning -> failed, with why (an approver may retry)."""
        return self._finish(request_id, Status.FAILED, EventKind.FAILED, {"error": error}, error=error)

    def resume_interrupted(self, actor: str = BOT_ACTOR) -> list[RequestRecord]:
        """The requests whose provisioning job nobody holds, claimed by this replica, each returned once.

        A job nobody holds was never claimed (the replica that approved it died first) or its lease ran
        out (its replica died, or hangs, mid-provisioning; a live one renews its leases, ``renew_leases``).
        Each is leased to this replica in the transaction that moves it on: an approved request is
        claimed (approved -> provisioning), a provisioning one gets a ``resumed`` event. Replicas
        calling this at once each get different requests (the claim is a conditional UPDATE; on
        PostgreSQL the candidates are also locked, ``FOR UPDATE SKIP LOCKED``). The executor is
        idempotent per request id, so a resumed request is safe to redo.
        """
        resumed = []
        for request_id in self.store.claimable_jobs():
            record = self._claim_free_job(request_id, actor)
            if record is not None and record.status == Status.PROVISIONING:
                resumed.append(record)
        return resumed

    def _claim_free_job(self, request_id: str, actor: str) -> RequestRecord | None:
        """Claim a request's job if nobody holds it still, in one write transaction: the request as moved on,
        or None if it was taken meanwhile. A job whose request already has its outcome (none should) is removed.

        On PostgreSQL the free jobs are read ``FOR UPDATE SKIP LOCKED`` in the transaction that claims one.
        """
        with self.store.transaction():
            if request_id not in self.store.claimable_jobs():
                return None
            claimed = self.store.claim_job(request_id, self.owner, self.lease_seconds)
            assert claimed, "we hold the write lock and saw the job free"
            record = self._get(request_id)
            was = record.status
            if was not in (Status.APPROVED, Status.PROVISIONING):
                self.store.finish_job(record.id)
                return record
            if was == Status.APPROVED:
                moved = self._move(
                    record.id, was, Status.PROVISIONING, actor, EventKind.PROVISIONING, {"owner": self.owner}
                )
                assert moved is not None, "we hold the write lock and saw the request approved"
                record = moved
            self.store.add_event(record.id, actor, EventKind.RESUMED, {"owner": self.owner, "from": was.value})
            return record

    def renew_leases(self, request_ids: Collection[str]) -> list[str]:
        """Keep this replica's provisioning jobs its own while it works on them; the ids it still holds."""
        return self.store.renew_leases(request_ids, self.owner, self.lease_seconds)

    # --- held form submissions ----------------------------------------------------------------

    def hold_submission(self, submission: FormSubmission) -> bool:
        """Keep a form submission acked before its checks, leased to this replica; False for a copy of one held."""
        return self.store.hold_submission(submission, self.owner, self.lease_seconds)

    def claim_held_submissions(self) -> list[FormSubmission]:
        """The held submissions nobody holds (their replica stopped, or hangs), leased to this replica: each is
        claimed by one replica, as provisioning jobs are (``resume_interrupted``)."""
        return self.store.claim_held_submissions(self.owner, self.lease_seconds)

    def renew_submission_leases(self, submission_keys: Collection[str]) -> list[str]:
        """Keep the held submissions this replica is checking its own; the keys it still holds."""
        return self.store.renew_submission_leases(submission_keys, self.owner, self.lease_seconds)

    def submission_refused(self, submission_key: str) -> bool:
        """A submission's checks refused it; whether this replica may show that (``Store.submission_refused``)."""
        return self.store.submission_refused(submission_key, self.owner)

    # --- announcing outcomes: the outbox -------------------------------------------------------

    def held_notices(self, request_id: str) -> list[Notice]:
        """The request's outcomes this replica recorded and has still to announce, leased to it again for the send."""
        return self.store.held_notices(request_id, self.owner, self.lease_seconds)

    def claim_notices(self, now: float | None = None, *, limit: int | None = None) -> list[Notice]:
        """Notices nobody holds (their replica died before sending them, or their retry is due), the oldest ``limit``
        (None: all), leased to this replica: each claimed by one replica, as provisioning jobs are."""
        return self.store.claim_notices(self.owner, self.lease_seconds, limit=limit, now=now)

    def renew_notice_leases(self, notice_ids: Collection[int]) -> list[int]:
        """Keep the notices this replica is sending its own (a send may wait out Slack's rate limit); those it holds."""
        return self.store.renew_notice_leases(notice_ids, self.owner, self.lease_seconds)

    def to_announce(self, notice: Notice) -> RequestRecord | None:
        """The request as it is now, if ``notice`` still tells its latest outcome; else None, and the notice is marked
        superseded: the request moved on since (retried, say), and where it is now has a notice of its own or is under
        way, so saying the older outcome would take the request's messages back to a state it left."""
        record = self.store.get(notice.request_id)
        if record is not None and record.status == notice.kind and self.store.latest_notice(record.id) == notice.id:
            return record
        self.store.finish_notice(notice.id, self.owner, "superseded")
        return None

    def made_role_gone(self, record: RequestRecord) -> bool:
        """Whether ``record`` reached an outcome that speaks of its role as there (``ROLE_THERE_STATUSES``: created,
        edited, extended, accepted, restored) and a delete request has deleted that role since: a late announcement says
        it in the request's thread and approval message (its history) and nowhere else, where "your role is ready" (or
        "changed", "extended") would speak of a role that no longer exists."""
        made_id = record.id if record.kind == RequestKind.CREATE else record.target_id
        return (
            record.status in ROLE_THERE_STATUSES
            and made_id is not None
            and any(
                later.kind == RequestKind.DELETE and later.status == Status.DELETED
                for later in self.store.acting_on(made_id)
            )
        )

    def notice_progress(self, notice: Notice, parts_done: int) -> bool:
        """Before the next call of ``notice``: its first ``parts_done`` calls were made (a replica taking it over starts
        after them), and its lease renewed; False if this replica no longer holds it, and must not make the call."""
        return self.store.notice_progress(notice.id, self.owner, parts_done, self.lease_seconds)

    def notice_sent(self, notice: Notice) -> bool:
        """Every call of ``notice`` made; False if another replica took it over meanwhile."""
        return self.store.finish_notice(notice.id, self.owner, "sent")

    def notice_failed(self, notice: Notice, parts_done: int | None, error: str) -> NoticeFailure:
        """A send of ``notice`` failed after its first ``parts_done`` calls: Slack failed the next, or (None: the calls
        as last recorded) the send raised, rendering a message say. ``retry`` (from there, after ``retry_backoff``, by
        whichever replica claims it then), ``given_up`` (``POST_ATTEMPTS`` failed sends), or ``overtaken`` (another
        replica took it over meanwhile: nothing recorded)."""
        failures = notice.attempts + 1
        retry_at = self.clock() + retry_backoff(failures) if failures < POST_ATTEMPTS else None
        if not self.store.notice_failed(notice.id, self.owner, parts_done=parts_done, error=error, retry_at=retry_at):
            return "overtaken"
        return "retry" if retry_at is not None else "given_up"

    # --- helpers -----------------------------------------------------------------------------

    def _get(self, request_id: str) -> RequestRecord:
        record = self.store.get(request_id)
        if record is None:
            raise ActionRefused(no_request(request_id))
        return record

    def _move(
        self,
        request_id: str,
        old: Status,
        new: Status,
        actor: str,
        kind: EventKind,
        details: dict[str, Any],
        **outcome: Any,
    ) -> RequestRecord | None:
        """One status change and its event; a move to an outcome that is announced (``ANNOUNCED_STATUSES``) also
        writes its notice, leased to this replica, in the same transaction (``RoleBot.tell`` sends it)."""
        if new not in TRANSITIONS[old]:
            raise ValueError(f"{old} -> {new} is not a transition")
        with self.store.transaction():
            moved = self.store.transition(
                request_id, expected=old, new=new, actor=actor, kind=kind, details=details, **outcome
            )
            if moved is not None and new in ANNOUNCED_STATUSES:
                self.store.add_notice(request_id, new, self.owner, self.lease_seconds)
            return moved

    def _decide(
        self,
        request_id: str,
        user: str,
        old: Status,
        new: Status,
        kind: EventKind,
        details: dict[str, Any] | None = None,
    ) -> RequestRecord:
        moved = self._move(request_id, old, new, user, kind, details or {})
        if moved is None:
            raise ActionRefused(self._outcome(self._get(request_id)))
        return moved

    def _finish(
        self, request_id: str, new: Status, kind: EventKind, details: dict[str, Any], **outcome: Any
    ) -> RequestRecord:
        with self.store.transaction():
            moved = self._move(request_id, Status.PROVISIONING, new, BOT_ACTOR, kind, details, **outcome)
            if moved is not None:
                self.store.finish_job(request_id)
        if moved is None:
            status = self._get(request_id).status.value
            raise ActionRefused(f"{request_id} is {status}, not provisioning; it can't be marked {new.value}.")
        return moved
