"""App Home over HTTP: ``app_home_opened`` (a signed JSON event) publishes the user's tab, and
approvers decide from it (a click from App Home carries a view, not a channel)."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.iam.models import iam_backends

from bot.config import Drift, Policy
from bot.sandbox.stack import BotStack
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    REQUESTER,
    SECOND_APPROVER,
    click,
    dms,
    home_iam,
    in_process_moto_server,
    open_home,
    request_role,
    said,
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """This module's moto server runs in the test process: a test sets a role's last use in moto's own records
    (``iam_backends``), which no IAM API sets."""
    with in_process_moto_server() as url:
        yield url


@pytest.fixture
def stack(make_stack: Any) -> BotStack:
    """These tests count the AWS calls housekeeping makes for last use: the drift pass, which reads every role too
    (tests/test_slack_drift.py), is off."""
    return make_stack(policy=Policy(drift=Drift(interval_minutes=0)))


def buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(action_id, value) of every button in the actions blocks."""
    return [
        (e["action_id"], e.get("value", "")) for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


def test_requester_sees_only_their_requests(stack: BotStack) -> None:
    mine = request_role(stack, "user", {"role_name": "home-mine"})
    other = request_role(stack, "user", {"role_name": "home-other"}, user=OUTSIDER)
    view = open_home(stack, REQUESTER)
    assert view is not None and view["type"] == "home"
    shown = str(view)
    assert mine in shown and "home-mine" in shown
    assert other not in shown and "home-other" not in shown
    assert buttons(view) == []
    assert "Waiting for your approval" not in shown
    assert open_home(stack, REQUESTER, tab="messages") is None

    new_request = next(
        e for b in view["blocks"] for e in [b.get("accessory") or {}] if e.get("action_id") == "open_request_modal"
    )
    assert stack.driver.click(REQUESTER, "open_request_modal", new_request["value"], view=view).status == 200
    chooser = stack.slack.wait_for("views.open").params["view"]
    assert [b["block_id"] for b in chooser["blocks"] if b["type"] == "input"] == ["role_type"]


def test_approver_sees_pending_requests_with_buttons(stack: BotStack) -> None:
    first = request_role(stack, "user", {"role_name": "home-first"})
    second = request_role(stack, "user", {"role_name": "home-second"}, user=OUTSIDER)
    own = request_role(stack, "user", {"role_name": "home-own"}, user=APPROVER)
    view = open_home(stack, APPROVER)
    assert view is not None
    pending = buttons(view)
    for request_id in (first, second):
        assert ("approve", request_id) in pending and ("reject", request_id) in pending
    assert ("approve", own) not in pending, "nobody is asked to approve their own request"
    assert "Waiting for your approval (2)" in str(view)


def test_approve_from_app_home_creates_the_role_and_refreshes_the_tab(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(stack, "user", {"role_name": "home-approved"})
    view = open_home(stack, APPROVER)
    assert view is not None
    stack.slack.clear()
    reply = stack.driver.click(APPROVER, "approve", request_id, view=view)
    assert reply.status == 200
    stack.settle()

    assert stack.runtime.store.get(request_id).status == "created"
    assert aws.client("iam").get_role(RoleName="home-approved")["Role"]["RoleName"] == "home-approved"
    assert stack.slack.calls("chat.postEphemeral") == []
    refreshed = [c.params for c in stack.slack.calls("views.publish") if c.params["user_id"] == APPROVER]
    assert refreshed, "the tab the approver clicked in still offered Approve"
    assert ("approve", request_id) not in buttons(refreshed[-1]["view"])


def test_a_refusal_in_app_home_goes_to_a_dm(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "home-raced"})
    stale = open_home(stack, SECOND_APPROVER)
    assert stale is not None and ("approve", request_id) in buttons(stale)
    reply = stack.driver.click(APPROVER, "approve", request_id, view=open_home(stack, APPROVER))
    assert reply.status == 200
    stack.settle()

    stack.driver.click(SECOND_APPROVER, "approve", request_id, view=stale)
    stack.settle()
    told = dms(stack, SECOND_APPROVER)
    assert len(told) == 1 and f"already approved by <@{APPROVER}>" in said(told[0])
    assert stack.slack.calls("chat.postEphemeral") == []
    approved = [e for e in stack.runtime.store.events(request_id) if e.kind == "approved"]
    assert [e.actor for e in approved] == [APPROVER]


def test_reject_from_app_home_asks_for_a_reason_then_refreshes_the_tab(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "home-rejected"})
    view = open_home(stack, APPROVER)
    assert view is not None
    assert stack.driver.click(APPROVER, "reject", request_id, view=view).status == 200
    form = stack.slack.wait_for("views.open", lambda c: c.params["view"].get("callback_id") == "reject_request")
    stack.slack.clear()
    reply = stack.driver.submit(APPROVER, form.params["view"], {"reason": "Ask for read-only."})
    assert reply.status == 200 and reply.body == ""
    stack.settle()

    assert stack.runtime.store.get(request_id).status == "rejected"
    assert any("Ask for read-only." in said(c) for c in dms(stack, REQUESTER))
    refreshed = [c.params["view"] for c in stack.slack.calls("views.publish") if c.params["user_id"] == APPROVER]
    assert refreshed and ("reject", request_id) not in buttons(refreshed[-1])


def role_text(view: dict[str, Any], name: str) -> tuple[int, str]:
    """Where the role ``name`` is in Your roles, and what it says."""
    index = next(i for i, b in enumerate(view["blocks"]) if name in str(b.get("text", "")))
    return index, view["blocks"][index]["text"]["text"]


def test_your_roles_shows_expiry_and_last_use_and_deletes_with_approval(stack: BotStack) -> None:
    made = request_role(
        stack,
        "service",
        {"role_name": "home-role", "service_principal": "ec2.amazonaws.com", "expires_after_days": "7"},
    )
    click(stack, APPROVER, "approve", made)
    stack.runtime.bot.housekeeping()  # reads the role's last use in the background
    view = open_home(stack, REQUESTER)
    assert view is not None
    index, text = role_text(view, "home-role")
    assert "deleted <!date^" in text and "not used within IAM's tracking period (400 days) (as of <!date^" in text
    role_buttons = {e["action_id"]: e["value"] for e in view["blocks"][index + 1]["elements"]}
    assert role_buttons == {"edit_role": made, "delete_role": made}

    assert stack.driver.click(REQUESTER, "edit_role", made, view=view).status == 200
    form = stack.slack.wait_for("views.open").params["view"]
    assert form["private_metadata"] == f"edit:{made}"
    assert "Your roles" in str(view) and open_home(stack, OUTSIDER) is not None

    assert stack.driver.click(REQUESTER, "delete_role", made, view=view).status == 200
    stack.settle()
    retire = stack.runtime.store.acting_on(made)[0]
    assert (retire.kind, retire.status, retire.requester) == ("delete", "submitted", REQUESTER)


def test_opening_app_home_asks_aws_nothing_and_shows_last_use_as_housekeeping_read_it(
    stack: BotStack, aws: boto3.Session
) -> None:
    """Your roles renders from the store; housekeeping reads IAM's RoleLastUsed, which the next open shows."""
    made = [request_role(stack, "user", {"role_name": f"home-{n}"}) for n in range(3)]
    for request_id in made:
        click(stack, APPROVER, "approve", request_id)
    calls: list[str] = []
    home_iam(stack).meta.events.register("before-call.iam.*", lambda model, **_: calls.append(model.name))

    view = open_home(stack, REQUESTER)
    assert view is not None and calls == []
    assert "last use not read yet" in role_text(view, "home-0")[1]

    used_at = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    account = aws.client("sts").get_caller_identity()["Account"]
    role = iam_backends[account]["global"].get_role("home-1")
    role.last_used, role.last_used_region = used_at, "eu-west-1"  # type: ignore[assignment]  # moto's public record of a use (moto#6859)
    aws.client("iam").delete_role(RoleName="home-2")  # deleted behind the bot's back
    stack.runtime.bot.housekeeping()
    assert calls.count("GetRole") == 3

    calls.clear()
    view = open_home(stack, REQUESTER)
    assert view is not None and calls == []
    assert "not used within IAM's tracking period" in role_text(view, "home-0")[1]
    text = role_text(view, "home-1")[1]
    assert f"last used <!date^{int(used_at.timestamp())}^" in text and "in eu-west-1 (as of <!date^" in text
    assert "not found in AWS (as of" in role_text(view, "home-2")[1]

    stack.runtime.bot.housekeeping()  # read within the hour: not again
    assert calls == []


def test_an_event_slack_delivers_again_is_handled_once(stack: BotStack) -> None:
    """Slack resends an event it got no answer to in 3 s (``X-Slack-Retry-Num``), maybe to another replica:
    the copy is answered 200 and does nothing, since the first delivery is recorded in the database."""
    event = {"type": "app_home_opened", "user": REQUESTER, "channel": "DU", "tab": "home", "event_ts": "1.2"}
    stack.slack.clear()
    for retry in range(4):
        assert stack.driver.event(event, event_id="Ev0RETRIED", retry=retry).status == 200
    assert stack.driver.event(event, event_id="Ev0ANOTHER").status == 200
    stack.settle()
    assert len(stack.slack.calls("views.publish")) == 2


def test_a_failed_reading_keeps_the_last_good_one_and_its_age(
    stack: BotStack, caplog: pytest.LogCaptureFixture
) -> None:
    click(stack, APPROVER, "approve", request_role(stack, "user", {"role_name": "home-kept"}))
    read_at = time.time()
    stack.runtime.bot.housekeeping(read_at)
    denied: list[str] = []

    def deny(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        denied.append(model.name)
        error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://iam.amazonaws.com/", 403, {}, None), error

    home_iam(stack).meta.events.register("before-call.iam.GetRole", deny)
    stack.runtime.bot.housekeeping(read_at + 7200)  # the reading is two hours old: read again, and denied
    assert denied == ["GetRole"] and any("last use failed" in r.message for r in caplog.records)
    view = open_home(stack, REQUESTER)
    assert view is not None
    assert f"(as of <!date^{int(read_at)}^" in role_text(view, "home-kept")[1]
    stack.runtime.bot.housekeeping(read_at + 7300)  # just tried: not again within the hour
    assert denied == ["GetRole"]
