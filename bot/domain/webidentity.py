"""Web identity providers AWS trusts without an IAM OIDC provider: Cognito identity pools, Login with Amazon,
Facebook and Google.

Their trust names the provider itself as the ``Federated`` principal and pins your app (or identity pool)
with the provider's own condition key, as the IAM User Guide's role wizard writes it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html; keys:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif).
Cognito: https://docs.aws.amazon.com/cognito/latest/developerguide/role-trust-and-permissions.html — AWS refuses
a trust for ``cognito-identity.amazonaws.com`` that doesn't name the identity pool (``aud``).
"""

import re
from dataclasses import dataclass

COGNITO = "cognito-identity.amazonaws.com"
COGNITO_POOL_ID_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]:[A-Za-z0-9-]{1,64}")
COGNITO_AMR_CHOICES = ("authenticated", "unauthenticated")


@dataclass(frozen=True)
class WebIdentityProvider:
    """A built-in web identity provider: the key naming your app, and the key naming one user."""

    host: str
    label: str
    audience_key: str
    subject_key: str
    audience_example: str


WEB_IDENTITY_PROVIDERS: dict[str, WebIdentityProvider] = {
    provider.host: provider
    for provider in (
        WebIdentityProvider(
            COGNITO, "Amazon Cognito identity pool", f"{COGNITO}:aud", f"{COGNITO}:sub", "us-east-1:1a2b3c4d-…"
        ),
        WebIdentityProvider(
            "www.amazon.com",
            "Login with Amazon",
            "www.amazon.com:app_id",
            "www.amazon.com:user_id",
            "amzn1.application-oa2-client.…",
        ),
        WebIdentityProvider(
            "graph.facebook.com",
            "Facebook",
            "graph.facebook.com:app_id",
            "graph.facebook.com:id",
            "your Facebook app id",
        ),
        WebIdentityProvider(
            "accounts.google.com",
            "Google",
            "accounts.google.com:aud",
            "accounts.google.com:sub",
            "….apps.googleusercontent.com",
        ),
    )
}
"""Offered in the web identity form next to the account's IAM OIDC providers (partition ``aws`` only: their
keys and principals differ or are unavailable in China and GovCloud)."""
