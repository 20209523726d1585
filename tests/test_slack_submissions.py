"""A request form acked before its remote checks is never lost: held in the store until recorded or refused, finished
by the next run (or another replica) if the process stops meanwhile, by exactly one, and its errors sent by DM if the
user closed the view."""

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from blocks import ids
from bot.sandbox.stack import BotStack
from tests.e2e import REQUESTER, dms, open_modal, request_role, said

HOME = "123456789012"
GLUE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ETL_ROLE = {
    "account_id": HOME,
    "role_name": "etl",
    "service_principal": "glue.amazonaws.com",
    "justification": "Nightly ETL.",
}


@contextmanager
def aws_held(aws: boto3.Session) -> Iterator[tuple[threading.Event, threading.Event, list[str]]]:
    """Every AWS call made while ``holding`` is set waits until the block ends (or the test clears ``holding``:
    calls made after that go through, those already waiting keep waiting); ``asked`` is set at the first."""
    holding, asked, released, held = threading.Event(), threading.Event(), threading.Event(), []

    def hold(event_name: str, **_: Any) -> None:
        if holding.is_set():
            held.append(event_name)
            asked.set()
            released.wait(60)

    holding.set()
    aws.events.register("before-call", hold)
    try:
        yield holding, asked, held
    finally:
        released.set()
        aws.events.unregister("before-call", hold)


def submissions(stack: BotStack) -> list[tuple[str, str, str | None]]:
    """Every held form submission as (state, what was typed, request id), read from the database file."""
    with sqlite3.connect(stack.runtime.store.path) as conn:
        return list(conn.execute("SELECT state, form_json, request_id FROM form_submissions ORDER BY created_at"))


def acked_checking(stack: BotStack, view: dict[str, Any], answers: dict[str, Any]) -> None:
    reply = stack.driver.submit(REQUESTER, view, answers)
    assert reply.status == 200 and reply.json()["view"]["callback_id"] == ids.CHECKING_CALLBACK_ID, reply.body


def dies_while_asking_aws(stack: BotStack, asked: threading.Event) -> None:
    """The process stops with AWS still asked: it writes nothing more (its store is gone, its HTTP server too)."""
    assert asked.wait(10), "the checks never asked AWS"
    stack.server.shutdown()
    stack.runtime.store.close()


def test_a_submission_acked_before_a_restart_is_finished_once_by_the_next_run(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    before = make_stack()
    before.runtime.workflow.lease_seconds = 0.0  # its hold runs out at once: as if long after it stopped
    view = open_modal(before, REQUESTER, "service")
    with aws_held(aws) as (holding, asked, _):
        acked_checking(before, view, ETL_ROLE)
        assert submissions(before)[0][0] == "checking" and "Nightly ETL." in submissions(before)[0][1]
        dies_while_asking_aws(before, asked)
        holding.clear()

        after = make_stack()
        after.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
        assert after.runtime.store.count() == 0
        after.runtime.bot.resume_interrupted()
        after.settle()
        after.runtime.bot.resume_interrupted()  # claimed in the database: finished once
        after.settle()

        (record,) = after.runtime.store.for_requester(REQUESTER)
        assert record.role_name == "etl" and after.runtime.store.count() == 1
        assert submissions(after) == [("recorded", "{}", record.id)]
        assert after.runtime.store.submissions_checking() == []
        # The new Slack connection doesn't know the view (as when it expired): the requester is told by DM.
        (tried,) = [c for c in after.slack.calls("views.update") if c.params["view_id"] == view["id"]]
        assert f"Sent for approval: {record.id}" in json.dumps(tried.params["view"])
        assert any(record.id in said(dm) for dm in dms(after, REQUESTER))

        third = make_stack()  # a later restart finds nothing left to finish
        third.runtime.bot.resume_interrupted()
        third.settle()
        assert third.runtime.store.count() == 1


def test_a_submission_finished_normally_leaves_nothing_pending_nor_what_was_typed(stack: BotStack) -> None:
    request_id = request_role(stack, "service", {"role_name": "etl", "service_principal": "glue.amazonaws.com"})
    assert submissions(stack) == [("recorded", "{}", request_id)]
    assert stack.runtime.store.submissions_checking() == []


def test_errors_for_a_form_closed_while_checked_come_by_dm(stack: BotStack, aws: boto3.Session) -> None:
    stack.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
    aws.client("iam").create_role(RoleName="etl", AssumeRolePolicyDocument=json.dumps(GLUE_TRUST))
    view = open_modal(stack, REQUESTER, "service")
    with aws_held(aws) as (_, asked, held):
        acked_checking(stack, view, ETL_ROLE)
        assert asked.wait(10), "the checks never asked AWS"
        stack.slack.close_view(view["id"])  # the user closes the "checking" view
    stack.settle()
    assert any(name.endswith("iam.GetRole") for name in held), held
    (told,) = dms(stack, REQUESTER)
    assert "already has a role named etl" in said(told) and "/iam-role" in said(told)
    assert submissions(stack) == [("refused", "{}", None)]
    assert stack.runtime.store.count() == 0


def test_a_submission_refused_after_a_restart_tells_the_requester_the_errors(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    before = make_stack()
    before.runtime.workflow.lease_seconds = 0.0
    view = open_modal(before, REQUESTER, "service")
    with aws_held(aws) as (holding, asked, _):
        acked_checking(before, view, ETL_ROLE)
        dies_while_asking_aws(before, asked)
        holding.clear()
        aws.client("iam").create_role(RoleName="etl", AssumeRolePolicyDocument=json.dumps(GLUE_TRUST))

        after = make_stack()
        after.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
        after.runtime.bot.resume_interrupted()
        after.settle()

        assert after.runtime.store.count() == 0
        assert submissions(after) == [("refused", "{}", None)]
        (told,) = dms(after, REQUESTER)
        assert "already has a role named etl" in said(told) and "/iam-role" in said(told)


def test_a_submission_held_while_its_replica_is_alive_is_left_to_it(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    first, second = make_stack(), make_stack()  # two replicas on one database
    view = open_modal(first, REQUESTER, "service")
    with aws_held(aws) as (holding, asked, _):
        acked_checking(first, view, ETL_ROLE)
        assert asked.wait(10), "the checks never asked AWS"
        holding.clear()
        second.runtime.bot.keep_leases()  # every replica looks for work every third of the lease
        second.settle()
        assert second.runtime.store.count() == 0 and not second.slack.calls("views.update")
    first.settle()
    (record,) = first.runtime.store.for_requester(REQUESTER)
    assert submissions(first) == [("recorded", "{}", record.id)]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_hung_replicas_submission_is_finished_by_exactly_one_other(
    make_stack: Callable[..., BotStack], aws: boto3.Session, request: pytest.FixtureRequest, engine: str
) -> None:
    """Three replicas share the database; the one that acked a form hangs asking AWS past its lease. The two
    others look for work at once: one takes it over and finishes it; when the hung one wakes, it says nothing."""
    url = request.getfixturevalue("postgres").new_schema() if engine == "postgresql" else None
    shared = {"database_url": SecretStr(url)} if url else {}
    hung, *others = [make_stack(**shared) for _ in range(3)]
    hung.runtime.workflow.lease_seconds = 0.0  # its hold runs out at once: as if it hung for long
    for other in others:
        other.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
    view = open_modal(hung, REQUESTER, "service")
    with aws_held(aws) as (holding, asked, _):
        acked_checking(hung, view, ETL_ROLE)
        assert asked.wait(10), "the checks never asked AWS"
        holding.clear()  # the others' checks go through; the hung one's stays held
        barrier = threading.Barrier(len(others))

        def look_for_work(replica: BotStack) -> None:
            barrier.wait()
            replica.runtime.bot.keep_leases()

        threads = [threading.Thread(target=look_for_work, args=(replica,)) for replica in others]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for replica in others:
            replica.settle()
        (record,) = hung.runtime.store.for_requester(REQUESTER)
        finishers = [r for r in others if any(c.params["view_id"] == view["id"] for c in r.slack.calls("views.update"))]
        assert len(finishers) == 1
        assert f"Sent for approval: {record.id}" in json.dumps(finishers[0].slack.calls("views.update")[-1].params)
    hung.settle()  # it wakes: its checks end, and it finds the submission was not its own any more

    assert hung.runtime.store.count() == 1 and hung.runtime.store.submissions_checking() == []
    assert not hung.slack.calls("views.update") and not dms(hung, REQUESTER)
    posted = [r for r in [hung, *others] if any(record.id in said(c) for c in r.slack.calls("chat.postMessage"))]
    assert posted == finishers  # announced once, by the one that finished it
