"""The cap on a requester's open requests (``[limits] max_open_requests_per_requester``), over signed HTTP: one
more is refused at the top of the form before AWS is asked anything, others' requests are not affected, a
request that closes makes room, and submissions racing each other never go past it."""

import threading
from collections.abc import Callable
from typing import Any

import boto3

from blocks import ids
from bot.config import Policy, Quotas
from bot.sandbox.stack import BotStack, shown_errors
from tests.e2e import APPROVER, REQUESTER, click, ephemerals, open_modal, request_role, said, submit

OTHER_REQUESTER = "U0ERIN"


def glue_role(name: str) -> dict[str, Any]:
    return {"role_name": name, "service_principal": "glue.amazonaws.com"}


def capped_stack(make_stack: Callable[..., BotStack], cap: int) -> BotStack:
    return make_stack(policy=Policy(limits=Quotas(max_open_requests_per_requester=cap)))


def test_one_request_over_the_cap_is_refused_at_the_top_of_the_form_without_asking_aws(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    stack = capped_stack(make_stack, 2)
    first = request_role(stack, "service", glue_role("etl-1"))
    request_role(stack, "service", glue_role("etl-2"))
    asked: list[str] = []
    aws.events.register("before-call", lambda event_name, **_: asked.append(event_name))

    view = open_modal(stack, REQUESTER, "service")
    answer = submit(
        stack,
        REQUESTER,
        view,
        {"account_id": stack.runtime.bot.choices.account_ids()[0], **glue_role("etl-3"), "justification": "More."},
    )

    assert answer is not None, "the third request was recorded"
    assert list(answer["errors"]) == [ids.ROLE_TYPE]
    assert "You already have 2 open requests" in answer["errors"][ids.ROLE_TYPE]
    assert asked == [] and stack.runtime.store.count() == 2
    request_role(stack, "service", glue_role("etl-other"), user=OTHER_REQUESTER)  # a cap per requester

    click(stack, REQUESTER, ids.CANCEL, first)  # a request that closes makes room
    third = request_role(stack, "service", glue_role("etl-3"))
    assert stack.runtime.store.get(third).requester == REQUESTER


def test_approved_and_created_requests_close_and_make_room(make_stack: Callable[..., BotStack]) -> None:
    stack = capped_stack(make_stack, 1)
    request_id = request_role(stack, "service", glue_role("etl-1"))
    click(stack, APPROVER, ids.APPROVE, request_id)
    assert stack.runtime.store.get(request_id).status == "created"
    request_role(stack, "service", glue_role("etl-2"))


def test_a_deletion_asked_for_over_the_cap_is_refused_to_the_requester_alone(
    make_stack: Callable[..., BotStack],
) -> None:
    stack = capped_stack(make_stack, 1)
    made = request_role(stack, "service", glue_role("etl-1"))
    click(stack, APPROVER, ids.APPROVE, made)
    request_role(stack, "service", glue_role("etl-2"))  # open: the cap

    reply = stack.driver.command(REQUESTER, "delete etl-1")
    assert reply.status == 200, reply.body
    stack.settle()

    assert "You already have 1 open request (" in " ".join(said(call) for call in ephemerals(stack, REQUESTER))
    assert stack.runtime.store.acting_on(made) == []


def test_submissions_racing_each_other_never_go_past_the_cap(make_stack: Callable[..., BotStack]) -> None:
    """Six forms submitted at once by one requester with a cap of three: three requests, three forms shown again
    with the error; the count is taken in the transaction that stores each request."""
    stack = capped_stack(make_stack, 3)
    account = stack.runtime.bot.choices.account_ids()[0]
    views = [open_modal(stack, REQUESTER, "service") for _ in range(6)]
    barrier = threading.Barrier(len(views))
    replies: list[Any] = [None] * len(views)

    def send(i: int) -> None:
        barrier.wait()
        answers = {"account_id": account, **glue_role(f"etl-{i}"), "justification": "Racing."}
        replies[i] = stack.driver.submit(REQUESTER, views[i], answers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(views))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stack.settle()

    assert all(reply is not None and reply.status == 200 for reply in replies)
    assert stack.runtime.store.count() == 3
    shown = [call.params["view"] for call in stack.slack.calls("views.update")]
    refused = [shown_errors(view) for view in shown if shown_errors(view)]
    in_ack = [
        reply.json()["errors"] for reply in replies if reply.body and reply.json().get("response_action") == "errors"
    ]
    assert len(refused) + len(in_ack) == 3
    assert all("3 open requests" in errors[ids.ROLE_TYPE] for errors in [*refused, *in_ack])
