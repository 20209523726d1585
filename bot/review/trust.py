"""Our own checks of who may assume a role, read from its trust policy (parliament is not meant for these).

Principals anyone or a third party controls, whole other accounts, SAML without an audience, OIDC
subjects that let in too much, and services that could be used as a confused deputy.
"""

import re
from typing import Any

from bot.domain import OidcRoleRequest, RoleRequest, UserRoleRequest
from bot.domain.models import GITHUB_OIDC_HOST, github_repo_part, has_wildcard
from bot.domain.policies import as_list
from bot.review.findings import Finding, Severity
from bot.review.statements import condition_entries, has_condition_key

AWS_PRINCIPAL_RE = re.compile(r"(\d{12})|arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)")
OIDC_PROVIDER_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(.+)")

CONFUSED_DEPUTY_SERVICES = frozenset(
    {
        "appstream",
        "appsync",
        "bedrock",
        "codebuild",
        "config",
        "datasync",
        "ecs-tasks",
        "events",
        "iot",
        "personalize",
        "pipes",
        "scheduler",
        "ssm",
        "states",
        "transfer",
    }
)
"""Services whose documentation shows aws:SourceAccount / aws:SourceArn in role trust policies.

Not every service sends these keys when it assumes a role (EC2 and Lambda, for example, do not), and
a trust policy that requires them then breaks the role; so only these are suggested.
"""
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID")


def has_external_id(statement: dict[str, Any]) -> bool:
    return any(
        key == "sts:externalid" and not operator.endswith("IfExists")
        for operator, key, _ in condition_entries(statement)
    )


def requires_mfa(statement: dict[str, Any]) -> bool:
    """MFA enforced: ``Bool aws:MultiFactorAuthPresent true`` (not IfExists) or an MFA age limit."""
    return any(
        (operator == "Bool" and key == "aws:multifactorauthpresent" and [v.lower() for v in values] == ["true"])
        or (operator.startswith("Numeric") and key == "aws:multifactorauthage")
        for operator, key, values in condition_entries(statement)
    )


def trust_concern(request: RoleRequest, value: str = "") -> str:
    """The request field a trusted principal or subject comes from."""
    if isinstance(request, UserRoleRequest):
        return "trusted_principal_arns" if value in request.trusted_principal_arns else "trusted_account_ids"
    if isinstance(request, OidcRoleRequest) and request.github_repo and value not in request.subjects:
        return "github_repo"
    return request.trust_field


def trust_findings(request: RoleRequest, owned: set[str]) -> list[Finding]:
    """Who may assume the role, statement by statement (Allow only)."""
    findings = []
    for statement in request.trust_statements():
        if statement["Effect"] != "Allow":
            continue
        principal = statement["Principal"]
        if principal == "*" or any("*" in as_list(values) for values in principal.values()):
            findings.append(
                Finding(
                    Severity.HIGH,
                    "Anyone can assume this role",
                    'The trust policy names "*" as a principal: any AWS account in the world — any person or '
                    "program with AWS credentials — can assume this role, unless a condition stops them.",
                    trust_concern(request),
                )
            )
            continue
        for value in map(str, as_list(principal.get("AWS", []))):
            findings += account_findings(request, statement, value, owned)
        for value in map(str, as_list(principal.get("Federated", []))):
            if ":saml-provider/" in value and not has_condition_key(statement, "SAML:aud"):
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "SAML audience not checked",
                        "The trust policy does not require SAML:aud, so a SAML assertion the identity provider "
                        "issued for another application could be used for this role. Require SAML:aud = "
                        "https://signin.aws.amazon.com/saml.",
                        trust_concern(request),
                    )
                )
            provider = OIDC_PROVIDER_RE.fullmatch(value)
            if provider:
                findings += subject_findings(request, statement, provider.group(1))
        for value in map(str, as_list(principal.get("Service", []))):
            if value.split(".")[0] in CONFUSED_DEPUTY_SERVICES and not any(
                has_condition_key(statement, key) for key in SOURCE_KEYS
            ):
                findings.append(
                    Finding(
                        Severity.INFO,
                        "No confused-deputy protection",
                        f"{value} supports the aws:SourceAccount and aws:SourceArn conditions in a role's trust "
                        "policy. Without them, another AWS customer could get the service to use this role on "
                        "their behalf. Restrict the role to this account, or give a source ARN.",
                        trust_concern(request),
                    )
                )
    return findings


def account_findings(request: RoleRequest, statement: dict[str, Any], value: str, owned: set[str]) -> list[Finding]:
    """A trusted AWS principal: a third party without an external ID, or a whole other account."""
    match = AWS_PRINCIPAL_RE.fullmatch(value)
    if match is None:
        return []
    account = match.group(1) or match.group(2)
    whole_account = match.group(1) is not None or match.group(3) == "root"
    concern = trust_concern(request, value)
    if account not in owned and not has_external_id(statement):
        return [
            Finding(
                Severity.HIGH,
                "Third-party account without an external ID",
                f"Account {account} is not one of the organisation's accounts. Without an external ID the role "
                "is open to the confused-deputy problem: if that account runs a service for many customers, "
                "another customer could get it to use this role. Ask the third party for the external ID they "
                "assigned to you.",
                concern,
            )
        ]
    if whole_account and account != request.account_id and not (has_external_id(statement) or requires_mfa(statement)):
        return [
            Finding(
                Severity.WARNING,
                "Another whole account can assume this role",
                f"Anyone in account {account} whom that account's administrators allow to call sts:AssumeRole "
                "can assume this role — who exactly is decided there, not here. Name specific roles or users, "
                "or require MFA or an external ID.",
                concern,
            )
        ]
    return []


def subject_findings(request: RoleRequest, statement: dict[str, Any], host: str) -> list[Finding]:
    """An OIDC trust: which workflows or workloads its subject (sub) condition lets in."""
    github = host == GITHUB_OIDC_HOST
    everyone = "any GitHub repository in the world" if github else f"any identity {host} issues tokens for"
    subjects = [
        (value, "Like" in operator)
        for operator, key, values in condition_entries(statement)
        if key == f"{host}:sub".lower()
        for value in values
    ]
    if not subjects:
        return [
            Finding(
                Severity.HIGH,
                "No subject restriction",
                f"The trust has no subject (sub) condition, so {everyone} can assume this role.",
                trust_concern(request),
            )
        ]
    findings = []
    for subject, pattern in subjects:
        if not pattern or not has_wildcard(subject):
            continue
        concern = trust_concern(request, subject)
        repo = github_repo_part(subject)
        if subject.strip("*?") == "":
            findings.append(
                Finding(
                    Severity.HIGH,
                    "Subject matches everything",
                    f"The subject “{subject}” matches every token, so {everyone} can assume this role.",
                    concern,
                )
            )
        elif github and has_wildcard(repo):
            findings.append(
                Finding(Severity.HIGH, "Subject matches many repositories", repositories_text(subject, repo), concern)
            )
        else:
            what = f"every workflow run in {repo}" if github else f"every identity of {host}"
            findings.append(
                Finding(
                    Severity.WARNING,
                    "Subject uses a wildcard",
                    f"The subject “{subject}” matches {what} that fits the pattern — for example any branch or "
                    "pull request, not just reviewed code. Limit it to one branch or environment if you can.",
                    concern,
                )
            )
    return findings


def repositories_text(subject: str, repo: str) -> str:
    """Who a GitHub subject with a wildcard repository lets in, in words."""
    owner, _, name = repo.partition("/")
    if has_wildcard(owner):
        who = f"Anyone who can run a workflow in a GitHub repository matching “{repo}”, in any organisation,"
    elif name.strip("*") == "":
        who = f"Anyone who can run a workflow in any repository of {owner}"
    else:
        who = f"Anyone who can run a workflow in a repository of {owner} matching “{name}”"
    return f"{who} can assume this role (subject “{subject}”), including repositories created later."
