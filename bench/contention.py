"""Contention: many Approve clicks at once, over HTTP, against a moto server: throughput and duplicates.

Two cases. 50 approvals of 50 distinct requests, all sent at once (4 approvers). And 20 clicks on one
request at once (4 approvers, 5 clicks each; a double-click storm), repeated on fresh requests.
Every CreateRole the executor sends is counted by a botocore hook on its session: a duplicate
execution is a CreateRole beyond the first for a request; there must be none. Each request must end
``created`` with exactly one ``approved``, ``provisioning`` and ``created`` event, and every click
that lost the race must have been told so (an ephemeral message).

    .venv/bin/python bench/contention.py [--distinct 50] [--clicks 20] [--rounds 10] [--engine postgresql]
"""

import argparse
import contextlib
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from common import (
    APPROVERS,
    ENGINES,
    Account,
    LoadGenerator,
    MotoServer,
    RemoteFakeSlack,
    Stats,
    approve_click_body,
    bot_stack,
    heading,
    machine,
    ms,
    note,
    postgres_cluster,
    prepare_account,
    submit_directly,
    table,
)

from bot.lifecycle import Status
from bot.sandbox.stack import BotStack

FINISHED = (Status.CREATED, Status.FAILED)


class CreateRoleCalls:
    """The RoleName of every CreateRole sent from clients of a session (one per call, not per HTTP retry)."""

    def __init__(self, session: boto3.Session) -> None:
        self.names: Counter[str] = Counter()
        self.lock = threading.Lock()
        session.events.register("provide-client-params.iam.CreateRole", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.names[params["RoleName"]] += 1


def wait_finished(stack: BotStack, request_ids: list[str], timeout: float = 120) -> float:
    """Wait (bounded) until every request is created or failed; returns the wall-clock time the last one finished."""
    deadline = time.monotonic() + timeout
    while True:
        records = [stack.runtime.store.get(request_id) for request_id in request_ids]
        if all(record is not None and record.status in FINISHED for record in records):
            stack.settle()
            return max(record.updated_at for record in records if record is not None)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{sum(r is not None and r.status in FINISHED for r in records)} of "
                f"{len(request_ids)} requests finished in {timeout} s"
            )
        time.sleep(0.01)


def audit(stack: BotStack, request_ids: list[str], calls: CreateRoleCalls) -> dict[str, int]:
    """Duplicate executions and anything else that went wrong, over ``request_ids``."""
    problems = Counter[str]()
    for request_id in request_ids:
        record = stack.runtime.store.get(request_id)
        assert record is not None
        kinds = Counter(event.kind for event in stack.runtime.store.events(request_id))
        if record.status != Status.CREATED:
            problems["not created"] += 1
        for kind in ("approved", "provisioning", "created"):
            problems[f"{kind} events ≠ 1"] += kinds[kind] != 1
        problems["duplicate executions"] += max(calls.names[record.role_name] - 1, 0)
    return problems


def distinct_approvals(
    stack: BotStack, load: LoadGenerator, slack: RemoteFakeSlack, account: Account, calls: CreateRoleCalls, count: int
) -> list[str]:
    """``count`` Approve clicks on as many requests, sent at once."""
    request_ids = [submit_directly(stack, "user", f"distinct-{i}", account) for i in range(count)]
    stack.settle()
    clicks = [
        approve_click_body(stack, request_id, APPROVERS[i % len(APPROVERS)]) for i, request_id in enumerate(request_ids)
    ]
    return run_case(f"{count} approvals of distinct requests", stack, load, slack, calls, [(request_ids, clicks)])


def click_storm(
    stack: BotStack,
    load: LoadGenerator,
    slack: RemoteFakeSlack,
    account: Account,
    calls: CreateRoleCalls,
    clicks: int,
    rounds: int,
) -> list[str]:
    """``clicks`` Approve clicks on one request at once, ``rounds`` times on fresh requests."""
    request_ids = [submit_directly(stack, "user", f"storm-{i}", account) for i in range(rounds)]
    stack.settle()
    storms = [
        ([request_id], [approve_click_body(stack, request_id, APPROVERS[i % len(APPROVERS)]) for i in range(clicks)])
        for request_id in request_ids
    ]
    return run_case(f"{clicks} clicks on one request × {rounds}", stack, load, slack, calls, storms)


def run_case(
    label: str,
    stack: BotStack,
    load: LoadGenerator,
    slack: RemoteFakeSlack,
    calls: CreateRoleCalls,
    rounds: list[tuple[list[str], list[tuple[str, str]]]],
) -> list[Any]:
    """Each round: send its clicks all at once, wait until its requests are done. Then audit them all."""
    acks, acked, finished, committed, failed = [], [], [], [], 0
    refusals_before = slack.count("chat.postEphemeral")
    for request_ids, clicks in rounds:
        started = time.time()
        answers = load.run(stack.url, stack.signing_secret, clicks, concurrency=len(clicks))
        acks += [answer.seconds for answer in answers]
        failed += sum(answer.failed_attempts for answer in answers)
        acked.append(max(answer.seconds for answer in answers))
        finished.append(wait_finished(stack, request_ids) - started)
        committed += [
            event.at - started
            for request_id in request_ids
            for event in stack.runtime.store.events(request_id)
            if event.kind == "approved"
        ]
    refusals = slack.count("chat.postEphemeral") - refusals_before
    all_ids = [request_id for request_ids, _ in rounds for request_id in request_ids]
    clicked = sum(len(clicks) for _, clicks in rounds)
    problems = audit(stack, all_ids, calls)
    names = [record.role_name for record in map(stack.runtime.store.get, all_ids) if record is not None]
    ack = Stats.of(acks)
    return [
        label,
        clicked,
        failed,
        ms(ack.p50),
        ms(ack.p99),
        ms(max(acks)),
        ms(Stats.of(acked).p50),
        ms(Stats.of(committed).p50),
        ms(Stats.of(committed).p99),
        ms(Stats.of(finished).p50),
        f"{len(all_ids) / sum(finished):.1f}",
        sum(calls.names[name] for name in names),
        problems["duplicate executions"],
        f"{refusals} / {clicked - len(all_ids)}",
        ", ".join(f"{name}: {n}" for name, n in problems.items() if n and name != "duplicate executions") or "none",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--distinct", type=int, default=50, help="approvals of distinct requests at once")
    parser.add_argument("--clicks", type=int, default=20, help="clicks on one request at once")
    parser.add_argument("--rounds", type=int, default=10, help="click storms, each on a fresh request")
    parser.add_argument("--engine", choices=ENGINES, default="sqlite", help="postgresql: a throwaway local cluster")
    args = parser.parse_args()
    heading(f"Contention ({args.engine}): concurrent Approve clicks over HTTP, moto server as AWS")
    note(machine())
    started = time.perf_counter()
    with (
        MotoServer() as moto,
        RemoteFakeSlack() as slack,
        LoadGenerator() as load,
        tempfile.TemporaryDirectory() as workdir,
        contextlib.ExitStack() as engine,
    ):
        session = moto.session()
        account = prepare_account(session)
        calls = CreateRoleCalls(session)
        url = engine.enter_context(postgres_cluster()).new_database() if args.engine == "postgresql" else None
        stack = bot_stack(Path(workdir), session, slack.url, database_url=url)
        try:
            rows = [
                distinct_approvals(stack, load, slack, account, calls, args.distinct),
                click_storm(stack, load, slack, account, calls, args.clicks, args.rounds),
            ]
        finally:
            stack.close()
    print()
    print(
        table(
            [
                "case",
                "clicks",
                "connections reset",
                "ack p50",
                "ack p99",
                "ack max",
                "all acked",
                "approved p50",
                "approved p99",
                "all created",
                "roles/s",
                "CreateRole calls",
                "duplicate executions",
                "refusals sent / due",
                "other problems",
            ],
            rows,
        )
    )
    note(
        f"\nTimes in ms from the moment a round's clicks were sent together (a reset connection is tried again, "
        f"the time counts from the first attempt); 'approved': until the approval was committed; 'all acked', "
        f"'all created': median over rounds; roles/s = requests created per second of rounds; "
        f"{time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
