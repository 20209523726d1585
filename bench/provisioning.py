"""Provisioning: Approve → role created, per role type, against a moto server over HTTP, vs the raw plan.

Each iteration submits and announces a request (untimed), sends the approver's signed Approve click
over HTTP, and times until the request is marked created (the role exists in AWS). Two floors, made
directly with a ready boto3 client, each after cleaning up so every run starts from the same account:

- the raw plan: exactly the IAM calls the request needs (``request.plan()``), the AWS floor;
- the bot's own calls: every IAM call the executor made in that iteration (pre-checks, the plan,
  waiters), replayed one after another, so "bot ÷ its calls" is the bot's overhead beyond its AWS
  calls, less what it gains by making independent calls at once (below 1× when it gains more).

The breakdown shows where the bot's time goes from the click: before AWS (the vote, the messages in
Slack), in the executor, and after it (marking the request created).

With ``--latency-ms``, every IAM call of the bot and of both floors waits that long before it is sent
(a botocore ``before-send`` hook, in this benchmark only), as a call to IAM's one control plane in US East
(N. Virginia) takes a network round trip
(https://docs.aws.amazon.com/IAM/latest/UserGuide/disaster-recovery-resiliency.html). Against moto alone
a call costs about 1 ms and one interpreter serves calls one after another, so calls made at once can't
overlap there; with a round trip they overlap as they do against IAM.

    .venv/bin/python bench/provisioning.py [--iterations 25] [--role-types user ...] [--slack-latency MS]
        [--latency-ms MS]
"""

import argparse
import contextlib
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from common import (
    APPROVER,
    REQUESTER,
    ROLE_TYPES,
    Account,
    MotoServer,
    RemoteFakeSlack,
    Stats,
    approve_click_body,
    bot_stack,
    form_data,
    heading,
    machine,
    ms,
    note,
    prepare_account,
    ratio,
    submit_directly,
    table,
)

from bot.sandbox.stack import BotStack

OWN_LIMIT = 1.15
"""The bot's median may be at most this many times its own calls' (replayed one after another)."""
PLAN_LIMIT = 2.0
"""The bot's median may be at most this many times the raw plan's."""
WARMUP = 3

Call = tuple[str, dict[str, Any]]


class CallRecorder:
    """Records the IAM operations and their parameters sent from every client of a session."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        session.events.register("provide-client-params.iam", self)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, dict(params)))

    def take(self) -> list[Call]:
        with self.lock:
            taken, self.calls = self.calls, []
        return taken


class Probe:
    """Marks when the executor starts and ends and when the request is marked created (bench-only wrappers)."""

    def __init__(self, stack: BotStack) -> None:
        self.marks: dict[str, dict[str, float]] = defaultdict(dict)
        self.done: dict[str, threading.Event] = defaultdict(threading.Event)
        self.errors: dict[str, str] = {}
        bot = stack.runtime.bot
        provision, workflow = bot.executor.provision, bot.workflow
        mark_created, mark_failed = workflow.mark_created, workflow.mark_failed

        def timed_provision(request: Any, *, request_id: str, **kwargs: Any) -> Any:
            self.marks[request_id]["aws_start"] = time.perf_counter()
            try:
                return provision(request, request_id=request_id, **kwargs)
            finally:
                self.marks[request_id]["aws_end"] = time.perf_counter()

        def timed_created(request_id: str, result: dict[str, Any]) -> Any:
            record = mark_created(request_id, result)
            self.marks[request_id]["created"] = time.perf_counter()
            self.done[request_id].set()
            return record

        def noted_failure(request_id: str, error: str) -> Any:
            self.errors[request_id] = error
            self.done[request_id].set()
            return mark_failed(request_id, error)

        bot.executor.provision = timed_provision  # type: ignore[method-assign]
        workflow.mark_created = timed_created  # type: ignore[method-assign]
        workflow.mark_failed = noted_failure  # type: ignore[method-assign]


class IamLatency:
    """Holds every IAM call of the clients a session makes afterwards for ``seconds`` before it is sent.

    ``time.sleep`` releases the GIL, as waiting on the network does, so calls made at once wait together.
    """

    def __init__(self, session: boto3.Session, seconds: float) -> None:
        self.seconds = seconds
        session.events.register("before-send.iam", self)

    def __call__(self, **_: Any) -> None:
        time.sleep(self.seconds)  # None: botocore goes on and sends the request


def remove_role(iam: Any, name: str) -> None:
    """Delete a role and what hangs on it, so the next run can make it again."""
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
        iam.delete_instance_profile(InstanceProfileName=profile["InstanceProfileName"])
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)


def role_name_of(role_type: str, name: str) -> str:
    return f"AWSServiceRoleForAutoScaling_{name}" if role_type == "service-linked" else name


def through_bot(
    stack: BotStack, probe: Probe, role_type: str, name: str, account: Account, recorder: CallRecorder
) -> tuple[dict[str, float], list[Call]]:
    """One Approve → created through the bot: its phases in seconds, and the IAM calls it made."""
    request_id = submit_directly(stack, role_type, name, account)
    stack.settle()
    body, content_type = approve_click_body(stack, request_id)
    recorder.take()
    start = time.perf_counter()
    reply = stack.driver.post(body, content_type)
    acked = time.perf_counter()
    if reply.status != 200 or not probe.done[request_id].wait(30):
        raise RuntimeError(f"{request_id} was not provisioned: HTTP {reply.status}")
    if request_id in probe.errors:
        raise RuntimeError(f"{request_id} failed: {probe.errors[request_id]}")
    stack.settle()
    settled = time.perf_counter()
    marks = probe.marks[request_id]
    phases = {
        "total": marks["created"] - start,
        "ack": acked - start,
        "before": marks["aws_start"] - start,
        "aws": marks["aws_end"] - marks["aws_start"],
        "after": marks["created"] - marks["aws_end"],
        "settled": settled - start,
    }
    return phases, recorder.take()


def direct(iam: Any, calls: list[Call]) -> float:
    """Make ``calls`` one after the other with a ready client; AWS's refusals (e.g. NoSuchEntity) count too."""
    start = time.perf_counter()
    for operation, params in calls:
        with contextlib.suppress(ClientError):
            getattr(iam, xform_name(operation))(**params)
    return time.perf_counter() - start


def plan_calls(stack: BotStack, role_type: str, name: str, account: Account) -> list[Call]:
    """The request's plan as the executor would run it (with the bot's provenance tags)."""
    request, _ = stack.runtime.bot.intake.validate(form_data(role_type, name, account))
    tags = stack.runtime.bot.executor.provenance_tags("R-0", REQUESTER, [APPROVER])
    return [(step.action, step.params) for step in request.plan(tags)]


def run(iterations: int, role_types: list[str], slack_latency: float, iam_latency: float) -> list[list[str]]:
    rows = []
    with MotoServer() as moto, RemoteFakeSlack(slack_latency) as slack, tempfile.TemporaryDirectory() as workdir:
        session = moto.session()
        account = prepare_account(session)
        cleanup = session.client("iam")  # made before the latency hook: cleaning up is not timed
        if iam_latency:
            IamLatency(session, iam_latency)
        recorder = CallRecorder(session)
        stack = bot_stack(Path(workdir), session, slack.url)
        probe = Probe(stack)
        iam = session.client("iam")
        try:
            for role_type in role_types:
                bot_runs: list[dict[str, float]] = []
                own: list[float] = []
                raw: list[float] = []
                calls: list[Call] = []
                for index in range(WARMUP + iterations):
                    name = f"bench{index}"
                    phases, calls = through_bot(stack, probe, role_type, name, account, recorder)
                    remove_role(cleanup, role_name_of(role_type, name))
                    replayed = direct(iam, calls)
                    remove_role(cleanup, role_name_of(role_type, name))
                    plan = plan_calls(stack, role_type, name, account)
                    planned = direct(iam, plan)
                    remove_role(cleanup, role_name_of(role_type, name))
                    recorder.take()
                    if index >= WARMUP:
                        bot_runs.append(phases)
                        own.append(replayed)
                        raw.append(planned)
                bot_totals = [r["total"] for r in bot_runs]
                floor, theirs, bot = Stats.of(raw), Stats.of(own), Stats.of(bot_totals)

                def p50(key: str, runs: list[dict[str, float]] = bot_runs) -> str:
                    return ms(Stats.of([run[key] for run in runs]).p50)

                rows.append(
                    [
                        role_type,
                        f"{len(calls)} / {len(plan)}",
                        ms(floor.p50),
                        ms(theirs.p50),
                        ms(bot.p50),
                        ms(bot.p95),
                        ratio(bot.p50, floor.p50),
                        ratio(bot.p50, theirs.p50),
                        ratio(min(bot_totals), min(raw)),
                        ratio(min(bot_totals), min(own)),
                        p50("before"),
                        p50("aws"),
                        p50("after"),
                        p50("settled"),
                        verdict(bot.p50, own=theirs.p50, plan=floor.p50),
                    ]
                )
                note(f"  {role_type}: bot p50 {ms(bot.p50)} ms, raw plan {ms(floor.p50)} ms")
        finally:
            stack.close()
    return rows


def verdict(bot: float, *, own: float, plan: float) -> str:
    """The targets the bot's median misses, or ok."""
    over = [
        f"over {limit}× {floor_name}"
        for floor_name, floor, limit in (("its calls", own, OWN_LIMIT), ("plan", plan, PLAN_LIMIT))
        if bot > limit * floor
    ]
    return ", ".join(over) or "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=25, help="timed iterations per role type")
    parser.add_argument("--role-types", nargs="+", choices=ROLE_TYPES, default=list(ROLE_TYPES))
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="make every Slack Web API call take this long, as Slack's do (default: 0)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="hold every IAM call (the bot's and the floors') this long before it is sent (default: 0)",
    )
    args = parser.parse_args()
    heading("Provisioning: Approve → role created (moto server over HTTP), vs the raw plan")
    note(machine())
    if args.slack_latency:
        note(f"Every Slack Web API call answers after {args.slack_latency:.0f} ms.")
    if args.latency_ms:
        note(f"Every IAM call (the bot's and the floors') waits {args.latency_ms:.0f} ms before it is sent.")
    started = time.perf_counter()
    rows = run(args.iterations, args.role_types, args.slack_latency / 1000, args.latency_ms / 1000)
    print()
    print(
        table(
            [
                "role type",
                "IAM calls bot / plan",
                "raw plan p50",
                "bot's calls p50",
                "bot p50",
                "bot p95",
                "bot ÷ plan",
                "bot ÷ its calls",
                "best ÷ best plan",
                "best ÷ best its calls",
                "before AWS",
                "executor",
                "after AWS",
                "all said",
                f"≤ {OWN_LIMIT}× its calls, ≤ {PLAN_LIMIT:g}× plan",
            ],
            rows,
        )
    )
    note(
        f"\nTimes in ms (medians unless marked); 'best' compares the fastest run of each (least disturbed by other "
        f"work on the machine); the last four columns break the bot's time down from the click "
        f"('all said': every Slack message sent too). {args.iterations} iterations per role type after {WARMUP} "
        f"warm-up; {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
