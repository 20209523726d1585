"""Store scaling: the bot's store operations at 1,000, 10,000 and 100,000 requests.

Each size is a fresh SQLite file seeded in bulk (``common.seed_store``: finished requests with their
full histories, and the same 50 awaiting approval at every size, so only the table grows). Then,
through ``Store`` and ``Workflow`` as the bot calls them: the reads first (pending for an approver as
App Home lists them, a request's history, a requester's list, one request, the newest, the
housekeeping scan), then the writes (submit, an approval vote that approves, a bare transition).
Nothing should grow with the table: the last column compares 100,000 with 1,000 requests.

    .venv/bin/python bench/store_scaling.py [--sizes 1000 10000 100000] [--calls 300] [--engine postgresql]
"""

import argparse
import contextlib
import itertools
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    APPROVER,
    APPROVERS,
    ENGINES,
    PER_REQUESTER,
    REQUESTER,
    Account,
    Stats,
    copy_to_postgres,
    form_data,
    heading,
    machine,
    ms,
    note,
    postgres_cluster,
    sample,
    seed_store,
    seeded_requester,
    table,
)

from bot.config import Config, Policy, Settings
from bot.domain import parse_role_request
from bot.lifecycle import Status
from bot.store import FIRST_NUMBER, Store
from bot.store_postgres import PostgresStore
from bot.workflow import Workflow

ACCOUNT = "123456789012"
WARMUP = 21
ROUNDS = 3
GROWTH_LIMIT = 2.0
"""An operation "grows" if its median at the largest size is over this many times the smallest's."""


def reads(store: Store, workflow: Workflow, size: int) -> dict[str, Callable[[], object]]:
    """The queries, each as one call, on requests and requesters picked at random."""
    rng = random.Random(size)
    ids = itertools.cycle([f"R-{FIRST_NUMBER + rng.randrange(size)}" for _ in range(64)])
    users = itertools.cycle([seeded_requester(rng.randrange(size // PER_REQUESTER)) for _ in range(64)])
    cutoff = time.time() - 24 * 3600

    def awaiting_approver() -> object:  # App Home's "awaiting your approval"
        return [r for r in store.pending(limit=None) if workflow.may_approve(r, APPROVER) is None]

    return {
        "pending for an approver": awaiting_approver,
        "history of a request": lambda: store.events(next(ids)),
        "a requester's requests": lambda: store.for_requester(next(users), limit=20),
        "one request": lambda: store.get(next(ids)),
        "newest requests": lambda: store.recent(50),
        "housekeeping scan": lambda: store.by_status(Status.SUBMITTED, before=cutoff, limit=None),
    }


def writes(store: Store, workflow: Workflow, calls: int) -> dict[str, Callable[[], object]]:
    """The writes, each as one call; votes and transitions act on requests of their own (made untimed)."""
    request = parse_role_request(form_data("user", "scaling", Account(ACCOUNT, "", "", "")))
    to_approve = iter([store.create_request(request, REQUESTER).id for _ in range(calls + WARMUP)])
    to_move = iter([store.create_request(request, REQUESTER).id for _ in range(calls + WARMUP)])
    return {
        "submit": lambda: workflow.submit(request, REQUESTER, findings=[], high_risk=False),
        "approve (vote + transition)": lambda: workflow.approve(next(to_approve), APPROVER),
        "transition": lambda: store.transition(
            next(to_move), expected=Status.SUBMITTED, new=Status.CANCELLED, actor=REQUESTER, kind="cancelled"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation and size")
    parser.add_argument("--engine", choices=ENGINES, default="sqlite", help="postgresql: a throwaway local cluster")
    args = parser.parse_args()
    heading(f"Store scaling ({args.engine}): operations vs number of requests in the store")
    note(machine())
    started = time.perf_counter()
    samples: dict[str, dict[int, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stores:
        cluster = stores.enter_context(postgres_cluster()) if args.engine == "postgresql" else None
        setups = []
        for size in args.sizes:
            path = Path(tmp) / f"store-{size}.db"
            seconds = seed_store(path, size, account=ACCOUNT)
            events = sqlite3.connect(path).execute("SELECT COUNT(*) FROM events").fetchone()[0]
            note(f"  {size:,} requests ({events:,} events) seeded in {seconds:.1f} s")
            settings = Settings(_env_file=None, approver_ids=APPROVERS, database_path=str(path))
            store: Store
            if cluster is not None:
                url = cluster.new_database()
                note(f"    copied to PostgreSQL in {copy_to_postgres(path, url):.1f} s")
                store = stores.enter_context(PostgresStore(url))
            else:
                store = stores.enter_context(Store(path))
            setups.append((size, store, Workflow(store, Config(settings, Policy()))))
        # The sizes take turns, a few rounds each, so a slower moment of the machine hits them all alike.
        for make in (
            lambda size, store, workflow: reads(store, workflow, size),
            lambda size, store, workflow: writes(store, workflow, args.calls),
        ):
            operations = {size: make(size, store, workflow) for size, store, workflow in setups}
            for name in operations[args.sizes[0]]:
                for _ in range(ROUNDS):
                    for size in args.sizes:
                        times = sample(operations[size][name], args.calls // ROUNDS, warmup=WARMUP // ROUNDS)
                        samples.setdefault(name, {}).setdefault(size, []).extend(times)
    results = {name: [Stats.of(by_size[size]) for size in args.sizes] for name, by_size in samples.items()}
    rows = []
    for name, stats in results.items():
        growth = stats[-1].p50 / stats[0].p50
        rows.append(
            [
                name,
                *(f"{ms(s.p50)} / {ms(s.p99)}" for s in stats),
                f"{growth:.2f}×",
                "flat" if growth <= GROWTH_LIMIT else "GROWS",
            ]
        )
    print()
    print(
        table(
            [
                "operation",
                *(f"{size:,}: p50 / p99" for size in args.sizes),
                f"p50 {args.sizes[-1]:,} vs {args.sizes[0]:,}",
                "verdict",
            ],
            rows,
        )
    )
    note(
        f"\nTimes in ms; {args.calls} calls per operation and size, in {ROUNDS} rounds taking turns with the other "
        f"sizes; 50 requests await approval at every size; {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
