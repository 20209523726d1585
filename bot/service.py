"""The bot's use cases: submit, approve, reject, cancel, retry, provision, resume and housekeeping.

Listeners call these and render the outcome; nothing here knows about Bolt. Every state change is
committed by the workflow before anything is said in Slack or done in AWS, and the slow part
(AWS) runs on a small thread pool after Slack has had its acknowledgement.
"""

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from blocks import messages, modals
from blocks.cards import RequestCard
from bot.catalog import PolicyCatalog
from bot.config import Config
from bot.domain import SERVICE_PRINCIPALS, RequestInvalid, RoleRequest, parse_role_request
from bot.domain.services import SERVICE_LINKED_ROLE_NAMES
from bot.executor import Executor, ProvisioningError
from bot.guardrails import apply_guardrails, check_guardrails
from bot.notifier import Notifier
from bot.review import Finding, Severity, is_high_risk, review
from bot.store import RequestRecord, Status, Store
from bot.workflow import ActionRefused, Workflow

log = logging.getLogger(__name__)

BOT_ACTOR = "iam-role-bot"
REPOST_AFTER_SECONDS = 60
"""A request still without an approval message this long after submission (Slack failed) is posted again."""


class RoleBot:
    """Wires validation, review, the workflow, the executor and the notifier together."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        workflow: Workflow,
        executor: Executor,
        notifier: Notifier,
        catalog: PolicyCatalog,
        home_account_id: str,
        validate_policy: Callable[[str, str], list[dict[str, Any]]] | None = None,
        workers: int = 4,
    ) -> None:
        self.config = config
        self.store = store
        self.workflow = workflow
        self.executor = executor
        self.notifier = notifier
        self.catalog = catalog
        self.home_account_id = home_account_id
        self.validate_policy = validate_policy
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provision")
        self.announcer = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="announce")
        """Posts that provisioning is under way while the provisioning thread works in AWS."""
        self.pending: set[Future[None]] = set()

    # --- what requesters may ask for -------------------------------------------------------

    def accounts(self) -> list[tuple[str, str]]:
        """Target accounts to offer: (id, label), the configured ones allowed by the guardrails."""
        allowed = self.config.policy.guardrails.allowed_accounts
        configured = [(a.id, f"{a.name} ({a.id})") for a in self.config.policy.accounts]
        if not configured:
            configured = [(self.home_account_id, f"This account ({self.home_account_id})")]
        return [(id_, label) for id_, label in configured if not allowed or id_ in allowed]

    def request_modal(self, role_type: str | None) -> dict[str, Any]:
        return modals.request_modal(role_type, accounts=self.accounts(), service_principals=list(SERVICE_PRINCIPALS))

    def service_choices(self, query: str, *, linked: bool = False) -> list[tuple[str, str]]:
        """Curated service principals matching ``query``, plus what was typed if it looks like one.

        ``linked``: services with a service-linked role (labelled with the role's name) instead of
        services that assume ordinary roles.
        """
        curated = SERVICE_LINKED_ROLE_NAMES.items() if linked else SERVICE_PRINCIPALS
        words = query.lower().split()
        matches = [(f"{label} ({p})", p) for p, label in curated if all(w in f"{p} {label}".lower() for w in words)]
        typed = query.strip().lower()
        if typed.endswith(".amazonaws.com") and typed not in {p for _, p in matches}:
            matches.insert(0, (typed, typed))
        return matches

    def provider_choices(self, account_id: str, kind: str, query: str) -> list[tuple[str, str]]:
        arns = self.catalog.providers(account_id)[kind]
        return [(arn.split("/", 1)[-1], arn) for arn in arns if query.lower() in arn.lower()]

    def known_accounts(self) -> set[str]:
        return {self.home_account_id, *(a.id for a in self.config.policy.accounts)}

    def validate(self, data: dict[str, Any]) -> tuple[RoleRequest, list[Finding]]:
        """The request as the bot will carry it out, and its review; ``RequestInvalid`` otherwise."""
        guardrails = self.config.policy.guardrails
        request = apply_guardrails(parse_role_request(data, self.config.limits), guardrails)
        errors = check_guardrails(request, guardrails, configured_accounts=[a for a, _ in self.accounts()])
        if errors:
            raise RequestInvalid(errors)
        findings = review(
            request,
            home_account_id=self.home_account_id,
            known_accounts=self.known_accounts(),
            validate_policy=self.validate_policy,
        )
        if guardrails.high_risk == "refuse" and is_high_risk(findings):
            refusals: dict[str, str] = {}
            for finding in findings:
                if finding.severity == Severity.HIGH:
                    refusals[finding.concerns] = f"{refusals.get(finding.concerns, '')} {finding.title}.".strip()
            raise RequestInvalid(
                {field: f"{text} Your organisation does not allow this." for field, text in refusals.items()}
            )
        return request, findings

    def submit(self, data: dict[str, Any], requester: str) -> RequestRecord:
        """Validate and record a request (fast: fits in Slack's 3 seconds); announce it later."""
        request, findings = self.validate(data)
        return self.workflow.submit(
            request, requester, findings=[f.to_dict() for f in findings], high_risk=is_high_risk(findings)
        )

    def announce(self, record: RequestRecord) -> RequestRecord:
        """Post a recorded request for approval and confirm it to the requester."""
        return self.notifier.submitted(record)

    # --- what people see ------------------------------------------------------------------

    def cards(self, records: list[RequestRecord]) -> list[RequestCard]:
        return [self.notifier.card(record) for record in records]

    def refusal(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        return messages.refusal(text)

    def status_message(self, request_id: str, user: str) -> tuple[str, list[dict[str, Any]]]:
        """One request and its history, for its requester and its approvers only."""
        record = self.store.get(request_id)
        if record is None or (user != record.requester and user not in self.workflow.approvers_for(record)):
            return messages.refusal(f"No request {request_id} of yours (or awaiting you) was found.")
        events = [
            (e.at, e.actor, e.kind, str(e.details.get("reason") or e.details.get("error") or ""))
            for e in self.store.events(request_id)
        ]
        return messages.request_status(self.notifier.card(record), events)

    def publish_home(self, user: str) -> None:
        awaiting = [r for r in self.store.pending(limit=None) if self.workflow.may_approve(r, user) is None]
        is_approver = bool(awaiting) or any(
            user in self.workflow.approvers_for_account(account) for account, _ in self.accounts()
        )
        self.notifier.publish_home(
            user, mine=self.store.for_requester(user, limit=10), awaiting=awaiting, is_approver=is_approver
        )

    # --- decisions -------------------------------------------------------------------------

    def approve(self, request_id: str, user: str) -> None:
        """Record a vote; at the required number, start provisioning. Raises ``ActionRefused``.

        The vote that approves starts provisioning at once; saying so in Slack (the vote, the
        approval) goes out while AWS works, in the same order as ever.
        """
        approval = self.workflow.approve(request_id, user)
        if not approval.completed:
            self.notifier.approval_recorded(approval.record, user)
            return

        def announce() -> None:
            self.notifier.approval_recorded(approval.record, user)
            self.notifier.approved(approval.record)

        claimed = self.workflow.claim_provisioning(request_id, BOT_ACTOR)
        if claimed:
            self.start(claimed, announce=announce)
        else:
            announce()

    def reject(self, request_id: str, user: str, reason: str) -> None:
        self.notifier.rejected(self.workflow.reject(request_id, user, reason))

    def cancel(self, request_id: str, user: str) -> None:
        try:
            record = self.workflow.cancel(request_id, user)
        except ActionRefused as refused:
            decided = self.store.get(request_id)
            if decided is not None and decided.status != Status.SUBMITTED:
                raise ActionRefused(f"{refused.message} It can no longer be cancelled.") from refused
            raise
        self.notifier.cancelled(record)

    def retry(self, request_id: str, user: str) -> None:
        self.start(self.workflow.retry(request_id, user))

    # --- provisioning ----------------------------------------------------------------------

    def start(
        self, record: RequestRecord, *, resumed: bool = False, announce: Callable[[], None] | None = None
    ) -> None:
        """Provision a request already moved to ``provisioning`` on the pool (``announce``: see ``provision``)."""
        future = self.pool.submit(self.provision, record, resumed=resumed, announce=announce)
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
        try:
            outcome = self._create(record)
        finally:
            try:
                said.result()
            except Exception:
                log.exception("announcing that %s is being provisioned failed", record.id)
        if outcome.status == Status.CREATED:
            self.notifier.created(outcome)
        else:
            self.notifier.failed(outcome)
        return outcome

    def _say_under_way(self, record: RequestRecord, resumed: bool, announce: Callable[[], None] | None) -> None:
        if announce is not None:
            announce()
        self.notifier.provisioning(record, resumed=resumed)

    def _create(self, record: RequestRecord) -> RequestRecord:
        """The request carried out in AWS and marked created, or marked failed with why."""
        try:
            request = record.request
            errors = check_guardrails(
                request, self.config.policy.guardrails, configured_accounts=[a for a, _ in self.accounts()]
            )
            if errors:
                raise ProvisioningError(
                    "The request no longer meets the guardrails: " + " ".join(errors.values()), step="preflight"
                )
            approvers = [e.actor for e in self.store.events(record.id) if e.kind == "approval"]
            result = self.executor.provision(
                request, request_id=record.id, requester=record.requester, approvers=list(dict.fromkeys(approvers))
            )
        except ProvisioningError as error:
            return self.workflow.mark_failed(record.id, error.message)
        except Exception as error:
            log.exception("provisioning %s failed unexpectedly", record.id)
            return self.workflow.mark_failed(record.id, f"Unexpected error ({type(error).__name__}); see the logs.")
        return self.workflow.mark_created(record.id, result.to_dict())

    def resume_interrupted(self) -> list[RequestRecord]:
        """At start-up: carry on with requests a previous process left approved or provisioning."""
        records = self.workflow.resume_interrupted(BOT_ACTOR)
        for record in records:
            self.start(record, resumed=True)
        return records

    def housekeeping(self, now: float | None = None) -> None:
        """Expire requests that waited too long, post those Slack failed to post, remind approvers."""
        now = time.time() if now is None else now
        for record in self.workflow.expire_due(now):
            self.notifier.expired(record)
        for record in self.store.by_status(Status.SUBMITTED, before=now - REPOST_AFTER_SECONDS, limit=None):
            if not record.message_ts:
                self.notifier.post_for_approval(record)
        for record in self.workflow.remind_due(now):
            self.notifier.reminded(record, now)

    def drain(self, timeout: float = 60) -> None:
        """Wait for provisioning under way (tests, the demo, shutdown)."""
        wait(list(self.pending), timeout=timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
        self.announcer.shutdown(wait=True)
