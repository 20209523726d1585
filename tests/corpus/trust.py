"""Trust corpus: role requests as the form sends them, each with the outcome the review must reach.

Outcomes: ``refused`` (a field error at submission), ``high`` (held for two distinct approvers),
``warning`` (the approver is told), ``clean`` (nothing above info). Risky cases come first; the
ones marked "issue 12" are the ones that got through before. Accounts: ``ACCOUNT`` is the target
(and the bot's home), ``OURS`` another configured account, ``THIRD_PARTY`` nobody's we know.
"""

import json
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
OURS = "777788889999"
THIRD_PARTY = "444455556666"
GITHUB = "token.actions.githubusercontent.com"
GITHUB_ENTERPRISE = f"{GITHUB}/acme-enterprise"
GITLAB = "gitlab.com"
BITBUCKET = "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
TERRAFORM = "app.terraform.io"
CIRCLECI = "oidc.circleci.com/org/0b6e3c5a-1111-4222-8333-444455556666"
EKS = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
MAIN = "repo:acme/web:ref:refs/heads/main"
REPO_UUID = "{7d3c1e52-0a5b-4b8e-9d2f-3c4b5a6d7e8f}"
POOL = "us-east-1:0d3f1c2b-4a5e-6f70-8192-a3b4c5d6e7f8"


@dataclass(frozen=True)
class Case:
    name: str
    fields: dict[str, Any]
    expected: str


def form(role_type: str, **fields: Any) -> dict[str, Any]:
    """A request as the modal submits it."""
    return {"role_type": role_type, "account_id": ACCOUNT, "role_name": "corpus", "justification": "Corpus.", **fields}


def custom(*statements: dict[str, Any]) -> dict[str, Any]:
    """A custom trust policy, pasted as JSON text."""
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return form("custom", trust_policy_document=json.dumps(document))


def trust(
    principal: Any, action: str | list[str] = "sts:AssumeRole", condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    return {**statement, "Condition": condition} if condition else statement


def provider(host: str) -> dict[str, str]:
    return {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"}


def oidc(host: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    return trust(provider(host), "sts:AssumeRoleWithWebIdentity", condition)


def github(condition: dict[str, Any] | None, host: str = GITHUB) -> dict[str, Any]:
    return oidc(host, condition)


def aud(host: str = GITHUB, value: str = "sts.amazonaws.com") -> dict[str, str]:
    return {f"{host}:aud": value}


def sub_like(host: str, *subjects: str) -> dict[str, Any]:
    """An audience and subject patterns under one StringLike, as the documentation writes them."""
    return {"StringEquals": aud(host), "StringLike": {f"{host}:sub": list(subjects)}}


def account(principal: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return trust({"AWS": principal}, condition=condition)


def web(provider_host: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return trust({"Federated": provider_host}, "sts:AssumeRoleWithWebIdentity", condition)


def external_id(operator: str, value: Any = "partner-7f3a9c") -> dict[str, Any]:
    return {operator: {"sts:ExternalId": value}}


COGNITO_AUD = {"StringEquals": {"cognito-identity.amazonaws.com:aud": POOL}}
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
THIRD_ROOT = f"arn:aws:iam::{THIRD_PARTY}:root"

RISKY = [
    # --- issue 12, "What got through" ---
    # A GitHub trust without a real sub condition is refused at submission (issue 13, domain), not only rated high.
    Case(
        "issue12 github Null sub false",
        custom(github({"StringEquals": aud(), "Null": {f"{GITHUB}:sub": "false"}})),
        "refused",
    ),
    Case(
        "issue12 github StringNotEquals sub",
        custom(
            github({"StringEquals": aud(), "StringNotEquals": {f"{GITHUB}:sub": "repo:evil/x:ref:refs/heads/main"}})
        ),
        "refused",
    ),
    Case("issue12 cognito without aud", custom(web("cognito-identity.amazonaws.com")), "refused"),
    Case("issue12 google without aud", custom(web("accounts.google.com")), "high"),
    Case("issue12 external id StringLike *", custom(account(THIRD_ROOT, external_id("StringLike", "*"))), "high"),
    Case("issue12 external id Null", custom(account(THIRD_ROOT, {"Null": {"sts:ExternalId": "false"}})), "high"),
    Case("issue12 any account root", custom(account("arn:aws:iam::*:root")), "refused"),
    Case("issue12 any service", custom(trust({"Service": "*.amazonaws.com"})), "refused"),
    Case(
        "issue12 github enterprise repo:*",
        custom(github(sub_like(GITHUB_ENTERPRISE, "repo:*"), GITHUB_ENTERPRISE)),
        "high",
    ),
    Case(
        "issue12 github enterprise repo:* by form, high risk ticked",
        form("oidc", provider=GITHUB_ENTERPRISE, subjects="repo:*", allow_high_risk=True),
        "high",
    ),
    Case("issue12 gitlab project_path:*", custom(oidc(GITLAB, sub_like(GITLAB, "project_path:*"))), "high"),
    Case(
        "issue12 outside account with an external id is shown",
        form("user", trusted_account_ids=THIRD_PARTY, external_id="partner-7f3a9c"),
        "warning",
    ),
    # --- GitHub Actions ---
    Case("github no condition", custom(github(None)), "refused"),
    Case("github audience only", custom(github({"StringEquals": aud()})), "refused"),
    Case("github sub *", custom(github(sub_like(GITHUB, "*"))), "high"),
    Case("github repo:*", custom(github(sub_like(GITHUB, "repo:*"))), "high"),
    Case("github org prefix not closed", custom(github(sub_like(GITHUB, "repo:acme*"))), "high"),
    Case("github single-character org wildcard", custom(github(sub_like(GITHUB, "repo:acm?/web:*"))), "high"),
    Case("github every repository of the org", custom(github(sub_like(GITHUB, "repo:acme/*"))), "high"),
    Case(
        "github StringNotLike sub",
        custom(github({"StringEquals": aud(), "StringNotLike": {f"{GITHUB}:sub": "repo:evil/*"}})),
        "refused",
    ),
    Case(
        "github StringLikeIfExists sub",
        custom(github({"StringEquals": aud(), "StringLikeIfExists": {f"{GITHUB}:sub": f"{MAIN}"}})),
        "refused",
    ),
    Case(
        "github ForAllValues sub",
        custom(github({"StringEquals": aud(), "ForAllValues:StringEquals": {f"{GITHUB}:sub": MAIN}})),
        "refused",
    ),
    Case(
        "github second statement open",
        custom(github({"StringEquals": {**aud(), f"{GITHUB}:sub": MAIN}}), github({"StringEquals": aud()})),
        "refused",
    ),
    Case("github branch wildcard", custom(github(sub_like(GITHUB, "repo:acme/web:*"))), "warning"),
    Case(
        "github form every repository of the org",
        form("oidc", provider=GITHUB, subjects="repo:acme/*", allow_high_risk=True),
        "high",
    ),
    Case("github form no subject, high risk ticked", form("oidc", provider=GITHUB, allow_high_risk=True), "refused"),
    Case("github form any ref of one repository", form("oidc", github_repo="acme/web"), "warning"),
    # --- other shared issuers ---
    Case("gitlab group prefix not closed", custom(oidc(GITLAB, sub_like(GITLAB, "project_path:acme*"))), "high"),
    Case("gitlab no sub", custom(oidc(GITLAB, {"StringEquals": aud(GITLAB, "https://gitlab.com")})), "high"),
    Case("gitlab form project_path:*", form("oidc", provider=GITLAB, subjects="project_path:*"), "high"),
    Case("bitbucket any repository", custom(oidc(BITBUCKET, sub_like(BITBUCKET, "*:*"))), "high"),
    Case(
        "terraform cloud any organisation",
        custom(oidc(TERRAFORM, sub_like(TERRAFORM, "organization:*:project:*:workspace:*:run_phase:*"))),
        "high",
    ),
    Case(
        "terraform cloud org prefix not closed",
        custom(oidc(TERRAFORM, sub_like(TERRAFORM, "organization:acme*"))),
        "high",
    ),
    Case("circleci any org", custom(oidc(CIRCLECI, sub_like(CIRCLECI, "org/*"))), "high"),
    Case("eks any service account", custom(oidc(EKS, sub_like(EKS, "*"))), "high"),
    # --- web identity without an IAM provider ---
    Case(
        "google aud pattern",
        custom(web("accounts.google.com", {"StringLike": {"accounts.google.com:aud": "*"}})),
        "high",
    ),
    Case("facebook without app id", custom(web("graph.facebook.com")), "high"),
    Case(
        "amazon app id negated",
        custom(web("www.amazon.com", {"StringNotEquals": {"www.amazon.com:app_id": "amzn1.application.x"}})),
        "high",
    ),
    Case(
        "cognito aud wildcard",
        custom(web("cognito-identity.amazonaws.com", {"StringLike": {"cognito-identity.amazonaws.com:aud": "*"}})),
        "refused",
    ),
    Case(
        "cognito aud Null",
        custom(web("cognito-identity.amazonaws.com", {"Null": {"cognito-identity.amazonaws.com:aud": "false"}})),
        "refused",
    ),
    Case("cognito without amr", custom(web("cognito-identity.amazonaws.com", COGNITO_AUD)), "high"),
    Case(
        "cognito guest role",
        custom(
            web(
                "cognito-identity.amazonaws.com",
                {**COGNITO_AUD, "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"}},
            )
        ),
        "warning",
    ),
    # --- principals AWS can't take or that let anyone in ---
    Case("principal *", custom(trust("*")), "refused"),
    Case("AWS *", custom(account("*")), "refused"),
    Case("partial wildcard role", custom(account(f"arn:aws:iam::{THIRD_PARTY}:role/*")), "refused"),
    Case("service *", custom(trust({"Service": "*"})), "refused"),
    Case("unparseable AWS principal", custom(account("not-an-arn")), "refused"),
    Case("federated that is no provider", custom(web("login.evil.example")), "refused"),
    Case(
        "canonical user",
        custom(trust({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"})),
        "refused",
    ),
    Case(
        "NotPrincipal",
        custom({"Effect": "Allow", "NotPrincipal": {"AWS": THIRD_ROOT}, "Action": "sts:AssumeRole"}),
        "refused",
    ),
    # --- accounts outside the organisation ---
    Case("third party by form without external id", form("user", trusted_account_ids=THIRD_PARTY), "high"),
    Case(
        "third party role without external id",
        form("user", trusted_principal_arns=f"arn:aws:iam::{THIRD_PARTY}:role/vendor"),
        "high",
    ),
    Case("external id negated", custom(account(THIRD_ROOT, external_id("StringNotEquals", "guess-me"))), "high"),
    Case("external id IfExists", custom(account(THIRD_ROOT, external_id("StringEqualsIfExists"))), "high"),
    Case("external id pattern", custom(account(THIRD_ROOT, external_id("StringLike", "partner-*"))), "high"),
    Case("external id ignoring case", custom(account(THIRD_ROOT, external_id("StringEqualsIgnoreCase"))), "high"),
    Case(
        "external id only in one of two statements",
        custom(account(THIRD_ROOT, external_id("StringEquals")), account(THIRD_ROOT)),
        "high",
    ),
    # --- our other accounts, SAML ---
    Case("another whole account of ours without MFA", form("user", trusted_account_ids=OURS), "warning"),
    Case(
        "MFA only if present",
        custom(account(OURS, {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})),
        "warning",
    ),
    Case("SAML without audience", custom(trust({"Federated": SAML_PROVIDER}, "sts:AssumeRoleWithSAML")), "warning"),
    Case(
        "SAML audience negated",
        custom(
            trust(
                {"Federated": SAML_PROVIDER},
                "sts:AssumeRoleWithSAML",
                {"StringNotEquals": {"SAML:aud": "https://evil.example/saml"}},
            )
        ),
        "warning",
    ),
    # --- redteam: policy variables and operator types (AWS fills ${key} in from the caller's own request) ---
    Case(
        "cognito aud is a policy variable (any identity pool)",
        custom(
            web(
                "cognito-identity.amazonaws.com",
                {
                    "StringEquals": {"cognito-identity.amazonaws.com:aud": "${cognito-identity.amazonaws.com:aud}"},
                    "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
                },
            )
        ),
        "refused",
    ),
    Case(
        "google aud is a policy variable (any app)",
        custom(web("accounts.google.com", {"StringEquals": {"accounts.google.com:aud": "${accounts.google.com:aud}"}})),
        "refused",
    ),
    Case(
        "gitlab sub is a policy variable (any project)",
        custom(
            oidc(
                GITLAB,
                {
                    "StringEquals": aud(GITLAB, "https://gitlab.com"),
                    "StringLike": {f"{GITLAB}:sub": "${gitlab.com:sub}"},
                },
            )
        ),
        "refused",
    ),
    Case(
        "gitlab form sub is a policy variable", form("oidc", provider=GITLAB, subjects="${gitlab.com:sub}"), "refused"
    ),
    Case(
        "google form aud is a policy variable",
        form("oidc", provider="accounts.google.com", audiences="${accounts.google.com:aud}"),
        "refused",
    ),
    Case(
        "github sub twice in different cases (AWS may keep the wide one)",
        custom(
            github({"StringEquals": aud(), "StringLike": {f"{GITHUB}:sub": "repo:acme/web:*", f"{GITHUB}:SUB": "*"}})
        ),
        "refused",
    ),
    Case(
        "operator twice in different cases",
        custom(
            github({"StringEquals": aud(), "StringLike": {f"{GITHUB}:sub": MAIN}, "stringlike": {f"{GITHUB}:sub": "*"}})
        ),
        "refused",
    ),
    Case(
        "external id compared with an empty list (AWS may ignore the condition)",
        custom(account(THIRD_ROOT, external_id("StringEquals", []))),
        "refused",
    ),
    Case("external id compared with null", custom(account(THIRD_ROOT, external_id("StringEquals", None))), "refused"),
    Case(
        "github any repository behind an IpAddress condition",
        custom(
            github(
                {
                    "StringEquals": aud(),
                    "StringLike": {f"{GITHUB}:sub": "*"},
                    "IpAddress": {"aws:SourceIp": "0.0.0.0/0"},
                }
            )
        ),
        "high",
    ),
    Case(
        "outside account behind an IpAddress condition",
        custom(account(THIRD_ROOT, {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}})),
        "high",
    ),
    Case(
        "github any repository under an operator in lower case",
        custom(github({"StringEquals": aud(), "stringlike": {f"{GITHUB}:sub": "*"}})),
        "refused",
    ),
    Case(
        "a role of ours may set its session tags (aws:PrincipalTag)",
        custom(
            account(f"arn:aws:iam::{OURS}:role/deployer"),
            trust({"AWS": f"arn:aws:iam::{OURS}:role/deployer"}, "sts:TagSession"),
        ),
        "warning",
    ),
    Case(
        "github subject names only a reusable workflow (its callers choose their subject template)",
        custom(
            github(
                {
                    "StringEquals": {
                        **aud(),
                        f"{GITHUB}:sub": "job_workflow_ref:acme/pipelines/.github/workflows/deploy.yml@refs/heads/main",
                    }
                }
            )
        ),
        "warning",
    ),
    Case(
        "github sub compared with ArnLike *",
        custom(github({"StringEquals": aud(), "ArnLike": {f"{GITHUB}:sub": "*"}})),
        "high",
    ),
]

BENIGN = [
    Case(
        "github one repository's main branch",
        form("oidc", github_repo="acme/web", github_ref_type="branch", github_ref="main"),
        "clean",
    ),
    Case(
        "github environment",
        form("oidc", github_repo="acme/web", github_ref_type="environment", github_ref="prod"),
        "clean",
    ),
    Case("github pull requests", form("oidc", github_repo="acme/web", github_ref_type="pull_request"), "clean"),
    Case("github custom exact", custom(github({"StringEquals": {**aud(), f"{GITHUB}:sub": MAIN}})), "clean"),
    Case(
        "github literals under one StringLike",
        custom(github(sub_like(GITHUB, MAIN, "repo:acme/web:environment:prod"))),
        "clean",
    ),
    Case(
        "github enterprise exact",
        custom(
            github({"StringEquals": {**aud(GITHUB_ENTERPRISE), f"{GITHUB_ENTERPRISE}:sub": MAIN}}, GITHUB_ENTERPRISE)
        ),
        "clean",
    ),
    Case(
        "github with session tags",
        custom(
            {
                **github({"StringEquals": {**aud(), f"{GITHUB}:sub": MAIN}}),
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            }
        ),
        "clean",
    ),
    Case(
        "SAML read-only by form",
        form("saml", provider_arn=SAML_PROVIDER, managed_policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
        "clean",
    ),
    Case(
        "SAML custom with audience",
        custom(
            trust(
                {"Federated": SAML_PROVIDER},
                "sts:AssumeRoleWithSAML",
                {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            )
        ),
        "clean",
    ),
    Case(
        "cross-account read-only with an external id (outside account: the warning is right)",
        form(
            "user",
            trusted_account_ids=THIRD_PARTY,
            external_id="partner-7f3a9c",
            managed_policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        ),
        "warning",
    ),
    Case(
        "our other account with an external id", form("user", trusted_account_ids=OURS, external_id="ops-2b7d"), "clean"
    ),
    Case("our other account's role", form("user", trusted_principal_arns=f"arn:aws:iam::{OURS}:role/ci"), "clean"),
    Case("our other account with MFA", form("user", trusted_account_ids=OURS, require_mfa=True), "clean"),
    Case("this account", form("user"), "clean"),
    Case("MFA age limit", custom(account(OURS, {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})), "clean"),
    Case(
        "EC2",
        form(
            "service",
            service_principal="ec2.amazonaws.com",
            managed_policy_arns=["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
        ),
        "clean",
    ),
    Case("Lambda", form("service", service_principal="lambda.amazonaws.com"), "clean"),
    Case(
        "ECS tasks restricted to this account",
        form("service", service_principal="ecs-tasks.amazonaws.com", restrict_source_account=True),
        "clean",
    ),
    Case(
        "Step Functions without source (info only)", form("service", service_principal="states.amazonaws.com"), "clean"
    ),
    Case("custom EC2", custom(trust({"Service": "ec2.amazonaws.com"})), "clean"),
    Case("Lambda@Edge", custom(trust({"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]})), "clean"),
    Case(
        "EKS Pod Identity",
        custom(trust({"Service": "pods.eks.amazonaws.com"}, ["sts:AssumeRole", "sts:TagSession"])),
        "clean",
    ),
    Case(
        "cognito signed-in users of one pool",
        custom(
            web(
                "cognito-identity.amazonaws.com",
                {**COGNITO_AUD, "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}},
            )
        ),
        "clean",
    ),
    Case(
        "google one app",
        custom(
            web("accounts.google.com", {"StringEquals": {"accounts.google.com:aud": "1234.apps.googleusercontent.com"}})
        ),
        "clean",
    ),
    Case(
        "gitlab one project's main branch",
        custom(oidc(GITLAB, {"StringEquals": {f"{GITLAB}:sub": "project_path:acme/web:ref_type:branch:ref:main"}})),
        "clean",
    ),
    Case(
        "gitlab projects of our group (wildcard warned)",
        custom(oidc(GITLAB, sub_like(GITLAB, "project_path:acme/*"))),
        "warning",
    ),
    Case(
        "terraform cloud one workspace, any phase (wildcard warned)",
        custom(oidc(TERRAFORM, sub_like(TERRAFORM, "organization:acme:project:infra:workspace:prod:run_phase:*"))),
        "warning",
    ),
    Case(
        "bitbucket one repository, any step (wildcard warned)",
        custom(oidc(BITBUCKET, sub_like(BITBUCKET, f"{REPO_UUID}:*"))),
        "warning",
    ),
    Case(
        "circleci one project, any user (wildcard warned)",
        custom(oidc(CIRCLECI, sub_like(CIRCLECI, "org/0b6e3c5a/project/9f1e/user/*"))),
        "warning",
    ),
    Case(
        "eks one service account",
        custom(
            oidc(
                EKS,
                {"StringEquals": {f"{EKS}:aud": "sts.amazonaws.com", f"{EKS}:sub": "system:serviceaccount:app:web"}},
            )
        ),
        "clean",
    ),
    Case(
        "broad pattern narrowed by a deny",
        custom(
            github(sub_like(GITHUB, "repo:acme/web:*")),
            {
                "Effect": "Deny",
                "Principal": provider(GITHUB),
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringNotEquals": {f"{GITHUB}:sub": MAIN}},
            },
        ),
        "clean",
    ),
]
