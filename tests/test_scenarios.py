"""End-to-end: Slack's signed requests over HTTP → the bot → fake Slack Web API and a moto server.

Each role type goes the whole way: command → modal → submission → approval message → Approve →
role in AWS → thread reply and DM. Then the refusals: bad signatures, bad fields, self-approval,
non-approvers, rejection without a reason.
"""

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from bot.config import Approvals, Policy
from bot.lifecycle import EventKind
from bot.sandbox.aws import GITHUB_HOST
from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    REQUESTER,
    SECOND_APPROVER,
    click,
    dms,
    home_iam,
    open_modal,
    request_role,
    said,
    submit,
    thread_replies,
)

POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'


def account(aws: boto3.Session) -> str:
    return aws.client("sts").get_caller_identity()["Account"]


def approve_and_check(stack: BotStack, aws: boto3.Session, request_id: str) -> dict:
    """Approve as the approver; the role exists, the thread and the requester's DMs say so."""
    click(stack, APPROVER, "approve", request_id)
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.status == "created", record and (record.status, record.error)
    role_arn = record.result["role_arn"]
    role_name = role_arn.rsplit("/", 1)[-1]
    role = aws.client("iam").get_role(RoleName=role_name)["Role"]
    assert role["Arn"] == role_arn
    replies = " ".join(said(c) for c in thread_replies(stack, request_id))
    assert role_arn in replies
    assert any(role_arn in said(c) for c in dms(stack, REQUESTER))
    root = stack.slack.last("chat.update").params
    assert root["ts"] == record.message_ts and '"approve"' not in json.dumps(root["blocks"])
    return role


def test_user_role_end_to_end_with_type_switch(stack: BotStack, aws: boto3.Session) -> None:
    view = open_modal(stack, REQUESTER, "")
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["role_type"]
    reply = stack.driver.click(REQUESTER, "role_type", view=view, selected_option="user")
    assert reply.status == 200
    update = stack.slack.wait_for("views.update")
    updated = update.params
    assert updated["view_id"] == view["id"] and updated["hash"] == view["hash"]
    assert update.response["ok"], update.response
    blocks = {b["block_id"] for b in updated["view"]["blocks"]}
    assert {"role_name", "trusted_account_ids", "require_mfa"} <= blocks

    errors = submit(
        stack,
        REQUESTER,
        update.response["view"],
        {
            "role_type": "user",
            "account_id": account(aws),
            "role_name": "support-readonly",
            "require_mfa": True,
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "Support investigates incidents.",
        },
    )
    assert errors is None
    request_id = stack.runtime.store.for_requester(REQUESTER, limit=1)[0].id
    approval = stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL).params
    buttons = [e for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Reject"]
    assert f"<@{APPROVER}>" in said(stack.slack.last("chat.postMessage")) or f"<@{APPROVER}>" in json.dumps(approval)

    role = approve_and_check(stack, aws, request_id)
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    attached = aws.client("iam").list_attached_role_policies(RoleName="support-readonly")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["ReadOnlyAccess"]


def test_service_role_for_ec2_gets_an_instance_profile(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(
        stack, "service", {"role_name": "orders-ec2", "service_principal": "ec2.amazonaws.com", "inline_policy": POLICY}
    )
    approve_and_check(stack, aws, request_id)
    profile = aws.client("iam").get_instance_profile(InstanceProfileName="orders-ec2")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["orders-ec2"]
    assert aws.client("iam").list_role_policies(RoleName="orders-ec2")["PolicyNames"] == ["orders-ec2-inline"]


def test_service_linked_role(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(
        stack, "service-linked", {"aws_service_name": "autoscaling.amazonaws.com", "custom_suffix": "orders"}
    )
    role = approve_and_check(stack, aws, request_id)
    assert role["Path"].startswith("/aws-service-role/autoscaling.amazonaws.com/")


def test_saml_role(stack: BotStack, aws: boto3.Session) -> None:
    provider = f"arn:aws:iam::{account(aws)}:saml-provider/Okta"
    request_id = request_role(stack, "saml", {"role_name": "okta-analysts", "provider_arn": provider})
    role = approve_and_check(stack, aws, request_id)
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Condition"]["StringEquals"]["SAML:aud"] == "https://signin.aws.amazon.com/saml"


def test_oidc_github_role(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(
        stack,
        "oidc",
        {"role_name": "web-deploy", "github_repo": "acme/web", "github_ref_type": "environment", "github_ref": "prod"},
    )
    role = approve_and_check(stack, aws, request_id)
    condition = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{GITHUB_HOST}:sub"] == "repo:acme/web:environment:prod"


def test_custom_trust_role(stack: BotStack, aws: boto3.Session) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{account(aws)}:root"}}
        ],
    }
    request_id = request_role(
        stack, "custom", {"role_name": "custom-trust", "trust_policy_document": json.dumps(trust)}
    )
    role = approve_and_check(stack, aws, request_id)
    assert role["AssumeRolePolicyDocument"] == trust


def test_forged_and_stale_signatures_get_401(stack: BotStack) -> None:
    assert stack.driver.command(REQUESTER, "help", secret="not-the-secret").status == 401
    assert stack.driver.command(REQUESTER, "help", timestamp=int(time.time()) - 600).status == 401
    assert stack.slack.calls("views.open") == []
    assert stack.driver.command(REQUESTER, "help").status == 200


def test_bad_field_comes_back_as_an_error_on_that_field(stack: BotStack, aws: boto3.Session) -> None:
    view = open_modal(stack, REQUESTER, "user")
    errors = submit(
        stack, REQUESTER, view, {"account_id": account(aws), "role_name": "has spaces", "justification": "x"}
    )
    assert errors["response_action"] == "errors"
    assert "letters, digits" in errors["errors"]["role_name"]
    assert stack.runtime.store.count() == 0


def test_self_approval_and_outsiders_change_nothing(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(stack, "user", {"role_name": "self-approved"}, user=APPROVER)
    for user in (APPROVER, OUTSIDER):
        click(stack, user, "approve", request_id)
    record = stack.runtime.store.get(request_id)
    assert record.status == "submitted"
    refusals = [c.params for c in stack.slack.calls("chat.postEphemeral")]
    assert [r["user"] for r in refusals] == [APPROVER, OUTSIDER]
    assert "own request" in refusals[0]["text"]
    assert aws.client("iam").list_roles()["Roles"] == []


def test_reject_requires_a_reason_and_tells_the_requester(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "too-broad"})
    click(stack, APPROVER, "reject", request_id)
    view = stack.slack.wait_for("views.open", lambda c: c.params["view"].get("callback_id") == "reject_request")
    view = view.params["view"]
    empty = submit(stack, APPROVER, view, {"reason": None})
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert stack.runtime.store.get(request_id).status == "submitted"
    assert submit(stack, APPROVER, view, {"reason": "Use the read-only role instead."}) is None
    assert stack.runtime.store.get(request_id).status == "rejected"
    assert any("Use the read-only role instead." in said(c) for c in dms(stack, REQUESTER))


def test_high_risk_request_needs_two_distinct_approvers(make_stack: Callable[..., BotStack]) -> None:
    high = make_stack(policy=Policy(approvals=Approvals(high_risk_approvals=2)))
    request_id = request_role(
        high,
        "user",
        {"role_name": "admin-break-glass", "managed_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
    )
    click(high, APPROVER, "approve", request_id)
    click(high, APPROVER, "approve", request_id)
    assert high.runtime.store.get(request_id).status == "submitted"
    click(high, SECOND_APPROVER, "approve", request_id)
    assert high.runtime.store.get(request_id).status == "created"


def test_slow_aws_does_not_delay_the_ack(stack: BotStack, aws: boto3.Session) -> None:
    """AWS is held until after the click's HTTP answer arrived: the ack cannot have waited for it."""
    request_id = request_role(stack, "user", {"role_name": "slow-aws"})
    aws_released = threading.Event()

    def hold_aws(**_: object) -> None:
        aws_released.wait(10)

    home_iam(stack).meta.events.register("before-call.iam.CreateRole", hold_aws)
    record = stack.runtime.store.get(request_id)
    reply = stack.driver.click(
        APPROVER, "approve", request_id, message={"ts": record.message_ts}, channel=record.channel
    )
    assert reply.status == 200
    stack.listeners.idle(10)
    assert stack.runtime.store.get(request_id).status == "provisioning"
    assert aws.client("iam").list_roles()["Roles"] == []
    aws_released.set()
    stack.settle()
    assert stack.runtime.store.get(request_id).status == "created"


def test_a_rejection_is_recorded_before_the_reject_form_is_acked(stack: BotStack) -> None:
    """Slack closes the form on the ack, so the rejection is stored before it (one write, local): a bot stopping
    right after its ack loses nothing. What is said in Slack follows the ack."""
    request_id = request_role(stack, "user", {"role_name": "too-broad"})
    click(stack, APPROVER, "reject", request_id)
    view = stack.slack.wait_for("views.open", lambda c: c.params["view"].get("callback_id") == "reject_request")
    # Another connection holds the database's write lock while the form is sent: the ack must wait for it. Were the
    # rejection written after the ack, the reply would come back at once, while the lock is still held.
    blocker = sqlite3.connect(stack.runtime.store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(
            stack.driver.submit, APPROVER, view.params["view"], {"reason": "Use the read-only role instead."}
        )
        with pytest.raises(TimeoutError):
            sent.result(timeout=0.3)
        blocker.execute("ROLLBACK")
        reply = sent.result(timeout=10)
    blocker.close()
    assert reply.status == 200 and not reply.body  # the form closes
    rejected = [e for e in stack.runtime.store.events(request_id) if e.kind == EventKind.REJECTED]
    assert [(e.actor, e.details["reason"]) for e in rejected] == [(APPROVER, "Use the read-only role instead.")]
    stack.settle()
    copy = stack.driver.submit(APPROVER, view.params["view"], {"reason": "Use the read-only role instead."})
    assert copy.json()["response_action"] == "errors"  # Slack's copy of the submission rejects nothing more
    assert "already rejected" in copy.json()["errors"]["reason"]
    assert [e.kind for e in stack.runtime.store.events(request_id)].count(EventKind.REJECTED) == 1
