"""The per-channel queues' bound on waiting out Slack's rate limits (``bot.channel_queue``).

``call`` stands in for the Web API client, which waits out each 429's ``Retry-After`` itself (slack_sdk's
``RateLimitErrorRetryHandler``, three times) before the queue sees the error: here it takes a little time and answers
429, as that client does once its own retries are spent.
"""

import threading
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.channel_queue import ChannelQueues, Outcome


def rate_limited(retry_after: str, calls: list[float], spent: float = 0.05) -> Any:
    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        calls.append(time.monotonic())
        time.sleep(spent)  # the client's own waits, before it gives the 429 up to the queue
        response = SlackResponse(
            client=None,
            http_verb="POST",
            api_url=f"https://slack.com/api/{method}",
            req_args={},
            data={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": retry_after},
            status_code=429,
        )
        raise SlackApiError("ratelimited", response)

    return call


def sent_within(queues: ChannelQueues, seconds: float) -> Outcome | None:
    """The queue's outcome for one message, or None if it was still waiting after ``seconds``."""
    outcome: list[Outcome] = []
    sender = threading.Thread(
        target=lambda: outcome.append(queues.deliver("C1", "chat.postMessage", {"channel": "C1"})), daemon=True
    )
    sender.start()
    sender.join(seconds)
    return outcome[0] if outcome else None


def test_a_retry_after_of_zero_is_not_a_loop_without_end() -> None:
    """Slack (or a proxy before it) answering 429 with ``Retry-After: 0``: the queue slept nothing, counted nothing,
    and sent the call again for as long as the 429s came, its channel's every later message waiting behind it (an
    outcome's announcement among them, its lease renewed, never given up). A pause under a second is taken as one,
    and the bound is the time spent, so it gives up."""
    calls: list[float] = []
    queues = ChannelQueues(rate_limited("0", calls), max_rate_limit_wait=0.5)
    assert sent_within(queues, 5) == (None, "ratelimited")
    assert len(calls) == 1  # a second's pause would pass the bound: given up at once


def test_the_clients_own_waits_count_against_the_bound() -> None:
    """The bound is on the time a call spends, the client's own waits included (no call is sent again past it): before,
    only the queue's sleeps were counted, so a call could wait four times the bound (the client's three retries and
    the queue's own pause, each round)."""
    calls: list[float] = []
    queues = ChannelQueues(rate_limited("1", calls, spent=0.3), max_rate_limit_wait=1.5)
    started = time.monotonic()
    assert sent_within(queues, 10) == (None, "ratelimited")
    assert len(calls) == 2  # 0.3 s, a second's pause, 0.3 s: another pause would pass the bound
    assert calls[-1] - started <= 1.5  # no call sent again past it
