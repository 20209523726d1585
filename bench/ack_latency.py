"""Ack latency: how fast the bot answers Slack, against a bare Bolt app that only acks (the framework floor).

The real app serves HTTP on loopback (its Web API calls go to a fake Slack, AWS is a moto server,
each in a process of its own); a load generator in another process sends signed requests and times
each HTTP round trip. Four requests: ``/iam-role user`` (opens the modal), an Approve click
(provisioning starts after the ack), the request form's submission and a managed-policy options
load. The floor is a ``slack_bolt.App`` with the same signing secret whose listeners only ``ack()``,
served by the same WSGI server, in a process of its own. Each request is sent one at a time and in
bursts of 4 at once (the work the bot does after its acks overlaps the others'); the bot is idle
again before the next request or burst (sustained load is ``contention.py``'s). Once with an empty
store, once with 100,000 requests in it.

    .venv/bin/python bench/ack_latency.py [--requests 200] [--size 100000] [--kinds "Approve click" ...]

A p99 of 200 requests is their second slowest, so one stall of a shared machine decides it: for a
steadier tail, time more (``--requests 1000``: the p99 is then the 10th slowest) of one kind.
"""

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    APPROVER,
    QUERIES,
    REQUESTER,
    Account,
    Answer,
    BareBoltFloor,
    LoadGenerator,
    MotoServer,
    RemoteFakeSlack,
    Stats,
    answers,
    approve_click_body,
    bot_stack,
    capture,
    heading,
    machine,
    ms,
    note,
    prepare_account,
    ratio,
    seed_store,
    submit_directly,
    table,
)

from bot.sandbox.stack import BotStack

LIMIT = 1.5
"""The bot's p99 may be at most this many times the floor's."""
CONCURRENCY = 4
WARMUP = 20
KINDS = ("slash command", "Approve click", "view submission", "options load")


def bodies(stack: BotStack, account: Account, kind: str, count: int, tag: str) -> list[tuple[str, str]]:
    """``count`` distinct signed-request bodies of one kind (Approve clicks each on a new request)."""
    modal = stack.runtime.bot.presenter.request_modal("user")
    makers: dict[str, Callable[[int], tuple[str, str]]] = {
        "slash command": lambda i: capture(lambda driver: driver.command(REQUESTER, "user")),
        "Approve click": lambda i: approve_click_body(
            stack, submit_directly(stack, "user", f"ack-{tag}-{i}", account), APPROVER
        ),
        "view submission": lambda i: capture(
            lambda driver: driver.submit(  # each its own form: one view id makes one request
                REQUESTER,
                modal | {"id": f"VFORM{tag}{i}"},
                {"role_type": "user"} | answers("user", f"form-{tag}-{i}", account),
            )
        ),
        "options load": lambda i: capture(
            lambda driver: driver.options(
                REQUESTER,
                "managed_policy_arns",
                QUERIES[i % len(QUERIES)],
                view=modal,
                answers={"account_id": account.id},
            )
        ),
    }
    made = [makers[kind](i) for i in range(count)]
    stack.settle()
    return made


def check(kind: str, replies: list[Answer]) -> None:
    """The bot did what the request asked (an error page or a form error would make the numbers meaningless)."""
    for reply in replies:
        if kind == "view submission" and json.loads(reply.body or "{}").get("response_action") == "errors":
            raise RuntimeError(f"the submission was refused: {reply.body[:300]}")
        if kind == "options load" and '"options"' not in reply.body:
            raise RuntimeError(f"no options: {reply.body[:300]}")


def measure(
    load: LoadGenerator, stack: BotStack, floor_url: str, requests: list[tuple[str, str]], concurrency: int
) -> tuple[list[Answer], list[Answer]]:
    """(floor, bot) answers: each burst of ``concurrency`` requests goes to the floor, then to the bot.

    The floor only acks, so the bot gets the very same requests (Approve clicks on requests not yet
    approved). The next burst waits until the bot is idle again; the first ``WARMUP`` are not timed.
    """
    floor: list[Answer] = []
    bot: list[Answer] = []
    for start in range(0, len(requests), concurrency):
        burst = requests[start : start + concurrency]
        floor_burst = load.run(floor_url, stack.signing_secret, burst, concurrency)
        bot_burst = load.run(stack.url, stack.signing_secret, burst, concurrency)
        stack.settle()
        if start >= WARMUP:
            floor += floor_burst
            bot += bot_burst
    return floor, bot


def run_state(
    label: str, stack: BotStack, account: Account, load: LoadGenerator, floor_url: str, count: int, kinds: list[str]
) -> tuple[list[list[str]], int]:
    """The table's rows for one store, and how many connection attempts failed (there should be none)."""
    rows, failed = [], 0
    for kind in kinds:
        for concurrency in (1, CONCURRENCY):
            requests = bodies(stack, account, kind, WARMUP + count, f"{label}-{concurrency}")
            started = time.perf_counter()
            floor, bot = measure(load, stack, floor_url, requests, concurrency)
            check(kind, bot)
            failed += sum(answer.failed_attempts for answer in floor + bot)
            f, b = Stats.of([r.seconds for r in floor]), Stats.of([r.seconds for r in bot])
            mode = "one at a time" if concurrency == 1 else f"{concurrency} at once"
            rows.append(
                [
                    label,
                    kind,
                    mode,
                    ms(f.p50),
                    ms(f.p95),
                    ms(f.p99),
                    ms(b.p50),
                    ms(b.p95),
                    ms(b.p99),
                    ratio(b.p50, f.p50),
                    ratio(b.p95, f.p95),
                    ratio(b.p99, f.p99),
                    "ok" if b.p99 <= LIMIT * f.p99 else f"over {LIMIT}×",
                ]
            )
            note(f"  {label}, {kind}, {mode}: bot p99 {ms(b.p99)} ms ({time.perf_counter() - started:.0f} s)")
    return rows, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case (after 20 warm-up)")
    parser.add_argument("--size", type=int, default=100_000, help="requests in the store for the second round")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="which requests to time")
    args = parser.parse_args()
    heading("Ack latency: HTTP round trip of signed Slack requests, bot vs bare Bolt floor")
    note(machine())
    started = time.perf_counter()
    rows: list[list[str]] = []
    failed = 0
    with (
        MotoServer() as moto,
        RemoteFakeSlack() as slack,
        LoadGenerator() as load,
        tempfile.TemporaryDirectory() as tmp,
    ):
        session = moto.session()
        account = prepare_account(session)
        for label, size in (("empty", 0), (f"{args.size:,}", args.size))[: 2 if args.size else 1]:
            workdir = Path(tmp) / f"store-{size}"
            workdir.mkdir()
            if size:
                seconds = seed_store(workdir / "iam-role-bot.db", size, account=account.id)
                note(f"  seeded {size:,} requests in {seconds:.1f} s")
            stack = bot_stack(workdir, session, slack.url)
            try:
                with BareBoltFloor(stack.signing_secret, slack.url) as floor:
                    state_rows, state_failed = run_state(
                        label, stack, account, load, floor.url, args.requests, args.kinds
                    )
                rows += state_rows
                failed += state_failed
            finally:
                stack.close()
    print()
    print(
        table(
            [
                "store",
                "request",
                "mode",
                "floor p50",
                "floor p95",
                "floor p99",
                "bot p50",
                "bot p95",
                "bot p99",
                "ratio p50",
                "ratio p95",
                "ratio p99",
                f"p99 ≤ {LIMIT}×",
            ],
            rows,
        )
    )
    note(
        f"\nTimes in ms; {args.requests} timed requests per case after {WARMUP} warm-up, floor and bot taking "
        f"turns burst by burst; failed connection attempts: {failed}; {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
