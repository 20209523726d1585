"""Our own checks of what a role may do.

AWS managed policies with administrator-level power, and in the inline policy: wildcards, NotAction /
NotResource and the known privilege-escalation paths, judged by resource and condition too.
"""

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bot.domain import ServiceLinkedRoleRequest
from bot.domain.models import has_wildcard
from bot.domain.policies import as_list
from bot.review.findings import Finding, Severity, listing
from bot.review.statements import has_condition_key, is_service_wildcard

# --- managed policies -------------------------------------------------------------------------

MANAGED_POLICY_RE = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?:.+/)?([^/]+)")

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
    """One high finding per AWS managed policy that gives administrator-level power."""
    findings = []
    for arn in arns:
        match = MANAGED_POLICY_RE.fullmatch(arn)
        if match and match.group(1) in DANGEROUS_MANAGED_POLICIES:
            title, explanation = DANGEROUS_MANAGED_POLICIES[match.group(1)]
            findings.append(Finding(Severity.HIGH, title, explanation.format(account=account), "managed_policy_arns"))
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
    {action.lower() for escalation in ESCALATIONS for action in escalation.actions} | {"iam:passrole", "sts:assumerole"}
)
"""Actions our own checks judge (by resource and condition too); the linter's lists leave them out."""


def allow_statements(policy: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The Allow statements, numbered as the requester counts them (from 1)."""
    statements = enumerate(as_list(policy["Statement"]), start=1)
    return [(number, statement) for number, statement in statements if statement["Effect"] == "Allow"]


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
            Finding(Severity.HIGH if broad else Severity.WARNING, escalation.title, explanation, "inline_policy")
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


# --- service-linked roles ---------------------------------------------------------------------


def service_linked_finding(request: ServiceLinkedRoleRequest) -> Finding:
    """The one finding on a service-linked role: AWS, not the request, says what it may do."""
    return Finding(
        Severity.INFO,
        "Permissions defined by AWS",
        f"{request.aws_service_name} defines this role's trust and permissions and AWS keeps them up to date; "
        "the bot can't show them. The service's documentation lists what the role may do.",
        "aws_service_name",
    )
