"""One queue per Slack channel: messages go out one at a time, in order, and a rate limit delays them.

Slack allows about one message per second per channel (short bursts more) and answers HTTP 429 with
``Retry-After`` beyond that (https://docs.slack.dev/apis/web-api/rate-limits). One approval says 4-5
things in its channel within seconds, and several approvals at once said more: callers retrying on
their own each slept, raced for the next slot, and one that lost too often dropped its message.
Here each channel's calls wait in one first-in-first-out queue, delivered by whichever caller found
it idle (no extra threads); a 429 makes the queue wait ``Retry-After`` and send the same call again,
so nothing is dropped and nothing overtakes within a channel (a thread's replies stay in order).
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.metrics import SLACK_ERRORS

log = logging.getLogger(__name__)

Outcome = tuple[dict[str, Any] | None, str | None]
"""(Slack's answer, None) or (None, Slack's error code / the connection error's name)."""

MAX_RATE_LIMIT_WAIT = 120.0
"""Seconds one call may spend waiting out 429s before it is given up (Slack would be refusing everything): the time it
took, the Web API client's own waits included (``bot.app``'s ``RateLimitErrorRetryHandler`` sleeps each
``Retry-After`` before the queue sees the 429), not only the queue's sleeps."""
MIN_RATE_LIMIT_PAUSE = 1.0
"""The shortest wait after a 429: a ``Retry-After`` of 0 (a proxy's) would send the call again at once, without end."""


class ChannelQueues:
    """``deliver(channel, method, params)``: the call's outcome, after the channel's earlier calls."""

    def __init__(
        self, call: Callable[[str, dict[str, Any]], dict[str, Any]], *, max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT
    ) -> None:
        self.call = call
        self.max_rate_limit_wait = max_rate_limit_wait
        self.lock = threading.Lock()
        self.queues: dict[str, deque[tuple[str, dict[str, Any], Future[Outcome]]]] = {}

    def deliver(self, channel: str, method: str, params: dict[str, Any]) -> Outcome:
        future: Future[Outcome] = Future()
        with self.lock:
            queue = self.queues.get(channel)
            idle = queue is None
            if queue is None:
                queue = self.queues[channel] = deque()
            queue.append((method, params, future))
        if idle:
            self.drain(channel)
        return future.result()

    def drain(self, channel: str) -> None:
        """Send the channel's queued calls in order until it is empty (then the queue is dropped)."""
        while True:
            with self.lock:
                queue = self.queues[channel]
                if not queue:
                    del self.queues[channel]
                    return
                method, params, future = queue[0]
            future.set_result(self.send(method, params))
            with self.lock:
                queue.popleft()

    def send(self, method: str, params: dict[str, Any]) -> Outcome:
        """One call, sent again after each 429's ``Retry-After`` (a second at least), while the time it has spent, the
        client's own waits included, stays within ``max_rate_limit_wait``. Never raises: an exception escaping would
        leave the call at the head of its channel's queue, unanswered, and every later call to that channel waiting on
        it for ever."""
        started = time.monotonic()
        while True:
            try:
                return self.call(method, params), None
            except SlackApiError as error:
                response = error.response
                if response.status_code == 429:
                    header = response.headers.get("Retry-After") or response.headers.get("retry-after")
                    pause = max(float(header or 1), MIN_RATE_LIMIT_PAUSE)
                    if time.monotonic() - started + pause <= self.max_rate_limit_wait:
                        log.info("Slack rate-limited %s; sending it again in %.0f s", method, pause)
                        time.sleep(pause)
                        continue
                SLACK_ERRORS.labels(error=str(response.get("error"))).inc()
                return None, str(response.get("error"))
            except OSError as error:
                SLACK_ERRORS.labels(error=type(error).__name__).inc()
                return None, type(error).__name__
            except Exception as error:  # e.g. http.client.IncompleteRead, a connection cut mid-answer
                log.exception("Slack %s failed unexpectedly", method)
                SLACK_ERRORS.labels(error=type(error).__name__).inc()
                return None, type(error).__name__
