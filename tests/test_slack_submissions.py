"""A request form (a new role or an edit) acked before its remote checks is never lost: held in the store until
recorded or refused, finished by the next run (or another replica) if the process stops meanwhile, by exactly one, and
its errors sent by DM if the user closed the view. ``/iam-role delete``, which reads AWS after its ack, is held too."""

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import psycopg
import pytest
from pydantic import SecretStr

from blocks import ids
from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from bot.store import RequestRecord
from bot.store_postgres import PostgresStore
from tests.e2e import READ_ONLY, REQUESTER, dms, edit_form, made_lambda_role, open_modal, request_role, said, submit
from tests.test_slack_edit import LAMBDA_BASIC
from tests.test_slack_retire import created_role

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


def held_call(held: list[str], suffix: str, timeout: float = 10) -> bool:
    """Whether a call whose event name ends with ``suffix`` is among ``held`` within ``timeout`` s: the checks ask AWS
    side by side, in no fixed order, so the first call held need not be the one a test is about."""
    deadline = time.monotonic() + timeout
    while not any(name.endswith(suffix) for name in held):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def submissions(stack: BotStack) -> list[tuple[str, str, str | None]]:
    """Every held form submission as (state, what was typed, request id), read from the database itself."""
    query = "SELECT state, form_json, request_id FROM form_submissions ORDER BY created_at"
    store = stack.runtime.store
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as conn:
            return [tuple(row) for row in conn.execute(query)]
    with sqlite3.connect(store.path) as conn:
        return list(conn.execute(query))


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
    with aws_held(aws) as (_, _, held):
        acked_checking(stack, view, ETL_ROLE)
        assert held_call(held, "iam.GetRole"), held  # the name's check is under way
        stack.slack.close_view(view["id"])  # the user closes the "checking" view
    stack.settle()
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


# --- edit forms: held and finished the same way -----------------------------------------------------------------

LOGS_EDIT = {"managed_policy_arns": [READ_ONLY, LAMBDA_BASIC], "justification": "Logs too."}
"""A change that asks AWS after the ack: the policy it adds is not read yet (moto has no Access Analyzer)."""


def engine_settings(request: pytest.FixtureRequest, engine: str) -> dict[str, Any]:
    """The stacks' settings for ``engine``: the test's SQLite file, or a new schema in the PostgreSQL cluster."""
    url = request.getfixturevalue("postgres").new_schema() if engine == "postgresql" else None
    return {"database_url": SecretStr(url)} if url else {}


def edits_of(stack: BotStack, made_id: str) -> list[RequestRecord]:
    return [record for record in stack.runtime.store.for_requester(REQUESTER) if record.target_id == made_id]


def role_to_edit(
    stack: BotStack, holding: threading.Event, *, lease_seconds: float = 0.0
) -> tuple[str, dict[str, Any]]:
    """A role the bot made, and its edit form open; AWS calls go through meanwhile, and are held again after.

    Made inside ``aws_held``: the Access Analyzer client the role's request makes is made once, and only clients
    made after the hook was registered see it. ``lease_seconds`` 0: a hold runs out at once, as if long after the
    replica stopped."""
    holding.clear()
    made = made_lambda_role(stack, "edit-me")
    view = edit_form(stack, "edit-me")
    stack.runtime.workflow.lease_seconds = lease_seconds
    holding.set()
    return made, view


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_edit_acked_before_a_restart_is_finished_once_by_the_next_run(
    make_stack: Callable[..., BotStack], aws: boto3.Session, request: pytest.FixtureRequest, engine: str
) -> None:
    """An edit form asks AWS after its ack (a policy's document, Access Analyzer): the process stops then.
    The next run records the change once, as an edit of the same role, and tells the requester. About 2-3 s: a
    role made through approval in moto, and three bots started one after the other."""
    shared = engine_settings(request, engine)
    before = make_stack(**shared)
    with aws_held(aws) as (holding, asked, held):
        made, view = role_to_edit(before, holding)
        acked_checking(before, view, LOGS_EDIT)
        (state, typed, _) = submissions(before)[-1]
        assert state == "checking" and LAMBDA_BASIC in typed
        assert held_call(held, "iam.GetPolicy"), held  # reading the policy's document, side by side with other checks
        dies_while_asking_aws(before, asked)
        holding.clear()

        after = make_stack(**shared)
        after.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
        assert edits_of(after, made) == []
        after.runtime.bot.resume_interrupted()
        after.settle()
        after.runtime.bot.resume_interrupted()  # claimed in the database: finished once
        after.settle()

        (edit,) = edits_of(after, made)
        assert (edit.kind, edit.status, edit.request.managed_policy_arns) == (
            "edit",
            "submitted",
            [READ_ONLY, LAMBDA_BASIC],
        )
        assert submissions(after)[-1] == ("recorded", "{}", edit.id)
        assert after.runtime.store.submissions_checking() == []
        (tried,) = [c for c in after.slack.calls("views.update") if c.params["view_id"] == view["id"]]
        assert f"Sent for approval: {edit.id}" in json.dumps(tried.params["view"])
        assert any(edit.id in said(dm) for dm in dms(after, REQUESTER))

        third = make_stack(**shared)  # a later restart finds nothing left to finish
        third.runtime.bot.resume_interrupted()
        third.settle()
        assert [e.id for e in edits_of(third, made)] == [edit.id]


def test_an_edit_refused_after_a_restart_tells_the_requester_why_and_how_to_edit_again(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    """While the held edit waited, another change of the role was recorded: finishing it is refused (one change of
    a role at a time), the refusal reaches the requester by DM with the command for this role, nothing is made."""
    before = make_stack()
    with aws_held(aws) as (holding, asked, _):
        made, view = role_to_edit(before, holding)
        acked_checking(before, view, LOGS_EDIT)
        dies_while_asking_aws(before, asked)
        holding.clear()

        after = make_stack()
        after.expected_refusals = ("not_found",)  # type: ignore[attr-defined]
        assert submit(after, REQUESTER, edit_form(after, "edit-me"), {"tags": "", "justification": "No tags."}) is None
        (other,) = edits_of(after, made)
        after.runtime.bot.resume_interrupted()
        after.settle()

    assert [e.id for e in edits_of(after, made)] == [other.id]
    assert submissions(after)[-2:] == [("refused", "{}", None), ("recorded", "{}", other.id)]
    told = [said(dm) for dm in dms(after, REQUESTER) if "was not sent" in said(dm)]
    assert len(told) == 1 and f"{other.id} already asks to edit edit-me" in told[0]
    assert "Your change of the role edit-me was not sent" in told[0] and f"/iam-role edit edit-me {HOME}" in told[0]


def test_an_edit_sent_again_by_slack_while_checked_makes_one_request(stack: BotStack, aws: boto3.Session) -> None:
    """Slack sends a submission again when its answer was slow: a copy of an edit held already is only acked, and
    the holder records it once and shows it once."""
    with aws_held(aws) as (holding, asked, _):
        made, view = role_to_edit(stack, holding, lease_seconds=stack.runtime.workflow.lease_seconds)
        acked_checking(stack, view, LOGS_EDIT)
        assert asked.wait(10), "the checks never asked AWS"
        acked_checking(stack, view, LOGS_EDIT)  # the copies
        acked_checking(stack, view, LOGS_EDIT)
        holding.clear()
    stack.settle()
    (edit,) = edits_of(stack, made)
    shown = [c for c in stack.slack.calls("views.update") if c.params["view_id"] == view["id"]]
    assert len(shown) == 1 and f"Sent for approval: {edit.id}" in json.dumps(shown[0].params["view"])
    posted = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    assert [edit.id in said(c) for c in posted].count(True) == 1


# --- /iam-role delete: asks AWS after its ack, held the same way --------------------------------------------------


def asked_to_delete_then_stopped(make_stack: Callable[..., BotStack], aws_hold: Any) -> tuple[str, BotStack]:
    """A role the bot made; ``/iam-role delete`` for it acked, and the bot stopped while reading the role in AWS.
    The create request's id, and the stack that stopped."""
    holding, asked, held = aws_hold
    holding.clear()
    before = make_stack()
    made = created_role(before, "retire-me")
    before.runtime.workflow.lease_seconds = 0.0
    holding.set()
    reply = before.driver.command(REQUESTER, "delete retire-me")
    assert reply.status == 200 and "Looking up the role retire-me" in reply.json()["text"]
    assert held_call(held, "iam.GetRole"), held
    dies_while_asking_aws(before, asked)
    holding.clear()
    return made, before


def test_a_delete_command_acked_before_a_restart_is_finished_once_by_the_next_run(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    with aws_held(aws) as hold:
        made, _ = asked_to_delete_then_stopped(make_stack, hold)
        after = make_stack()
        after.runtime.bot.resume_interrupted()
        after.settle()
        after.runtime.bot.resume_interrupted()  # claimed in the database: finished once
        after.settle()

    (retire,) = [r for r in after.runtime.store.for_requester(REQUESTER) if r.kind == "delete"]
    assert (retire.target_id, retire.status) == (made, "submitted")
    assert submissions(after)[-1] == ("recorded", "{}", retire.id)
    posted = [c for c in after.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    assert [retire.id in said(c) for c in posted].count(True) == 1
    assert any(retire.id in said(dm) for dm in dms(after, REQUESTER))


def test_a_delete_command_refused_after_a_restart_tells_the_requester_why(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    with aws_held(aws) as hold:
        asked_to_delete_then_stopped(make_stack, hold)
        iam = aws.client("iam")
        for profile in iam.list_instance_profiles_for_role(RoleName="retire-me")["InstanceProfiles"]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName="retire-me"
            )
        iam.delete_role(RoleName="retire-me")  # gone meanwhile, by hand
        after = make_stack()
        after.runtime.bot.resume_interrupted()
        after.settle()

    assert [r.kind for r in after.runtime.store.for_requester(REQUESTER)] == ["create"]
    assert submissions(after)[-1] == ("refused", "{}", None)
    (told,) = dms(after, REQUESTER)
    assert "There is no role retire-me in account" in said(told)
