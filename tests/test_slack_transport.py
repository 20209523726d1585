"""The Slack plumbing under a whole scenario: rate-limited Web API calls are retried, secrets never
reach the logs, and the limits check run on every stack at teardown does catch an oversized message."""

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from slack_sdk.http_retry import builtin_handlers

from bot.config import Config, Policy, Settings
from bot.http import EVENTS_PATH, make_http_server
from bot.runtime import build_runtime
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack, sandbox_slack
from tests.e2e import APPROVER, REQUESTER, click, dms, limit_problems, request_role, said


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What slack_sdk's retry handlers would have slept (they don't: the test stays fast)."""
    pauses: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=pauses.append))
    return pauses


def test_rate_limited_posts_are_retried_and_arrive(stack: BotStack, slept: list[float]) -> None:
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    request_id = request_role(stack, "user", {"role_name": "rate-limited"})

    attempts = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    assert len(attempts) == 3
    assert slept and all(pause >= 1 for pause in slept)
    record = stack.runtime.store.get(request_id)
    assert record.channel == APPROVAL_CHANNEL and record.message_ts, "the approval message never arrived"

    stack.slack.fail_next("chat.update", status=429, retry_after=1)
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"
    updates = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == record.message_ts]
    assert len(updates) >= 2 and '"approve"' not in str(updates[-1].params["blocks"])


def test_secrets_never_reach_the_logs(
    make_stack: Callable[..., BotStack], caplog: pytest.LogCaptureFixture, slept: list[float], aws: boto3.Session
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = make_stack()
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    stack.slack.fail_next("views.publish", error="invalid_auth")
    request_id = request_role(stack, "service", {"role_name": "logged", "service_principal": "ec2.amazonaws.com"})
    click(stack, APPROVER, "approve", request_id)
    stack.driver.event({"type": "app_home_opened", "user": APPROVER, "tab": "home"})
    stack.driver.command(REQUESTER, f"status {request_id}", secret="forged")
    stack.settle()
    assert stack.runtime.store.get(request_id).status == "created"
    assert any(request_id in said(c) for c in dms(stack, REQUESTER))

    secrets = {"signing secret": stack.signing_secret, "bot token": "xoxb-sandbox"}
    bot_records = [r for r in caplog.records if r.name.startswith(("bot", "slack"))]
    assert any(r.levelno == logging.DEBUG for r in bot_records), "DEBUG logging was not captured"
    assert any("Slack views.publish failed" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        logged = record.getMessage() + (record.exc_text or "") + str(record.__dict__.get("args", ""))
        for name, secret in secrets.items():
            assert secret not in logged, f"{name} logged by {record.name}: {logged[:300]}"
    assert "xoxb-sandbox" not in caplog.text and stack.signing_secret not in caplog.text


def test_the_request_url_answers_slacks_challenge_and_only_to_signed_requests(stack: BotStack) -> None:
    body = json.dumps(
        {
            "token": "unused",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    reply = stack.driver.post(body, "application/json")
    assert reply.status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in reply.body
    assert stack.driver.post(body, "application/json", secret="forged").status == 401


def test_the_limits_check_catches_an_oversized_message(stack: BotStack) -> None:
    """The check every stack gets at teardown would fail on a message over Slack's limits."""
    assert limit_problems(stack) == []
    stack.runtime.bot.notifier.post(APPROVAL_CHANNEL, ("too long", [{"type": "divider"}] * 51))
    stack.runtime.bot.notifier.dm(REQUESTER, ("x" * 50_000, []))
    problems = limit_problems(stack)
    assert any("51 blocks (max 50)" in p for p in problems)
    assert any("text is 50000 characters" in p for p in problems)
    stack.slack.clear()  # lest the teardown check fail this test


def test_socket_mode_needs_no_signing_secret_and_then_no_http_request_verifies(
    tmp_path: Path, aws: boto3.Session
) -> None:
    """Socket Mode payloads are not signed; with no secret set, a request signed with an empty key (what Bolt
    would check against) must still be refused on the HTTP port the health check shares."""
    with sandbox_slack() as slack:
        settings = Settings(
            _env_file=None,
            slack_bot_token="xoxb-sandbox",
            slack_app_token="xapp-sandbox",
            slack_api_url=slack.url,
            approval_channel_id=APPROVAL_CHANNEL,
            database_path=str(tmp_path / "socket.db"),
        )
        assert settings.missing_to_serve() == []
        runtime = build_runtime(Config(settings, Policy()), aws_session=aws, warm_catalog=False)
        server = make_http_server(runtime.app, host="127.0.0.1", port=0, signing_secret=None)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            driver = SlackDriver(f"http://127.0.0.1:{server.server_port}{EVENTS_PATH}", signing_secret="")
            assert driver.command(REQUESTER, "help").status == 404  # no Slack endpoint over HTTP at all
            with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=5) as health:
                assert health.status == 200
        finally:
            server.shutdown()
            server.server_close()
            runtime.bot.shutdown()
