"""The bot behaves as real Slack needs, against the strict fake Slack (issue 14): tokens checked at
start, refusals in the clicked thread, quick form switches, bounded option loads, one request per
submitted form, failures to post told and not retried forever, one queue per channel."""

import logging
from pathlib import Path

import boto3
import pytest
from slack_bolt.error import BoltError

from blocks import ids
from bot.app import answer_failure
from bot.sandbox.stack import BotStack, sandbox_slack
from tests.e2e import APPROVER, OUTSIDER, REQUESTER, ephemerals, open_modal, request_role


def test_a_bad_token_stops_the_bot_at_start(tmp_path: Path, aws: boto3.Session) -> None:
    slack = sandbox_slack(token="xoxb-the-real-one")
    with pytest.raises(BoltError, match="invalid_auth"):
        BotStack(tmp_path, approvers=[APPROVER], aws_session=aws, slack=slack)
    slack.stop()


def test_a_failure_after_the_ack_answers_nothing(caplog: pytest.LogCaptureFixture) -> None:
    body = {"type": "block_actions", "view": {"blocks": [{"type": "input", "block_id": "role_name"}]}}
    logger = logging.getLogger("test")
    with caplog.at_level(logging.ERROR):
        assert answer_failure(RuntimeError("late"), body, logger, None) is None
    assert "a block_actions listener failed: RuntimeError" in caplog.text


def test_a_refusal_for_a_button_in_a_thread_goes_to_that_thread(stack: BotStack) -> None:
    request_id = request_role(stack, "service", {"role_name": "etl", "service_principal": "glue.amazonaws.com"})
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.message_ts
    reply = stack.driver.click(
        OUTSIDER,
        ids.APPROVE,
        request_id,
        message={"ts": "1764350000.999900", "thread_ts": record.message_ts, "type": "message"},
        channel=record.channel,
    )
    assert reply.status == 200
    stack.settle()
    (refusal,) = ephemerals(stack, OUTSIDER)
    assert refusal.params["thread_ts"] == record.message_ts


def test_two_quick_role_type_changes_show_the_latest_type(stack: BotStack) -> None:
    stack.expected_refusals = ("hash_conflict",)  # type: ignore[attr-defined]
    view = open_modal(stack, REQUESTER, "")
    # Both clicks carry the hash the form had before either redraw, as in Slack when they come quickly.
    stack.driver.click(REQUESTER, ids.ROLE_TYPE, view=view, selected_option="service")
    stack.settle()
    stack.driver.click(REQUESTER, ids.ROLE_TYPE, view=view, selected_option="oidc")
    stack.settle()
    drawn = [c for c in stack.slack.calls("views.update") if c.response.get("ok")]
    final = drawn[-1].params["view"]
    shown = {block.get("block_id") for block in final["blocks"]}
    assert "oidc_provider_arn" in shown or ids.OIDC_PROVIDER in shown, shown
    assert "service_principal" not in shown
