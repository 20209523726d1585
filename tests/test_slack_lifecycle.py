"""A request's life as demanding users live it, end to end over HTTP: cancelling from the DM,
provisioning that fails and is retried, approvers clicking at once, a restart between approval and
creation, reminders and expiry.
"""

import json
import sqlite3
import threading
from collections.abc import Callable

import boto3
import pytest

from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    REQUESTER,
    SECOND_APPROVER,
    THIRD_APPROVER,
    buttons_of,
    click,
    dms,
    ephemerals,
    home_iam,
    press,
    request_role,
    said,
    thread_replies,
)

POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'


class CreateRoleCalls(list[str]):
    """The RoleName of every CreateRole sent by the bots it ``watch``es (a hook on each bot's IAM client)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def watch(self, stack: BotStack) -> BotStack:
        home_iam(stack).meta.events.register("provide-client-params.iam.CreateRole", self.record)
        return stack

    def record(self, params: dict, **_: object) -> None:
        with self.lock:
            self.append(params["RoleName"])


@pytest.fixture
def create_role_calls() -> CreateRoleCalls:
    return CreateRoleCalls()


def the_dm(stack: BotStack, user: str, action: str) -> object:
    """The DM to ``user`` holding a button ``action``."""
    return next(c for c in dms(stack, user) if action in buttons_of(c))


def root_update(stack: BotStack, request_id: str) -> dict:
    record = stack.runtime.store.get(request_id)
    updates = [c.params for c in stack.slack.calls("chat.update") if c.params["ts"] == record.message_ts]
    assert updates, "the approval message was never updated"
    return updates[-1]


def kinds(stack: BotStack, request_id: str) -> list[str]:
    return [event.kind for event in stack.runtime.store.events(request_id)]


# --- cancel ------------------------------------------------------------------------------------


def test_requester_cancels_from_the_dm(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "cancel-me"})
    press(stack, REQUESTER, the_dm(stack, REQUESTER, "cancel"), "cancel")

    assert stack.runtime.store.get(request_id).status == "cancelled"
    assert any("Cancelled" in said(c) for c in thread_replies(stack, request_id))
    assert '"approve"' not in json.dumps(root_update(stack, request_id)["blocks"])
    assert any("was cancelled" in said(c) for c in dms(stack, REQUESTER))
    assert ephemerals(stack, REQUESTER) == []


def test_an_approver_who_cancels_is_named_in_the_thread(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "withdrawn"})
    press(stack, APPROVER, the_dm(stack, REQUESTER, "cancel"), "cancel")

    assert stack.runtime.store.get(request_id).status == "cancelled"
    replies = [said(c) for c in thread_replies(stack, request_id)]
    assert any(f"Cancelled by <@{APPROVER}>" in text for text in replies), replies
    assert not any("by the requester" in text for text in replies)
    assert any(f"cancelled by <@{APPROVER}>" in said(c) for c in dms(stack, REQUESTER))


def test_an_outsiders_cancel_is_refused(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "not-yours"})
    press(stack, OUTSIDER, the_dm(stack, REQUESTER, "cancel"), "cancel")

    assert stack.runtime.store.get(request_id).status == "submitted"
    refused = ephemerals(stack, OUTSIDER)
    assert len(refused) == 1 and "Only the requester or an approver can cancel" in said(refused[0])
    assert refused[0].params["channel"] == f"D{REQUESTER}"


def test_cancelling_an_approved_request_is_refused_clearly(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(stack, "user", {"role_name": "too-late"})
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"

    press(stack, REQUESTER, the_dm(stack, REQUESTER, "cancel"), "cancel")
    assert stack.runtime.store.get(request_id).status == "created"
    assert aws.client("iam").get_role(RoleName="too-late")
    refused = ephemerals(stack, REQUESTER)
    assert len(refused) == 1
    assert f"already approved by <@{APPROVER}>" in said(refused[0])
    assert "It can no longer be cancelled." in said(refused[0])


# --- failure and retry -------------------------------------------------------------------------


def test_failed_provisioning_is_retried_by_an_approver_once_fixed(
    stack: BotStack, aws: boto3.Session, create_role_calls: CreateRoleCalls
) -> None:
    create_role_calls.watch(stack)
    account = aws.client("sts").get_caller_identity()["Account"]
    missing = f"arn:aws:iam::{account}:policy/team-s3-reader"
    request_id = request_role(stack, "user", {"role_name": "needs-fixing", "permissions_boundary_arn": missing})
    click(stack, APPROVER, "approve", request_id)

    record = stack.runtime.store.get(request_id)
    assert record.status == "failed" and missing in record.error
    assert create_role_calls == []
    failure = next(c for c in thread_replies(stack, request_id) if "retry" in buttons_of(c))
    assert "failed" in said(failure) and missing in said(failure)
    assert any("failed" in said(c) and missing in said(c) for c in dms(stack, REQUESTER))

    press(stack, REQUESTER, failure, "retry")
    assert stack.runtime.store.get(request_id).status == "failed"
    assert "Only the approvers" in said(ephemerals(stack, REQUESTER)[-1])

    aws.client("iam").create_policy(PolicyName="team-s3-reader", PolicyDocument=POLICY)
    press(stack, SECOND_APPROVER, failure, "retry")
    record = stack.runtime.store.get(request_id)
    assert record.status == "created", record.error
    assert create_role_calls == ["needs-fixing"]
    role = aws.client("iam").get_role(RoleName="needs-fixing")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == missing
    assert any(record.result["role_arn"] in said(c) for c in thread_replies(stack, request_id))
    assert any(record.result["role_arn"] in said(c) for c in dms(stack, REQUESTER))

    press(stack, APPROVER, failure, "retry")
    assert f"already retried by <@{SECOND_APPROVER}>" in said(ephemerals(stack, APPROVER)[-1])
    assert create_role_calls == ["needs-fixing"]


# --- racing clicks -----------------------------------------------------------------------------


def test_approvers_clicking_at_once_create_the_role_once(
    make_stack: Callable[..., BotStack], aws: boto3.Session, create_role_calls: CreateRoleCalls
) -> None:
    stack = create_role_calls.watch(make_stack(approvers=[APPROVER, SECOND_APPROVER, THIRD_APPROVER]))
    request_id = request_role(stack, "user", {"role_name": "raced"})
    record = stack.runtime.store.get(request_id)
    clickers = [APPROVER, SECOND_APPROVER, THIRD_APPROVER, APPROVER]
    start = threading.Barrier(len(clickers))
    statuses: list[int] = []

    def press_approve(user: str) -> None:
        start.wait()
        reply = stack.driver.click(
            user, "approve", request_id, message={"ts": record.message_ts}, channel=record.channel
        )
        statuses.append(reply.status)

    threads = [threading.Thread(target=press_approve, args=(user,)) for user in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack.settle()

    assert statuses == [200] * len(clickers)
    assert stack.runtime.store.get(request_id).status == "created"
    assert create_role_calls == ["raced"]
    assert [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]] == ["raced"]
    events = stack.runtime.store.events(request_id)
    approved = [e for e in events if e.kind == "approved"]
    assert len(approved) == 1 and [e.kind for e in events].count("approval") == 1
    winner = approved[0].actor
    refused = stack.slack.calls("chat.postEphemeral")
    assert len(refused) == len(clickers) - 1
    assert all(f"already approved by <@{winner}>" in said(c) for c in refused)
    assert sum("Approved by" in said(c) for c in thread_replies(stack, request_id)) == 1


# --- crash safety ------------------------------------------------------------------------------


@pytest.mark.parametrize("left_in", ["approved", "provisioning"])
def test_a_restart_finishes_what_the_last_run_left_once(
    make_stack: Callable[..., BotStack], aws: boto3.Session, create_role_calls: CreateRoleCalls, left_in: str
) -> None:
    before = create_role_calls.watch(make_stack())
    request_id = request_role(before, "user", {"role_name": "interrupted"})
    before.runtime.workflow.lease_seconds = 0.0  # its leases run out at once: as if long after it died
    before.runtime.workflow.approve(request_id, APPROVER)
    if left_in == "provisioning":
        before.runtime.workflow.claim_provisioning(request_id, "iam-role-bot")
    before.close()
    assert before.runtime.store.get(request_id).status == left_in
    assert create_role_calls == []

    after = create_role_calls.watch(make_stack())
    resumed = after.runtime.bot.resume_interrupted()
    after.settle()
    assert [record.id for record in resumed] == [request_id]
    assert after.runtime.bot.resume_interrupted() == []
    after.settle()

    record = after.runtime.store.get(request_id)
    assert record.status == "created", record.error
    assert create_role_calls == ["interrupted"]
    assert aws.client("iam").get_role(RoleName="interrupted")["Role"]["Arn"] == record.result["role_arn"]
    thread = [said(c) for c in after.slack.calls("chat.postMessage") if c.params.get("thread_ts") == record.message_ts]
    assert any("Resuming" in text for text in thread)
    assert any(record.result["role_arn"] in text for text in thread)
    assert kinds(after, request_id).count("resumed") == 1


def test_a_request_altered_after_its_approval_is_refused_and_must_be_submitted_again(
    make_stack: Callable[..., BotStack], aws: boto3.Session, create_role_calls: list[str]
) -> None:
    """Someone with the database file widens an approved request before it is carried out (a restart
    between approval and creation): the hash its approval recorded no longer matches, nothing is created."""
    before = make_stack()
    request_id = request_role(before, "user", {"role_name": "altered"})
    before.runtime.workflow.lease_seconds = 0.0  # its job is free at once, as long after the restart
    before.runtime.workflow.approve(request_id, APPROVER)
    before.close()
    stored = json.loads(before.runtime.store.get(request_id).request_json)
    wider = {**stored, "managed_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}
    with sqlite3.connect(before.runtime.store.path) as conn:
        conn.execute("DROP TRIGGER requests_content_fixed")  # what a tamperer with the file can do
        conn.execute("UPDATE requests SET request_json = ? WHERE id = ?", [json.dumps(wider), request_id])

    after = make_stack()
    after.runtime.bot.resume_interrupted()
    after.settle()

    record = after.runtime.store.get(request_id)
    assert record.status == "failed"
    assert f"Refused: {request_id} is not what was approved" in record.error
    assert create_role_calls == []
    thread = [said(call) for call in thread_replies(after, request_id)]
    assert any("Submit the request again with /iam-role" in text for text in thread)
    # A retry meets the same refusal: only a new submission gets the new content approved.
    click(after, APPROVER, "retry", request_id)
    assert after.runtime.store.get(request_id).status == "failed" and create_role_calls == []


# --- reminders and expiry ----------------------------------------------------------------------


def test_approvers_are_reminded_once_then_the_request_expires(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "forgotten"})
    created_at = stack.runtime.store.get(request_id).created_at
    approvals = stack.config.policy.approvals

    stack.runtime.bot.housekeeping(now=created_at + approvals.remind_after_hours * 3600 - 60)
    assert thread_replies(stack, request_id) == []
    for hours in (approvals.remind_after_hours, approvals.remind_after_hours + 1):
        stack.runtime.bot.housekeeping(now=created_at + hours * 3600 + 60)
    reminders = [c for c in thread_replies(stack, request_id) if "waiting for approval" in said(c)]
    assert len(reminders) == 1
    assert f"<@{APPROVER}>" in said(reminders[0]) and f"<@{SECOND_APPROVER}>" in said(reminders[0])
    assert stack.runtime.store.get(request_id).status == "submitted"

    stack.runtime.bot.housekeeping(now=created_at + approvals.expire_after_hours * 3600 + 60)
    assert stack.runtime.store.get(request_id).status == "expired"
    root = root_update(stack, request_id)
    assert '"approve"' not in json.dumps(root["blocks"]) and '"reject"' not in json.dumps(root["blocks"])
    assert any("expired" in said(c) for c in dms(stack, REQUESTER))
    assert any("Expired" in said(c) for c in thread_replies(stack, request_id))

    click(stack, APPROVER, "approve", request_id)
    assert "expired" in said(ephemerals(stack, APPROVER)[-1])
    assert stack.runtime.store.get(request_id).status == "expired"


def test_a_reminder_does_not_ask_the_requester_to_approve_their_own_request(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "own-reminder"}, user=APPROVER)
    created_at = stack.runtime.store.get(request_id).created_at
    stack.runtime.bot.housekeeping(now=created_at + stack.config.policy.approvals.remind_after_hours * 3600 + 60)
    [reminder] = thread_replies(stack, request_id)
    assert f"<@{SECOND_APPROVER}>" in said(reminder)
    assert f"<@{APPROVER}>" not in said(reminder)


def test_an_approval_message_slack_failed_to_post_is_posted_by_housekeeping(stack: BotStack) -> None:
    stack.slack.fail_next("chat.postMessage", error="internal_error")
    request_id = request_role(stack, "user", {"role_name": "lost-message"})
    record = stack.runtime.store.get(request_id)
    assert record.message_ts is None, "Slack's failure was not injected into the approval post"

    for minutes in (5, 10):
        stack.runtime.bot.housekeeping(now=record.created_at + minutes * 60)
    posts = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    assert len(posts) == 2 and "approve" in buttons_of(posts[-1])
    assert stack.runtime.store.get(request_id).message_ts
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"
