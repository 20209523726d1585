"""Drift: the use cases that watch the roles the bot made — a pass over every live role, and the two buttons.

A pass (``check``) reads each role the bot created and has not deleted (``Executor.observe``), compares it
with its last approved state (``approved_state``) by ``bot.domain.drift.differences``, and keeps the store's
reports in step: a new difference is reviewed (``bot.review.drift``), stored and posted once; the same
difference seen again is left alone; a role back as approved closes its report. A role with a request under
way (an edit being made, a deletion) is skipped: it is expected to differ for a moment.

Accept and Restore (``act``) are clicks on a report's buttons: the workflow decides who may, stores the
request and its claim on the report in one transaction, and only then is anything posted or done.
"""

import logging
from dataclasses import dataclass, replace

from bot.choices import Choices
from bot.domain import AssumableRoleRequest
from bot.domain.drift import REPLACED, RoleState, differences, fingerprint
from bot.executor import Executor, ProvisioningError
from bot.executor.iam import PROVENANCE_KEYS, REQUEST_ID_TAG, guessable
from bot.lifecycle import RequestKind, Status
from bot.notifier import Notifier
from bot.review import Finding, is_high_risk
from bot.review.drift import drift_findings
from bot.store import DriftState, RequestRecord, Store
from bot.workflow import ActionRefused, Workflow

log = logging.getLogger(__name__)

DOCUMENT_WAIT_SECONDS = 10.0
"""How long a pass waits for the attached managed policies' documents (the review marks one not read as high)."""
REPORT_ID_SHAPE = "D-"
CHANGING = frozenset({Status.APPROVED, Status.PROVISIONING})
"""A role with a request in one of these is being changed by the bot right now: a pass skips it. A request
waiting for approval or failed (rolled back) changes nothing, so it doesn't stop the watch."""


@dataclass(frozen=True)
class DriftFound:
    """What a pass found about one role, for ``iam-role-bot drift check``."""

    made_id: str
    account_id: str
    role_name: str
    outcome: str
    """``as approved``, ``reported D-n``, ``still D-n``, ``closed D-n``, ``skipped: …``, ``unreadable: …``."""


def made_by(made: RequestRecord) -> dict[str, str]:
    """The provenance tags the role ``made`` created got (as the executor reported them)."""
    return dict(((made.result or {}).get("provenance_tags") or {}).items())


class DriftWatch:
    """Compares the roles the bot made with their approved states, and acts on what it reports."""

    def __init__(
        self, *, store: Store, workflow: Workflow, executor: Executor, notifier: Notifier, choices: Choices
    ) -> None:
        self.store = store
        self.workflow = workflow
        self.executor = executor
        self.notifier = notifier
        self.choices = choices

    def _accepted(self, made: RequestRecord) -> RequestRecord | None:
        """The latest accepted drift of the role, if it came after its latest edit (or its creation)."""
        latest = self.store.approved_state(made)
        accepted = [
            r for r in self.store.acting_on(made.id) if r.kind == RequestKind.ACCEPT and r.status == Status.ACCEPTED
        ]
        return accepted[-1] if accepted and accepted[-1].updated_at >= latest.updated_at else None

    def approved_state(self, made: RequestRecord) -> RoleState | None:
        """The role's last approved state: its latest accepted drift, or else its latest edit (or creation), by
        when each was carried out; None for a role the bot doesn't watch (service-linked: AWS owns it; or its
        deletion outside the bot was accepted). Its RoleId is the one the bot recorded for the role (``made``)."""
        accepted = self._accepted(made)
        if accepted is not None:
            observed = (accepted.subject or {}).get("observed")
            return replace(RoleState.from_dict(observed), role_id=made.role_id) if observed else None
        request = self.store.approved_state(made).request
        if not isinstance(request, AssumableRoleRequest):
            return None
        return replace(RoleState.approved(request, made_by(made)), role_id=made.role_id)

    def _learned(self, made: RequestRecord, observed: RoleState | None) -> RequestRecord:
        """``made`` with the RoleId of its role when none was recorded (a role made before the bot kept it), learned
        from ``observed`` only while that carries the request's tag with its secret nonce: a role whose tag anyone
        could write (no nonce), or that lost it, stays unknown and is recognised by its tag alone, as before."""
        if made.role_id is not None or observed is None or observed.role_id is None:
            return made
        owner = made_by(made).get(REQUEST_ID_TAG)
        if owner is None or guessable(owner) or observed.tags.get(REQUEST_ID_TAG) != owner:
            return made
        self.store.learn_role_id(made.id, observed.role_id)
        return self.store.get(made.id) or made

    def check(self) -> list[DriftFound]:
        """One pass over every live role the bot made (see the module); what it found, role by role."""
        return [self.check_role(made) for made in self.store.live_roles()]

    def check_role(self, made: RequestRecord) -> DriftFound:
        def found(outcome: str) -> DriftFound:
            return DriftFound(made.id, made.account_id, made.role_name, outcome)

        busy = [r for r in self.store.acting_on(made.id) if r.status in CHANGING]
        if busy:
            return found(f"skipped: {busy[0].id} is {busy[0].status}")
        approved = self.approved_state(made)
        if approved is None:
            return found("skipped: service-linked (AWS owns it), or its deletion was accepted")
        try:
            observed = self.executor.observe(made.account_id, approved.role_name)
        except ProvisioningError as error:
            log.warning("drift check of %s in %s failed: %s", made.role_name, made.account_id, error.message)
            return found(f"unreadable: {error.message}")
        approved = replace(approved, role_id=self._learned(made, observed).role_id)
        open_report = self.store.open_drift(made.id)
        found_differences = differences(approved, observed)
        if not found_differences:
            if open_report is None:
                return found("as approved")
            closed = self.store.close_drift(open_report.id, DriftState.RESOLVED)
            if closed is not None:
                self.notifier.drift_resolved(closed)
            return found(f"closed {open_report.id}")
        seen = fingerprint(observed, approved)
        if open_report is not None and open_report.fingerprint == seen:
            return found(f"still {open_report.id}")
        findings = [] if observed is None else self._review(made.account_id, observed, approved)
        report = self.store.report_drift(
            made,
            fingerprint=seen,
            approved=approved.to_dict(),
            observed=observed.to_dict() if observed else None,
            differences=[d.to_dict() for d in found_differences],
            findings=[f.to_dict() for f in findings],
            risk="high" if is_high_risk(findings) else "normal",
        )
        if report is None:  # another pass (a CLI run) stored it meanwhile
            return found("still reported")
        if open_report is not None:
            self.notifier.refresh_drift(open_report.id)
        self.notifier.post_drift(report)
        return found(f"reported {report.id}")

    def _review(self, account_id: str, observed: RoleState, approved: RoleState) -> list[Finding]:
        managed = self.choices.catalog.managed_policies(
            account_id,
            observed.managed_policy_arns,
            wait_seconds=DOCUMENT_WAIT_SECONDS,
            pins=observed.managed_policy_versions,
        )
        return drift_findings(
            observed,
            approved,
            account_id=account_id,
            owned=self.choices.known_accounts(),
            managed=managed,
            provenance_keys=PROVENANCE_KEYS,
        )

    def act(self, report_id: str, user: str, kind: RequestKind) -> RequestRecord:
        """A click on Accept or Restore: the request it makes (``ActionRefused`` if the click may not act)."""
        report = self.store.drift_report(report_id) if report_id.startswith(REPORT_ID_SHAPE) else None
        if report is None:
            raise ActionRefused("There is no such drift report.")
        if kind == RequestKind.RESTORE and report.deleted:
            raise ActionRefused("The role is gone; recreating it is a new request (/iam-role).")
        if report.replaced:
            raise ActionRefused(REPLACED)
        subject = {
            "report_id": report.id,
            "approved": report.approved,
            "observed": report.observed,
            "differences": report.differences,
        }
        if kind == RequestKind.ACCEPT:
            findings, high = report.findings, report.risk == "high"
        else:
            findings = [
                {
                    "severity": "info",
                    "title": "Restores the approved state",
                    "explanation": f"The role goes back to the state approved for {report.made_id} (and its later "
                    "approved changes); an approver's click is enough, as that state was approved already.",
                    "concerns": "role_name",
                }
            ]
            high = False
        reported = RoleState.from_dict(report.approved)

        def still_current() -> bool:
            made = self.store.get(report.made_id)
            approved = self.approved_state(made) if made is not None else None
            return approved is not None and approved.same_as(reported)

        return self.workflow.act_on_drift(
            report, user, kind, subject=subject, findings=findings, high_risk=high, still_current=still_current
        )
