"""Time-limited roles end to end over HTTP against moto: a role asked for 1 day is created with its expiry,
and once the day is over housekeeping revokes its sessions and deletes it — exactly once, also when
the expiry fell while the bot was down, and when two bots look at the same moment."""

import sqlite3
import threading
from collections.abc import Callable

import boto3

from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, REQUESTER, buttons_of, click, dms, make_look_alike, press, request_role, said

DAY = 86400


def one_day_role(stack: BotStack, name: str) -> str:
    request_id = request_role(
        stack,
        "service",
        {"role_name": name, "service_principal": "ec2.amazonaws.com", "expires_after_days": "1"},
    )
    click(stack, APPROVER, "approve", request_id)
    return request_id


def role_names(aws: boto3.Session) -> list[str]:
    return [role["RoleName"] for role in aws.client("iam").list_roles()["Roles"]]


def test_a_role_is_deleted_when_its_day_is_over_with_its_sessions_revoked_first(
    stack: BotStack, aws: boto3.Session
) -> None:
    made_id = one_day_role(stack, "one-day")
    made = stack.runtime.store.get(made_id)
    assert made.status == "created" and made.expires_at is not None
    assert abs(made.expires_at - (made.updated_at + DAY)) < 5
    assert "deleted 1 day(s) after creation" in made.request.summary()

    stack.runtime.bot.housekeeping(now=made.expires_at - 60)
    stack.settle()
    assert "one-day" in role_names(aws)

    stack.runtime.bot.housekeeping(now=made.expires_at + 1)
    stack.settle()

    assert "one-day" not in role_names(aws)
    retire = stack.runtime.store.get(stack.runtime.store.get(made_id).expiry_request_id)
    assert (retire.kind, retire.status, retire.target_id, retire.requester) == ("delete", "deleted", made_id, REQUESTER)
    assert retire.result["removed"][0].startswith("PutRolePolicy PolicyName=AWSRevokeOlderSessions")
    assert [e.kind for e in stack.runtime.store.events(retire.id)] == [
        "submitted",
        "approved",
        "provisioning",
        "deleted",
    ]
    assert any("is deleted" in said(c) for c in dms(stack, REQUESTER))
    approval = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == retire.message_ts]
    assert "approved with the role" in said(approval[-1])

    stack.runtime.bot.housekeeping(now=made.expires_at + 3600)
    stack.settle()
    assert [r.id for r in stack.runtime.store.acting_on(made_id)] == [retire.id]


def test_an_expiry_that_fell_while_the_bot_was_down_is_handled_once_when_it_is_back(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    before = make_stack()
    made_id = one_day_role(before, "while-down")
    expires_at = before.runtime.store.get(made_id).expires_at
    before.close()

    after = make_stack()
    assert after.runtime.bot.resume_interrupted() == []
    after.runtime.bot.housekeeping(now=expires_at + 7 * DAY)
    after.settle()
    after.runtime.bot.housekeeping(now=expires_at + 8 * DAY)
    after.settle()

    assert "while-down" not in role_names(aws)
    deletes = after.runtime.store.acting_on(made_id)
    assert [(r.kind, r.status) for r in deletes] == [("delete", "deleted")]


def test_a_restart_between_the_claim_and_the_deletion_finishes_it_once(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    before = make_stack()
    made_id = one_day_role(before, "claimed-then-down")
    made = before.runtime.store.get(made_id)
    role = before.runtime.bot.executor.read_role(made.account_id, made.role_name)
    before.runtime.workflow.lease_seconds = 0.0  # its job is free at once: as long after the crash
    retire = before.runtime.workflow.expire_role(made, role, made.expires_at + 1)  # the claim, then the crash
    before.close()
    assert retire is not None and retire.status == "approved"
    assert "claimed-then-down" in role_names(aws)

    after = make_stack()
    assert [r.id for r in after.runtime.bot.resume_interrupted()] == [retire.id]
    after.runtime.bot.housekeeping(now=made.expires_at + 2)
    after.settle()

    assert "claimed-then-down" not in role_names(aws)
    assert [(r.id, r.status) for r in after.runtime.store.acting_on(made_id)] == [(retire.id, "deleted")]


def test_two_bots_looking_at_once_delete_the_role_once(make_stack: Callable[..., BotStack], aws: boto3.Session) -> None:
    first = make_stack()
    made_id = one_day_role(first, "raced")
    expires_at = first.runtime.store.get(made_id).expires_at
    second = make_stack()
    barrier = threading.Barrier(2)
    started: list[list] = []

    def look(stack: BotStack) -> None:
        barrier.wait()
        started.append(stack.runtime.bot.expire_roles(expires_at + 1))

    threads = [threading.Thread(target=look, args=(stack,)) for stack in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.settle()
    second.settle()

    assert sorted(len(s) for s in started) == [0, 1]
    assert [r.status for r in first.runtime.store.acting_on(made_id)] == ["deleted"]
    assert "raced" not in role_names(aws)


def reminders(stack: BotStack) -> list:
    return [c for c in dms(stack, REQUESTER) if "extend_role" in buttons_of(c)]


def test_the_requester_is_reminded_once_and_an_approved_extension_moves_the_expiry(
    stack: BotStack, aws: boto3.Session
) -> None:
    made_id = one_day_role(stack, "extend-me")
    first_expiry = stack.runtime.store.get(made_id).expires_at
    stack.runtime.bot.housekeeping(now=first_expiry - 7 * 3600)  # a quarter of a day before: not yet
    stack.settle()
    assert reminders(stack) == []

    for _ in range(2):
        stack.runtime.bot.housekeeping(now=first_expiry - 5 * 3600)
        stack.settle()
    assert len(reminders(stack)) == 1
    assert "expires" in said(reminders(stack)[0]) and "Delete now" in said(reminders(stack)[0])

    press(stack, REQUESTER, reminders(stack)[0], "extend_role")
    extend = stack.runtime.store.acting_on(made_id)[0]
    assert (extend.kind, extend.status) == ("extend", "submitted")
    click(stack, APPROVER, "approve", extend.id)

    assert stack.runtime.store.get(extend.id).status == "extended"
    assert stack.runtime.store.get(made_id).expires_at == first_expiry + DAY
    assert any("is extended" in said(c) for c in dms(stack, REQUESTER))
    stack.runtime.bot.housekeeping(now=first_expiry + 1)
    stack.settle()
    assert "extend-me" in role_names(aws)

    stack.runtime.bot.housekeeping(now=first_expiry + DAY - 5 * 3600)  # the new expiry gets its own reminder
    stack.settle()
    assert len(reminders(stack)) == 2

    press(stack, REQUESTER, reminders(stack)[-1], "delete_role")
    retire = stack.runtime.store.acting_on(made_id)[-1]
    assert (retire.kind, retire.status, retire.requester) == ("delete", "submitted", REQUESTER)
    with sqlite3.connect(stack.runtime.store.path) as conn:  # held before the ack (it reads AWS after), finished
        held = conn.execute("SELECT kind, state FROM form_submissions WHERE request_id = ?", [retire.id]).fetchall()
    assert held == [("delete", "recorded")]


def test_an_extension_approved_after_the_role_expired_fails_and_says_so(stack: BotStack, aws: boto3.Session) -> None:
    made_id = one_day_role(stack, "too-late")
    made = stack.runtime.store.get(made_id)
    extend = stack.runtime.bot.announce(stack.runtime.workflow.submit_extension(made, REQUESTER))
    stack.runtime.bot.expire_roles(made.expires_at + 1)
    stack.settle()

    stack.runtime.bot.approve(extend.id, APPROVER)
    stack.settle()

    record = stack.runtime.store.get(extend.id)
    assert (record.status, record.error) == ("failed", "The role too-late had already expired.")
    assert "too-late" not in role_names(aws)


def test_at_expiry_a_role_deleted_and_made_again_with_copied_tags_is_left_alone_and_said(
    stack: BotStack, aws: boto3.Session
) -> None:
    """Expiry deletes without asking anyone: it must not delete a look-alike someone made under the name (with the
    bot's tags copied). The deletion fails with why, told like any failed request, and the role stays."""
    made_id = one_day_role(stack, "expiring-twin")
    iam = aws.client("iam")
    make_look_alike(iam, "expiring-twin")
    stack.runtime.bot.housekeeping(now=stack.runtime.store.get(made_id).expires_at + 1)
    stack.settle()
    retire = stack.runtime.store.get(stack.runtime.store.get(made_id).expiry_request_id)
    assert retire.status == "failed" and "is not the one the bot made" in (retire.error or "")
    assert "expiring-twin" in role_names(aws)
    assert iam.list_role_policies(RoleName="expiring-twin")["PolicyNames"] == []  # no session-revoking deny put on
    assert any("is not the one the bot made" in said(c) for c in dms(stack, REQUESTER))
