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


def parse_managed_policies_once() -> None:
    """Make this process's moto parse its managed policies' JSON once, not once per IAM backend.

    moto makes six IAM backends per account (one per partition, all on the account's first request, to
    find which account an access key belongs to) and parsed the JSON for each: a third of the sandbox's
    start-up, and most of in-process moto's cost in the tests. What moto serves is unchanged.
    """
    moto_iam.IAMBackend._init_aws_policies = _aws_managed_policies  # type: ignore[method-assign,assignment]


def start_sandbox_aws() -> SandboxAws:
    """Start moto in this process (every boto3 call is served by it) and seed the account."""
    parse_managed_policies_once()
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
