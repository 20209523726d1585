"""The bot within what Slack accepts, end to end against the strict fake Slack: a request at the form's
caps fits Slack's whole-message budget (what is cut follows whole in the thread), the form's inputs
take no more than Slack's client lets through, and posting needs the bot in the channel."""

import json
from typing import Any

import boto3
import pytest

from bot.sandbox.slack_driver import InputRefused
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, BotStack, sandbox_slack
from tests.e2e import REQUESTER, open_modal, request_role, said, submit, thread_replies
from tests.test_scenarios import account, approve_and_check

TEXT_INPUT_MAX = 3000
"""https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element: max_length ≤ 3000."""


MANAGED_POLICIES = (
    "ReadOnlyAccess",
    "AmazonS3ReadOnlyAccess",
    "AmazonEC2ReadOnlyAccess",
    "AmazonDynamoDBReadOnlyAccess",
    "CloudWatchReadOnlyAccess",
    "AmazonSQSReadOnlyAccess",
    "AmazonSNSReadOnlyAccess",
    "AWSLambda_ReadOnlyAccess",
    "AmazonRDSReadOnlyAccess",
    "IAMReadOnlyAccess",
)


RISKY_ACTIONS = (
    "iam:PassRole",
    "iam:CreateAccessKey",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:CreatePolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "lambda:UpdateFunctionCode",
    "ssm:SendCommand",
    "kms:Decrypt",
    "secretsmanager:GetSecretValue",
    "s3:*",
    "ec2:*",
)


def policy_of_about(chars: int, actions: tuple[str, ...]) -> str:
    """A valid policy document of just under ``chars`` characters (compact JSON, as people paste it)."""
    statements: list[dict[str, Any]] = []
    while True:
        action = actions[len(statements) % len(actions)]
        grown = [*statements, {"Sid": f"S{len(statements)}", "Effect": "Allow", "Action": action, "Resource": "*"}]
        if len(json.dumps({"Version": "2012-10-17", "Statement": grown})) > chars:
            return json.dumps({"Version": "2012-10-17", "Statement": statements})
        statements = grown


def test_a_request_at_the_forms_caps_is_posted_and_its_cut_parts_follow_whole_in_the_thread(
    stack: BotStack, aws: boto3.Session
) -> None:
    here = account(aws)
    answers = {
        "role_name": "r" * 64,
        "description": "d" * 1000,
        "justification": "j" * 2000,
        "trusted_principal_arns": "\n".join(
            f"arn:aws:iam::{here}:role/{'team' * 5}/deployer-{i:02d}" for i in range(15)
        ),
        "external_id": "e" * 500,
        "require_mfa": True,
        "managed_policy_arns": [f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES],
        "inline_policy": policy_of_about(TEXT_INPUT_MAX, RISKY_ACTIONS),
        "tags": "\n".join(f"tag{i}={'v' * 40}" for i in range(40)),
    }
    request_id = request_role(stack, "user", answers)

    root = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    # Before budgeting the whole message this card held 12,875 characters of text: msg_blocks_too_long.
    assert root.response["ok"], root.response
    replies = "\n".join(said(call) for call in thread_replies(stack, request_id))
    assert "full text in the thread" in said(root)
    assert "Inline policy (full text" in replies
    if "all findings in the thread" in said(root):
        assert "Review findings (all of them)" in replies


def test_the_form_takes_no_longer_inline_policy_than_a_slack_text_input(stack: BotStack) -> None:
    view = open_modal(stack, REQUESTER, "service")
    element = next(b["element"] for b in view["blocks"] if b["block_id"] == "inline_policy")
    assert element["max_length"] == TEXT_INPUT_MAX
    with pytest.raises(InputRefused):
        submit(stack, REQUESTER, view, {"inline_policy": "x" * (TEXT_INPUT_MAX + 1)})


def test_announcements_need_the_bot_in_the_notifications_channel(make_stack: Any, aws: boto3.Session) -> None:
    """The README's setup invites the bot there too: without it Slack answers not_in_channel."""
    slack = sandbox_slack(channels=(APPROVAL_CHANNEL,))
    slack.add_channel(ANNOUNCE_CHANNEL, member=False)
    stack = make_stack(slack=slack)
    stack.expected_refusals = ("not_in_channel",)
    request_id = request_role(stack, "service", {"role_name": "orders-ec2", "service_principal": "ec2.amazonaws.com"})
    approve_and_check(stack, aws, request_id)
    announcement = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == ANNOUNCE_CHANNEL)
    assert announcement.response["error"] == "not_in_channel"
