"""Options loads for the form's external selects, sent as Slack does (``block_suggestion`` over HTTP)
and answered in the HTTP body: managed policies from the moto server, service principals, identity
providers of the account chosen in the form.
"""

import functools
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from blocks.kit import OPTION_TEXT_MAX, OPTION_VALUE_MAX
from blocks.options import OPTIONS_MAX
from bot.sandbox.aws import GITHUB_HOST
from bot.sandbox.stack import BotStack
from tests.e2e import REQUESTER, open_modal

POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}'
LONG_NAME = "ReadOnly-" + "x" * 100
"""A customer managed policy whose name is longer than an option's text may be (its ARN still fits a value)."""


@pytest.fixture
def make_stack(make_stack: Callable[..., BotStack]) -> Callable[..., BotStack]:
    """Stacks that fetch the policy catalogue at start, as ``serve`` does: what these searches read."""
    return functools.partial(make_stack, warm_catalog=True)


def options(
    stack: BotStack,
    action_id: str,
    typed: str,
    view: dict[str, Any] | None = None,
    answers: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    reply = stack.driver.options(REQUESTER, action_id, typed, view=view, answers=answers)
    assert reply.status == 200, reply.body
    listed = reply.json()["options"]
    assert len(listed) <= OPTIONS_MAX
    for option in listed:
        assert 0 < len(option["text"]["text"]) <= OPTION_TEXT_MAX, option
        assert 0 < len(option["value"]) <= OPTION_VALUE_MAX, option
    return listed


def values(listed: list[dict[str, Any]]) -> list[str]:
    return [option["value"] for option in listed]


def test_managed_policy_search_lists_aws_managed_policies(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    aws.client("iam").create_policy(PolicyName=LONG_NAME, PolicyDocument=POLICY)
    stack = make_stack()
    assert stack.runtime.warming, "the catalogue is fetched at start-up, as in production"
    view = open_modal(stack, REQUESTER, "user")

    listed = options(stack, "managed_policy_arns", "ReadOnly", view=view)
    assert values(listed)[0] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" in values(listed)
    assert all("readonly" in option["text"]["text"].lower() for option in listed)
    assert any(value.endswith(f":policy/{LONG_NAME}") for value in values(listed))

    everything = options(stack, "managed_policy_arns", "a", view=view)
    assert len(everything) == OPTIONS_MAX
    assert options(stack, "managed_policy_arns", "no-such-policy-anywhere", view=view) == []


def test_service_principal_search_offers_curated_ones_and_what_was_typed(stack: BotStack) -> None:
    view = open_modal(stack, REQUESTER, "service")
    assert "ec2.amazonaws.com" in values(options(stack, "service_principal", "", view=view))
    assert values(options(stack, "service_principal", "lambda", view=view))[0] == "lambda.amazonaws.com"
    typed = options(stack, "service_principal", "foo.amazonaws.com", view=view)
    assert values(typed) == ["foo.amazonaws.com"]
    assert "ec2.amazonaws.com" not in values(options(stack, "service_principal", "lambda", view=view))

    linked = open_modal(stack, REQUESTER, "service-linked")
    assert "autoscaling.amazonaws.com" in values(options(stack, "aws_service_name", "autoscaling", view=linked))


def test_provider_selects_list_the_accounts_providers(stack: BotStack, aws: boto3.Session) -> None:
    account = stack.runtime.bot.choices.account_ids()[0]
    saml = open_modal(stack, REQUESTER, "saml")
    listed = options(stack, "provider_arn", "", view=saml, answers={"account_id": account})
    assert values(listed) == [f"arn:aws:iam::{account}:saml-provider/Okta"]
    assert listed[0]["text"]["text"] == "Okta"
    assert options(stack, "provider_arn", "azure", view=saml, answers={"account_id": account}) == []

    oidc = open_modal(stack, REQUESTER, "oidc")
    listed = options(stack, "provider", "git", view=oidc, answers={"account_id": account})
    assert values(listed) == [f"arn:aws:iam::{account}:oidc-provider/{GITHUB_HOST}"]
    assert listed[0]["text"]["text"] == GITHUB_HOST


def test_web_identity_form_offers_the_providers_aws_trusts_without_an_iam_provider(stack: BotStack) -> None:
    account = stack.runtime.bot.choices.account_ids()[0]
    oidc = open_modal(stack, REQUESTER, "oidc")
    listed = options(stack, "provider", "", view=oidc, answers={"account_id": account})
    assert {"cognito-identity.amazonaws.com", "www.amazon.com", "graph.facebook.com", "accounts.google.com"} <= set(
        values(listed)
    )
    assert values(options(stack, "provider", "google", view=oidc, answers={"account_id": account})) == [
        "accounts.google.com"
    ]


def test_the_partition_is_the_bots_whatever_the_payload_says(stack: BotStack) -> None:
    intake = stack.runtime.bot.intake
    data = {
        "role_type": "user",
        "account_id": intake.choices.account_ids()[0],
        "role_name": "ops",
        "justification": "on call",
        "partition": "aws-cn",
    }
    request, _ = intake.validate(data)
    assert (intake.choices.partition, request.partition) == ("aws", "aws")
    assert request.trust_policy()["Statement"][0]["Principal"]["AWS"].startswith("arn:aws:iam::")
