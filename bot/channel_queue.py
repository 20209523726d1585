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
"""Seconds one call may spend waiting out 429s before it is given up (Slack would be refusing everything)."""


class ChannelQueues:
    """``deliver(channel, method, params)``: the call's outcome, after the channel's earlier calls."""

    def __init__(self, call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self.call = call
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
        """One call, sent again after each 429's ``Retry-After`` (at most ``MAX_RATE_LIMIT_WAIT`` in all). Never
        raises: an exception escaping would leave the call at the head of its channel's queue, unanswered, and every
        later call to that channel waiting on it for ever."""
        waited = 0.0
        while True:
            try:
                return self.call(method, params), None
            except SlackApiError as error:
                response = error.response
                if response.status_code != 429 or waited >= MAX_RATE_LIMIT_WAIT:
                    SLACK_ERRORS.labels(error=str(response.get("error"))).inc()
                    return None, str(response.get("error"))
                pause = float(response.headers.get("Retry-After") or response.headers.get("retry-after") or 1)
                log.info("Slack rate-limited %s; sending it again in %.0f s", method, pause)
                time.sleep(pause)
                waited += pause
            except OSError as error:
                SLACK_ERRORS.labels(error=type(error).__name__).inc()
                return None, type(error).__name__
            except Exception as error:  # e.g. http.client.IncompleteRead, a connection cut mid-answer
                log.exception("Slack %s failed unexpectedly", method)
                SLACK_ERRORS.labels(error=type(error).__name__).inc()
                return None, type(error).__name__
