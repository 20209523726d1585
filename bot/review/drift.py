"""The review of a drifted role: what the role as AWS has it now lets whom do, read with the same checks as a
request, so a trust opened to everyone or an administrator policy attached in the console is high risk here too.

Pure: the managed policies' documents are passed in. Unlike a request, the state was never validated: the
trust policy may hold what the bot would refuse at submission; that is reported as a high finding instead.
"""

from collections.abc import Collection, Mapping

from bot.domain import CustomTrustRoleRequest, ManagedPolicy
from bot.domain.drift import RoleState
from bot.review.findings import Finding, Severity, most_severe_first
from bot.review.linter import linter_findings
from bot.review.permissions import Source, managed_source, permission_findings, unread_finding
from bot.review.trust import trust_findings, trust_refusals

TRUST = "trust_policy_document"


def drift_findings(
    observed: RoleState,
    approved: RoleState,
    *,
    account_id: str,
    owned: Collection[str],
    managed: Mapping[str, ManagedPolicy | None],
    provenance_keys: Collection[str] = (),
) -> list[Finding]:
    """Every finding on the observed state, most severe first; ``managed`` maps each attached policy's ARN to its
    default version (missing or None: not read, so high until someone reads it); a change of a tag in
    ``provenance_keys`` (how the bot recognises its roles) is a warning."""
    findings = _trust(observed, account_id, owned)
    for name, document in sorted(observed.inline_policies.items()):
        source = Source(f"The inline policy {name}", "inline_policy")
        findings += permission_findings(document, account_id, source) + linter_findings(document, source)
    for arn in observed.managed_policy_arns:
        policy = managed.get(arn)
        if policy is None:
            findings.append(unread_finding(arn))
            continue
        findings += permission_findings(policy.document, account_id, managed_source(policy))
        if not policy.aws_managed:
            findings += linter_findings(policy.document, managed_source(policy))
    if approved.permissions_boundary_arn and observed.permissions_boundary_arn != approved.permissions_boundary_arn:
        findings.append(
            Finding(
                Severity.HIGH,
                "Permissions boundary removed or replaced",
                f"The role was approved bounded by {approved.permissions_boundary_arn}; now it is bounded by "
                f"{observed.permissions_boundary_arn or 'nothing'}. The boundary caps everything its policies grant.",
                "permissions_boundary_arn",
            )
        )
    changed = [key for key in provenance_keys if approved.tags.get(key) != observed.tags.get(key)]
    if changed:
        findings.append(
            Finding(
                Severity.WARNING,
                "The bot's provenance tags changed",
                f"{', '.join(changed)} no longer say(s) what the bot wrote: the bot recognises its roles by them.",
                "tags",
            )
        )
    return most_severe_first(findings)


def _trust(observed: RoleState, account_id: str, owned: Collection[str]) -> list[Finding]:
    """The trust read as a custom trust request's would be (built unvalidated: it is what AWS has)."""
    statements = observed.trust_policy.get("Statement")
    items = statements if isinstance(statements, list) else [statements]
    if any(not isinstance(item, dict) or "Principal" not in item for item in items):
        return [
            Finding(
                Severity.HIGH,
                "Trust policy the bot can't read",
                "A statement names no Principal (NotPrincipal, or another form): whoever it lets in is not "
                "reviewed. Read the trust policy yourself.",
                TRUST,
            )
        ]
    request = CustomTrustRoleRequest.model_construct(
        account_id=account_id,
        justification="",
        role_name=observed.role_name,
        trust_policy_document=observed.trust_policy,
    )
    refused = [
        Finding(Severity.HIGH, "Trust the bot refuses at submission", text, TRUST)
        for text in trust_refusals(request).values()
    ]
    return [*refused, *trust_findings(request, {account_id, *owned})]
