"""Outcomes are announced even when the replica that recorded one dies before telling Slack: the outbox of notices.

A move to an announced outcome (created, failed, rejected, …) writes its notice in the same transaction; the replica
that recorded it sends it at once, and any other takes over a notice left unsent once its lease ran out, each notice by
one replica. Slack failing leaves a notice to be sent again later, from the message that failed, a few times at most.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from bot.config import Config, Policy, Settings
from bot.domain import parse_role_request
from bot.lifecycle import Status
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, BotStack, sandbox_slack
from bot.service import NOTICE_CLAIM_BATCH
from bot.store import Notice, Store
from bot.store_postgres import PostgresStore
from bot.workflow import POST_ATTEMPTS, REPOST_AFTER_SECONDS, Workflow
from tests.e2e import (
    APPROVER,
    REQUESTER,
    approved_deletion,
    buttons_of,
    click,
    dms,
    edit_form,
    made_lambda_role,
    press,
    request_role,
    said,
    submit,
    thread_replies,
)
from tests.test_slack_submissions import engine_settings

APPROVERS = ["U2", "U3"]


def workflow_on(store: Store, *, lease_seconds: float = 60.0) -> Workflow:
    settings = Settings(_env_file=None, approver_ids=APPROVERS, database_path="unused.db")
    return Workflow(store, Config(settings, Policy()), lease_seconds=lease_seconds)


def role(name: str = "app") -> Any:
    return parse_role_request(
        {"role_type": "user", "account_id": "123456789012", "role_name": name, "justification": "Tests."}
    )


def rejected(workflow: Workflow, name: str = "app") -> str:
    """A request rejected through ``workflow``: an announced outcome, its notice held by ``workflow``'s replica."""
    record = workflow.submit(role(name), "U1", findings=[], high_risk=False)
    return workflow.reject(record.id, "U2", "No.").id


def notice_rows(store: Store, request_id: str) -> list[tuple[str, str, int, int]]:
    """Every notice of a request as (kind, state, attempts, parts done), read from the database itself."""
    query = "SELECT kind, state, attempts, parts_done FROM notices WHERE request_id = ? ORDER BY id"
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as conn:
            return [tuple(row) for row in conn.execute(query.replace("?", "%s"), [request_id])]
    with sqlite3.connect(store.path) as conn:
        return list(conn.execute(query, [request_id]))


# --- the store and the workflow, on both engines -------------------------------------------------------------------


def test_an_announced_outcome_writes_its_notice_held_by_the_replica_that_recorded_it(
    open_store: Callable[..., Store],
) -> None:
    store = open_store()
    workflow = workflow_on(store)
    request_id = rejected(workflow)
    (notice,) = workflow.held_notices(request_id)
    assert (notice.kind, notice.attempts, notice.parts_done) == (Status.REJECTED, 0, 0)
    assert workflow_on(store).held_notices(request_id) == []  # another replica holds none of it
    assert workflow_on(store).claim_notices() == []  # nor may it take it: its lease is still running
    assert workflow.to_announce(notice) == store.get(request_id)
    assert workflow.notice_progress(notice, 1) and workflow.notice_sent(notice)
    assert notice_rows(store, request_id) == [("rejected", "sent", 0, 1)]
    assert workflow.held_notices(request_id) == [] and workflow_on(store).claim_notices(time.time() + 3600) == []


def test_moves_that_are_not_outcomes_write_no_notice(open_store: Callable[..., Store]) -> None:
    store = open_store()
    workflow = workflow_on(store)
    record = workflow.submit(role(), "U1", findings=[], high_risk=False)
    workflow.approve(record.id, "U2")
    workflow.claim_provisioning(record.id, "iam-role-bot")
    assert notice_rows(store, record.id) == []
    workflow.mark_failed(record.id, "AWS said no.")
    assert notice_rows(store, record.id) == [("failed", "pending", 0, 0)]


@pytest.mark.parametrize("claimers", [2, 4])
def test_replicas_racing_for_notices_left_unsent_each_take_different_ones(
    open_store: Callable[..., Store], claimers: int
) -> None:
    """The replica that recorded the outcomes died (its leases ran out); the others look for work at the same moment,
    each through its own connection: every notice is claimed by exactly one."""
    dead = workflow_on(open_store(), lease_seconds=0.0)
    request_ids = [rejected(dead, f"r{n}") for n in range(6)]
    replicas = [workflow_on(open_store()) for _ in range(claimers)]
    barrier = threading.Barrier(claimers)
    claimed: list[list[Notice]] = [[] for _ in replicas]

    def claim(index: int) -> None:
        barrier.wait()
        claimed[index] = replicas[index].claim_notices()

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    taken = sorted(notice.request_id for notices in claimed for notice in notices)
    assert taken == sorted(request_ids)
    assert all(replica.claim_notices() == [] for replica in replicas)  # and none is claimable again meanwhile


def test_a_claim_takes_the_oldest_notices_up_to_its_limit(open_store: Callable[..., Store]) -> None:
    dead = workflow_on(open_store(), lease_seconds=0.0)
    request_ids = [rejected(dead, f"r{n}") for n in range(3)]
    replica = workflow_on(open_store())
    assert [notice.request_id for notice in replica.claim_notices(limit=2)] == request_ids[:2]
    assert [notice.request_id for notice in replica.claim_notices(limit=2)] == request_ids[2:]


def test_a_notice_slack_failed_waits_its_backoff_then_is_given_up_after_the_last_attempt(
    open_store: Callable[..., Store],
) -> None:
    store = open_store()
    workflow = workflow_on(store)
    request_id = rejected(workflow)
    (notice,) = workflow.held_notices(request_id)
    now = time.time()
    for attempt in range(1, POST_ATTEMPTS):
        assert workflow.notice_failed(notice, 2, "ratelimited") == "retry"  # tried again, from its third message
        assert notice_rows(store, request_id) == [("rejected", "pending", attempt, 2)]
        assert workflow.claim_notices(now) == []  # not before its backoff (doubling from REPOST_AFTER_SECONDS)
        (notice,) = workflow.claim_notices(now + REPOST_AFTER_SECONDS * 2**attempt)
        assert (notice.attempts, notice.parts_done) == (attempt, 2)
    assert workflow.notice_failed(notice, 3, "internal_error") == "given_up"  # the last attempt
    assert notice_rows(store, request_id) == [("rejected", "given_up", POST_ATTEMPTS, 3)]
    assert workflow.claim_notices(now + 86400) == []


def test_a_notice_whose_request_moved_on_is_superseded_not_said(open_store: Callable[..., Store]) -> None:
    """Failed, then retried: the failure's notice must not take the request's messages back to "failed"."""
    store = open_store()
    workflow = workflow_on(store)
    record = workflow.submit(role(), "U1", findings=[], high_risk=False)
    workflow.approve(record.id, "U2")
    workflow.claim_provisioning(record.id, "iam-role-bot")
    workflow.mark_failed(record.id, "AWS said no.")
    (failure,) = workflow.held_notices(record.id)
    workflow.retry(record.id, "U3")
    assert workflow.to_announce(failure) is None  # provisioning again: its outcome gets a notice of its own
    workflow.mark_created(record.id, {"role_arn": "arn:aws:iam::123456789012:role/app"})
    (created,) = workflow.held_notices(record.id)
    assert workflow.to_announce(created) == store.get(record.id)
    assert notice_rows(store, record.id) == [("failed", "superseded", 0, 0), ("created", "pending", 0, 0)]


def test_a_replica_overtaken_may_neither_go_on_nor_record_anything_of_the_notice(
    open_store: Callable[..., Store],
) -> None:
    """Its lease ran out mid-send (it hung) and another replica claimed the notice: the first's next call is refused
    (``notice_progress``), and so are its failure and its mark; only the new holder's count."""
    store = open_store()
    slow = workflow_on(store, lease_seconds=0.0)
    request_id = rejected(slow)
    (notice,) = slow.held_notices(request_id)
    assert slow.notice_progress(notice, 1)  # still its own: the lease ran out, nobody claimed it
    (taken,) = workflow_on(store).claim_notices()
    assert taken.parts_done == 1  # the new holder starts after the call the first made
    assert not slow.notice_progress(notice, 2)
    assert slow.notice_failed(notice, 2, "internal_error") == "overtaken"
    assert not slow.notice_sent(notice) and slow.to_announce(notice) is not None
    assert notice_rows(store, request_id) == [("rejected", "pending", 0, 1)]


def test_a_replica_sending_renews_its_notices_leases_and_keeps_them(open_store: Callable[..., Store]) -> None:
    store = open_store()
    slow = workflow_on(store, lease_seconds=0.0)
    request_id = rejected(slow)
    (notice,) = slow.held_notices(request_id)
    slow.lease_seconds = 60.0
    assert slow.renew_notice_leases([notice.id]) == [notice.id]
    assert workflow_on(store).claim_notices() == []  # renewed: not taken over while it sends


# --- end to end: signed HTTP through Bolt, the recording fake Slack, moto ------------------------------------------


@pytest.fixture
def one_slack() -> Iterator[FakeSlack]:
    """One fake Slack for several bots, as replicas share one workspace."""
    with sandbox_slack() as slack:
        yield slack


def recorded_while_slack_holds(
    stack: BotStack, slack: FakeSlack, user: str, action: str, request_id: str, status: str
) -> threading.Event:
    """``user`` presses ``action`` on the request's approval message while Slack holds the next ``chat.update`` (the
    click's own messages wait in the approvals channel's queue, and the outcome's after them); returns once the request
    is recorded ``status``, its outcome not yet told. The event answers the held call."""
    record = stack.runtime.store.get(request_id)
    released = slack.hold("chat.update", times=1)
    reply = stack.driver.click(user, action, request_id, message={"ts": record.message_ts}, channel=record.channel)
    assert reply.status == 200
    deadline = time.monotonic() + 30
    while stack.runtime.store.get(request_id).status != status:
        assert time.monotonic() < deadline, f"{request_id} was never recorded {status}"
        time.sleep(0.02)
    return released


def dies(stack: BotStack) -> None:
    """The replica dies: nothing more from it, not even through its database."""
    stack.server.shutdown()
    stack.runtime.store.close()


def created_messages(slack: FakeSlack, request_id: str, arn: str, thread_ts: str) -> dict[str, int]:
    """How often each place was told the role ``arn`` was created: its thread, the requester's DM, the
    notifications channel (only calls Slack took)."""
    posted = [c for c in slack.calls("chat.postMessage") if c.response.get("ok")]
    return {
        "thread": sum(c.params.get("thread_ts") == thread_ts and arn in said(c) for c in posted),
        "dm": sum(c.params["channel"] == REQUESTER and arn in said(c) for c in posted),
        "channel": sum(c.params["channel"] == ANNOUNCE_CHANNEL and request_id in said(c) for c in posted),
    }


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_outcome_recorded_by_a_replica_that_died_before_telling_is_announced_once_by_the_next(
    make_stack: Callable[..., BotStack],
    one_slack: FakeSlack,
    aws: boto3.Session,
    request: pytest.FixtureRequest,
    engine: str,
) -> None:
    """The replica creates the role and records it, while its messages about the approval are still on their way
    (Slack holds them); it dies before it says anything of the outcome. The next bot on the database announces it at
    start-up: the thread, the approval message, the DM and the notifications channel, each once."""
    settings = engine_settings(request, engine)
    first = make_stack(slack=one_slack, **settings)
    first.runtime.workflow.lease_seconds = 0.0  # what it holds runs out at once: as if long after it died
    request_id = request_role(first, "user", {"role_name": "orphaned"})
    record = first.runtime.store.get(request_id)
    released = recorded_while_slack_holds(first, one_slack, APPROVER, "approve", request_id, "created")
    dies(first)
    made = aws.client("iam").get_role(RoleName="orphaned")["Role"]["Arn"]
    assert created_messages(one_slack, request_id, made, record.message_ts) == {"thread": 0, "dm": 0, "channel": 0}

    second = make_stack(slack=one_slack, **settings)
    second.runtime.bot.resume_interrupted()
    second.settle()
    second.runtime.bot.resume_interrupted()  # sent and marked: nothing to take over any more
    second.runtime.bot.keep_leases()
    second.settle()

    assert created_messages(one_slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}
    root = [c for c in one_slack.calls("chat.update") if c.params["ts"] == record.message_ts][-1]
    assert made in said(root), "the approval message shows the role created"
    assert notice_rows(second.runtime.store, request_id) == [("created", "sent", 0, 3)]

    released.set()  # the first bot's held call is answered: it took the notice for dead, and says nothing of it
    first.runtime.bot.drain(10)
    assert created_messages(one_slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}


def test_the_replica_that_records_an_outcome_announces_it_at_once_and_once(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(stack, "user", {"role_name": "told"})
    click(stack, APPROVER, "approve", request_id)  # waits for the bot's work, nothing more
    record = stack.runtime.store.get(request_id)
    made = record.result["role_arn"]
    assert created_messages(stack.slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}
    assert notice_rows(stack.runtime.store, request_id) == [("created", "sent", 0, 3)]
    stack.runtime.bot.resume_interrupted()
    stack.runtime.bot.resume_notices(time.time() + 86400)
    stack.settle()
    assert created_messages(stack.slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}


def test_slack_failing_leaves_the_rest_of_an_announcement_for_later_and_it_is_sent_then(stack: BotStack) -> None:
    """The cancellation's thread reply goes out, then Slack fails the approval message's update (a 5xx, through the
    client's retries): the update and the DM are sent by a later look, the reply is not said twice."""
    retries = REGISTRY.get_sample_value("iam_role_bot_notices_total", {"result": "retry"}) or 0.0
    request_id = request_role(stack, "user", {"role_name": "withdrawn"})
    record = stack.runtime.store.get(request_id)
    stack.slack.fail_next("chat.update", status=500, times=3)  # the first try and the client's two retries
    press(stack, REQUESTER, next(c for c in dms(stack, REQUESTER) if "cancel" in buttons_of(c)), "cancel")

    def cancelled_told() -> tuple[int, int, int]:
        replies = [
            c for c in thread_replies(stack, request_id) if "cancelled" in said(c).lower() and c.response.get("ok")
        ]
        updates = [
            c for c in stack.slack.calls("chat.update") if c.params["ts"] == record.message_ts and c.response.get("ok")
        ]
        told = [c for c in dms(stack, REQUESTER) if "cancelled" in said(c).lower() and c.response.get("ok")]
        return len(replies), len(updates), len(told)

    assert stack.runtime.store.get(request_id).status == "cancelled"
    assert cancelled_told() == (1, 0, 0)
    assert notice_rows(stack.runtime.store, request_id) == [("cancelled", "pending", 1, 1)]
    assert REGISTRY.get_sample_value("iam_role_bot_notices_total", {"result": "retry"}) == retries + 1
    assert stack.runtime.bot.resume_notices() == []  # not before its backoff

    stack.runtime.bot.resume_notices(time.time() + REPOST_AFTER_SECONDS + 1)
    stack.settle()
    assert cancelled_told() == (1, 1, 1)
    assert notice_rows(stack.runtime.store, request_id) == [("cancelled", "sent", 1, 2)]


def test_a_notice_its_own_replica_took_over_while_slow_to_tell_is_told_once(
    stack: BotStack, aws: boto3.Session
) -> None:
    """Slack holds the approval's messages past the lease (429s in a busy channel, each waited out up to two minutes):
    the outcome recorded meanwhile has its notice's lease run out before the provisioning thread gets to tell it, and
    this same replica's ``keep_leases`` claims it. Once the provisioning thread is done waiting it must not send the
    notice a second time: the claim and the recorder's own send are one replica, one owner name."""
    request_id = request_role(stack, "user", {"role_name": "slowly"})
    record = stack.runtime.store.get(request_id)
    stack.runtime.workflow.lease_seconds = 0.0  # the outcome's notice is recorded with its lease run out already
    released = recorded_while_slack_holds(stack, stack.slack, APPROVER, "approve", request_id, "created")
    stack.runtime.workflow.lease_seconds = 60.0
    assert [notice.request_id for notice in stack.runtime.bot.resume_notices()] == [request_id]
    released.set()
    stack.settle()
    made = aws.client("iam").get_role(RoleName="slowly")["Role"]["Arn"]
    assert created_messages(stack.slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}
    assert notice_rows(stack.runtime.store, request_id) == [("created", "sent", 0, 3)]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_replica_overtaken_mid_announcement_stops_and_the_next_repeats_only_the_call_in_flight(
    make_stack: Callable[..., BotStack],
    one_slack: FakeSlack,
    request: pytest.FixtureRequest,
    engine: str,
) -> None:
    """The first replica tells a cancellation: Slack takes the thread reply, then holds the approval message's update
    past the lease (the replica hangs, or dies there). The replica taking the notice over starts after the reply Slack
    took (said once); the first, answered at last, finds the notice no longer its own and says nothing more (the DM
    once). Only the call in flight is made twice, the window README's "Exactly once" names."""
    settings = engine_settings(request, engine)
    first = make_stack(slack=one_slack, **settings)
    request_id = request_role(first, "user", {"role_name": "overtaken"})
    record = first.runtime.store.get(request_id)
    first.runtime.workflow.lease_seconds = 0.0  # what it holds runs out at once: as if it hung past its lease
    released = one_slack.hold("chat.update", times=1)
    reply = first.driver.click(
        REQUESTER, "cancel", request_id, message={"ts": record.message_ts}, channel=record.channel
    )
    assert reply.status == 200
    one_slack.wait_for("chat.update", lambda c: c.params["ts"] == record.message_ts and "cancelled" in said(c).lower())

    second = make_stack(slack=one_slack, **settings)
    assert [notice.request_id for notice in second.runtime.bot.resume_notices()] == [request_id]
    second.settle()
    released.set()
    first.settle()

    def told(calls: list[Any]) -> int:
        return sum("cancelled" in said(c).lower() and bool(c.response.get("ok")) for c in calls)

    replies = [c for c in one_slack.calls("chat.postMessage") if c.params.get("thread_ts") == record.message_ts]
    updates = [c for c in one_slack.calls("chat.update") if c.params["ts"] == record.message_ts]
    direct = [c for c in one_slack.calls("chat.postMessage") if c.params["channel"] == REQUESTER]
    assert (told(replies), told(updates), told(direct)) == (1, 2, 1)
    assert [row[:2] for row in notice_rows(second.runtime.store, request_id)] == [("cancelled", "sent")]


def test_a_connection_cut_mid_answer_fails_that_call_only_and_the_channel_goes_on(stack: BotStack) -> None:
    """The connection drops in the middle of Slack's answer to the approval message's update of a cancellation
    (``http.client.IncompleteRead``, which the SDK's retry handlers let through): that call failed, the announcement
    is tried again later from it, and the approvals channel's queue goes on. Before, the exception escaped the queue
    with the call still at its head: every later message to that channel waited forever, the notice's send among them,
    its lease renewed by ``keep_leases`` — never sent, never given up."""
    request_id = request_role(stack, "user", {"role_name": "cut"})
    record = stack.runtime.store.get(request_id)
    stack.slack.cut_next("chat.update")
    press(stack, REQUESTER, next(c for c in dms(stack, REQUESTER) if "cancel" in buttons_of(c)), "cancel")
    assert notice_rows(stack.runtime.store, request_id) == [("cancelled", "pending", 1, 1)]

    stack.runtime.bot.resume_notices(time.time() + REPOST_AFTER_SECONDS + 1)
    stack.settle(timeout=5)
    assert notice_rows(stack.runtime.store, request_id) == [("cancelled", "sent", 1, 2)]
    updates = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == record.message_ts]
    assert sum("cancelled" in said(c).lower() for c in updates) == 2  # the one cut (Slack took it), and again
    assert sum("cancelled" in said(c).lower() for c in dms(stack, REQUESTER)) == 1


def test_a_role_deleted_before_its_creation_was_told_is_not_announced_ready(
    make_stack: Callable[..., BotStack], one_slack: FakeSlack, aws: boto3.Session
) -> None:
    """The replica that created the role died before telling it; before its notice was taken over, the role was asked
    to be deleted and deleted. The late notice still says it in the create's thread and approval message (its history:
    the role was made, and the deletion's thread says it is gone), but neither DMs the requester that the role "is
    ready" nor announces it in the notifications channel: both would offer a role that no longer exists."""
    first = make_stack(slack=one_slack)
    first.runtime.workflow.lease_seconds = 0.0  # what it holds runs out at once: as if long after it died
    request_id = request_role(first, "user", {"role_name": "shortlived"})
    record = first.runtime.store.get(request_id)
    recorded_while_slack_holds(first, one_slack, APPROVER, "approve", request_id, "created")
    made = aws.client("iam").get_role(RoleName="shortlived")["Role"]["Arn"]
    dies(first)

    second = make_stack(slack=one_slack)
    approved_deletion(second, REQUESTER, "shortlived")

    second.runtime.bot.resume_notices()
    second.settle()
    assert created_messages(one_slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 0, "channel": 0}
    root = [c for c in one_slack.calls("chat.update") if c.params["ts"] == record.message_ts][-1]
    assert made in said(root), "the approval message shows what was made"
    assert [row[:2] for row in notice_rows(second.runtime.store, request_id)] == [("created", "sent")]


def test_the_database_connection_dropped_before_telling_costs_neither_the_role_code_nor_the_announcement(
    make_stack: Callable[..., BotStack], request: pytest.FixtureRequest, aws: boto3.Session
) -> None:
    """PostgreSQL drops the bot's connections (a failover, a restart) after it recorded the role created and before it
    told it: looking up its notice fails once. The provisioning thread logs that and goes on to the role's code in the
    thread, and the notice, still pending, is sent by the next look (``keep_leases``). Before, the exception ended the
    provisioning thread silently (on the pool) and the role's code was never posted nor committed."""
    url = engine_settings(request, "postgresql")["database_url"].get_secret_value() + "&application_name=dropped"
    stack = make_stack(database_url=SecretStr(url))
    stack.runtime.workflow.lease_seconds = 0.0
    request_id = request_role(stack, "user", {"role_name": "dropped"})
    record = stack.runtime.store.get(request_id)
    released = recorded_while_slack_holds(stack, stack.slack, APPROVER, "approve", request_id, "created")
    with psycopg.connect(url, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'dropped' AND pid <> pg_backend_pid()"
        ).fetchall()
    assert dropped
    released.set()
    stack.settle()
    assert stack.slack.calls("files.completeUploadExternal"), "the role's code was posted in the thread"

    keeper = threading.Thread(target=stack.runtime.bot.keep_leases)  # its own thread, as in production
    keeper.start()
    keeper.join(30)
    stack.settle()
    made = aws.client("iam").get_role(RoleName="dropped")["Role"]["Arn"]
    assert created_messages(stack.slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_live_recorder_slower_than_its_lease_leaves_its_notice_to_the_replica_that_took_it(
    make_stack: Callable[..., BotStack],
    one_slack: FakeSlack,
    aws: boto3.Session,
    request: pytest.FixtureRequest,
    engine: str,
) -> None:
    """As the own-replica case, across replicas: the recorder is alive but Slack held it past its notice's lease, and
    another replica took the notice over and said it. Once answered, the recorder finds the notice no longer its own
    and says nothing of it: each place told once."""
    settings = engine_settings(request, engine)
    first = make_stack(slack=one_slack, **settings)
    first.runtime.workflow.lease_seconds = 0.0
    request_id = request_role(first, "user", {"role_name": "outpaced"})
    record = first.runtime.store.get(request_id)
    released = recorded_while_slack_holds(first, one_slack, APPROVER, "approve", request_id, "created")

    second = make_stack(slack=one_slack, **settings)
    assert [notice.request_id for notice in second.runtime.bot.resume_notices()] == [request_id]
    second.settle()
    released.set()
    first.settle()
    made = aws.client("iam").get_role(RoleName="outpaced")["Role"]["Arn"]
    assert created_messages(one_slack, request_id, made, record.message_ts) == {"thread": 1, "dm": 1, "channel": 1}
    assert notice_rows(first.runtime.store, request_id) == [("created", "sent", 0, 3)]


def test_a_change_told_late_after_its_role_was_deleted_is_said_in_its_history_only(
    make_stack: Callable[..., BotStack], one_slack: FakeSlack, aws: boto3.Session
) -> None:
    """As a creation told late (above), an edit: the replica that made the change died before telling it, and the role
    was deleted before the notice was taken over. The late notice says it in the edit's thread and approval message,
    but DMs no "your change to the role is made" about a role that is gone (nor would an extension's or a drift
    action's: ``ROLE_THERE_STATUSES``)."""
    first = make_stack(slack=one_slack)
    made_lambda_role(first, "changedthengone")
    assert (
        submit(first, REQUESTER, edit_form(first, "changedthengone"), {"inline_policy": "", "justification": "No S3."})
        is None
    )
    edit = first.runtime.store.for_requester(REQUESTER, limit=1)[0]
    first.runtime.workflow.lease_seconds = 0.0  # what it holds runs out at once: as if long after it died
    recorded_while_slack_holds(first, one_slack, APPROVER, "approve", edit.id, "edited")
    dies(first)
    told_before = sum("change to the role" in said(c) for c in dms(first, REQUESTER))

    second = make_stack(slack=one_slack)
    approved_deletion(second, REQUESTER, "changedthengone")
    second.runtime.bot.resume_notices()
    second.settle()
    changed = [c for c in thread_replies(second, edit.id) if "Role changed" in said(c) and c.response.get("ok")]
    assert len(changed) == 1, "the edit's thread has its outcome"
    assert sum("change to the role" in said(c) for c in dms(second, REQUESTER)) == told_before == 0
    assert [row[:2] for row in notice_rows(second.runtime.store, edit.id)] == [("edited", "sent")]


def test_a_notice_that_cannot_be_rendered_counts_its_sends_and_is_given_up_after_the_last(stack: BotStack) -> None:
    """A notice whose send raises every time (here its request's stored result is not JSON, as a value the bot cannot
    show or a bug in a message would) is a failed send like one Slack failed: tried again after its backoff, then given
    up after ``POST_ATTEMPTS`` with one ERROR line. Before, it was never counted: claimed again every lease (~80 s),
    an ERROR with a trace each time, for ever. (The row is changed with SQL on the real file; nothing of ours mocked.)
    """
    given_up = REGISTRY.get_sample_value("iam_role_bot_notices_total", {"result": "given_up"}) or 0.0
    store = stack.runtime.store
    request_id = rejected(workflow_on(store, lease_seconds=0.0))  # its replica died before telling it
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE requests SET result_json = '{' WHERE id = ?", [request_id])
    later = time.time()
    for attempt in range(1, POST_ATTEMPTS + 1):
        later += 86400  # past any backoff
        assert [notice.request_id for notice in stack.runtime.bot.resume_notices(later)] == [request_id]
        stack.settle()
        state = "pending" if attempt < POST_ATTEMPTS else "given_up"
        assert notice_rows(store, request_id) == [("rejected", state, attempt, 0)]
    assert stack.runtime.bot.resume_notices(later + 86400) == []
    assert REGISTRY.get_sample_value("iam_role_bot_notices_total", {"result": "given_up"}) == given_up + 1
    assert not stack.slack.calls("chat.postMessage")  # nothing said (its DM could not be rendered either)


def test_a_send_the_database_failed_costs_the_notice_no_attempt(
    make_stack: Callable[..., BotStack], request: pytest.FixtureRequest
) -> None:
    """PostgreSQL drops the bot's connections (a failover) while a notice is being sent: reading its request fails.
    That is the database's trouble, not the notice's: no attempt counted (``Store.DATABASE_ERRORS``), the notice left
    to its lease and sent by the next look, with all its attempts still ahead of it."""
    url = engine_settings(request, "postgresql")["database_url"].get_secret_value() + "&application_name=failover"
    stack = make_stack(database_url=SecretStr(url))
    request_id = rejected(workflow_on(stack.runtime.store, lease_seconds=0.0))  # its replica died before telling it
    later = time.time() + 86400
    (notice,) = stack.runtime.workflow.claim_notices(later)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'failover' AND pid <> pg_backend_pid()"
        )
    stack.runtime.bot.send_notice(notice)  # this thread's connection is the one gone
    assert notice_rows(stack.runtime.store, request_id) == [("rejected", "pending", 0, 0)]
    assert [n.request_id for n in stack.runtime.bot.resume_notices(later + 86400)] == [request_id]
    stack.settle()
    assert notice_rows(stack.runtime.store, request_id) == [("rejected", "sent", 0, 2)]  # not posted: its DM alone


def test_what_sqlite_raises_when_its_file_is_gone_is_a_database_error(tmp_path: Path) -> None:
    """As the PostgreSQL case above, on SQLite: a thread that cannot open the database file raises one of
    ``Store.DATABASE_ERRORS`` (not counted against a notice); an error of the notice's own is not one of them."""
    store = Store(tmp_path / "bot.db")
    (tmp_path / "bot.db").rename(tmp_path / "moved.db")
    (tmp_path / "bot.db").mkdir()
    raised: list[BaseException] = []

    def read() -> None:
        try:
            store.get("R-1")
        except Exception as error:
            raised.append(error)

    thread = threading.Thread(target=read)  # a new thread opens its own connection
    thread.start()
    thread.join(30)
    store.close()
    assert raised and isinstance(raised[0], Store.DATABASE_ERRORS), raised
    assert not isinstance(ValueError("a value it cannot show"), Store.DATABASE_ERRORS)


def test_a_backlog_of_notices_is_shared_between_replicas_in_batches_and_each_told_once(
    make_stack: Callable[..., BotStack], one_slack: FakeSlack
) -> None:
    """Many notices left unsent (their replica died during a long Slack outage): a replica takes at most
    ``NOTICE_CLAIM_BATCH`` at a look, and no more while it is still sending those, so the others take the rest rather
    than wait on one replica's one announcing thread, and what a replica holds stays few (its leases all renewed
    every ``keep_leases``, in one statement). Each is told once."""
    first, second = make_stack(slack=one_slack), make_stack(slack=one_slack)
    dead = workflow_on(first.runtime.store, lease_seconds=0.0)
    request_ids = [rejected(dead, f"backlog{n}") for n in range(NOTICE_CLAIM_BATCH + 3)]
    released = one_slack.hold("chat.postMessage", times=1)  # the first's first DM waits: it is still sending
    taken_first = first.runtime.bot.resume_notices()
    assert len(taken_first) == NOTICE_CLAIM_BATCH
    one_slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == "U1")  # held: the second's are not
    assert first.runtime.bot.resume_notices() == []  # not while it sends those
    first.runtime.bot.keep_leases()
    assert len(first.runtime.bot.announcing) == NOTICE_CLAIM_BATCH
    taken_second = second.runtime.bot.resume_notices()
    assert sorted(n.request_id for n in taken_first + taken_second) == sorted(request_ids)
    second.settle()
    released.set()
    first.settle()
    told = [c for c in one_slack.calls("chat.postMessage") if c.params["channel"] == "U1" and c.response.get("ok")]
    assert sorted(said(c).split("*")[1] for c in told) == sorted(request_ids)


def test_a_request_cancelled_while_its_approval_message_was_posted_again_shows_it_there(stack: BotStack) -> None:
    """Slack failed the approval post at submission; housekeeping posts it again, and while Slack holds that post the
    requester cancels. The cancellation's notice finds no approval message yet (its DM alone). Once the post lands,
    the message must not offer Approve and Reject for a cancelled request, and the requester must not be told, after
    the cancellation, that it was sent for approval."""
    stack.slack.fail_next("chat.postMessage", error="internal_error")
    request_id = request_role(stack, "user", {"role_name": "raced"})
    record = stack.runtime.store.get(request_id)
    assert record.message_ts is None, "Slack's failure was not injected into the approval post"
    before = stack.slack.calls("chat.postMessage")
    released = stack.slack.hold("chat.postMessage", times=1)
    housekeeping = threading.Thread(target=stack.runtime.bot.housekeeping, kwargs={"now": record.created_at + 300})
    housekeeping.start()
    stack.slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == APPROVAL_CHANNEL and c not in before)
    press(stack, REQUESTER, next(c for c in dms(stack, REQUESTER) if "cancel" in buttons_of(c)), "cancel")
    assert stack.runtime.store.get(request_id).status == "cancelled"
    released.set()
    housekeeping.join(30)
    stack.settle()

    posted = stack.runtime.store.get(request_id)
    assert posted.message_ts, "housekeeping's post landed"
    shown = [c for c in stack.slack.calls() if posted.message_ts in (c.response.get("ts"), c.params.get("ts"))]
    last = shown[-1]
    assert "cancelled" in said(last).lower() and not buttons_of(last), "the approval message shows the cancellation"
    told = [said(c) for c in dms(stack, REQUESTER) if c.response.get("ok")]
    assert "sent for approval" not in told[-1], told[-1]


def test_a_replica_overtaken_on_a_notice_still_queued_makes_none_of_its_calls(
    make_stack: Callable[..., BotStack], one_slack: FakeSlack
) -> None:
    """A replica claims two notices left unsent and sends them one after the other; Slack holds the first's DM past
    both leases (the replica hangs), and another replica takes both over and says them. Answered at last, the first
    replica must not start on the second: it was overtaken before making any of its calls, so saying its DM would
    repeat more than the one call in flight. Before, the first call of a send was made unchecked."""
    first, second = make_stack(slack=one_slack), make_stack(slack=one_slack)
    dead = workflow_on(first.runtime.store, lease_seconds=0.0)
    request_ids = [rejected(dead, f"queued{n}") for n in range(2)]
    first.runtime.workflow.lease_seconds = 0.0  # what it claims runs out at once: as if it hung past its leases
    released = one_slack.hold("chat.postMessage", times=1)
    assert len(first.runtime.bot.resume_notices()) == 2
    one_slack.wait_for("chat.postMessage", lambda c: request_ids[0] in said(c))
    assert len(second.runtime.bot.resume_notices()) == 2
    second.settle()
    released.set()
    first.settle()

    def told(request_id: str) -> int:
        return sum(request_id in said(c) for c in one_slack.calls("chat.postMessage") if c.params["channel"] == "U1")

    assert told(request_ids[0]) == 2  # the call in flight when it was overtaken, said again by the next: the window
    assert told(request_ids[1]) == 1
