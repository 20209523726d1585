"""An in-memory AWS account (moto) for the demo and ``serve --sandbox``.

It holds the AWS managed policies, a GitHub Actions OIDC provider, a SAML provider and the
permissions boundary the bot's guardrails ask for, so every role type can be requested.
"""

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.models import MockAWS
from moto.iam import models as moto_iam
from moto.settings import load_iam_aws_managed_policies

SANDBOX_REGION = "us-east-1"
GITHUB_HOST = "token.actions.githubusercontent.com"
SAML_METADATA = (
    '<?xml version="1.0"?><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="https://idp.example.com/sandbox"><IDPSSODescriptor '
    'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing">'
    '<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>'
    + "MIIC"
    + "A" * 800
    + "=="
    + "</X509Certificate></X509Data></KeyInfo></KeyDescriptor><SingleSignOnService "
    'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>'
    "</IDPSSODescriptor></EntityDescriptor>"
)
"""Metadata of a made-up identity provider (AWS wants at least 1,000 characters)."""
BOUNDARY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["iam:CreateUser", "iam:CreateAccessKey", "organizations:*"], "Resource": "*"},
    ],
}


@dataclass
class SandboxAws:
    """A started moto account; ``stop()`` discards it."""

    mock: MockAWS
    account_id: str
    boundary_arn: str
    session: boto3.Session

    def stop(self) -> None:
        self.mock.stop()


def add_identity_providers(iam: Any) -> None:
    """The providers the sandbox's (and the tests') web-identity and SAML roles trust: GitHub Actions and Okta."""
    iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB_HOST}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    iam.create_saml_provider(Name="Okta", SAMLMetadataDocument=SAML_METADATA)


@functools.cache
def _managed_policy_data() -> dict[str, Any]:
    """moto's AWS managed policies (its ``aws_managed_policies_data``, 1 MB of JSON), parsed once per process."""
    return json.loads(moto_iam.aws_managed_policies_data)


def _aws_managed_policies(backend: moto_iam.IAMBackend) -> list[moto_iam.ManagedPolicy]:
    """``IAMBackend._init_aws_policies`` from the JSON parsed once; each backend still gets policy objects of
    its own (they count their attachments)."""
    if not load_iam_aws_managed_policies():
        return []
    return [
        moto_iam.AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
        for name, data in _managed_policy_data().items()
    ]


def _account_of_access_key(access_key: str) -> str:
    """``moto.iam.models.get_account_id_from``, looking only in the IAM backends that exist.

    moto's looked in every partition's backend of every account (``account[partition]``), which makes the ones
    missing: six per account, each with its own ~1,500 AWS managed policies, on an account's first request. A
    backend not made yet holds no access key, so the answer is the same.
    """
    for account_id, account in list(moto_iam.iam_backends.items()):
        if any(access_key in backend.access_keys for backend in list(account.values())):
            return account_id
    return DEFAULT_ACCOUNT_ID


def lighten_moto() -> None:
    """Spare this process's moto two costs of making an account's IAM; what moto serves is unchanged.

    - Its managed policies' JSON is parsed once, not once per IAM backend.
    - An access key's account is looked up without making an IAM backend for every partition
      (``_account_of_access_key``): one backend per account is made, not six.

    The first took a third of the sandbox's start-up; the second halves what is left of ``start_sandbox_aws``
    (0.45 -> 0.21 s of CPU). Both are most of in-process moto's cost in the tests.
    """
    moto_iam.IAMBackend._init_aws_policies = _aws_managed_policies  # type: ignore[method-assign,assignment]
    moto_iam.get_account_id_from = _account_of_access_key


def start_sandbox_aws() -> SandboxAws:
    """Start moto in this process (every boto3 call is served by it) and seed the account."""
    lighten_moto()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="sandbox", AWS_SECRET_ACCESS_KEY="sandbox", AWS_DEFAULT_REGION=SANDBOX_REGION)
    mock = mock_aws(config={"iam": {"load_aws_managed_policies": True}})
    mock.start()
    session = boto3.Session(region_name=SANDBOX_REGION)
    iam = session.client("iam")
    add_identity_providers(iam)
    boundary = iam.create_policy(
        PolicyName="iam-role-bot-boundary",
        PolicyDocument=json.dumps(BOUNDARY_DOCUMENT),
        Description="Permissions boundary for roles created by iam-role-bot (sandbox)",
    )["Policy"]["Arn"]
    account_id = session.client("sts").get_caller_identity()["Account"]
    return SandboxAws(mock=mock, account_id=account_id, boundary_arn=boundary, session=session)
