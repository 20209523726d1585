"""A hostile insider against the bot's state, through signed HTTP: forged view submissions and
tampered button values name requests the clicker may not decide, one person votes through two
paths, and a storm of the same click moves a request once."""

import json
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from blocks import ids
from bot.lifecycle import EventKind
from bot.sandbox.stack import BotStack
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    REQUESTER,
    SECOND_APPROVER,
    click,
    ephemerals,
    home_iam,
    open_modal,
    request_role,
    said,
)
from tests.test_http_limits import post, signed_headers

SERVICE = {"role_name": "etl", "service_principal": "glue.amazonaws.com"}


def forged_rejection(stack: BotStack, user: str, request_id: str) -> dict[str, Any]:
    """A reject form submission Slack would sign, for a form the bot never opened for ``user``."""
    view = {
        "id": "V0FORGED",
        "hash": "h",
        "type": "modal",
        "callback_id": ids.REJECT_CALLBACK_ID,
        "private_metadata": request_id,
        "blocks": [],
        "state": {"values": {ids.REASON: {ids.REASON: {"type": "plain_text_input", "value": "forged"}}}},
    }
    payload = stack.driver.base_payload("view_submission", user) | {"view": view}
    reply = stack.driver.interact(payload)
    assert reply.status == 200, reply.body
    stack.settle()
    return json.loads(reply.body) if reply.body else {}


def test_a_forged_reject_form_from_someone_not_an_approver_rejects_nothing(stack: BotStack) -> None:
    request_id = request_role(stack, "service", SERVICE)
    for user in (OUTSIDER, REQUESTER):
        answer = forged_rejection(stack, user, request_id)
        assert answer.get("response_action") == "errors", answer
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.status == "submitted"
    assert EventKind.REJECTED not in [e.kind for e in stack.runtime.store.events(request_id)]


def test_a_forged_reject_form_naming_no_request_or_a_decided_one_is_refused(stack: BotStack) -> None:
    for metadata in ("R-99999", "", "' OR 1=1 --", "R-1\n<!channel>"):
        assert forged_rejection(stack, APPROVER, metadata).get("response_action") == "errors", metadata


def test_an_approver_votes_once_whether_from_the_channel_or_app_home(stack: BotStack) -> None:
    request_id = request_role(stack, "service", SERVICE)
    stack.driver.click(APPROVER, ids.APPROVE, request_id, view={"id": "V0HOME", "type": "home"})
    stack.settle()
    click(stack, APPROVER, ids.APPROVE, request_id)
    stack.runtime.bot.drain()
    kinds = [e.kind for e in stack.runtime.store.events(request_id)]
    assert kinds.count(EventKind.APPROVAL) == 1 and kinds.count(EventKind.APPROVED) == 1, kinds


def test_tampered_button_values_decide_nothing(stack: BotStack) -> None:
    request_id = request_role(stack, "service", SERVICE)
    for action in (ids.APPROVE, ids.CANCEL, ids.RETRY, ids.REJECT, ids.EDIT_ROLE, ids.EXTEND_ROLE, ids.DELETE_ROLE):
        for value in (request_id, f"{request_id} ", request_id.lower(), "R-99999", "", "x" * 5000):
            reply = stack.driver.click(OUTSIDER, action, value, view={"id": "V0HOME", "type": "home"})
            assert reply.status == 200
    stack.settle()
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.status == "submitted"
    assert [e.kind for e in stack.runtime.store.events(request_id)] == [EventKind.SUBMITTED]
    assert [r.id for r in stack.runtime.store.recent()] == [request_id], "a forged click made a request"
    assert stack.slack.calls("views.open") == [] or all(
        c.params.get("user_id") != OUTSIDER for c in stack.slack.calls("views.open")
    )
    refusals = [said(c) for c in ephemerals(stack, OUTSIDER) + stack.slack.calls("chat.postMessage")]
    assert refusals and all("x" * 100 not in text for text in refusals), "a forged value was echoed whole"


def test_a_storm_of_the_same_signed_retry_click_provisions_once(stack: BotStack, aws: boto3.Session) -> None:
    account = aws.client("sts").get_caller_identity()["Account"]
    missing = f"arn:aws:iam::{account}:policy/storm-boundary"
    request_id = request_role(stack, "user", {"role_name": "storm", "permissions_boundary_arn": missing})
    click(stack, APPROVER, ids.APPROVE, request_id)
    stack.runtime.bot.drain()
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.status == "failed"
    payload = stack.driver.base_payload("block_actions", SECOND_APPROVER) | {
        "actions": [{"action_id": ids.RETRY, "block_id": ids.RETRY, "type": "button", "value": request_id}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = signed_headers(stack.signing_secret, body, "application/x-www-form-urlencoded")
    # The retry's look-ups wait until every click is answered: otherwise, on a slow machine, a late click
    # meets the retry already failed again and may rightly retry once more (it is a Retry of a failed request).
    all_answered = threading.Event()
    home_iam(stack).meta.events.register("before-send.iam.GetPolicy", lambda **_: all_answered.wait(30) and None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: post(stack.server.server_port, body, headers)[0], range(16)))
    all_answered.set()
    assert statuses == [200] * 16
    stack.settle()
    stack.runtime.bot.drain()
    kinds = [e.kind for e in stack.runtime.store.events(request_id)]
    assert kinds.count(EventKind.RETRIED) == 1, kinds
    assert kinds.count(EventKind.FAILED) == 2, kinds


def test_forged_select_values_and_options_loads_break_nothing(
    stack: BotStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack.expected_refusals = ("hash_conflict",)  # type: ignore[attr-defined]  # switches overtaking each other
    view = open_modal(stack, REQUESTER, "service")
    for role_type in ("bogus", "", "x" * 3000):
        reply = stack.driver.click(REQUESTER, ids.ROLE_TYPE, view=view, selected_option=role_type)
        assert reply.status == 200
    for account in ("000000000000", "not-an-account", "x" * 3000):
        forged = view | {"state": {"values": {ids.ACCOUNT: {ids.ACCOUNT: {"selected_option": {"value": account}}}}}}
        payload = stack.driver.base_payload("block_suggestion", OUTSIDER) | {
            "action_id": ids.MANAGED_POLICIES,
            "block_id": ids.MANAGED_POLICIES,
            "value": "Admin",
            "view": forged,
        }
        reply = stack.driver.interact(payload)
        assert reply.status == 200, reply.body
        assert json.loads(reply.body or '{"options": []}').get("options", []) == [], reply.body
    stack.settle()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
