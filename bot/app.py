"""Builds the Bolt app: the Web API client (with 429 retries) and the listeners."""

import json
import logging
import secrets
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
    default_interval_calculator,
)

from bot.config import Settings
from bot.listeners import register_listeners
from bot.service import SORRY, RoleBot


def web_client(
    settings: Settings, *, retry_interval: RetryIntervalCalculator = default_interval_calculator
) -> WebClient:
    """The bot's Web API client: Slack's API (or ``SLACK_API_URL``), retrying rate-limited calls.

    ``retry_interval``: the wait before trying a dropped connection or a 5xx again (slack_sdk's default,
    kept in production: 0.5 s doubling, plus up to 1 s of jitter; the tests' sandbox waits less).
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url or WebClient.BASE_URL)
    # https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler: a 429 waits its Retry-After; a
    # dropped connection or a 5xx is tried again with exponential backoff and jitter.
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=retry_interval),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=retry_interval),
        ]
    )
    return client


LISTENER_THREADS = 64
"""Threads that run listeners. A listener acks first, then carries on with its slow part (the
Web API, the store) on the same thread, so a request can only be acked once a thread is free: with 8,
50 clicks at once waited for the first ones' follow-up work (bench/contention.py). The HTTP server's
threads (``bot.http.HttpLimits.threads``) are held only until the ack; this only needs to cover a burst."""


def build_app(settings: Settings, client: WebClient, bot: RoleBot, listener_executor: Executor | None = None) -> App:
    """The Bolt app with every listener registered; requests must be signed with the signing secret.

    Listeners run on ``listener_executor`` (default: ``LISTENER_THREADS`` threads); the HTTP answer
    goes out as soon as a listener acks, and the rest of its work carries on there.
    """
    # Without a signing secret (Socket Mode needs none) Bolt would check HTTP requests against an
    # empty key, which anyone can sign with; a random key nobody knows refuses them all instead.
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else secrets.token_hex(32)
    )
    app = App(
        # Named here: unnamed, Bolt names the app after its caller's file through ``inspect.stack()``, which reads
        # every frame's source and scans every loaded module (~0.3 s of CPU per start); the name is also its
        # per-request logger's, so listener failures are logged as ``bot.slack`` (they were ``app.py``).
        name="bot.slack",
        client=client,
        signing_secret=secret,
        logger=logging.getLogger("bot.slack"),
        # auth.test at start-up: a bad or revoked token stops the bot now, not at its first request
        # (https://docs.slack.dev/reference/methods/auth.test: invalid_auth, not_authed).
        token_verification_enabled=True,
        listener_executor=listener_executor
        or ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    app.error(answer_failure)
    register_listeners(app, bot)
    return app


def answer_failure(
    error: Exception, body: dict[str, Any], logger: logging.Logger, response: BoltResponse | None
) -> BoltResponse | None:
    """A listener failed: log it (without the payload); if Slack still waits for an answer, answer politely.

    Bolt passes ``response=None`` once the listener has acked: Slack has its answer, and returning one
    then trips Bolt's assertion, so nothing is returned.
    """
    kind = body.get("type") or ("slash command" if "command" in body else "request")
    logger.error("a %s listener failed: %s", kind, type(error).__name__, exc_info=error)
    if response is None:
        return None
    if kind == "view_submission":
        inputs = [b["block_id"] for b in body.get("view", {}).get("blocks", []) if b.get("type") == "input"]
        if inputs:
            answer = {"response_action": "errors", "errors": {inputs[0]: SORRY}}
            return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    if kind == "slash command":
        answer = {"response_type": "ephemeral", "text": SORRY}
        return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    return BoltResponse(status=200, body="")
