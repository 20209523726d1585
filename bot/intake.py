"""Intake: a submitted form made into the request the bot will carry out, and its review.

Parsing (``bot.domain``), the organisation's guardrails, reading the managed policies' default
versions (cached; see ``bot.catalog``) and the risk review, in that order; anything wrong is a
``RequestInvalid`` with a sentence per field. Fast enough to run before Slack's ack.
"""

from collections.abc import Callable
from typing import Any

from bot.catalog import pin_managed_policies
from bot.choices import Choices
from bot.config import Config
from bot.domain import RequestInvalid, RoleRequest, RoleType, parse_role_request
from bot.guardrails import apply_guardrails, check_guardrails
from bot.review import Finding, Severity, is_high_risk, review


class Intake:
    """Validates and reviews requests against the configuration."""

    def __init__(
        self,
        config: Config,
        choices: Choices,
        *,
        validate_policy: Callable[[str, str], list[dict[str, Any]]] | None = None,
        role_taken: Callable[[str, str], bool | None] | None = None,
    ) -> None:
        self.config = config
        self.choices = choices
        self.validate_policy = validate_policy
        self.role_taken = role_taken
        """``role_taken(account_id, role_name)``: whether the name is taken there (None: could not tell)."""

    def validate(self, data: dict[str, Any]) -> tuple[RoleRequest, list[Finding]]:
        """The request as the bot will carry it out, and its review; ``RequestInvalid`` otherwise."""
        guardrails = self.config.policy.guardrails
        # The partition is the bot's, never the requester's: it overrides whatever the payload says.
        data = {**data, "partition": self.choices.partition}
        request = apply_guardrails(parse_role_request(data, self.config.limits), guardrails)
        errors = self.guardrail_errors(request) or self.name_taken(request)
        if errors:
            raise RequestInvalid(errors)
        request, managed = pin_managed_policies(self.choices.catalog, request)
        findings = review(
            request,
            home_account_id=self.choices.home_account_id,
            known_accounts=self.choices.known_accounts(),
            validate_policy=self.validate_policy,
            managed_policies=managed,
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

    def name_taken(self, request: RoleRequest) -> dict[str, str]:
        """A field error if the target account already has a role of the requested name (AWS names service-linked
        roles itself; the executor checks every request again before it creates anything)."""
        if self.role_taken is None or request.role_type == RoleType.SERVICE_LINKED:
            return {}
        if not self.role_taken(request.account_id, request.role_name):
            return {}
        return {
            "role_name": f"Account {request.account_id} already has a role named {request.role_name} (role names "
            "are unique ignoring case). Choose another name."
        }

    def guardrail_errors(self, request: RoleRequest) -> dict[str, str]:
        """Where the request breaks the guardrails as configured now (checked again before provisioning)."""
        return check_guardrails(request, self.config.policy.guardrails, configured_accounts=self.choices.account_ids())
