"""Intake: a submitted form made into the request the bot will carry out, and its review.

Parsing (``bot.domain``), the organisation's guardrails, reading the managed policies' default
versions (cached; see ``bot.catalog``) and the risk review, in that order; anything wrong is a
``RequestInvalid`` with a sentence per field.

Two passes, for Slack's clock: ``check_locally`` asks nobody (it runs before the ack, so a form with
field errors gets them back next to its fields), and ``validate`` adds what AWS must answer — is the
role name taken, the managed policies not cached yet, IAM Access Analyzer — asked all at once under
one deadline (``REMOTE_CHECKS_SECONDS``), after the ack. A check that doesn't answer in time is done
without: an unread policy is high risk ("not reviewed"), Access Analyzer's absence is noted, and a role
name not checked is checked again by the executor, which refuses a role it didn't make.
"""

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from bot.catalog import pin_managed_policies
from bot.choices import Choices
from bot.config import Config
from bot.domain import AssumableRoleRequest, RequestInvalid, RoleRequest, parse_role_request
from bot.guardrails import apply_guardrails, check_guardrails
from bot.review import Finding, Severity, analyzed_documents, review
from bot.review.narrowing import CheckNoNewAccess, Narrowing, narrowing
from bot.review.permissions import unread_finding

REMOTE_CHECKS_SECONDS = 10.0
"""One deadline for every remote check of a submission together (they run after Slack's ack)."""
REMOTE_WORKERS = 8


class Intake:
    """Validates and reviews requests against the configuration."""

    def __init__(
        self,
        config: Config,
        choices: Choices,
        *,
        validate_policy: Callable[[str, str], list[dict[str, Any]]] | None = None,
        role_taken: Callable[[str, str], bool | None] | None = None,
        check_no_new_access: CheckNoNewAccess | None = None,
        remote_seconds: float = REMOTE_CHECKS_SECONDS,
    ) -> None:
        self.config = config
        self.choices = choices
        self.validate_policy = validate_policy
        self.role_taken = role_taken
        """``role_taken(account_id, role_name)``: whether the name is taken there (None: could not tell)."""
        self.check_no_new_access = check_no_new_access
        """IAM Access Analyzer's CheckNoNewAccess, asked about an edit (``validate_edit``)."""
        self.remote_seconds = remote_seconds
        self.remote = ThreadPoolExecutor(max_workers=REMOTE_WORKERS, thread_name_prefix="intake-remote")

    def check_locally(self, data: dict[str, Any]) -> bool:
        """What can be said without asking AWS (bounded local work, for before Slack's ack): parsing, guardrails
        and the review of the inline policy, the trust and the managed policies already cached. True if AWS must
        still be asked (``validate``); False if ``validate`` would ask nobody.

        ``RequestInvalid`` per field; reading the managed policies not cached yet starts in the background.
        """
        request = self._parse(data)
        request, managed = pin_managed_policies(self.choices.catalog, request, wait_seconds=0)
        findings = self._review(request, managed, validate_policy=None)
        not_read_yet = {unread_finding(arn) for arn, policy in managed.items() if policy is None}
        self._refuse_high_risk([finding for finding in findings if finding not in not_read_yet])
        return bool(not_read_yet) or self._asks_aws(request)

    def _asks_aws(self, request: RoleRequest) -> bool:
        """Whether ``validate`` (or ``validate_edit``) asks AWS about the name or through Access Analyzer (a
        service-linked role: neither)."""
        remote = (self.role_taken, self.validate_policy, self.check_no_new_access)
        return isinstance(request, AssumableRoleRequest) and any(call is not None for call in remote)

    def validate(self, data: dict[str, Any], *, editing: bool = False) -> tuple[RoleRequest, list[Finding]]:
        """The request as the bot will carry it out, and its full review; ``RequestInvalid`` otherwise.

        Asks AWS (the role name, managed policy documents, Access Analyzer) concurrently, waiting at most
        ``remote_seconds`` for all of them together: run it after Slack's ack. ``editing``: the new state of a
        role that exists (its name is taken by itself, so it is not asked about).
        """
        return self._validate(data, editing=editing, deadline=time.monotonic() + self.remote_seconds)

    def validate_edit(self, data: dict[str, Any], before: RoleRequest) -> tuple[RoleRequest, list[Finding], Narrowing]:
        """``validate`` for the new state of a role the bot made, and whether the change from ``before`` only
        narrows access (``bot.review.narrowing``: asks CheckNoNewAccess, so run it after Slack's ack), all under
        one deadline of ``remote_seconds``."""
        deadline = time.monotonic() + self.remote_seconds
        after, findings = self._validate(data, editing=True, deadline=deadline)
        if not isinstance(before, AssumableRoleRequest) or not isinstance(after, AssumableRoleRequest):
            return after, findings, Narrowing(False)
        check = self.check_no_new_access
        if check is None:
            return after, findings, narrowing(before, after, None)

        def check_in_time(existing: str, new: str, policy_type: str) -> dict[str, Any] | None:
            """CheckNoNewAccess on the remote pool; ``TimeoutError`` (then the bot's comparison decides) if late."""
            return self.remote.submit(check, existing, new, policy_type).result(timeout=left(deadline))

        return after, findings, narrowing(before, after, check_in_time)

    def _validate(self, data: dict[str, Any], *, editing: bool, deadline: float) -> tuple[RoleRequest, list[Finding]]:
        request = self._parse(data)
        name: Future[bool | None] | None = None
        if self.role_taken is not None and isinstance(request, AssumableRoleRequest) and not editing:
            name = self.remote.submit(self.role_taken, request.account_id, request.role_name)
        analyzed: dict[tuple[str, str], Future[list[dict[str, Any]]]] = {}
        if self.validate_policy is not None and isinstance(request, AssumableRoleRequest):
            analyzed = {
                (document, kind): self.remote.submit(self.validate_policy, document, kind)
                for document, kind, _, _ in analyzed_documents(request)
            }
        request, managed = pin_managed_policies(self.choices.catalog, request, wait_seconds=left(deadline))
        if name is not None:
            wait_for([name], timeout=left(deadline))
            if name.done() and name.exception() is None and name.result():
                raise RequestInvalid(self.name_taken_error(request))

        def validate_policy(document: str, kind: str) -> list[dict[str, Any]]:
            """Access Analyzer's answer asked for above; ``TimeoutError`` (noted in the review) if it is late."""
            return analyzed[(document, kind)].result(timeout=left(deadline))

        findings = self._review(request, managed, validate_policy=validate_policy if analyzed else None)
        self._refuse_high_risk(findings)
        return request, findings

    def _parse(self, data: dict[str, Any]) -> RoleRequest:
        """The request parsed, its guardrails applied and checked (``RequestInvalid`` per field)."""
        # The partition is the bot's, never the requester's: it overrides whatever the payload says.
        data = {**data, "partition": self.choices.partition}
        request = apply_guardrails(parse_role_request(data, self.config.limits), self.config.policy.guardrails)
        errors = self.guardrail_errors(request)
        if errors:
            raise RequestInvalid(errors)
        return request

    def _review(
        self,
        request: RoleRequest,
        managed: dict[str, Any],
        *,
        validate_policy: Callable[[str, str], list[dict[str, Any]]] | None,
    ) -> list[Finding]:
        return review(
            request,
            home_account_id=self.choices.home_account_id,
            known_accounts=self.choices.known_accounts(),
            validate_policy=validate_policy,
            managed_policies=managed,
        )

    def _refuse_high_risk(self, findings: list[Finding]) -> None:
        """``RequestInvalid`` on each field with a high finding, where the organisation refuses high risk."""
        if self.config.policy.guardrails.high_risk != "refuse":
            return
        refusals: dict[str, str] = {}
        for finding in findings:
            if finding.severity == Severity.HIGH:
                refusals[finding.concerns] = f"{refusals.get(finding.concerns, '')} {finding.title}.".strip()
        if refusals:
            raise RequestInvalid(
                {field: f"{text} Your organisation does not allow this." for field, text in refusals.items()}
            )

    @staticmethod
    def name_taken_error(request: RoleRequest) -> dict[str, str]:
        """The field error for a role name the target account already has (AWS names service-linked roles itself;
        the executor checks every request again before it creates anything)."""
        return {
            "role_name": f"Account {request.account_id} already has a role named {request.role_name} (role names "
            "are unique ignoring case). Choose another name."
        }

    def guardrail_errors(self, request: RoleRequest) -> dict[str, str]:
        """Where the request breaks the guardrails as configured now (checked again before provisioning)."""
        return check_guardrails(
            request,
            self.config.policy.guardrails,
            configured_accounts=self.choices.account_ids(),
            max_role_days=self.config.max_role_days(request.account_id),
        )

    def shutdown(self) -> None:
        self.remote.shutdown(wait=False, cancel_futures=True)


def left(deadline: float) -> float:
    """Seconds until ``deadline`` (never negative)."""
    return max(0.0, deadline - time.monotonic())
