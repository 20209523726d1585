"""Who may assume a role: each principal a trust policy allows, and which strangers would get in with it.

Conditions are not read by the presence of a key but evaluated (``probes``, ``evaluator``): a
condition restricts only if it keeps a hostile caller out — another GitHub organisation, an account
guessing the external id, a token without ``sub``. ``trust_refusals`` lists what can't be submitted
at all (principals with wildcards or that AWS can't read, Cognito without its identity pool);
``trust_findings`` what the approver must know. parliament is not meant for trust policies.
"""

import re
from collections.abc import Collection

from bot.domain import OidcRoleRequest, UserRoleRequest
from bot.domain.github import pins_owner_or_repository
from bot.domain.models import AssumableRoleRequest, github_repo_part, has_wildcard
from bot.domain.policies import as_list
from bot.review.evaluator import Principal
from bot.review.findings import Finding, Severity
from bot.review.issuers import (
    COGNITO,
    COGNITO_AMR,
    TENANT_BREAKER,
    WEB_IDENTITY_PROVIDERS,
    SharedIssuer,
    shared_issuer,
)
from bot.review.probes import admits, condition_values, expand, only_exact_values_pass

AWS_PRINCIPAL_RE = re.compile(
    r"(?P<bare>\d{12})|arn:aws[a-z-]*:(?:iam::(?P<account>\d{12}):(?P<resource>root|(?:user|role)/[\w+=,.@/-]+)"
    r"|sts::(?P<sts>\d{12}):(?:assumed-role|federated-user)/[\w+=,.@/-]+)"
)
SERVICE_PRINCIPAL_RE = re.compile(r"[a-z0-9][a-z0-9.-]*\.(amazonaws\.com|amazonaws\.com\.cn|amazon\.com)")
PROVIDER_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(?P<kind>oidc-provider|saml-provider)/(?P<name>[^*?\s]+)")
OUTSIDER_ACCOUNT = "000000000000"

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


def trust_concern(request: AssumableRoleRequest, value: str = "") -> str:
    """The request field a trusted principal or subject comes from."""
    if isinstance(request, UserRoleRequest):
        return "trusted_principal_arns" if value in request.trusted_principal_arns else "trusted_account_ids"
    if isinstance(request, OidcRoleRequest) and request.github_repo and value not in request.subjects:
        return "github_repo"
    return request.trust_field


def allowed_principals(request: AssumableRoleRequest) -> list[tuple[str, str]]:
    """``(kind, value)`` of every principal an Allow statement of the trust policy names."""
    found: list[tuple[str, str]] = []
    for statement in request.trust_statements():
        if statement["Effect"] != "Allow":
            continue
        principal = statement["Principal"]
        pairs = [("*", "*")] if principal == "*" else [(k, str(v)) for k, vs in principal.items() for v in as_list(vs)]
        found += pairs
    return list(dict.fromkeys(found))


# --- refused at submission ----------------------------------------------------------------------


def trust_refusals(request: AssumableRoleRequest) -> dict[str, str]:
    """Field errors for trust AWS refuses or that lets anyone in: no approver should be asked to sign it."""
    refusals: dict[str, str] = {}
    for kind, value in allowed_principals(request):
        problem = principal_problem(request, kind, value)
        if problem:
            field = trust_concern(request, value)
            refusals[field] = f"{refusals.get(field, '')} {problem}".strip()
    return refusals


def principal_problem(request: AssumableRoleRequest, kind: str, value: str) -> str | None:
    if value == "*":
        return "The principal “*” lets anyone at all assume this role: name the principals that may."
    if "*" in value or "?" in value:
        return (
            f"The {kind} principal “{value}” has a wildcard: it would let in anyone it matches — any account "
            "or any service. Name each principal exactly (AWS refuses wildcards in a role's principals)."
        )
    if kind == "AWS" and not AWS_PRINCIPAL_RE.fullmatch(value):
        return f"“{value}” is not an AWS principal: give an account ID or an IAM user or role ARN."
    if kind == "Service" and not SERVICE_PRINCIPAL_RE.fullmatch(value):
        return f"“{value}” is not an AWS service principal like ec2.amazonaws.com."
    if kind == "CanonicalUser":
        return "A CanonicalUser principal can't assume an IAM role; name an account, role or user."
    if kind == "Federated":
        provider = WEB_IDENTITY_PROVIDERS.get(value)
        if provider is None and not PROVIDER_RE.fullmatch(value):
            return f"“{value}” is not an identity provider: give an IAM SAML or OIDC provider ARN."
        if provider is not None and provider.refused_without_audience and not audience_pinned(request, value):
            return (
                f"A trust for {provider.name} must name the identity pool: require "
                f"{provider.audience_key} = the pool ID with StringEquals (AWS refuses the role otherwise)."
            )
    return None


def audience_pinned(request: AssumableRoleRequest, provider: str) -> bool:
    """Whether only the audiences (app or pool ids) the trust names exactly get in."""
    caller = Principal("Federated", provider)
    key = WEB_IDENTITY_PROVIDERS[provider].audience_key
    return only_exact_values_pass(request.trust_policy(), caller, "sts:AssumeRoleWithWebIdentity", key)


# --- findings for the approver ------------------------------------------------------------------


def trust_findings(request: AssumableRoleRequest, owned: Collection[str]) -> list[Finding]:
    """What the approver must know about who may assume the role, principal by principal.

    Call after ``trust_refusals`` found nothing: principals with wildcards are not looked at here.
    """
    findings: list[Finding] = []
    for kind, value in allowed_principals(request):
        if kind == "AWS":
            findings += account_findings(request, value, owned)
            findings += session_tag_findings(request, value)
        elif kind == "Service":
            findings += service_findings(request, value)
        elif kind == "Federated":
            findings += federated_findings(request, value)
    return findings


def aws_caller(value: str) -> tuple[str, bool, Principal] | None:
    """(account, whether the whole account is trusted, a caller it lets in) for a trusted AWS principal."""
    match = AWS_PRINCIPAL_RE.fullmatch(value)
    if match is None:
        return None
    account = match.group("bare") or match.group("account") or match.group("sts")
    whole_account = match.group("bare") is not None or match.group("resource") == "root"
    return account, whole_account, Principal("AWS", f"arn:aws:iam::{account}:role/any-role" if whole_account else value)


def session_tag_findings(request: AssumableRoleRequest, value: str) -> list[Finding]:
    """An AWS principal allowed sts:TagSession chooses the session's tags, which override the role's own as
    ``aws:PrincipalTag`` (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html): policies that
    grant by tag (attribute-based access) then grant what the caller claims."""
    found = aws_caller(value)
    if found is None or not admits(request.trust_policy(), found[2], "sts:TagSession", {}):
        return []
    return [
        Finding(
            Severity.WARNING,
            "Callers choose the session's tags",
            f"{value} may pass session tags (sts:TagSession): they override the role's tags of the same key as "
            "aws:PrincipalTag, so any policy here that grants access by principal tag grants what the caller "
            "claims. Allow it only if the caller is meant to set them.",
            trust_concern(request, value),
        )
    ]


def account_findings(request: AssumableRoleRequest, value: str, owned: Collection[str]) -> list[Finding]:
    """A trusted AWS principal: outside the organisation (exact external id or not), or a whole other account."""
    found = aws_caller(value)
    if found is None:
        return []
    account, whole_account, caller = found
    concern = trust_concern(request, value)
    exact_external_id = external_id_pinned(request, caller)
    if account not in owned:
        if not exact_external_id:
            return [
                Finding(
                    Severity.HIGH,
                    "Third-party account without an external ID",
                    f"Account {account} is not one of the organisation's accounts, and the trust does not require "
                    "one exact external ID (StringEquals on sts:ExternalId; patterns, Null checks and negations "
                    "don't count). The role is open to the confused-deputy problem: if that account runs a "
                    "service for many customers, another customer could get it to use this role. Ask the third "
                    "party for the external ID they assigned to you.",
                    concern,
                )
            ]
        return [
            Finding(
                Severity.WARNING,
                "Account outside the organisation",
                f"Account {account} is not one of the organisation's accounts: whoever it lets call "
                "sts:AssumeRole with the external ID can use this role. Make sure you know who runs it.",
                concern,
            )
        ]
    if whole_account and account != request.account_id and not (exact_external_id or mfa_required(request, caller)):
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


def external_id_pinned(request: AssumableRoleRequest, caller: Principal) -> bool:
    """Whether only the external ids the trust names exactly get in."""
    return only_exact_values_pass(request.trust_policy(), caller, "sts:AssumeRole", "sts:ExternalId")


def mfa_required(request: AssumableRoleRequest, caller: Principal) -> bool:
    """Whether a session without MFA is kept out (``Bool aws:MultiFactorAuthPresent`` or an MFA age limit)."""
    document = request.trust_policy()
    without_mfa: list[dict[str, str | None]] = [
        {"aws:MultiFactorAuthPresent": None, "aws:MultiFactorAuthAge": None},
        {"aws:MultiFactorAuthPresent": "false", "aws:MultiFactorAuthAge": None},
    ]
    return not any(admits(document, caller, "sts:AssumeRole", fixed) for fixed in without_mfa)


def service_findings(request: AssumableRoleRequest, value: str) -> list[Finding]:
    """A service that would act for another customer (confused deputy) if the trust doesn't check the source."""
    service = value.split(".")[0]
    if service not in CONFUSED_DEPUTY_SERVICES:
        return []
    stranger = {
        "aws:SourceAccount": OUTSIDER_ACCOUNT,
        "aws:SourceArn": f"arn:aws:{service}:us-east-1:{OUTSIDER_ACCOUNT}:outsider",
        "aws:SourceOrgID": "o-outsider",
    }
    if not admits(request.trust_policy(), Principal("Service", value), "sts:AssumeRole", stranger):
        return []
    return [
        Finding(
            Severity.INFO,
            "No confused-deputy protection",
            f"{value} supports the aws:SourceAccount and aws:SourceArn conditions in a role's trust "
            "policy. Without them, another AWS customer could get the service to use this role on "
            "their behalf. Restrict the role to this account, or give a source ARN.",
            trust_concern(request),
        )
    ]


def federated_findings(request: AssumableRoleRequest, value: str) -> list[Finding]:
    provider = PROVIDER_RE.fullmatch(value)
    if provider is not None and provider.group("kind") == "saml-provider":
        return saml_findings(request, value)
    if provider is not None:
        return subject_findings(request, value, provider.group("name"))
    if value in WEB_IDENTITY_PROVIDERS:
        return web_identity_findings(request, value)
    return []


def saml_findings(request: AssumableRoleRequest, value: str) -> list[Finding]:
    foreign = {"SAML:aud": "https://outsider.example.com/saml"}
    if not admits(request.trust_policy(), Principal("Federated", value), "sts:AssumeRoleWithSAML", foreign):
        return []
    return [
        Finding(
            Severity.WARNING,
            "SAML audience not checked",
            "The trust policy does not require SAML:aud, so a SAML assertion the identity provider "
            "issued for another application could be used for this role. Require SAML:aud = "
            "https://signin.aws.amazon.com/saml.",
            trust_concern(request),
        )
    ]


def web_identity_findings(request: AssumableRoleRequest, value: str) -> list[Finding]:
    """Google, Facebook, Amazon: the app id must be pinned. Cognito: say whether guests get in."""
    provider = WEB_IDENTITY_PROVIDERS[value]
    concern = trust_concern(request, value)
    if not audience_pinned(request, value):
        return [
            Finding(
                Severity.HIGH,
                "Any application of the identity provider",
                f"The trust does not require one exact {provider.audience_key}: a token {provider.name} issued "
                "for anybody's application — anyone can make one — can assume this role. Require your app ID "
                "with StringEquals.",
                concern,
            )
        ]
    if value != COGNITO:
        return []
    caller = Principal("Federated", value)
    document = request.trust_policy()
    action = "sts:AssumeRoleWithWebIdentity"
    guests = admits(document, caller, action, {COGNITO_AMR: ["unauthenticated"]})
    signed_in = admits(document, caller, action, {COGNITO_AMR: ["authenticated", COGNITO]})
    if guests and signed_in:
        return [
            Finding(
                Severity.HIGH,
                "Cognito guests and signed-in users alike",
                f"The trust does not check {COGNITO_AMR}: if the identity pool allows guest access, anyone on the "
                'internet can assume this role. Require ForAnyValue:StringLike amr = "authenticated" (or '
                '"unauthenticated" for a role meant for guests).',
                concern,
            )
        ]
    if guests:
        return [
            Finding(
                Severity.WARNING,
                "Cognito guest role",
                "Unauthenticated (guest) identities of the pool can assume this role: anyone on the internet, "
                "if the pool allows guest access. Give it only what a stranger may do.",
                concern,
            )
        ]
    return []


def subject_findings(request: AssumableRoleRequest, provider_arn: str, host: str) -> list[Finding]:
    """An OIDC trust: which workflows or workloads its subject (sub) condition lets in."""
    issuer = shared_issuer(host)
    github = issuer is not None and issuer.name == "GitHub Actions"
    everyone = "any GitHub repository in the world" if github else f"any identity {host} issues tokens for"
    document = request.trust_policy()
    caller = Principal("Federated", provider_arn)
    key = f"{host}:sub".lower()
    action = "sts:AssumeRoleWithWebIdentity"
    concern = trust_concern(request)
    if admits(document, caller, action, {key: None}):
        return [
            Finding(
                Severity.HIGH,
                "No subject restriction",
                f"The trust does not require a subject (sub) that a condition checks, so {everyone} can "
                "assume this role (Null checks, negations and …IfExists don't restrict).",
                concern,
            )
        ]
    if admits(document, caller, action, {key: "outsider-subject"}):
        return [
            Finding(
                Severity.HIGH,
                "Subject matches everything",
                f"The subject condition lets any subject in, so {everyone} can assume this role.",
                concern,
            )
        ]
    subjects = [item for item in condition_values(document) if item.key == key and item.restricts]
    if issuer is not None:
        outsider = foreign_tenant_finding(request, issuer, provider_arn, host, github)
        if outsider is not None:
            return [outsider]
    # An exact subject naming no repository: an organisation whose subject template yields the same claims (e.g.
    # only ``context``) gets a token with exactly this subject. No probe can guess it, so ask the domain's rule.
    # (A literal * or ? in an exact subject is a character GitHub never signs: nobody gets in.)
    exact = [item.value for item in subjects if github and not item.is_pattern and not has_wildcard(item.value)]
    loose = [subject for subject in exact if not pins_owner_or_repository(subject)]
    if loose:
        return [
            Finding(
                Severity.HIGH,
                "Subject does not pin the organisation",
                f"The subject “{loose[0]}” names no repository (repo:ORG/REPO, repository_id) and no owner id "
                "(repository_owner_id): GitHub signs tokens for every organisation, and one whose subject template "
                "yields the same claims can assume this role.",
                trust_concern(request, loose[0]),
            )
        ]
    findings = [
        reusable_workflow_finding(request, item.value)
        for item in subjects
        if github and item.value.lower().startswith("job_workflow_ref:")
    ]
    for item in subjects:
        if not item.is_pattern or not admits(document, caller, action, {key: expand(item.value, "outsider")}):
            continue
        subject = item.value
        concern = trust_concern(request, subject)
        repo = github_repo_part(subject)
        # GitHub's customised subject claims pin a repository or owner id too (the domain's rule, issue 13).
        if github and not pins_owner_or_repository(subject):
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


def reusable_workflow_finding(request: AssumableRoleRequest, subject: str) -> Finding:
    """A GitHub subject that starts with ``job_workflow_ref`` names the reusable workflow, not who calls it.

    Every organisation chooses its own subject template, so one outside ours can make its subjects start with
    ``job_workflow_ref`` too and call our workflow, if its repository is public (or internal, for everyone in
    the enterprise). GitHub's OIDC reference (the ``job_workflow_ref`` claim, customised subject templates):
    https://docs.github.com/en/actions/reference/security/oidc
    """
    return Finding(
        Severity.WARNING,
        "Subject names a reusable workflow, not its caller",
        f"The subject “{subject}” names the reusable workflow, not the repository that runs it: any repository "
        "allowed to call that workflow — every one on GitHub if its repository is public — can get a token with "
        "this subject by choosing the same subject template. Start the subject with repository_owner_id or "
        "repository_id, or keep the workflow's repository private.",
        trust_concern(request, subject),
    )


def foreign_tenant_finding(
    request: AssumableRoleRequest, issuer: SharedIssuer, provider_arn: str, host: str, github: bool
) -> Finding | None:
    """A shared issuer: whether a token of another organisation or project gets in (high risk if so)."""
    document = request.trust_policy()
    key = f"{host}:sub".lower()
    named = [item for item in condition_values(document) if item.key == key and item.restricts]
    own = {issuer.pinned_tenant(item.value, pattern=item.is_pattern) for item in named} - {None}
    probes: list[tuple[str, str | None]] = [
        (expand(item.value, TENANT_BREAKER), item.value) for item in named if item.is_pattern
    ]
    probes.append((issuer.foreign_subject, None))
    caller = Principal("Federated", provider_arn)
    for probe, pattern in probes:
        if issuer.pinned_tenant(probe, pattern=False) in own:
            continue
        if not admits(document, caller, "sts:AssumeRoleWithWebIdentity", {key: probe}):
            continue
        concern = trust_concern(request, pattern or "")
        if github and pattern is not None:
            return Finding(
                Severity.HIGH,
                "Subject matches many repositories",
                repositories_text(pattern, github_repo_part(pattern)),
                concern,
            )
        return Finding(
            Severity.HIGH,
            "Subject does not pin the organisation",
            f"{issuer.name} ({host}) signs tokens for all its customers, and the subject condition does not fix "
            f"your organisation or project before any wildcard: a token of someone else's (e.g. “{probe}”) can "
            "assume this role.",
            concern,
        )
    return None


def repositories_text(subject: str, repo: str) -> str:
    """Who a GitHub subject with a wildcard repository lets in, in words."""
    owner, _, name = repo.partition("/")
    if has_wildcard(owner) or not name:
        who = f"Anyone who can run a workflow in a GitHub repository matching “{repo}”, in any organisation,"
    elif name.strip("*") == "":
        who = f"Anyone who can run a workflow in any repository of {owner}"
    else:
        who = f"Anyone who can run a workflow in a repository of {owner} matching “{name}”"
    return f"{who} can assume this role (subject “{subject}”), including repositories created later."
