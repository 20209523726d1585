"""Three ``iam-role-bot serve`` processes on one PostgreSQL, as replicas behind a load balancer: signed
requests spread across them, 100 Approve clicks at once over 10 requests, one replica killed (SIGKILL)
while it provisions. Each request's role is created by exactly one CreateRole (counted at the AWS end,
a moto server behind a counting WSGI layer), is announced created once, and nothing is left behind.

Everything runs on loopback; every wait is bounded.
"""

import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from blocks.ids import APPROVE
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, sandbox_slack
from bot.store_postgres import PostgresStore
from tests.postgres import Cluster

REPLICAS = 3
REQUESTS = 10
APPROVERS = [f"U0APPROVER{n}" for n in range(10)]
REQUESTER = "U0ALICE"
SECRET = "replica-test-signing-secret"
TOKEN = "xoxb-replicas"
LEASE_SECONDS = 3
CREATE_ROLE_DELAY = 0.5
"""How late the counting layer answers the other CreateRole calls (after moto made the role), so that approvals
overlap provisioning on every replica."""
DEADLINE_SECONDS = 120


class CountingIam:
    """moto's server app, counting the CreateRole calls that reach it (by role name) and answering them late.

    The first CreateRole is answered only once ``release`` is set: the test kills the replica that made it in
    between, so it dies after AWS made the role and before it heard so, whatever the machine's load. (Killing
    whichever replica held a job, found by polling, could land after it had recorded the role created, in the
    moment before it told Slack: a different crash from the one this test is about.)
    """

    def __init__(self) -> None:
        self.app = DomainDispatcherApplication(create_backend_app)
        self.create_role_calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.first_role: str | None = None
        self.first_arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        answer = self.app(environ, start_response)
        if form.get("Action") == ["CreateRole"]:
            with self.lock:
                self.create_role_calls[form["RoleName"][0]] += 1
                first = self.first_role is None
                if first:
                    self.first_role = form["RoleName"][0]
            if first:
                self.first_arrived.set()
                self.release.wait(DEADLINE_SECONDS)
            else:
                time.sleep(CREATE_ROLE_DELAY)
        return answer


@pytest.fixture
def counting_aws() -> Iterator[tuple[str, CountingIam]]:
    counting = CountingIam()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, counting, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="counting-moto").start()
    yield f"http://127.0.0.1:{server.server_port}", counting
    server.shutdown()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def started(process: subprocess.Popen[str], port: int, log: Path) -> Callable[[], bool]:
    """Whether the replica answers its health check yet (a replica that exited fails the test with its log)."""

    def check() -> bool:
        if process.poll() is not None:
            pytest.fail(log.read_text())
        return healthy(port)

    return check


@pytest.fixture
def replicas(
    tmp_path: Path, postgres: Cluster, counting_aws: tuple[str, CountingIam]
) -> Iterator[tuple[list[subprocess.Popen[str]], list[SlackDriver], FakeSlack, str]]:
    """Three ``serve`` processes on one new PostgreSQL schema, a shared fake Slack and the counting moto server."""
    url = postgres.new_schema()
    PostgresStore(url).close()  # the schema, so the replicas start on a migrated database
    aws_endpoint, _ = counting_aws
    processes: list[subprocess.Popen[str]] = []
    ports = [free_port() for _ in range(REPLICAS)]
    with sandbox_slack() as slack:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "APPROVAL_CHANNEL_ID": APPROVAL_CHANNEL,
            "NOTIFICATIONS_CHANNEL_ID": ANNOUNCE_CHANNEL,
            "APPROVER_IDS": ",".join(APPROVERS),
            "DATABASE_URL": url,
            "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "AWS_ENDPOINT_URL": aws_endpoint,
        }
        try:
            for index, port in enumerate(ports):
                log = (tmp_path / f"replica-{index}.log").open("w")
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot", "serve"],
                        cwd=tmp_path,
                        env=env | {"PORT": str(port)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            for index, (process, port) in enumerate(zip(processes, ports, strict=True)):
                wait_until(started(process, port, tmp_path / f"replica-{index}.log"), f"replica {index} to start")
            drivers = [SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET) for port in ports]
            yield processes, drivers, slack, url
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                process.wait(timeout=30)


def submit_request(driver: SlackDriver, slack: FakeSlack, name: str) -> None:
    since = time.time()
    assert driver.command(REQUESTER, "user").status == 200
    opened = slack.wait_for("views.open", lambda c: c.at >= since and c.params.get("trigger_id") is not None)
    view = opened.response["view"]
    answers = {"account_id": "123456789012", "justification": "Replica test.", "role_name": name}
    reply = driver.submit(REQUESTER, view, answers)
    assert reply.status == 200, reply.body
    assert not reply.body or reply.json().get("response_action") != "errors", reply.body  # closed, or "checking"


def test_three_replicas_create_each_approved_role_exactly_once_despite_one_dying(
    replicas: tuple[list[subprocess.Popen[str]], list[SlackDriver], FakeSlack, str],
    counting_aws: tuple[str, CountingIam],
) -> None:
    processes, drivers, slack, url = replicas
    _, counting = counting_aws
    names = [f"replicated-{n}" for n in range(REQUESTS)]
    for index, name in enumerate(names):
        submit_request(drivers[index % REPLICAS], slack, name)
    store = PostgresStore(url)
    try:
        records = wait_until(
            lambda: (
                (found := store.for_requester(REQUESTER, limit=None))
                and len(found) == REQUESTS
                and all(r.message_ts for r in found)
                and found
            ),
            "every request posted for approval",
        )
        clicks = [(record, approver) for record in records for approver in APPROVERS]
        pids = {process.pid: process for process in processes}

        def click(numbered: tuple[int, tuple[Any, str]]) -> int:
            number, (record, approver) = numbered
            driver = drivers[number % REPLICAS]
            message = {"ts": record.message_ts, "type": "message"}
            try:
                return driver.click(approver, APPROVE, record.id, message=message, channel=record.channel).status
            except OSError:
                return 0  # the replica was killed: Slack would show the clicker an error

        def kill_a_provisioning_replica() -> int:
            """SIGKILL the replica whose CreateRole ``counting`` holds, then let the call answer."""
            try:
                assert counting.first_arrived.wait(DEADLINE_SECONDS), "no replica provisioning"
                request_id = next(record.id for record in records if record.role_name == counting.first_role)
                [owner] = [job["owner"] for job in store.jobs() if job["request_id"] == request_id]
                pid = int(owner.split(":")[1])
                assert pid in pids, owner
                os.kill(pid, signal.SIGKILL)
                return pid
            finally:
                counting.release.set()

        with ThreadPoolExecutor(max_workers=len(clicks) + 1) as pool:
            killer = pool.submit(kill_a_provisioning_replica)
            statuses = list(pool.map(click, enumerate(clicks)))
            killed = killer.result(timeout=DEADLINE_SECONDS)
        assert pids[killed].wait(timeout=10) == -signal.SIGKILL
        assert statuses.count(200) >= len(clicks) // 2, Counter(statuses)

        def all_created() -> bool:
            return all(store.get(record.id).status == "created" for record in records)

        wait_until(all_created, "every request created (the killed replica's jobs taken over after their lease)")
        assert dict(counting.create_role_calls) == {name: 1 for name in names}
        assert store.jobs() == []
        taken_over = [record.id for record in records if any(e.kind == "resumed" for e in store.events(record.id))]
        assert taken_over, "the killed replica's job was resumed by another"

        def announced() -> list[str]:
            return [
                call.params.get("text", "") + str(call.params.get("blocks", ""))
                for call in slack.calls("chat.postMessage")
                if call.params.get("channel") == ANNOUNCE_CHANNEL
            ]

        # A replica killed after recording a role created and before telling it leaves the notice to another, once its
        # lease ran out (up to a lease and a third later): the role can be created before it is announced.
        wait_until(
            lambda: all(any(record.id in text for text in announced()) for record in records), "every role announced"
        )
        for record in records:
            assert sum(record.id in text for text in announced()) == 1, record.id
            assert sum(e.kind == "approved" for e in store.events(record.id)) == 1
        assert store.verify_audit()[0] is None
    finally:
        store.close()
