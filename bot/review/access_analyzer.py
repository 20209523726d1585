"""IAM Access Analyzer's findings on both of a role's policies, through an injected ``validate_policy`` call.

This module does no I/O: ``bot.analyzer`` makes the call.
"""

import json
from collections.abc import Callable
from typing import Any

from bot.domain import AssumableRoleRequest
from bot.review.findings import Finding, Severity

IDENTITY_POLICY = "IDENTITY_POLICY"
"""``validate_policy``'s type for the inline policy (Access Analyzer ``policyType="IDENTITY_POLICY"``)."""
TRUST_POLICY = "AWS::IAM::AssumeRolePolicyDocument"
"""``validate_policy``'s type for the trust policy (``policyType="RESOURCE_POLICY"`` with this
``validatePolicyResourceType``)."""

ValidatePolicy = Callable[[str, str], list[dict[str, Any]]]
"""``validate_policy(document_json, policy_type)``: Access Analyzer's findings on one policy document."""

ACCESS_ANALYZER_SEVERITY = {
    "ERROR": Severity.HIGH,
    "SECURITY_WARNING": Severity.HIGH,
    "WARNING": Severity.WARNING,
    "SUGGESTION": Severity.INFO,
}


def analyzed_documents(request: AssumableRoleRequest) -> list[tuple[str, str, str, str]]:
    """``(document_json, policy_type, label, field)`` of each policy Access Analyzer is asked about: the trust
    policy, and the inline policy if there is one (the intake asks for these ahead of the review, concurrently)."""
    documents = [(json.dumps(request.trust_policy()), TRUST_POLICY, "trust policy", request.trust_field)]
    if request.inline_policy:
        documents.append((json.dumps(request.inline_policy), IDENTITY_POLICY, "inline policy", "inline_policy"))
    return documents


def access_analyzer_findings(request: AssumableRoleRequest, validate_policy: ValidatePolicy) -> list[Finding]:
    """Access Analyzer's findings on both policies; one info finding if it can't be reached (or didn't answer
    in time: ``validate_policy`` raised)."""
    findings = []
    for document, policy_type, label, concern in analyzed_documents(request):
        try:
            results = validate_policy(document, policy_type)
        except Exception as error:
            findings.append(
                Finding(
                    Severity.INFO,
                    "Access Analyzer unavailable",
                    f"IAM Access Analyzer could not check the {label} ({type(error).__name__}); the bot's own "
                    "checks still apply.",
                    concern,
                )
            )
            break
        for result in results:
            code = str(result.get("issueCode", "")).replace("_", " ").capitalize()
            link = f" ({result['learnMoreLink']})" if result.get("learnMoreLink") else ""
            findings.append(
                Finding(
                    ACCESS_ANALYZER_SEVERITY.get(result.get("findingType", ""), Severity.INFO),
                    f"Access Analyzer: {code}",
                    f"In the {label}: {result.get('findingDetails', '')}{link}",
                    concern,
                )
            )
    return findings
