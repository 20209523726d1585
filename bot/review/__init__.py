"""The reviewer's view: what a role request lets whom do, as findings an approver can read.

``review`` takes a validated request and returns findings, most severe first. Permissions are read
by our own checks (``permissions``) and by the parliament linter for what it knows better
(``linter``); trust policies by our own checks only (``trust``), which ask a policy evaluator
(``evaluator``) whether hostile callers would get in (``probes``). IAM Access Analyzer
(``access_analyzer``) runs only when a ``validate_policy`` call is injected: this package does no I/O.
"""

from collections.abc import Collection

from bot.domain import RequestInvalid, RoleRequest, ServiceLinkedRoleRequest
from bot.review.access_analyzer import IDENTITY_POLICY, TRUST_POLICY, ValidatePolicy, access_analyzer_findings
from bot.review.findings import Finding, Severity, group_by_severity, is_high_risk, most_severe_first
from bot.review.linter import linter_findings, linter_input, parliament
from bot.review.permissions import managed_policy_findings, permission_findings, service_linked_finding
from bot.review.trust import trust_findings, trust_refusals

__all__ = [
    "IDENTITY_POLICY",
    "TRUST_POLICY",
    "Finding",
    "Severity",
    "group_by_severity",
    "is_high_risk",
    "linter_input",
    "parliament",
    "review",
]


def review(
    request: RoleRequest,
    *,
    home_account_id: str | None = None,
    known_accounts: Collection[str] = (),
    validate_policy: ValidatePolicy | None = None,
) -> list[Finding]:
    """Every finding on a request's permissions and trust, most severe first.

    ``known_accounts`` are the organisation's accounts: a trusted account outside them (and other
    than the target and ``home_account_id``) is a third party. ``validate_policy(document_json,
    policy_type)`` calls IAM Access Analyzer with ``IDENTITY_POLICY`` or ``TRUST_POLICY``.

    Raises ``RequestInvalid`` (one sentence per field) for a trust that must not be submitted at all:
    principals with wildcards or that AWS can't read, Cognito without its identity pool.
    """
    if isinstance(request, ServiceLinkedRoleRequest):
        return [service_linked_finding(request)]
    refusals = trust_refusals(request)
    if refusals:
        raise RequestInvalid(refusals)
    owned = {request.account_id, *known_accounts, *([home_account_id] if home_account_id else [])}
    findings = managed_policy_findings(request.managed_policy_arns, request.account_id)
    if request.inline_policy:
        findings += permission_findings(request.inline_policy, request.account_id)
        findings += linter_findings(request.inline_policy)
    findings += trust_findings(request, owned)
    if validate_policy is not None:
        findings += access_analyzer_findings(request, validate_policy)
    return most_severe_first(findings)
