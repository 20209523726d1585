"""The reviewer's view: what a role request lets whom do, as findings an approver can read.

``review`` takes a validated request and returns findings, most severe first. Permissions are read
by our own checks (wildcards, the known privilege-escalation paths, NotAction / NotResource) and by
the parliament linter for what it knows better (which actions are writes or can be limited to named
resources, which ones manage permissions or hand out credentials). Trust policies are read by our own
checks only: parliament is not meant for them. IAM Access Analyzer runs only when a ``validate_policy``
call is injected: this module does no I/O.
"""

import functools
import json
import re
import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from types import ModuleType
from typing import Any

from bot.domain import (
    OidcRoleRequest,
    RoleRequest,
    ServiceLinkedRoleRequest,
    UserRoleRequest,
)
from bot.domain.models import GITHUB_OIDC_HOST, github_repo_part, has_wildcard
from bot.domain.policies import as_list

IDENTITY_POLICY = "IDENTITY_POLICY"
"""``validate_policy``'s type for the inline policy (Access Analyzer ``policyType="IDENTITY_POLICY"``)."""
TRUST_POLICY = "AWS::IAM::AssumeRolePolicyDocument"
"""``validate_policy``'s type for the trust policy (``policyType="RESOURCE_POLICY"`` with this
``validatePolicyResourceType``)."""

AWS_PRINCIPAL_RE = re.compile(r"(\d{12})|arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)")
OIDC_PROVIDER_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(.+)")
MANAGED_POLICY_RE = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?:.+/)?([^/]+)")


class Severity(StrEnum):
    """How much a finding matters, ordered: ``info < warning < high``."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


@dataclass(frozen=True)
class Finding:
    """One thing the approver should know; ``concerns`` is the request field it is about."""

    severity: Severity
    title: str
    explanation: str
    concerns: str

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": str(self.severity)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(Severity(data["severity"]), data["title"], data["explanation"], data["concerns"])


def is_high_risk(findings: Iterable[Finding]) -> bool:
    """Whether any finding is high: such requests are refused or need more approvers (guardrails)."""
    return any(finding.severity == Severity.HIGH for finding in findings)


def group_by_severity(findings: Iterable[Finding]) -> list[tuple[Severity, list[Finding]]]:
    """Findings grouped by severity, most severe first, keeping their order; empty groups left out."""
    findings = list(findings)
    groups = [(severity, [f for f in findings if f.severity == severity]) for severity in reversed(Severity)]
    return [(severity, group) for severity, group in groups if group]


def review(
    request: RoleRequest,
    *,
    home_account_id: str | None = None,
    known_accounts: Collection[str] = (),
    validate_policy: Callable[[str, str], list[dict[str, Any]]] | None = None,
) -> list[Finding]:
    """Every finding on a request's permissions and trust, most severe first.

    ``known_accounts`` are the organisation's accounts: a trusted account outside them (and other
    than the target and ``home_account_id``) is a third party. ``validate_policy(document_json,
    policy_type)`` calls IAM Access Analyzer with ``IDENTITY_POLICY`` or ``TRUST_POLICY``.
    """
    if isinstance(request, ServiceLinkedRoleRequest):
        findings = [service_linked_finding(request)]
    else:
        owned = {request.account_id, *known_accounts, *([home_account_id] if home_account_id else [])}
        findings = managed_policy_findings(request.managed_policy_arns, request.account_id)
        if request.inline_policy:
            findings += permission_findings(request.inline_policy, request.account_id)
            findings += linter_findings(request.inline_policy, request.account_id)
        findings += trust_findings(request, owned)
        if validate_policy is not None:
            findings += access_analyzer_findings(request, validate_policy)
    return sorted(dict.fromkeys(findings), key=lambda finding: finding.severity, reverse=True)


def listing(items: Iterable[Any], limit: int = 8) -> str:
    """``a, b and c``, or the first ``limit`` items and how many more."""
    items = list(dict.fromkeys(str(item) for item in items))
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


# --- managed policies -------------------------------------------------------------------------

DANGEROUS_MANAGED_POLICIES = {
    "AdministratorAccess": (
        "Full administrator access",
        "AdministratorAccess allows every action on every resource: whoever assumes this role can do anything "
        "in account {account}, including creating more administrators and deleting everything.",
    ),
    "IAMFullAccess": (
        "Full control of IAM",
        "IAMFullAccess lets the role create users, access keys and roles and attach any policy — including "
        "AdministratorAccess to itself — so in effect it is administrator access to account {account}.",
    ),
    "PowerUserAccess": (
        "Nearly administrator access",
        "PowerUserAccess allows every action except managing IAM and the organisation: the role can read, "
        "change and delete any data and resource in account {account}.",
    ),
    "AWSOrganizationsFullAccess": (
        "Full control of the AWS organisation",
        "AWSOrganizationsFullAccess can create, move and remove accounts and change the policies that limit "
        "them; from the management account that reaches every account of the organisation.",
    ),
}
"""AWS managed policies that give administrator-level power, by name."""


def managed_policy_findings(arns: list[str], account: str) -> list[Finding]:
    findings = []
    for arn in arns:
        match = MANAGED_POLICY_RE.fullmatch(arn)
        if match and match.group(1) in DANGEROUS_MANAGED_POLICIES:
            title, explanation = DANGEROUS_MANAGED_POLICIES[match.group(1)]
            findings.append(
                Finding(Severity.HIGH, title, explanation.format(account=account), "managed_policy_arns")
            )
    return findings


# --- inline policy: our own checks ------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """A known way to gain more permissions than granted, through any one of ``actions``."""

    actions: tuple[str, ...]
    title: str
    explanation: str


ESCALATIONS = (
    Escalation(
        ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"),
        "Can rewrite managed policies",
        "It can publish a new version of a customer managed policy, or make an older version the default, "
        "and so give any permission to every role and user with that policy — itself included.",
    ),
    Escalation(
        (
            "iam:AttachUserPolicy",
            "iam:AttachGroupPolicy",
            "iam:AttachRolePolicy",
            "iam:PutUserPolicy",
            "iam:PutGroupPolicy",
            "iam:PutRolePolicy",
        ),
        "Can grant permissions to users, groups or roles",
        "It can attach managed policies or write inline policies, so it can give itself or anyone else any "
        "permission, up to AdministratorAccess.",
    ),
    Escalation(
        ("iam:UpdateAssumeRolePolicy",),
        "Can change who may assume roles",
        "It can rewrite a role's trust policy to let itself (or anyone) assume that role, and so take over "
        "the role's permissions.",
    ),
    Escalation(
        ("iam:CreateAccessKey",),
        "Can create access keys for IAM users",
        "It can create an access key for an IAM user and then act as that user, with all of the user's "
        "permissions, for as long as the key exists.",
    ),
    Escalation(
        ("iam:CreateLoginProfile", "iam:UpdateLoginProfile"),
        "Can set console passwords for IAM users",
        "It can give an IAM user a new console password and then sign in as that user, with all of the "
        "user's permissions.",
    ),
    Escalation(
        ("iam:AddUserToGroup",),
        "Can add IAM users to groups",
        "It can add a user it controls to any group, such as an administrators group, and so gain that "
        "group's permissions.",
    ),
    Escalation(
        ("lambda:UpdateFunctionCode",),
        "Can replace the code of Lambda functions",
        "It can replace a function's code with its own; that code then runs with the function's role, so it "
        "gains whatever that role may do.",
    ),
)

PASS_ROLE_TARGETS = {
    "ec2:RunInstances": "EC2 instances",
    "lambda:CreateFunction": "Lambda functions",
    "cloudformation:CreateStack": "CloudFormation stacks",
    "glue:CreateDevEndpoint": "Glue development endpoints",
}
"""Actions that, with iam:PassRole, start something that runs with a role of the requester's choice."""

HIGH_RISK_SERVICES = {
    "iam": "giving itself any permission",
    "sts": "assuming other roles",
    "lambda": "running its own code as the functions' roles",
    "glue": "running its own code as the roles of Glue endpoints and jobs",
    "organizations": "managing every account of the organisation",
}
"""Services whose every-action wildcard includes a way to more power (why, in a few words)."""

REVIEWED_ACTIONS = frozenset(
    {action.lower() for escalation in ESCALATIONS for action in escalation.actions}
    | {"iam:passrole", "sts:assumerole"}
)
"""Actions our own checks judge (by resource and condition too); the linter's lists leave them out."""


def allow_statements(policy: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The Allow statements, numbered as the requester counts them (from 1)."""
    statements = enumerate(as_list(policy["Statement"]), start=1)
    return [(number, statement) for number, statement in statements if statement["Effect"] == "Allow"]


def is_service_wildcard(action: str) -> bool:
    return action.endswith(":*")


def grants(policy: dict[str, Any], action: str, *, service_wildcards: bool) -> list[dict[str, Any]]:
    """Allow statements whose Action names ``action``, exactly or by a pattern like ``iam:Attach*``.

    ``"*"`` never counts (it has a finding of its own), nor, unless asked, ``service:*``.
    """
    found = []
    for _, statement in allow_statements(policy):
        patterns = [
            pattern
            for pattern in as_list(statement.get("Action", []))
            if pattern != "*" and (service_wildcards or not is_service_wildcard(pattern))
        ]
        if any(fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns):
            found.append(statement)
    return found


def is_broad(statement: dict[str, Any]) -> bool:
    """Whether a statement reaches resources by wildcard or by exclusion (NotResource)."""
    return "NotResource" in statement or any(has_wildcard(str(r)) for r in as_list(statement.get("Resource", [])))


def scope_of(statements: list[dict[str, Any]]) -> str:
    """The resources some statements reach, in words."""
    if any(is_broad(statement) for statement in statements):
        return "any resource"
    return listing(resource for statement in statements for resource in as_list(statement["Resource"]))


def resource_words(statement: dict[str, Any]) -> str:
    if "NotResource" in statement:
        return "every resource except " + listing(as_list(statement["NotResource"]))
    resources = as_list(statement["Resource"])
    return "every resource" if "*" in resources else listing(resources)


def has_condition_key(statement: dict[str, Any], key: str) -> bool:
    return any(name.lower() == key.lower() for block in statement.get("Condition", {}).values() for name in block)


def permission_findings(policy: dict[str, Any], account: str) -> list[Finding]:
    """Our own checks of an inline policy: wildcards, NotAction / NotResource, escalation paths."""
    return [
        *wildcard_findings(policy, account),
        *escalation_findings(policy),
        *pass_role_findings(policy),
    ]


def wildcard_findings(policy: dict[str, Any], account: str) -> list[Finding]:
    findings = []
    for number, statement in allow_statements(policy):
        where = f"Statement {number}"
        resources = resource_words(statement)
        actions = as_list(statement.get("Action", []))
        if "*" in actions:
            if resources == "every resource":
                explanation = (
                    f'{where} allows "Action": "*" on every resource, the same as AdministratorAccess: whoever '
                    f"assumes this role can do anything in account {account}, including creating more "
                    "administrators and deleting everything."
                )
            else:
                explanation = (
                    f"{where} allows every action of every AWS service on {resources}. "
                    "List the actions the role needs instead."
                )
            findings.append(Finding(Severity.HIGH, "Every action of every AWS service", explanation, "inline_policy"))
        for service in dict.fromkeys(a.split(":")[0].lower() for a in actions if is_service_wildcard(a)):
            reason = HIGH_RISK_SERVICES.get(service)
            explanation = f"{where} allows every {service} action ({service}:*) on {resources}, " + (
                f"including {reason}: that is close to administrator access."
                if reason
                else f"including deleting and reconfiguring, and any action AWS adds to {service} later."
            )
            findings.append(
                Finding(
                    Severity.HIGH if reason else Severity.WARNING,
                    f"Every {service} action",
                    explanation + " List the actions the role needs instead.",
                    "inline_policy",
                )
            )
        if "NotAction" in statement:
            explanation = (
                f"{where} uses NotAction with Allow: it allows every action of every AWS service except "
                f"{listing(as_list(statement['NotAction']))}, on {resources}, including actions AWS adds later. "
                "List the allowed actions instead."
            )
            findings.append(
                Finding(Severity.HIGH, "Allows everything except the listed actions", explanation, "inline_policy")
            )
        if "NotResource" in statement:
            what = listing(actions) if actions else "its actions"
            explanation = (
                f"{where} uses NotResource with Allow: it allows {what} on {resources} — including "
                "resources in other accounts and ones created later. List the resources instead."
            )
            findings.append(
                Finding(
                    Severity.WARNING,
                    "Allows actions on everything except the listed resources",
                    explanation,
                    "inline_policy",
                )
            )
    return findings


def escalation_findings(policy: dict[str, Any]) -> list[Finding]:
    """The single-action escalation paths: high on any resource, a warning on named resources only."""
    findings = []
    for escalation in ESCALATIONS:
        granted = {a: grants(policy, a, service_wildcards=False) for a in escalation.actions}
        granted = {action: statements for action, statements in granted.items() if statements}
        if not granted:
            continue
        statements = [statement for found in granted.values() for statement in found]
        broad = any(is_broad(statement) for statement in statements)
        explanation = f"{escalation.explanation} Allowed: {listing(granted)} on {scope_of(statements)}."
        findings.append(
            Finding(
                Severity.HIGH if broad else Severity.WARNING, escalation.title, explanation, "inline_policy"
            )
        )
    return findings


def pass_role_findings(policy: dict[str, Any]) -> list[Finding]:
    """iam:PassRole and sts:AssumeRole on any role, and PassRole with something that runs code."""
    findings = []
    pass_role = [s for s in grants(policy, "iam:PassRole", service_wildcards=False) if is_broad(s)]
    if any(not has_condition_key(statement, "iam:PassedToService") for statement in pass_role):
        findings.append(
            Finding(
                Severity.HIGH,
                "Can pass any role to AWS services",
                "iam:PassRole on any resource without an iam:PassedToService condition lets it hand any role — "
                "administrator roles included — to an AWS service, which then acts with that role's "
                "permissions. Name the roles it may pass, or limit the services with iam:PassedToService.",
                "inline_policy",
            )
        )
    if any(is_broad(s) for s in grants(policy, "sts:AssumeRole", service_wildcards=False)):
        findings.append(
            Finding(
                Severity.HIGH,
                "Can assume any role",
                "sts:AssumeRole on any resource lets it switch to every role whose trust policy allows it — "
                "possibly roles with far more permissions, here or in other accounts. Name the roles it needs.",
                "inline_policy",
            )
        )
    passers = grants(policy, "iam:PassRole", service_wildcards=True)
    targets = [a for a in PASS_ROLE_TARGETS if grants(policy, a, service_wildcards=True)]
    if passers and targets:
        broad = any(is_broad(statement) for statement in passers)
        roles = "any role in the account" if broad else f"the role {scope_of(passers)}"
        findings.append(
            Finding(
                Severity.HIGH if broad else Severity.WARNING,
                "Can run code as another role",
                f"With iam:PassRole and {listing(targets)} it can start "
                f"{listing(PASS_ROLE_TARGETS[a] for a in targets)} with {roles} attached, and run its own code "
                "there with that role's permissions.",
                "inline_policy",
            )
        )
    return findings


# --- inline policy: the parliament linter -----------------------------------------------------


@dataclass(frozen=True)
class LinterIssue:
    """How one parliament issue code reads as a finding."""

    severity: Severity
    title: str
    explanation: str
    """With ``{details}``: the actions or parliament's own detail, merged over the document."""


LINTER_ISSUES = {
    "RESOURCE_STAR": LinterIssue(
        Severity.WARNING,
        "Changes allowed on every resource",
        '{details} are allowed on every resource ("Resource": "*") though they can be limited to named '
        "resources: the role can change all such resources in the account, not just the ones it needs. "
        "List their ARNs instead.",
    ),
    "PERMISSIONS_MANAGEMENT_ACTIONS": LinterIssue(
        Severity.WARNING,
        "Can change permissions or resource policies",
        "{details} change who may access what (IAM entities, resource policies, grants or shares): the role "
        "could give itself or others access beyond what is reviewed here.",
    ),
    "CREDENTIALS_EXPOSURE": LinterIssue(
        Severity.INFO,
        "Can obtain credentials",
        "{details} return credentials or tokens; whoever holds this role can use them to act as other "
        "identities or to reach other systems.",
    ),
    "PRIVILEGE_ESCALATION": LinterIssue(
        Severity.HIGH,
        "Known privilege-escalation path",
        "{details}: a known way to gain permissions the role was not given.",
    ),
    "UNKNOWN_ACTION": LinterIssue(
        Severity.INFO,
        "Unknown action",
        "{details}: not an action the linter knows. A typo grants nothing (and in a Deny denies nothing); "
        "a new action may just be missing from the linter's list.",
    ),
    "RESOURCE_MISMATCH": LinterIssue(
        Severity.INFO,
        "Resource does not fit the action",
        "{details}; as written, the statement grants nothing for that action.",
    ),
    "BAD_PATTERN_FOR_MFA": LinterIssue(Severity.WARNING, "MFA condition does not enforce MFA", "{details}"),
    "SINGLE_VALUE_CONDITION_TOO_PERMISSIVE": LinterIssue(
        Severity.WARNING,
        "Condition allows more than it seems",
        "A ForAllValues / ForAnyValue operator checks a key that has a single value; such a condition also "
        "matches when the key is missing, so it restricts less than it appears to.",
    ),
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": LinterIssue(
        Severity.WARNING,
        "Can grant itself access through a bucket policy",
        "It may use {details} but not read, write or delete all the objects: it could change the bucket's "
        "policy or ACL to give itself (or anyone) that access.",
    ),
}
LINTER_ISSUES["UNKNOWN_PREFIX"] = LINTER_ISSUES["UNKNOWN_ACTION"]

IGNORED_LINTER_ISSUES = {"NOTRESOURCE_WITH_ALLOW", "EXCEPTION"}
"""Covered by our own checks, or the linter failing (then it is ignored)."""

OWN_ESCALATION_TYPES = {
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "CreateNewPolicyVersion",
    "SetExistingDefaultPolicyVersion",
    "AttachUserPolicy",
    "AttachGroupPolicy",
    "AttachRolePolicy",
    "PutUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "AddUserToGroup",
    "UpdateRolePolicyToAssumeIt",
    "CreateEC2WithExistingIP",
    "PassExistingRoleToNewLambdaThenInvoke",
    "PassExistingRoleToNewLambdaThenTriggerWithNewDynamo",
    "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
    "PassExistingRoleToNewGlueDevEndpoint",
    "PassExistingRoleToCloudFormation",
    "EditExistingLambdaFunctionWithRole",
}
"""parliament's escalation types our own checks already report (with resources taken into account)."""

ACTION_LIST_ISSUES = {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS", "CREDENTIALS_EXPOSURE"}
"""Issues about a list of actions: no finding when none is left once ours are taken out."""
WRITE_ACCESS_LEVELS = {"Write", "Permissions management", "Tagging"}
BUCKET_ESCALATION_RE = re.compile(r"on (?P<bucket>\S+) due to .* but does allow (?P<action>\S+)")


@functools.cache
def parliament() -> ModuleType:
    """parliament, imported on first use (it loads its IAM data and warns while importing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament as module
    return module


@functools.cache
def privileges() -> dict[str, tuple[str, str]]:
    """``service:action`` in lower case to its spelling and access level (Read, Write, ...) in parliament's data."""
    return {
        f"{service['prefix']}:{privilege['privilege']}".lower(): (
            f"{service['prefix']}:{privilege['privilege']}",
            privilege["access_level"],
        )
        for service in parliament().iam_definition
        for privilege in service["privileges"]
    }


def linter_input(policy: dict[str, Any]) -> dict[str, Any] | None:
    """The policy as parliament reads it right, or None when nothing is left for it.

    Left out: NotAction statements (parliament reads them as Action), and ``*`` and ``service:*``
    actions, which have findings of their own and which parliament expands slowly (``*``: seconds).
    """
    statements = []
    for statement in as_list(policy["Statement"]):
        actions = [a for a in as_list(statement.get("Action", [])) if a != "*" and not is_service_wildcard(a)]
        if actions:
            statements.append({**statement, "Action": actions})
    return {"Version": policy["Version"], "Statement": statements} if statements else None


def linter_findings(policy: dict[str, Any], account: str) -> list[Finding]:
    """parliament's issues on an inline policy, mapped to findings; none if it fails."""
    document = linter_input(policy)
    if document is None:
        return []
    try:
        issues = parliament().analyze_policy_string(
            json.dumps(document), include_community_auditors=True, ignore_private_auditors=True
        ).findings
        details = linter_details(issues)
    except Exception:
        return []
    findings = []
    for code, found in details.items():
        meta = parliament().config.get(code, {})
        issue = LINTER_ISSUES.get(code) or LinterIssue(
            Severity.INFO, f"Linter: {meta.get('title', code).strip()}", "{details}"
        )
        explanation = issue.explanation.format(details=listing(found) or meta.get("description") or code)
        findings.append(Finding(issue.severity, issue.title, explanation, "inline_policy"))
    return findings


def linter_details(issues: list[Any]) -> dict[str, list[str]]:
    """What each reported issue code is about, merged over the document, without what we judge ourselves."""
    details: dict[str, list[str]] = {}
    known = privileges()

    def spelled(actions: Iterable[str]) -> list[str]:
        return sorted(known.get(a.lower(), (a, ""))[0] for a in actions if a.lower() not in REVIEWED_ACTIONS)

    for issue in issues:
        code, detail, location = issue.issue, issue.detail, issue.location
        if code in IGNORED_LINTER_ISSUES:
            continue
        if code == "PRIVILEGE_ESCALATION":
            if location["type"] in OWN_ESCALATION_TYPES:
                continue
            found = [" + ".join(known.get(a, (a, ""))[0] for a in location["actions"])]
        elif code in ("PERMISSIONS_MANAGEMENT_ACTIONS", "CREDENTIALS_EXPOSURE"):
            found = spelled(location["actions"])
        elif code == "RESOURCE_STAR":
            found = [a for a in spelled(detail) if known.get(a.lower(), ("", ""))[1] in WRITE_ACCESS_LEVELS]
        elif code == "RESOURCE_POLICY_PRIVILEGE_ESCALATION":
            match = BUCKET_ESCALATION_RE.search(str(detail))
            found = [f"{match['action']} on {match['bucket']}" if match else str(detail)]
        elif code == "RESOURCE_MISMATCH":
            found = [f"{d['action']} needs a resource like {d['required_format']}" for d in detail]
        else:
            found = [str(detail)] if detail else []
        if found or code not in ACTION_LIST_ISSUES:
            details.setdefault(code, []).extend(found)
    return details


# --- trust ------------------------------------------------------------------------------------

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


def condition_entries(statement: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """``(operator, key in lower case, values)`` for every condition of a statement."""
    return [
        (operator, key.lower(), [str(value) for value in as_list(values)])
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    ]


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
                Finding(
                    Severity.HIGH, "Subject matches many repositories", repositories_text(subject, repo), concern
                )
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


def service_linked_finding(request: ServiceLinkedRoleRequest) -> Finding:
    return Finding(
        Severity.INFO,
        "Permissions defined by AWS",
        f"{request.aws_service_name} defines this role's trust and permissions and AWS keeps them up to date; "
        "the bot can't show them. The service's documentation lists what the role may do.",
        "aws_service_name",
    )


# --- IAM Access Analyzer ----------------------------------------------------------------------

ACCESS_ANALYZER_SEVERITY = {
    "ERROR": Severity.HIGH,
    "SECURITY_WARNING": Severity.HIGH,
    "WARNING": Severity.WARNING,
    "SUGGESTION": Severity.INFO,
}


def access_analyzer_findings(
    request: RoleRequest, validate_policy: Callable[[str, str], list[dict[str, Any]]]
) -> list[Finding]:
    """Access Analyzer's findings on both policies; one info finding if it can't be reached."""
    documents = [(request.trust_policy(), TRUST_POLICY, "trust policy", request.trust_field)]
    if request.inline_policy:
        documents.append((request.inline_policy, IDENTITY_POLICY, "inline policy", "inline_policy"))
    findings = []
    for document, policy_type, label, concern in documents:
        try:
            results = validate_policy(json.dumps(document), policy_type)
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
