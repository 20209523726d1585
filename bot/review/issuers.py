"""Identity providers that serve many customers, and what in a token's subject pins one of them.

A shared (multi-tenant) issuer signs tokens for every organisation that uses it: GitHub Actions
signs one for any workflow in any repository. A role trusting such an issuer is only ours if its
subject condition fixes our organisation or project before any wildcard. Subject formats:

- GitHub: https://docs.github.com/en/actions/reference/openid-connect-reference
- GitLab: https://docs.gitlab.com/ci/secrets/id_token_authentication/
- Bitbucket: https://support.atlassian.com/bitbucket-cloud/docs/integrate-pipelines-with-resource-servers-using-oidc/
- Terraform Cloud:
  https://developer.hashicorp.com/terraform/cloud-docs/workspaces/dynamic-provider-credentials/workload-identity-tokens
- CircleCI: https://circleci.com/docs/openid-connect-tokens/
- Buildkite: https://buildkite.com/docs/agent/v3/cli-oidc

Web identity without an IAM provider (IAM User Guide, "Create a role for OpenID Connect federation"
and "Available keys for AWS web identity federation",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif):
Cognito identity pools, Google, Facebook and Login with Amazon; each token names an application
(audience), which the trust must pin, or every app of that provider gets in.
"""

import re
from dataclasses import dataclass

from bot.review.probes import WILDCARD_RE


@dataclass(frozen=True)
class SharedIssuer:
    """A multi-tenant OIDC issuer: ``tenant`` finds the part of a subject that names one customer."""

    name: str
    host: re.Pattern[str]
    tenant: re.Pattern[str]
    foreign_subject: str
    """A subject the issuer would sign for somebody else's organisation."""

    def pinned_tenant(self, subject: str, *, pattern: bool) -> str | None:
        """The organisation or project a subject fixes before any wildcard (None: it fixes none)."""
        wildcard = WILDCARD_RE.search(subject) if pattern else None
        fixed = subject[: wildcard.start()] if wildcard else subject + ":"
        match = self.tenant.search(fixed)
        return match.group(0) if match else None


SHARED_ISSUERS = (
    SharedIssuer(
        "GitHub Actions",
        re.compile(r"token\.actions\.githubusercontent\.com(/[^/]+)?", re.IGNORECASE),
        re.compile(
            r"^(repo:[^/:]+/|repository:[^/:]+/|job_workflow_ref:[^/:]+/"
            r"|repository_owner:[^:]+:|repository_owner_id:\d+:|repository_id:\d+:)"
        ),
        "repo:outsider-org/outsider-repo:ref:refs/heads/main",
    ),
    SharedIssuer(
        "GitLab.com",
        re.compile(r"gitlab\.com", re.IGNORECASE),
        re.compile(r"^project_path:[^/:]+/"),
        "project_path:outsider-group/outsider-project:ref_type:branch:ref:main",
    ),
    SharedIssuer(
        "Bitbucket Pipelines",
        re.compile(r"api\.bitbucket\.org/2\.0/workspaces/[^/]+/pipelines-config/identity/oidc", re.IGNORECASE),
        re.compile(r"^\{[0-9a-fA-F-]+\}:"),
        "{00000000-0000-4000-8000-0000000000aa}:{00000000-0000-4000-8000-0000000000bb}",
    ),
    SharedIssuer(
        "Terraform Cloud",
        re.compile(r"app\.terraform\.io", re.IGNORECASE),
        re.compile(r"^organization:[^:]+:"),
        "organization:outsider-org:project:Default Project:workspace:ws:run_phase:apply",
    ),
    SharedIssuer(
        "CircleCI",
        re.compile(r"oidc\.circleci\.com/org/[^/]+", re.IGNORECASE),
        re.compile(r"^org/[^/]+/"),
        "org/00000000-outsider/project/00000000-project/user/00000000-user",
    ),
    SharedIssuer(
        "Buildkite",
        re.compile(r"agent\.buildkite\.com", re.IGNORECASE),
        re.compile(r"^organization:[^:]+:"),
        "organization:outsider-org:pipeline:deploy:ref:refs/heads/main:commit:abc:step:deploy",
    ),
    SharedIssuer(
        "Google",
        re.compile(r"accounts\.google\.com", re.IGNORECASE),
        re.compile(r"^\d+:"),
        "100000000000000000001",
    ),
)
TENANT_BREAKER = "-outsider/zz:zz"
"""Put where a subject pattern's first ``*`` is: ends a half-written organisation name with someone else's."""


def shared_issuer(host: str) -> SharedIssuer | None:
    return next((issuer for issuer in SHARED_ISSUERS if issuer.host.fullmatch(host)), None)


@dataclass(frozen=True)
class WebIdentityProvider:
    """A ``Federated`` web identity provider without an IAM provider ARN, and its audience key."""

    name: str
    audience_key: str
    refused_without_audience: bool
    """AWS itself refuses the trust without it (Cognito: "Role trust and permissions" in the Cognito guide)."""


WEB_IDENTITY_PROVIDERS = {
    "cognito-identity.amazonaws.com": WebIdentityProvider(
        "Amazon Cognito identity pools", "cognito-identity.amazonaws.com:aud", True
    ),
    "accounts.google.com": WebIdentityProvider("Google", "accounts.google.com:aud", False),
    "graph.facebook.com": WebIdentityProvider("Facebook", "graph.facebook.com:app_id", False),
    "www.amazon.com": WebIdentityProvider("Login with Amazon", "www.amazon.com:app_id", False),
}
COGNITO = "cognito-identity.amazonaws.com"
COGNITO_AMR = f"{COGNITO}:amr"
