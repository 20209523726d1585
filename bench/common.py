"""What the benchmarks share: percentiles and tables, a moto server, a load generator, the bot stack, seeding.

Benchmarks are not tests: each script prints small Markdown tables (paste them into RESULTS.md) whose
ratios compare numbers measured in the same run. Everything talks over loopback only, and every
loop is bounded.
"""

import contextlib
import http.client
import itertools
import json
import multiprocessing
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3
from pydantic import SecretStr

from bot.audit import GENESIS, event_hash, request_hash
from bot.config import Config, Policy, Settings
from bot.domain import parse_role_request
from bot.runtime import freeze_startup_objects
from bot.sandbox.aws import BOUNDARY_DOCUMENT, GITHUB_HOST, SAML_METADATA
from bot.sandbox.slack_driver import Reply, SlackDriver, signature
from bot.sandbox.stack import BotStack
from bot.store import FIRST_NUMBER, Store, connect, write_transaction
from bot.workflow import Workflow

REGION = "us-east-1"
REQUESTER = "U0ALICE"
REQUESTERS = (f"U0REQ{n:05d}" for n in itertools.count(1))
"""Who submits each request the benchmarks submit directly: a new person each time, since they keep more requests
open at once than one person may have (``[limits] max_open_requests_per_requester``, at most 1,000)."""
APPROVER = "U0BOB"
APPROVERS = ["U0BOB", "U0DANA", "U0CAROL", "U0FRANK"]
ROLE_TYPES = ("user", "service", "service-linked", "saml", "oidc", "custom")
QUERIES = ("s3", "ReadOnly", "lambda exec")
"""Typical searches in the modal's managed-policy select."""

# --- numbers and tables -------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``, interpolated between closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Stats:
    """Latency percentiles of some samples, in seconds."""

    n: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> "Stats":
        return cls(len(samples), *(percentile(samples, q) for q in (50, 95, 99)))


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table, to about 3 significant figures."""
    value = seconds * 1000
    decimals = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f}"


def ratio(value: float, floor: float) -> str:
    """``value`` as a multiple of ``floor``, e.g. ``1.23×``."""
    return f"{value / floor:.2f}×" if floor > 0 else "–"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (aligned, so it reads well in a terminal too)."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def heading(text: str) -> None:
    """A benchmark's Markdown heading."""
    print(f"\n### {text}\n", flush=True)


def note(text: str) -> None:
    """A line of output, at once (a benchmark runs for a while)."""
    print(text, flush=True)


def sample(fn: Callable[[], object], n: int, *, warmup: int = 10) -> list[float]:
    """Seconds each of ``n`` calls of ``fn`` took, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def machine() -> str:
    """One line about the machine and the software measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(
            int(line.split()[1]) // 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        memory = 0
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:
        system = platform.platform()
    packages = ", ".join(f"{name} {version(name)}" for name in ("slack_bolt", "slack_sdk", "boto3", "moto", "pydantic"))
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GB RAM, {system}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {packages}"
    )


# --- AWS: a moto server in its own process ------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nobody listens on (for a child process to take)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """``moto.server`` in a child process on loopback, with the AWS managed policies, as AWS over HTTP.

    Its own process keeps moto's CPU time out of the bot's interpreter (as AWS's would be).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.05)

    def session(self) -> boto3.Session:
        """A session whose clients reach this server (made-up credentials, never a real account)."""
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION=REGION,
        )
        return boto3.Session(region_name=REGION)

    def stop(self) -> None:
        """Terminate the server (this process started it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "MotoServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Account:
    """The moto account as the bot's requests refer to it."""

    id: str
    boundary_arn: str
    saml_arn: str
    oidc_arn: str


def prepare_account(session: boto3.Session) -> Account:
    """Give the account what every role type refers to: SAML and GitHub OIDC providers, a boundary policy.

    Also lists the managed policies once, so moto has loaded them before anything is timed.
    """
    iam = session.client("iam")
    oidc = iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB_HOST}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    saml = iam.create_saml_provider(Name="Okta", SAMLMetadataDocument=SAML_METADATA)["SAMLProviderArn"]
    boundary = iam.create_policy(PolicyName="bench-boundary", PolicyDocument=json.dumps(BOUNDARY_DOCUMENT))
    iam.list_policies(Scope="AWS", MaxItems=1)
    account_id = session.client("sts").get_caller_identity()["Account"]
    return Account(account_id, boundary["Policy"]["Arn"], saml, oidc)


INLINE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::acme-assets/*"}],
    }
)


def answers(role_type: str, name: str, account: Account) -> dict[str, Any]:
    """What a requester types into the modal for a normal-risk request of ``role_type`` (by field)."""
    common = {"account_id": account.id, "justification": "Benchmark request."}
    policies = {"managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}
    match role_type:
        case "user":
            return common | policies | {"role_name": name, "require_mfa": True}
        case "service":
            return common | {
                "role_name": name,
                "service_principal": "ec2.amazonaws.com",
                "inline_policy": INLINE_POLICY,
            }
        case "service-linked":
            return common | {"aws_service_name": "autoscaling.amazonaws.com", "custom_suffix": name}
        case "saml":
            return common | policies | {"role_name": name, "provider_arn": account.saml_arn}
        case "oidc":
            return common | {
                "role_name": name,
                "github_repo": "acme/web",
                "github_ref_type": "environment",
                "github_ref": "prod",
                "inline_policy": INLINE_POLICY,
            }
        case "custom":
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{account.id}:root"},
                        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                    }
                ],
            }
            return common | policies | {"role_name": name, "trust_policy_document": json.dumps(trust)}
    raise ValueError(role_type)


def form_data(role_type: str, name: str, account: Account) -> dict[str, Any]:
    """The request as the modal's state reads back (``RoleBot.submit``'s input)."""
    return {"role_type": role_type} | answers(role_type, name, account)


# --- helper processes: fake Slack, the bare Bolt floor, the load generator -------------------


class Child:
    """A helper process (spawned: a fresh interpreter) serving requests over a pipe.

    ``target(conn, *args)`` first sends one value (e.g. its URL), then answers each message it
    receives until it receives None. Its CPU time and garbage are not the bot's.
    """

    def __init__(self, name: str, target: Callable[..., None], *args: Any, timeout: float = 60) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(child, *args), daemon=True, name=name)
        self._process.start()
        self.ready: Any = self._receive(timeout)

    def _receive(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.1):
            if not self._process.is_alive() or time.monotonic() > deadline:
                state = "died" if not self._process.is_alive() else f"did not answer in {timeout:.0f} s"
                raise RuntimeError(f"{self._process.name} {state}")
        return self._conn.recv()

    def ask(self, message: Any, timeout: float = 600) -> Any:
        """Send ``message``; the child's answer."""
        self._conn.send(message)
        return self._receive(timeout)

    def stop(self) -> None:
        """Tell the child to finish, and wait for it."""
        if self._process.is_alive():
            self._conn.send(None)
            self._process.join(10)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


WEB_API_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.getPermalink",
    "views.open",
    "views.update",
    "views.publish",
    "conversations.open",
    "users.info",
    "usergroups.users.list",
)


def _fake_slack(conn: Connection) -> None:
    """Serve a ``FakeSlack``; answer how many calls of a method it had, or take a latency for every method."""
    from bot.sandbox.stack import sandbox_slack

    with sandbox_slack() as fake:
        conn.send(fake.url)
        while (message := conn.recv()) is not None:
            command, argument = message
            if command == "delay":
                for method in WEB_API_METHODS:
                    fake.delay(method, argument)
                conn.send(argument)
            else:
                conn.send(len(fake.calls(argument)))


class RemoteFakeSlack(Child):
    """The fake Slack Web API in its own process on loopback: its CPU time is not the bot's, as Slack's isn't.

    ``latency`` (seconds) makes every Web API method answer that much later, as Slack's does.
    """

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__("fake-slack", _fake_slack)
        self.url: str = self.ready
        if latency:
            self.ask(("delay", latency), 30)

    def count(self, method: str) -> int:
        """How many calls of ``method`` (e.g. ``chat.postEphemeral``) the bot made so far."""
        return self.ask(("count", method), 30)


# --- the bot ------------------------------------------------------------------------------


class _Body:
    """An HTTP body as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def instant_access_analyzer(session: boto3.Session) -> None:
    """Answer Access Analyzer's ValidatePolicy at once with no findings (moto has no Access Analyzer).

    The bot's adapter still makes its client and call; only AWS's side takes no time, as in the floors.
    """
    from botocore.awsrequest import AWSResponse

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body(b'{"findings": []}'))

    session.events.register("before-send.accessanalyzer.ValidatePolicy", respond)


def bot_stack(
    workdir: Path,
    session: boto3.Session,
    slack_url: str,
    policy: Policy | None = None,
    database_url: str | None = None,
) -> BotStack:
    """The real bot over HTTP on loopback, its Web API pointed at ``slack_url``, AWS at ``session``.

    ``BotStack`` starts a fake Slack in this process; the bot's client (which Bolt copies for each
    request) is pointed at ``slack_url`` instead, a ``RemoteFakeSlack``. Waits until the policy
    catalogue is loaded, as it is shortly after start-up, then freezes the start-up heap as
    ``iam-role-bot serve`` does.
    """
    instant_access_analyzer(session)
    database = {"database_url": SecretStr(database_url)} if database_url else {}
    stack = BotStack(workdir, approvers=APPROVERS, aws_session=session, policy=policy, sandbox=False, **database)
    stack.runtime.client.base_url = slack_url
    stack.runtime.catalog.search(stack.runtime.bot.choices.account_ids()[0], "warm")
    freeze_startup_objects()  # as ``iam-role-bot serve`` does once started
    return stack


def submit_directly(stack: BotStack, role_type: str, name: str, account: Account) -> str:
    """Record and announce a request in-process (as a modal submission would); returns its id."""
    record = stack.runtime.bot.submit(form_data(role_type, name, account), next(REQUESTERS))
    if record is None:
        raise RuntimeError("a submission without a submission key always makes a request")
    if record.required_approvals != 1:
        raise RuntimeError(f"{role_type} request {name} came out high risk; the benchmark wants one approval")
    stack.runtime.bot.announce(record)
    return record.id


def approve_click_body(stack: BotStack, request_id: str, approver: str = APPROVER) -> tuple[str, str]:
    """The signed-request body Slack sends when ``approver`` presses Approve on the request's message."""
    record = stack.runtime.store.get(request_id)
    assert record is not None
    return capture(
        lambda driver: driver.click(
            approver,
            "approve",
            request_id,
            message={"ts": record.message_ts, "type": "message"},
            channel=record.channel,
        )
    )


class Recorder(SlackDriver):
    """A ``SlackDriver`` that records what it would send instead of sending it."""

    def __init__(self) -> None:
        super().__init__("http://unused.invalid", "unused")
        self.sent: list[tuple[str, str]] = []

    def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str | None = None) -> Reply:
        self.sent.append((body, content_type))
        return Reply(200, "")


def capture(action: Callable[[SlackDriver], object]) -> tuple[str, str]:
    """(body, content type) of the one request ``action`` makes through a driver."""
    recorder = Recorder()
    action(recorder)
    [request] = recorder.sent
    return request


def _bare_bolt(conn: Connection, signing_secret: str, slack_url: str) -> None:
    """Serve the framework floor until told to stop."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.http import EVENTS_PATH, make_http_server

    client = WebClient(token="xoxb-floor", base_url=slack_url)
    app = App(signing_secret=signing_secret, client=client, token_verification_enabled=False)

    def only_ack(ack: Ack) -> None:
        ack()

    app.command("/iam-role")(only_ack)
    app.action("approve")(only_ack)
    app.view("role_request")(only_ack)
    app.options("managed_policy_arns")(only_ack)
    server = make_http_server(app, host="127.0.0.1", port=0, signing_secret=signing_secret)
    threading.Thread(target=server.serve_forever, daemon=True, name="floor-http").start()
    conn.send(f"http://127.0.0.1:{server.server_port}{EVENTS_PATH}")
    conn.recv()
    server.shutdown()


class BareBoltFloor(Child):
    """The framework floor, in its own process: a Bolt app whose listeners only ack what the benchmarks send.

    Same signing secret, same kinds of listener, same WSGI server (``bot.http.make_http_server``) and
    Web API (for Bolt's one ``auth.test``) as the bot; nothing else in its interpreter.
    """

    def __init__(self, signing_secret: str, slack_url: str) -> None:
        super().__init__("bare-bolt", _bare_bolt, signing_secret, slack_url)
        self.url: str = self.ready


# --- the load generator: its own process, so it does not share the bot's interpreter ---------


@dataclass(frozen=True)
class Answer:
    """One request's HTTP round trip as the load generator saw it."""

    seconds: float
    """From the first attempt to the whole answer."""
    status: int
    body: str
    failed_attempts: int = 0
    """Connections refused or reset before the attempt that got an answer (Slack would show the user an error)."""


CONNECTION_ERRORS = (ConnectionError, http.client.RemoteDisconnected)
MAX_ATTEMPTS = 5


def _send(host: str, port: int, path: str, secret: str, body: str, content_type: str) -> Answer:
    """POST a body signed now; the time covers connect, send and the whole answer (and any failed attempts)."""
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
    }
    data = body.encode()
    start = time.perf_counter()
    for attempt in range(MAX_ATTEMPTS):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request("POST", path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return Answer(time.perf_counter() - start, response.status, payload.decode(), attempt)
        except CONNECTION_ERRORS:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * 2**attempt)
        finally:
            connection.close()
    raise AssertionError("unreachable")


def _run_batch(url: str, secret: str, requests: list[tuple[str, str]], concurrency: int) -> list[Answer]:
    """Send ``requests`` with ``concurrency`` in flight (closed loop: each sender sends its next when answered)."""
    parts = urllib.parse.urlsplit(url)
    answers: list[Answer | None] = [None] * len(requests)
    counter = itertools.count()
    barrier = threading.Barrier(concurrency)
    failures: list[BaseException] = []

    def sender() -> None:
        barrier.wait()
        while (index := next(counter)) < len(requests):
            try:
                answers[index] = _send(parts.hostname, parts.port, parts.path, secret, *requests[index])
            except BaseException as error:  # report it to the caller, in the parent process
                failures.append(error)
                return

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if failures:
        raise failures[0]
    return [answer for answer in answers if answer is not None]


def _load_generator(conn: Connection) -> None:
    """The load generator process: runs each batch it receives and sends back the answers."""
    conn.send("ready")
    while (job := conn.recv()) is not None:
        try:
            conn.send(("ok", _run_batch(*job)))
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}"))


class LoadGenerator(Child):
    """Sends signed Slack requests from a separate process and returns their HTTP round-trip times."""

    def __init__(self) -> None:
        super().__init__("load-generator", _load_generator)

    def run(self, url: str, secret: str, requests: list[tuple[str, str]], concurrency: int = 1) -> list[Answer]:
        """Answers in the order of ``requests``; raises if any request failed or was not answered 200."""
        outcome, result = self.ask((url, secret, requests, concurrency))
        if outcome != "ok":
            raise RuntimeError(f"load generator: {result}")
        bad = [answer for answer in result if answer.status != 200]
        if bad or len(result) != len(requests):
            raise RuntimeError(f"{len(bad)} of {len(requests)} requests failed, e.g. {bad[:1]}")
        return result


# --- seeding the store ----------------------------------------------------------------------

LIVES = (
    ("created", 80),
    ("rejected", 8),
    ("cancelled", 5),
    ("expired", 5),
    ("failed", 2),
)
"""How finished requests ended, per hundred (their histories are cloned from real ones)."""


def _write_lives(store: Store, account: str) -> dict[str, str]:
    """One request per life in ``LIVES``, and one still pending, taken through ``Workflow`` as the bot does."""
    settings = Settings(_env_file=None, approver_ids=APPROVERS, database_path=str(store.path))
    workflow = Workflow(store, Config(settings, Policy()))
    seeded = Account(account, "", f"arn:aws:iam::{account}:saml-provider/Okta", "")
    findings = [{"severity": "info", "title": "Seeded", "explanation": "A seeded request.", "concerns": "role_name"}]
    lives: dict[str, str] = {}
    for index, (life, role_type) in enumerate(
        zip(
            (*(name for name, _ in LIVES), "pending"),
            ("user", "service", "saml", "oidc", "custom", "user"),
            strict=True,
        )
    ):
        request = parse_role_request(form_data(role_type, f"seeded-{role_type}", seeded))
        request_id = workflow.submit(request, REQUESTER, findings=findings, high_risk=False).id
        store.set_message(request_id, "C0APPROVALS", f"1764350000.{index:06d}")
        lives[life] = request_id
        if life in ("created", "failed"):
            workflow.approve(request_id, APPROVER)
            workflow.claim_provisioning(request_id, "iam-role-bot")
            if life == "created":
                arn = f"arn:aws:iam::{account}:role/seeded-{role_type}"
                workflow.mark_created(
                    request_id,
                    {
                        "role_arn": arn,
                        "role_name": f"seeded-{role_type}",
                        "instance_profile_arn": None,
                        "switch_role_url": None,
                    },
                )
            else:
                workflow.mark_failed(request_id, "Seeded failure.")
        elif life == "rejected":
            workflow.reject(request_id, APPROVER, "Use the read-only role.")
        elif life == "cancelled":
            workflow.cancel(request_id, REQUESTER)
        elif life == "expired" and len(workflow.expire_due(time.time() + 1000 * 3600)) != 1:
            raise AssertionError("only the request to expire should have been awaiting approval")
    return lives


PER_REQUESTER = 20
"""Seeded requests per requester."""


def seeded_requester(index: int) -> str:
    """The user id of the ``index``-th requester of a seeded store."""
    return f"U{index:07d}"


def seed_store(
    path: Path,
    n: int,
    *,
    account: str,
    pending: int = 50,
    per_requester: int = PER_REQUESTER,
    start: float | None = None,
) -> float:
    """Fill a new database at ``path`` with ``n`` requests and their histories; returns the seconds it took.

    Bulk seed: one request per kind of life goes through ``Workflow`` and ``Store`` (so its rows are
    exactly what the bot writes), then its rows are cloned under new ids, requesters and times (each
    event re-chained with ``bot.audit``, as the store would have written it) with
    ``executemany`` in one transaction: 100,000 requests in about 30 s, most of it hashing the audit chain
    (~3 s before the chain; one by one took ~40 s without it). The
    store reads a sample back. Whatever ``n``, only the table grows: the newest ``pending`` requests
    await approval, spread over the 48 hours before ``start`` (default: now), the others finished
    earlier, one every ``30 days / n``; every requester has about ``per_requester`` requests.
    """
    started = time.perf_counter()
    if path.exists():
        raise FileExistsError(path)
    template_path = path.with_name(path.name + ".template")
    with Store(template_path) as template_store:
        lives = _write_lives(template_store, account)
        db = connect(template_path)
        rows = {
            life: db.execute("SELECT * FROM requests WHERE id = ?", [rid]).fetchone() for life, rid in lives.items()
        }
        request_columns = [column[0] for column in db.execute("SELECT * FROM requests LIMIT 0").description]
        events = {
            life: db.execute("SELECT * FROM events WHERE request_id = ? ORDER BY id", [rid]).fetchall()
            for life, rid in lives.items()
        }
        event_columns = [column[0] for column in db.execute("SELECT * FROM events LIMIT 0").description]
        db.conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(template_path) + suffix).unlink(missing_ok=True)

    Store(path).close()  # the schema, at the current version
    start = time.time() if start is None else start
    finished = max(n - pending, 0)
    spacing = max(30 * 24 * 3600 / max(n, 1), 1.0)
    requesters = max(n // per_requester, 1)
    cycle = [life for life, share in LIVES for _ in range(share)]
    request_rows: list[list[Any]] = []
    event_rows: list[list[Any]] = []
    at = {
        name: request_columns.index(name)
        for name in ("seq", "id", "requester", "created_at", "updated_at", "message_ts")
    }
    event_at = {
        name: event_columns.index(name)
        for name in ("id", "request_id", "at", "actor", "request_hash", "prev_hash", "hash")
    }
    next_event, previous_hash = 1, GENESIS
    for index in range(n):
        if index < finished:
            life, created = cycle[index % len(cycle)], start - 48 * 3600 - (finished - index) * spacing
        else:
            life, created = "pending", start - (n - index) * 48 * 3600 / pending
        seq = FIRST_NUMBER + index
        row = list(rows[life])
        requester = seeded_requester(index % requesters)
        row[at["seq"]], row[at["id"]], row[at["requester"]] = seq, f"R-{seq}", requester
        row[at["created_at"]], row[at["updated_at"]] = created, created + 600
        row[at["message_ts"]] = f"{int(created)}.{index % 1_000_000:06d}"
        request_rows.append(row)
        content_hash = request_hash(dict(zip(request_columns, row, strict=True)))
        original = events[life]
        first_at = original[0][event_at["at"]]
        for event in original:
            copy = list(event)
            copy[event_at["id"]] = next_event
            copy[event_at["request_id"]] = f"R-{seq}"
            copy[event_at["at"]] = created + (event[event_at["at"]] - first_at)
            if copy[event_at["actor"]] == REQUESTER:
                copy[event_at["actor"]] = requester
            copy[event_at["request_hash"]], copy[event_at["prev_hash"]] = content_hash, previous_hash
            previous_hash = copy[event_at["hash"]] = event_hash(dict(zip(event_columns, copy, strict=True)))
            event_rows.append(copy)
            next_event += 1
    db = connect(path)
    with write_transaction(db):
        db.conn.executemany(
            f"INSERT INTO requests ({', '.join(request_columns)}) VALUES ({', '.join('?' * len(request_columns))})",
            request_rows,
        )
        db.conn.executemany(
            f"INSERT INTO events ({', '.join(event_columns)}) VALUES ({', '.join('?' * len(event_columns))})",
            event_rows,
        )
    db.conn.close()
    with Store(path) as store:  # the bot reads them back
        assert store.count() == n and len(store.pending(limit=None)) == min(pending, n)
        sample_record = store.get(f"R-{FIRST_NUMBER}")
        assert sample_record is not None and sample_record.request is not None
        assert store.events(sample_record.id)
    return time.perf_counter() - started


ENGINES = ("sqlite", "postgresql")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Any]:
    """The tests' throwaway PostgreSQL cluster (``tests/postgres.py``), for the duration of a benchmark."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres import start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def copy_to_postgres(path: Path, url: str) -> float:
    """Copy a seeded SQLite store into a new PostgreSQL database (schema made by ``PostgresStore``), rows and
    audit chain unchanged (COPY, in id order, so the chain trigger sees each event follow the last); seconds."""
    import psycopg

    from bot.store_postgres import PostgresStore

    started = time.perf_counter()
    PostgresStore(url).close()
    source = sqlite3.connect(path)
    with psycopg.connect(url) as target:
        for table_name, order in (
            ("requests", "seq"),
            ("submissions", "key"),
            ("events", "id"),
            ("jobs", "request_id"),
        ):
            cursor = source.execute(f"SELECT * FROM {table_name} ORDER BY {order}")
            columns = ", ".join(column[0] for column in cursor.description)
            with target.cursor().copy(f"COPY {table_name} ({columns}) FROM STDIN") as copy:
                for row in cursor:
                    copy.write_row(row)
    source.close()
    return time.perf_counter() - started
