"""The reviewer's view: what a role request lets whom do, as findings an approver can read.

``review`` takes a validated request and returns findings, most severe first. Permissions are read
by our own checks (``permissions``) and by the parliament linter for what it knows better
(``linter``); trust policies by our own checks only (``trust``), which ask a policy evaluator
(``evaluator``) whether hostile callers would get in (``probes``). IAM Access Analyzer
(``access_analyzer``) runs only when a ``validate_policy`` call is injected: this package does no I/O.
"""

from collections.abc import Collection, Mapping

from bot.domain import ManagedPolicy, RequestInvalid, RoleRequest, ServiceLinkedRoleRequest
from bot.review.access_analyzer import (
    IDENTITY_POLICY,
    TRUST_POLICY,
    ValidatePolicy,
    access_analyzer_findings,
    analyzed_documents,
)
from bot.review.findings import Finding, Severity, group_by_severity, is_high_risk, most_severe_first
from bot.review.linter import linter_findings, linter_input, parliament
from bot.review.permissions import managed_source, permission_findings, service_linked_finding, unread_finding
from bot.review.trust import trust_findings, trust_refusals

__all__ = [
    "IDENTITY_POLICY",
    "TRUST_POLICY",
    "Finding",
    "Severity",
    "analyzed_documents",
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
    managed_policies: Mapping[str, ManagedPolicy | None] | None = None,
) -> list[Finding]:
    """Every finding on a request's permissions and trust, most severe first.

    ``known_accounts`` are the organisation's accounts: a trusted account outside them (and other
    than the target and ``home_account_id``) is a third party. ``validate_policy(document_json,
    policy_type)`` calls IAM Access Analyzer with ``IDENTITY_POLICY`` or ``TRUST_POLICY``.
    ``managed_policies`` maps each managed policy ARN to its default version as read from IAM; one
    missing or None could not be read and is high risk until an approver has read it.

    Raises ``RequestInvalid`` (one sentence per field) for a trust that must not be submitted at all:
    principals with wildcards or that AWS can't read, Cognito without its identity pool.
    """
    if isinstance(request, ServiceLinkedRoleRequest):
        return [service_linked_finding(request)]
    refusals = trust_refusals(request)
    if refusals:
        raise RequestInvalid(refusals)
    owned = {request.account_id, *known_accounts, *([home_account_id] if home_account_id else [])}
    findings: list[Finding] = []
    if request.inline_policy:
        findings += permission_findings(request.inline_policy, request.account_id)
        findings += linter_findings(request.inline_policy)
    for arn in request.managed_policy_arns:
        policy = (managed_policies or {}).get(arn)
        if policy is None:
            findings.append(unread_finding(arn))
            continue
        findings += permission_findings(policy.document, request.account_id, managed_source(policy))
        if not policy.aws_managed:
            findings += linter_findings(policy.document, managed_source(policy))
    findings += trust_findings(request, owned)
    if validate_policy is not None:
        findings += access_analyzer_findings(request, validate_policy)
    return most_severe_first(findings)
