"""A whole bot on loopback: the real app over HTTP, a fake Slack Web API, and a Slack driver.

The demo, the end-to-end tests and the benchmarks all run the bot this way.
"""

import html
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

import boto3
from pydantic import SecretStr
from slack_sdk.http_retry import RetryIntervalCalculator

from blocks import ids
from bot.app import LISTENER_THREADS, web_client
from bot.config import Config, Policy, Settings
from bot.http import EVENTS_PATH, make_http_server
from bot.runtime import Runtime, build_runtime
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver

APPROVAL_CHANNEL = "C0APPROVALS"
ANNOUNCE_CHANNEL = "C0ANNOUNCE"
COMMAND_CHANNEL = "C0GENERAL"
FAST_POST_RATE = 1000.0
"""Messages per second per channel the sandbox's fake Slack allows (Slack: about 1): the demo and
the tests post a whole approval's messages within milliseconds; tests of the rate limit itself
use ``FakeSlack``'s strict default."""


def sandbox_slack(**options: Any) -> FakeSlack:
    """A ``FakeSlack`` (not started) where the bot is in the approvals, notifications and command channels."""
    settings: dict[str, Any] = {
        "channels": (APPROVAL_CHANNEL, ANNOUNCE_CHANNEL, COMMAND_CHANNEL),
        "post_rate": FAST_POST_RATE,
        "post_burst": int(FAST_POST_RATE),
    }
    return FakeSlack(**(settings | options))


T = TypeVar("T")


class TrackedExecutor(ThreadPoolExecutor):
    """A thread pool that can tell when everything submitted to it has finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
        self.futures: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self.futures.add(future)
        future.add_done_callback(self.futures.discard)
        return future

    def idle(self, timeout: float) -> None:
        wait(list(self.futures), timeout=timeout)


def shown_errors(view: dict[str, Any]) -> dict[str, str]:
    """The field errors a redrawn form shows under its fields (``blocks.modals.with_errors``), by field."""
    return {
        block["block_id"].removeprefix(ids.FIELD_ERROR_PREFIX): html.unescape(
            block["elements"][0]["text"]
        ).removeprefix(":warning: ")
        for block in view.get("blocks", [])
        if str(block.get("block_id", "")).startswith(ids.FIELD_ERROR_PREFIX)
    }


class BotStack:
    """Starts the bot with its Web API pointed at a ``FakeSlack``; ``driver`` sends it signed requests.

    ``warm_catalog`` as in ``build_runtime``: on, as in production, unless a test does without it.
    ``slack_retry_interval`` as ``retry_interval`` in ``web_client`` (default: production's). ``slack``: a fake not
    started is started and stopped with the stack; one running already is shared (several bots, one Slack, as replicas
    have) and left to whoever started it.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        approvers: list[str],
        policy: Policy | None = None,
        aws_session: boto3.Session | None = None,
        sandbox: bool = True,
        slack: FakeSlack | None = None,
        warm_catalog: bool = True,
        slack_retry_interval: RetryIntervalCalculator | None = None,
        **settings: Any,
    ) -> None:
        self.owns_slack = slack is None or not slack.running
        self.slack = slack if slack is not None and not self.owns_slack else (slack or sandbox_slack()).start()
        self.signing_secret = secrets.token_hex(16)
        self.settings = Settings(
            _env_file=None,
            slack_bot_token=SecretStr("xoxb-sandbox"),
            slack_signing_secret=SecretStr(self.signing_secret),
            slack_api_url=self.slack.url,
            approval_channel_id=APPROVAL_CHANNEL,
            notifications_channel_id=ANNOUNCE_CHANNEL,
            approver_ids=approvers,
            database_path=str(workdir / "iam-role-bot.db"),
            **settings,
        )
        self.config = Config(self.settings, policy or Policy())
        self.listeners = TrackedExecutor()
        retry = slack_retry_interval
        client = None if retry is None else web_client(self.settings, retry_interval=retry)
        self.runtime: Runtime = build_runtime(
            self.config,
            client=client,
            aws_session=aws_session,
            sandbox=sandbox,
            listener_executor=self.listeners,
            warm_catalog=warm_catalog,
        )
        self.server = make_http_server(
            self.runtime.app,
            host="127.0.0.1",
            port=0,
            signing_secret=self.signing_secret,
            ready=self.runtime.store.ping,
            metrics=self.runtime.metrics,
        )
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="bot-http"
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}{EVENTS_PATH}"
        self.driver = SlackDriver(self.url, self.signing_secret)

    def submit_form(self, user: str, view: dict[str, Any], answers: dict[str, Any]) -> dict[str, str] | None:
        """Submit a modal and wait for its outcome: its errors by block id — given in the ack, or shown under the
        fields by the form drawn again after the checks that ask AWS — or None when it closed or shows its outcome.
        """
        since = time.time()
        reply = self.driver.submit(user, view, answers)
        if reply.status != 200:
            raise RuntimeError(f"the bot answered {reply.status}: {reply.body}")
        self.settle()
        answer = reply.json() if reply.body else None
        if not answer:
            return None
        if answer.get("response_action") == "errors":
            return dict(answer["errors"])
        if answer.get("response_action") != "update" or answer["view"].get("callback_id") != ids.CHECKING_CALLBACK_ID:
            return None
        shown = self.slack.wait_for("views.update", lambda c: c.at >= since and c.params.get("view_id") == view["id"])
        return shown_errors(shown.params["view"]) or None

    def settle(self, timeout: float = 30) -> None:
        """Wait until listeners have finished after their acks, and provisioning they started too."""
        self.listeners.idle(timeout)
        self.runtime.bot.drain(timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.listeners.shutdown()
        self.runtime.bot.shutdown()
        for thread in self.runtime.warming:
            thread.join(timeout=30)
        if self.owns_slack:
            self.slack.stop()
