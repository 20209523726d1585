"""The bot within what Slack accepts, end to end against the strict fake Slack: a request at the form's
caps fits Slack's whole-message budget (what is cut follows whole in the thread), the form's inputs
take no more than Slack's client lets through, and posting needs the bot in the channel."""

import json
from typing import Any

import boto3
import pytest

from bot.config import Approvals, Policy
from bot.sandbox.fake_slack import manifest_scopes
from bot.sandbox.slack_driver import InputRefused
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, BotStack, sandbox_slack
from tests.e2e import APPROVER, REQUESTER, click, open_modal, request_role, said, submit, thread_replies
from tests.test_scenarios import account, approve_and_check

GROUP_APPROVER = "U0GRACE"
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


def test_user_group_approvers_need_the_optional_usergroups_read_scope(
    make_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The manifest leaves usergroups:read out (only a user group needs it). Granted, the group's members approve;
    missing, nobody in the group counts (fail closed): the request is refused at submission for want of
    approvers, and the log names the scope to add."""
    policy = Policy(approvals=Approvals(approver_usergroup="S0APPROVERS"))
    with_scope = sandbox_slack(scopes=manifest_scopes() | {"usergroups:read"})
    with_scope.set_usergroup("S0APPROVERS", [GROUP_APPROVER])
    granted = make_stack(slack=with_scope, approvers=[], policy=policy)
    request_id = request_role(granted, "service", {"role_name": "group-ok", "service_principal": "ec2.amazonaws.com"})
    click(granted, GROUP_APPROVER, "approve", request_id)
    assert granted.runtime.store.get(request_id).status == "created"

    without_scope = sandbox_slack()
    without_scope.set_usergroup("S0APPROVERS", [GROUP_APPROVER])
    missing = make_stack(slack=without_scope, approvers=[], policy=policy)
    missing.expected_refusals = ("missing_scope",)
    view = open_modal(missing, REQUESTER, "service")
    answers = {
        "account_id": missing.runtime.bot.choices.account_ids()[0],
        "justification": "Needed for tests.",
        "role_name": "group-missing",
        "service_principal": "ec2.amazonaws.com",
    }
    errors = submit(missing, REQUESTER, view, answers)
    assert errors and "approver" in errors["errors"]["account_id"], errors
    assert any(r.levelname == "ERROR" and "usergroups:read" in r.getMessage() for r in caplog.records)


def hidden_github_trust(here: str) -> dict[str, Any]:
    """A custom trust policy near the form's cap: a long, harmless-looking first statement (with Slack syntax in
    its values) and, past where the approval message cuts it, a second one trusting every GitHub repository."""
    values = ["<!channel>", "<https://evil.example|harmless>", "a & b", "``", *(f"team-{i:03d}" for i in range(60))]
    first = {
        "Sid": "Deployers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{here}:role/deployer"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": values}},
    }
    provider = f"arn:aws:iam::{here}:oidc-provider/token.actions.githubusercontent.com"
    everyone_on_github = {
        "Sid": "AnyGitHubRepository",
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"},
        },
    }
    return {"Version": "2012-10-17", "Statement": [first, everyone_on_github]}


def unrendered(pieces: list[str]) -> str:
    """What a reader sees of consecutive code-block pieces: fences and zero-width spaces gone, entities read."""
    text = "".join(piece.removeprefix("```").removesuffix("```") for piece in pieces).replace("\u200b", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_a_trust_statement_past_the_cut_is_in_the_thread_in_full_before_anyone_can_approve(
    stack: BotStack, aws: boto3.Session
) -> None:
    here = account(aws)
    trust = hidden_github_trust(here)
    answers = {
        "role_name": "innocent-looking",
        "description": "line one\nTags: none\n" + "d" * 900,
        "justification": "j" * 2000,
        "trust_policy_document": json.dumps(trust),
        "inline_policy": policy_of_about(TEXT_INPUT_MAX, RISKY_ACTIONS),
        "tags": "\n".join(f"tag{i}={'v' * 40}" for i in range(40)),
    }
    request_id = request_role(stack, "custom", answers)
    record = stack.runtime.store.get(request_id)

    root = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    assert root.response["ok"], root.response
    assert "AnyGitHubRepository" not in said(root), "the test means the second statement to be past the cut"
    assert "full text in the thread" in said(root)
    assert not any(block["type"] == "actions" for block in root.params["blocks"]), "Approve offered before the text"
    replies = thread_replies(stack, request_id)
    trust_parts = [call for call in replies if "Trust policy (full text" in call.params["text"]]
    pieces = [block["text"]["text"] for call in trust_parts for block in call.params["blocks"][1:]]
    assert unrendered(pieces) == json.dumps(trust, indent=2)  # whole and in order
    everything = "".join(said(call) for call in [root, *replies])
    for slack_syntax in ("<!channel>", "<https://evil.example|harmless>"):
        assert slack_syntax not in everything  # escaped: shown, never a broadcast or a disguised link

    buttons_added = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == record.message_ts]
    assert buttons_added and any(block["type"] == "actions" for block in buttons_added[0].params["blocks"])
    assert buttons_added[0].at >= max(call.at for call in replies)
    calls = stack.slack.calls()
    assert calls.index(buttons_added[0]) > max(calls.index(call) for call in replies)


def test_the_role_settings_are_shown_exactly_and_escaped(stack: BotStack, aws: boto3.Session) -> None:
    answers = {
        "role_name": "settings-shown",
        "service_principal": "lambda.amazonaws.com",
        "path": "/team/",
        "description": "Runs <!here> jobs & more\nPermissionsBoundary: none",
        "max_session_duration": "7200",
        "tags": "team=payments\ncost-center=42",
    }
    request_id = request_role(stack, "service", answers)
    root = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    text = said(root)
    for shown in (
        '\\"Path\\": \\"/team/\\"',
        '\\"Description\\": \\"Runs &lt;!here&gt; jobs &amp; more\\\\nPermissionsBoundary: none\\"',
        '\\"MaxSessionDuration\\": 7200',
        '\\"team\\": \\"payments\\"',
        '\\"cost-center\\": \\"42\\"',
    ):
        assert shown in text, shown
    assert "<!here>" not in text
    assert stack.runtime.store.get(request_id).status == "submitted"


def test_an_approval_message_whose_full_text_slack_refused_is_posted_again_whole(stack: BotStack) -> None:
    stack.slack.fail_next("chat.postMessage", error="internal_error", in_thread=True)
    request_id = request_role(
        stack,
        "user",
        {
            "role_name": "cut-and-lost",
            "justification": "j" * 2000,
            "description": "d" * 1000,
            "inline_policy": policy_of_about(TEXT_INPUT_MAX, RISKY_ACTIONS),
            "tags": "\n".join(f"tag{i}={'v' * 40}" for i in range(40)),
        },
    )
    record = stack.runtime.store.get(request_id)
    assert record.message_ts is None, "the request counts as posted without its full text"
    first = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    orphan = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == first.response["ts"]]
    assert orphan and "can't be approved here" in said(orphan[-1])
    assert not any(block["type"] == "actions" for block in orphan[-1].params["blocks"])

    stack.runtime.bot.housekeeping(now=record.created_at + 10 * 60)
    record = stack.runtime.store.get(request_id)
    assert record.message_ts and record.message_ts != first.response["ts"]
    assert any("Inline policy (full text" in said(call) for call in thread_replies(stack, request_id))
    click(stack, APPROVER, "approve", request_id)
    assert [(e.actor, e.kind) for e in stack.runtime.store.events(request_id)][-1] == (APPROVER, "approval")


def test_characters_that_show_as_nothing_or_a_line_break_are_shown_escaped(stack: BotStack) -> None:
    """U+0085 ("next line") could make a string pass for another JSON line, e.g. a condition that isn't there."""
    fake_line = '\x85      "aws:SourceVpc": "vpc-0trusted"'
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:PrincipalTag/team": "*" + fake_line + "\xa0\xad"}},
            }
        ],
    }
    answers = {
        "role_name": "no-hidden-lines",
        "service_principal": "ec2.amazonaws.com",
        "inline_policy": json.dumps(policy),
    }
    request_role(stack, "service", answers)
    root = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    text = json.dumps(root.params["blocks"], ensure_ascii=False)  # raw characters stay raw
    assert "\\\\u0085" in text and "\\\\u00a0" in text and "\\\\u00ad" in text
    assert not any(char in text for char in "\x85\xa0\xad")


def test_tag_characters_that_show_as_blank_or_as_another_letter_are_shown_escaped(stack: BotStack) -> None:
    """AWS allows any letter, separator or number in tags: U+3164 (a Hangul filler) shows as nothing, U+2003 as
    a space, U+02BA (ʺ) as a quote and Cyrillic а as Latin a, so two tags could look alike or a value could
    look like more JSON. Shown escaped, what the approver reads is one exact value each."""
    answers = {
        "role_name": "no-look-alikes",
        "service_principal": "ec2.amazonaws.com",
        "tags": "team=platform\u3164\u2003\u02baadmin\u02ba\nowner=\u0430dmins",
    }
    request_role(stack, "service", answers)
    root = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL)
    text = json.dumps(root.params["blocks"], ensure_ascii=False)  # raw characters stay raw
    assert all(f"\\\\u{code}" in text for code in ("3164", "2003", "02ba", "0430"))
    assert not any(char in text for char in "\u3164\u2003\u02ba\u0430")
