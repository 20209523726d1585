"""A whole bot on loopback: the real app over HTTP, a fake Slack Web API, and a Slack driver.

The demo, the end-to-end tests and the benchmarks all run the bot this way.
"""

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

import boto3
from pydantic import SecretStr

from bot.app import LISTENER_THREADS
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


class BotStack:
    """Starts the bot with its Web API pointed at a ``FakeSlack``; ``driver`` sends it signed requests.

    ``warm_catalog`` as in ``build_runtime``: on, as in production, unless a test does without it.
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
        **settings: Any,
    ) -> None:
        self.slack = (slack or sandbox_slack()).start()
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
        self.runtime: Runtime = build_runtime(
            self.config,
            aws_session=aws_session,
            sandbox=sandbox,
            listener_executor=self.listeners,
            warm_catalog=warm_catalog,
        )
        self.server = make_http_server(self.runtime.app, host="127.0.0.1", port=0, signing_secret=self.signing_secret)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="bot-http"
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}{EVENTS_PATH}"
        self.driver = SlackDriver(self.url, self.signing_secret)

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
        self.slack.stop()
