"""Every role type's trust policy, asked of an IAM evaluator: the intended principal gets in, a neighbour doesn't.

moto evaluates no conditions, so these tests ask ``bot.review.evaluator`` (AWS's documented condition
semantics) what only real AWS would show (issue 13, "How to show it").
"""

from typing import Any

import pytest

from bot.domain import RoleRequest, parse_role_request
from bot.review.evaluator import Principal, Request, is_allowed

ACCOUNT = "111122223333"
OTHER = "444455556666"
GITHUB = "token.actions.githubusercontent.com"
GITHUB_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
SAML_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
POOL = "us-east-1:12345678-1234-1234-1234-123456789012"


def request(role_type: str, **fields: Any) -> RoleRequest:
    base = {"role_type": role_type, "account_id": ACCOUNT, "justification": "j", "role_name": "r"}
    return parse_role_request({**base, **fields})


def may(role: RoleRequest, kind: str, who: str, action: str, **context: Any) -> bool:
    """Whether ``who`` may call ``action`` on the role, with ``context`` as the request's condition keys."""
    trust = role.trust_policy()
    assert trust is not None
    return is_allowed(trust, Request(action, Principal(kind, who), context=context))


def github_token(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, Any]:
    return {f"{GITHUB}:sub": sub, f"{GITHUB}:aud": aud}


# --- IAM users and roles --------------------------------------------------------------------------------


def test_user_role_lets_in_its_account_not_another() -> None:
    role = request("user")
    assert may(role, "AWS", f"arn:aws:iam::{ACCOUNT}:role/dev", "sts:AssumeRole")
    assert not may(role, "AWS", f"arn:aws:iam::{OTHER}:role/dev", "sts:AssumeRole")


def test_user_role_with_external_id_and_mfa_needs_both() -> None:
    role = request("user", trusted_account_ids=[OTHER], external_id="ext-123", require_mfa=True)
    vendor = f"arn:aws:iam::{OTHER}:role/vendor"
    right = {"sts:ExternalId": "ext-123", "aws:MultiFactorAuthPresent": "true"}
    assert may(role, "AWS", vendor, "sts:AssumeRole", **right)
    assert not may(role, "AWS", vendor, "sts:AssumeRole", **{**right, "sts:ExternalId": "guess"})
    assert not may(role, "AWS", vendor, "sts:AssumeRole", **{"sts:ExternalId": "ext-123"})
    assert not may(role, "AWS", f"arn:aws:iam::{ACCOUNT}:role/dev", "sts:AssumeRole", **right)


def test_user_role_in_another_partition_names_that_partition() -> None:
    role = request("user", partition="aws-cn", trusted_account_ids=[OTHER])
    assert may(role, "AWS", f"arn:aws-cn:iam::{OTHER}:role/dev", "sts:AssumeRole")
    assert not may(role, "AWS", f"arn:aws:iam::{OTHER}:role/dev", "sts:AssumeRole")


# --- AWS services ---------------------------------------------------------------------------------------


def test_service_role_lets_in_its_service_only() -> None:
    role = request("service", service_principal="lambda.amazonaws.com")
    assert may(role, "Service", "lambda.amazonaws.com", "sts:AssumeRole")
    assert not may(role, "Service", "ec2.amazonaws.com", "sts:AssumeRole")


def test_lambda_at_edge_role_lets_in_both_lambda_principals() -> None:
    role = request("service", service_principal="edgelambda.amazonaws.com")
    assert may(role, "Service", "lambda.amazonaws.com", "sts:AssumeRole")
    assert may(role, "Service", "edgelambda.amazonaws.com", "sts:AssumeRole")
    assert not may(role, "Service", "ecs-tasks.amazonaws.com", "sts:AssumeRole")


def test_eks_pod_identity_role_may_tag_its_sessions() -> None:
    role = request("service", service_principal="pods.eks.amazonaws.com")
    for action in ("sts:AssumeRole", "sts:TagSession"):
        assert may(role, "Service", "pods.eks.amazonaws.com", action)
        assert not may(role, "Service", "ecs-tasks.amazonaws.com", action)
    assert not may(
        request("service", service_principal="lambda.amazonaws.com"),
        "Service",
        "lambda.amazonaws.com",
        "sts:TagSession",
    )


def test_several_services_share_one_role() -> None:
    role = request("service", service_principal="states.amazonaws.com", more_service_principals="events.amazonaws.com")
    assert may(role, "Service", "states.amazonaws.com", "sts:AssumeRole")
    assert may(role, "Service", "events.amazonaws.com", "sts:AssumeRole")
    assert not may(role, "Service", "glue.amazonaws.com", "sts:AssumeRole")


def test_restricted_to_this_account_lets_in_only_requests_for_it() -> None:
    role = request("service", service_principal="ecs-tasks.amazonaws.com", restrict_source_account=True)
    assert may(role, "Service", "ecs-tasks.amazonaws.com", "sts:AssumeRole", **{"aws:SourceAccount": ACCOUNT})
    assert not may(role, "Service", "ecs-tasks.amazonaws.com", "sts:AssumeRole", **{"aws:SourceAccount": OTHER})
    # A service that sends no aws:SourceAccount (EC2, Lambda) would never get in: the bot refuses to offer it.
    assert not may(role, "Service", "ecs-tasks.amazonaws.com", "sts:AssumeRole")


# --- SAML -------------------------------------------------------------------------------------------------


def test_saml_role_lets_in_its_provider_with_the_sign_in_audience() -> None:
    role = request("saml", provider_arn=SAML_ARN)
    right = {"SAML:aud": "https://signin.aws.amazon.com/saml"}
    assert may(role, "Federated", SAML_ARN, "sts:AssumeRoleWithSAML", **right)
    assert not may(role, "Federated", f"arn:aws:iam::{ACCOUNT}:saml-provider/Other", "sts:AssumeRoleWithSAML", **right)
    assert not may(role, "Federated", SAML_ARN, "sts:AssumeRoleWithSAML", **{"SAML:aud": "https://evil.example/saml"})
    assert not may(role, "Federated", SAML_ARN, "sts:TagSession", **right)


def test_saml_role_with_regional_audiences_session_tags_and_source_identity() -> None:
    regional = ["https://eu-west-1.signin.aws.amazon.com/saml", "https://signin.aws.amazon.com/saml"]
    role = request(
        "saml", provider_arn=SAML_ARN, audience=regional, allow_session_tags=True, allow_source_identity=True
    )
    for audience in regional:
        for action in ("sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"):
            assert may(role, "Federated", SAML_ARN, action, **{"SAML:aud": audience})
    assert not may(
        role,
        "Federated",
        SAML_ARN,
        "sts:AssumeRoleWithSAML",
        **{"SAML:aud": "https://us-east-1.signin.aws.amazon.com/saml"},
    )


def test_saml_role_in_china_expects_the_china_sign_in_audience() -> None:
    provider = f"arn:aws-cn:iam::{ACCOUNT}:saml-provider/Okta"
    role = request("saml", partition="aws-cn", provider_arn=provider)
    assert may(
        role, "Federated", provider, "sts:AssumeRoleWithSAML", **{"SAML:aud": "https://signin.amazonaws.cn/saml"}
    )
    assert not may(
        role, "Federated", provider, "sts:AssumeRoleWithSAML", **{"SAML:aud": "https://signin.aws.amazon.com/saml"}
    )


# --- web identity ---------------------------------------------------------------------------------------


def test_github_branch_and_environment_pattern_both_get_in_and_neighbours_dont() -> None:
    """Exact subjects and patterns under one operator (with two, AWS ANDs them and nothing matches)."""
    role = request(
        "oidc",
        provider=GITHUB,
        subjects=["repo:acme/web:ref:refs/heads/main", "repo:acme/web:environment:prod-*"],
    )
    action = "sts:AssumeRoleWithWebIdentity"
    assert may(role, "Federated", GITHUB_ARN, action, **github_token("repo:acme/web:ref:refs/heads/main"))
    assert may(role, "Federated", GITHUB_ARN, action, **github_token("repo:acme/web:environment:prod-eu"))
    assert not may(role, "Federated", GITHUB_ARN, action, **github_token("repo:acme/web:ref:refs/heads/dev"))
    assert not may(role, "Federated", GITHUB_ARN, action, **github_token("repo:other/web:ref:refs/heads/main"))
    assert not may(role, "Federated", GITHUB_ARN, action, **github_token("repo:acme/web:ref:refs/heads/main", "x"))


def test_the_old_split_of_subjects_over_two_operators_let_nobody_in() -> None:
    split = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{GITHUB}:sub": "repo:acme/web:ref:refs/heads/main"},
                    "StringLike": {f"{GITHUB}:sub": "repo:acme/web:environment:prod-*"},
                },
            }
        ],
    }
    for sub in ("repo:acme/web:ref:refs/heads/main", "repo:acme/web:environment:prod-eu"):
        request_ = Request(
            "sts:AssumeRoleWithWebIdentity", Principal("Federated", GITHUB_ARN), context=github_token(sub)
        )
        assert not is_allowed(split, request_)


def test_github_custom_subject_claims_pin_the_repository_by_id() -> None:
    role = request("oidc", provider=GITHUB, subjects="repository_owner_id:1234:repository_id:5678:environment:*")
    action = "sts:AssumeRoleWithWebIdentity"
    assert may(
        role,
        "Federated",
        GITHUB_ARN,
        action,
        **github_token("repository_owner_id:1234:repository_id:5678:environment:prod"),
    )
    assert not may(
        role,
        "Federated",
        GITHUB_ARN,
        action,
        **github_token("repository_owner_id:1234:repository_id:9999:environment:prod"),
    )


def test_cognito_identity_pool_role_lets_in_its_pools_authenticated_users() -> None:
    role = request("oidc", provider="cognito-identity.amazonaws.com", audiences=POOL)
    action = "sts:AssumeRoleWithWebIdentity"
    authenticated = {"cognito-identity.amazonaws.com:amr": ["authenticated", "graph.facebook.com"]}
    right = {"cognito-identity.amazonaws.com:aud": POOL, **authenticated}
    assert may(role, "Federated", "cognito-identity.amazonaws.com", action, **right)
    assert not may(
        role,
        "Federated",
        "cognito-identity.amazonaws.com",
        action,
        **{**right, "cognito-identity.amazonaws.com:aud": "us-east-1:other"},
    )
    guest = {**right, "cognito-identity.amazonaws.com:amr": ["unauthenticated"]}
    assert not may(role, "Federated", "cognito-identity.amazonaws.com", action, **guest)
    guests = request("oidc", provider="cognito-identity.amazonaws.com", audiences=POOL, cognito_amr="unauthenticated")
    assert may(guests, "Federated", "cognito-identity.amazonaws.com", action, **guest)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("accounts.google.com", "accounts.google.com:aud"),
        ("graph.facebook.com", "graph.facebook.com:app_id"),
        ("www.amazon.com", "www.amazon.com:app_id"),
    ],
)
def test_social_web_identity_role_lets_in_its_app_only(host: str, key: str) -> None:
    role = request("oidc", provider=host, audiences="my-app-id")
    action = "sts:AssumeRoleWithWebIdentity"
    assert may(role, "Federated", host, action, **{key: "my-app-id"})
    assert not may(role, "Federated", host, action, **{key: "someone-elses-app"})
    assert not may(role, "Federated", "accounts.example.com", action, **{key: "my-app-id"})


# --- custom trust -----------------------------------------------------------------------------------------


def test_custom_trust_lets_in_the_role_it_names() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:role/ci"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = request("custom", trust_policy_document=document)
    assert may(role, "AWS", f"arn:aws:iam::{OTHER}:role/ci", "sts:AssumeRole")
    assert not may(role, "AWS", f"arn:aws:iam::{OTHER}:role/other", "sts:AssumeRole")
