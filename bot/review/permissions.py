"""Our own checks of what a role may do, on every permissions document alike.

The inline policy and each managed policy's default version (AWS managed or the account's own, read
from IAM by the caller) are read against the catalogue (``catalogue``): every action pattern is
expanded to the actions AWS documents, NotAction to everything else. Deny statements are not
subtracted: a Deny's conditions and resources can't be compared soundly with an Allow's here, and
reporting too much is better than missing a way in. Conditions are ignored (they only ever narrow
an Allow), except that ``iam:PassedToService`` naming services literally narrows iam:PassRole.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.domain import ManagedPolicy, ServiceLinkedRoleRequest
from bot.domain.models import has_wildcard
from bot.domain.policies import as_list
from bot.review import catalogue
from bot.review.findings import Finding, Severity, listing
from bot.review.statements import is_service_wildcard, literal_values


@dataclass(frozen=True)
class Source:
    """Where a document comes from, as the approver reads it, and the form field it belongs to."""

    name: str
    concerns: str


INLINE = Source("The inline policy", "inline_policy")


def managed_source(policy: ManagedPolicy) -> Source:
    return Source(f"The managed policy {policy.name} ({policy.version_id})", "managed_policy_arns")


@dataclass(frozen=True)
class Grant:
    """One Allow statement: the actions it grants (lower case, expanded) and whether on any resource."""

    number: int
    statement: dict[str, Any]
    actions: frozenset[str]
    broad: bool

    def resources(self) -> str:
        """The resources it reaches, in words."""
        if "NotResource" in self.statement:
            return "every resource except " + listing(as_list(self.statement["NotResource"]))
        resources = [str(r) for r in as_list(self.statement.get("Resource", []))]
        return "every resource" if "*" in resources else listing(resources)


def grants_of(policy: dict[str, Any]) -> list[Grant]:
    """The Allow statements, numbered as the requester counts them (from 1)."""
    found = []
    for number, statement in enumerate(as_list(policy.get("Statement", [])), start=1):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            actions = catalogue.all_actions() - catalogue.expand_all([str(a) for a in as_list(statement["NotAction"])])
        else:
            actions = catalogue.expand_all([str(a) for a in as_list(statement.get("Action", []))])
        broad = "NotResource" in statement or any(
            is_broad_resource(str(r)) for r in as_list(statement.get("Resource", []))
        )
        found.append(Grant(number, statement, actions, broad))
    return found


def is_broad_resource(resource: str) -> bool:
    """A wildcard, or a policy variable: ``role/${aws:PrincipalTag/target}`` names whatever the request's
    context holds, which the review can't read off the text
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)."""
    return has_wildcard(resource) or "${" in resource


def granted(grants: list[Grant], actions: frozenset[str]) -> tuple[list[str], str | None]:
    """Which of ``actions`` the grants allow (as AWS spells them), and on which resources in words
    (None: on any resource)."""
    paths = frozenset().union(*catalogue.escalation_paths().values())
    matched = {a for g in grants for a in g.actions & actions}
    hits = [catalogue.spelling(a) for a in sorted(matched, key=lambda a: (a not in paths, a))]
    reaching = [g for g in grants if g.actions & actions]
    if any(g.broad for g in reaching):
        return hits, None
    return hits, named_resources(reaching)


def named_resources(grants: list[Grant]) -> str:
    """The resources some statements name, in words (the broad ones left out)."""
    return listing(str(r) for g in grants if not g.broad for r in as_list(g.statement.get("Resource", [])))


# --- what the catalogue says is risky ----------------------------------------------------------

ORGANISATION_SERVICES = frozenset({"organizations", "account", "sso", "sso-directory", "identitystore"})
SECURITY_SERVICES = frozenset({"cloudtrail", "guardduty", "config", "securityhub"})
SWITCH_OFF_VERBS = ("stop", "delete", "disable", "disassociate", "update", "put")
"""Write actions of the security services that start so can switch off or blind them."""

RUNS_AS_EXISTING_IDENTITY = frozenset(
    {
        "ssm:sendcommand",
        "ssm:startsession",
        "ssm:startautomationexecution",
        "codebuild:startbuild",
        "codebuild:startbuildbatch",
        "codebuild:updateproject",
        "ecs:runtask",
        "ecs:starttask",
        "ecs:executecommand",
        "lambda:updatefunctioncode",
        "lambda:updatefunctionconfiguration",
        "cloudformation:updatestack",
        "cloudformation:createchangeset",
        "cloudformation:executechangeset",
        "cloudformation:updatestackset",
        "ec2:associateiaminstanceprofile",
        "ec2:replaceiaminstanceprofileassociation",
        "ec2-instance-connect:sendsshpublickey",
        "glue:updatedevendpoint",
        "sagemaker:createpresignednotebookinstanceurl",
        "ec2:modifyinstanceattribute",
        "ssm:createassociation",
        "ssm:updateassociation",
        "states:updatestatemachine",
        "glue:updatejob",
        "lambda:addpermission",
    }
)
"""Actions that run code or commands with an identity that already exists (an instance's, a function's,
a stack's service role): the single-action cases cloudsplaining's paths leave out (they list combinations).
The same calls the permissions boundary denies on compute not handed over (docs/aws-rules.md): EC2 user
data (``ModifyInstanceAttribute``, run at the next start), State Manager associations, a state machine's
definition and a Glue job's script all run with the role already attached to them. ``lambda:AddPermission``
grants any account any Lambda action on a function, ``lambda:UpdateFunctionCode`` included
(https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html)."""

ORGANISATION_ADMIN_ROLES = ("OrganizationAccountAccessRole", "AWSControlTowerExecution", "stacksets-exec-")
"""Roles AWS Organizations and Control Tower make in member accounts, with administrator access
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html)."""
ORGANISATION_ADMIN_ROLE_PREFIXES = tuple(name.lower() for name in ORGANISATION_ADMIN_ROLES)
"""Compared ignoring case: IAM role names are unique ignoring case
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html), so ``role/organizationaccountaccessrole``
may well name the same role; reporting it costs nothing."""


NOT_IAM_ESCALATIONS = frozenset({"iam:passrole", "iam:createservicelinkedrole"})
"""IAM writes judged elsewhere (PassRole) or that give nobody power: a service-linked role's trust and
permissions are AWS's, only its service assumes it (many AWS managed policies allow creating them)."""


@dataclass(frozen=True)
class Category:
    """A kind of risky action: high on any resource (or everywhere when ``anywhere``), else a warning."""

    title: str
    explanation: str
    actions: Callable[[], frozenset[str]]
    anywhere: bool = False


CATEGORIES = (
    Category(
        "Can change IAM",
        "It can change IAM roles, users, groups, policies, permissions boundaries or access keys, so it can "
        "give itself or anyone else any permission, up to administrator access.",
        lambda: catalogue.writes_of(frozenset({"iam"})) - NOT_IAM_ESCALATIONS,
    ),
    Category(
        "Can change the organisation or its sign-in",
        "It can change AWS Organizations, IAM Identity Center (SSO) or account settings: accounts, the "
        "policies that limit them, who may sign in to which account with which permissions.",
        lambda: catalogue.writes_of(ORGANISATION_SERVICES),
        anywhere=True,
    ),
    Category(
        "Can switch off security monitoring",
        "It can stop, change or delete CloudTrail, GuardDuty, Config or Security Hub, and so act unseen.",
        lambda: frozenset(
            a for a in catalogue.writes_of(SECURITY_SERVICES) if a.split(":")[1].startswith(SWITCH_OFF_VERBS)
        ),
        anywhere=True,
    ),
    Category(
        "Can run code as an existing identity",
        "It can run commands or code on instances, in containers, functions, builds or stacks that already "
        "exist, and so act with their roles' permissions.",
        lambda: RUNS_AS_EXISTING_IDENTITY,
    ),
)


def category_findings(grants: list[Grant], source: Source) -> list[Finding]:
    findings = []
    for category in CATEGORIES:
        hits, resources = granted(grants, category.actions())
        if not hits:
            continue
        severity = Severity.HIGH if resources is None or category.anywhere else Severity.WARNING
        explanation = f"{source.name} allows {listing(hits)} on {resources or 'any resource'}. {category.explanation}"
        findings.append(Finding(severity, category.title, explanation, source.concerns))
    return findings


def administrator_findings(grants: list[Grant], source: Source, account: str) -> list[Finding]:
    """``*`` actions, NotAction and NotResource with Allow, and ``service:*``."""
    findings = []
    for grant in grants:
        where = f"{source.name}, statement {grant.number},"
        resources = grant.resources()
        actions = [str(a) for a in as_list(grant.statement.get("Action", []))]
        if "*" in actions and ("NotResource" in grant.statement or resources == "every resource"):
            findings.append(
                Finding(
                    Severity.HIGH,
                    "Full administrator access",
                    f'{where} allows every action ("Action": "*") on {resources}, the same as AdministratorAccess: '
                    f"whoever assumes this role can do anything in account {account}, including creating more "
                    "administrators and deleting everything.",
                    source.concerns,
                )
            )
        elif "NotAction" in grant.statement:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "Allows everything except the listed actions",
                    f"{where} uses NotAction with Allow: it allows every action of every AWS service except "
                    f"{listing(as_list(grant.statement['NotAction']))}, on {resources}, including actions AWS adds "
                    "later. List the allowed actions instead.",
                    source.concerns,
                )
            )
        elif "*" in actions:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "Every action of every AWS service",
                    f"{where} allows every action of every AWS service on {resources}. "
                    "List the actions the role needs instead.",
                    source.concerns,
                )
            )
        for service in dict.fromkeys(a.split(":")[0].lower() for a in actions if is_service_wildcard(a)):
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"Every {service} action",
                    f"{where} allows every {service} action ({service}:*) on {resources}, including deleting and "
                    f"reconfiguring, and any action AWS adds to {service} later. List the actions the role needs.",
                    source.concerns,
                )
            )
        if "NotResource" in grant.statement:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "Allows actions on everything except the listed resources",
                    f"{where} uses NotResource with Allow: it allows its actions on {resources} — including "
                    "resources in other accounts and ones created later. List the resources instead.",
                    source.concerns,
                )
            )
    return findings


def pass_role_findings(grants: list[Grant], source: Source) -> list[Finding]:
    """iam:PassRole on any role: to services not named literally (high), or to the named ones (warning).

    ``iam:PassedToService`` names the service a role may be passed to
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html); what PassRole can
    start is judged by the escalation paths.
    """
    findings = []
    passing = [g for g in grants if "iam:passrole" in g.actions]
    unnamed = [g for g in passing if g.broad and literal_values(g.statement, "iam:PassedToService") is None]
    if unnamed:
        findings.append(
            Finding(
                Severity.HIGH,
                "Can pass any role to AWS services",
                f"{source.name} allows iam:PassRole on any role without naming the services literally "
                "(an iam:PassedToService condition with StringEquals): it can hand any role — administrator "
                "roles included — to an AWS service, which then acts with that role's permissions.",
                source.concerns,
            )
        )
    elif passing and any(g.broad for g in passing):
        services = sorted(
            {s for g in passing if g.broad for s in literal_values(g.statement, "iam:PassedToService") or ()}
        )
        findings.append(
            Finding(
                Severity.WARNING,
                "Can pass any role to some AWS services",
                f"{source.name} allows iam:PassRole on any role, to {listing(services)}: those services can then "
                "act with the permissions of any role that trusts them.",
                source.concerns,
            )
        )
    return findings


def assume_role_findings(grants: list[Grant], source: Source) -> list[Finding]:
    """sts:AssumeRole on any role, or on the administrator roles AWS Organizations makes."""
    assuming = [g for g in grants if "sts:assumerole" in g.actions]
    if any(g.broad for g in assuming):
        return [
            Finding(
                Severity.HIGH,
                "Can assume any role",
                f"{source.name} allows sts:AssumeRole on any role: it can switch to every role whose trust "
                "policy allows it — possibly roles with far more permissions, here or in other accounts "
                "(such as OrganizationAccountAccessRole). Name the roles it needs.",
                source.concerns,
            )
        ]
    admin_roles = [
        str(resource)
        for g in assuming
        for resource in as_list(g.statement.get("Resource", []))
        if str(resource).rsplit("/", 1)[-1].lower().startswith(ORGANISATION_ADMIN_ROLE_PREFIXES)
    ]
    if admin_roles:
        return [
            Finding(
                Severity.HIGH,
                "Can assume organisation administrator roles",
                f"{source.name} allows sts:AssumeRole on {listing(admin_roles)}: roles AWS Organizations or "
                "Control Tower make with administrator access to member accounts.",
                source.concerns,
            )
        ]
    return []


PATH_WORDS = {
    ("CreateNewPolicyVersion", "SetExistingDefaultPolicyVersion"): (
        "Can rewrite managed policies",
        "It can publish a new version of a customer managed policy, or make an older version the default, "
        "and so give any permission to every role and user with that policy — itself included.",
    ),
    ("AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy", "PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"): (
        "Can grant permissions to users, groups or roles",
        "It can attach managed policies or write inline policies, so it can give itself or anyone else any "
        "permission, up to AdministratorAccess.",
    ),
    ("UpdateRolePolicyToAssumeIt",): (
        "Can change who may assume roles",
        "It can rewrite a role's trust policy to let itself (or anyone) assume that role, and so take over "
        "the role's permissions.",
    ),
    ("CreateAccessKey",): (
        "Can create access keys for IAM users",
        "It can create an access key for an IAM user and then act as that user, with all of the user's "
        "permissions, for as long as the key exists.",
    ),
    ("CreateLoginProfile", "UpdateLoginProfile"): (
        "Can set console passwords for IAM users",
        "It can give an IAM user a new console password and then sign in as that user, with all of the "
        "user's permissions.",
    ),
    ("AddUserToGroup",): (
        "Can add IAM users to groups",
        "It can add a user it controls to any group, such as an administrators group, and so gain that "
        "group's permissions.",
    ),
    ("EditExistingLambdaFunctionWithRole",): (
        "Can replace the code of Lambda functions",
        "It can replace a function's code with its own; that code then runs with the function's role, so it "
        "gains whatever that role may do.",
    ),
}
"""How some of cloudsplaining's paths read for an approver; the others read as the generic two below."""
TITLES = {path: words for paths, words in PATH_WORDS.items() for path in paths}
PASS_ROLE_WORDS = (
    "Can run code as another role",
    "With iam:PassRole and a way to start something that runs code, it can start it with another role "
    "attached, and run its own code there with that role's permissions.",
)
GENERIC_WORDS = ("Known privilege-escalation path", "A known way to gain permissions the role was not given.")


def escalation_findings(grants: list[Grant], source: Source) -> list[Finding]:
    """cloudsplaining's privilege-escalation paths: high when all of a path is on any resource, else a warning."""
    allowed = frozenset().union(*(g.actions for g in grants)) if grants else frozenset()
    broadly = frozenset().union(*(g.actions for g in grants if g.broad)) if grants else frozenset()
    found: dict[tuple[str, str], tuple[bool, list[str], frozenset[str]]] = {}
    for name, actions in catalogue.escalation_paths().items():
        if not actions <= allowed:
            continue
        words = PASS_ROLE_WORDS if "iam:passrole" in actions else TITLES.get(name, GENERIC_WORDS)
        broad, paths, used = found.get(words, (False, [], frozenset()))
        path = " + ".join(catalogue.spelling(a) for a in sorted(actions))
        link = catalogue.escalation_link(name)
        found[words] = (broad or actions <= broadly, [*paths, f"{path} ({link})"], used | actions)
    findings = []
    for (title, explanation), (broad, paths, used) in found.items():
        where = "" if broad else f", on {named_resources([g for g in grants if g.actions & used])}"
        findings.append(
            Finding(
                Severity.HIGH if broad else Severity.WARNING,
                title,
                f"{explanation} {source.name} allows {listing(paths, limit=4)}{where}.",
                source.concerns,
            )
        )
    return findings


@functools.cache
def reviewed_actions() -> frozenset[str]:
    """Actions our own checks judge (by resource too); the linter's lists leave them out."""
    paths = frozenset().union(*catalogue.escalation_paths().values())
    categories = frozenset().union(*(category.actions() for category in CATEGORIES))
    return paths | categories | {"iam:passrole", "sts:assumerole"}


def permission_findings(policy: dict[str, Any], account: str, source: Source = INLINE) -> list[Finding]:
    """Every check of one permissions document: administrator power, risky actions, escalation paths."""
    grants = grants_of(policy)
    administrator = administrator_findings(grants, source, account)
    if any(finding.title == "Full administrator access" for finding in administrator):
        return administrator
    return [
        *administrator,
        *category_findings(grants, source),
        *pass_role_findings(grants, source),
        *assume_role_findings(grants, source),
        *escalation_findings(grants, source),
    ]


def unread_finding(arn: str) -> Finding:
    """A managed policy whose document could not be read: high until someone has looked at it."""
    return Finding(
        Severity.HIGH,
        "Managed policy not reviewed",
        f"The bot could not read {arn} from IAM in time, so it can't say what it allows: treat it as "
        "administrator access until you have read it (IAM console → Policies), or submit the request again.",
        "managed_policy_arns",
    )


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
