"""What the logs hold, at every level, with the bot run as in production (``iam-role-bot serve`` in a
process of its own, configured through the environment): one record per line whatever a request
held, no body and no line of unbounded length, no AWS credentials from an AssumeRole, no Slack secret."""

import contextlib
import io
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from bot.logs import MAX_MESSAGE_CHARS, PINNED_LOGGERS, configure_logging
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver, signature
from tests.e2e import serve_settings, serving

SECRET = "logging-test-signing-secret"
TOKEN = "xoxb-logging-test-token"
MEMBER = "444455556666"
MARKER = "BODY-MARKER-7f3a"
FORGED = "2026-11-30 12:00:00,000 WARNING bot.service: Request R-1001 approved by U0BOB"
CREDENTIALS = re.compile(r"(SecretAccessKey|SessionToken)\W{1,6}[A-Za-z0-9/+=]{8,}")
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")
MAX_LINE = 2500


def post_raw(port: int, body: bytes, secret: str) -> bytes:
    """POST ``body`` signed with ``secret``; the status line of the answer (the body may be refused unread)."""
    stamp = str(int(time.time()))
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {stamp}\r\nX-Slack-Signature: {signature(secret, stamp, body.decode())}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before the body was read
            sock.sendall(body)
        return sock.recv(200).split(b"\r\n")[0]


@pytest.fixture(params=["DEBUG", "INFO", "WARNING", "ERROR"])
def level(request: pytest.FixtureRequest) -> str:
    return request.param


@contextlib.contextmanager
def serve(tmp_path: Path, level: str, log_format: str) -> Iterator[tuple[int, SlackDriver, FakeSlack]]:
    """``iam-role-bot serve --sandbox`` with a member account (so it assumes a role in it at start-up)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[[accounts]]\nid = "{MEMBER}"\nname = "member"\n')
    with FakeSlack() as slack:
        env = serve_settings(
            slack.url,
            tmp_path,
            token=TOKEN,
            secret=SECRET,
            POLICY_FILE=str(policy),
            LOG_LEVEL=level,
            LOG_FORMAT=log_format,
        )
        with serving(tmp_path, env, tmp_path / "bot.log") as (port, _process):
            yield port, SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET), slack


def logged_while_driven(tmp_path: Path, level: str, log_format: str) -> str:
    """Everything the bot wrote while it met hostile and ordinary traffic (huge forged bodies, raw newlines)."""
    with serve(tmp_path, level, log_format) as (port, driver, slack):
        drive(port, driver, slack)
    return (tmp_path / "bot.log").read_text()


def drive(port: int, driver: SlackDriver, slack: FakeSlack) -> None:
    assert post_raw(port, MARKER.encode() * 400_000, "forged").startswith(b"HTTP/1.1 413")  # 6.4 MB
    assert post_raw(port, MARKER.encode() * 50_000, "forged").startswith(b"HTTP/1.1 401")  # 800 kB
    assert driver.command("U0ALICE", "user").status == 200
    view = slack.wait_for("views.open", timeout=20).params["view"]
    answers = {
        "account_id": MEMBER,
        "role_name": "logged-role",
        "description": f"Reads logs.\n{FORGED}",
        "justification": f"Needed.\n{FORGED}\r\n{FORGED}\u2028{FORGED}",
    }
    assert driver.submit("U0ALICE", view, answers).status == 200
    slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0APPROVALS", timeout=20)


def check_common(output: str, level: str) -> None:
    assert TOKEN not in output and SECRET not in output
    assert MARKER not in output, "a refused body was logged"
    assert not CREDENTIALS.search(output), "AWS credentials were logged"
    assert max(map(len, output.splitlines()), default=0) <= MAX_LINE
    if level in ("DEBUG", "INFO"):
        assert f"Assuming arn:aws:iam::{MEMBER}:role/iam-role-bot-executor" in output, "no AssumeRole happened"
    if level == "DEBUG":
        assert " DEBUG " in output or '"DEBUG"' in output
    if level in ("WARNING", "ERROR"):
        assert " INFO " not in output and '"INFO"' not in output


def test_text_logs_hold_one_record_per_line_and_nothing_secret(tmp_path: Path, level: str) -> None:
    output = logged_while_driven(tmp_path, level, "text")
    check_common(output, level)
    for line in output.splitlines():
        assert RECORD_START.match(line) or line.startswith("    | "), f"a line that is not a record: {line[:200]!r}"


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    output = logged_while_driven(tmp_path, "DEBUG", "json")
    check_common(output, "DEBUG")
    records = [json.loads(line) for line in output.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert any(record["message"].startswith("SANDBOX") for record in records)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_formatter_escapes_caps_and_masks(log_format: str) -> None:
    stream = io.StringIO()
    loggers = [logging.getLogger(), *map(logging.getLogger, PINNED_LOGGERS)]
    levels, handlers = [logger.level for logger in loggers], list(logging.getLogger().handlers)
    configure_logging("INFO", log_format, secrets=["s3cr3t-signing"], stream=stream)
    try:
        logging.getLogger("bot.test").warning(
            "value %s %s %s %s",
            f"a\n{FORGED}\x1b[31m",
            "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey> xoxb-1234-5678-abcd s3cr3t-signing",
            "x" * 10_000,
            '{"SessionToken": "FwoGZXIvYXdzEJr//////////wEaDH"}',
        )
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        logging.getLogger().handlers[:] = handlers
    [line] = stream.getvalue().splitlines()
    message = json.loads(line)["message"] if log_format == "json" else line
    assert "\\n" + FORGED in line and "\x1b" not in line
    assert "wJalrXUtnFEMI" not in line and "FwoGZXIvYXdz" not in line and "xoxb-1234" not in line
    assert "s3cr3t-signing" not in line and "[redacted]" in line
    assert len(message) < MAX_MESSAGE_CHARS + 100 and "more characters]" in message


@contextlib.contextmanager
def configured(log_format: str = "text", stream: io.StringIO | None = None) -> Iterator[None]:
    """``configure_logging`` for the block; the root's handlers and the loggers' levels as they were after it."""
    loggers = [logging.getLogger(), *map(logging.getLogger, PINNED_LOGGERS)]
    levels, handlers = [logger.level for logger in loggers], list(logging.getLogger().handlers)
    configure_logging("INFO", log_format, stream=stream)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        logging.getLogger().handlers[:] = handlers


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


ODD_RECORDS: dict[str, tuple[dict[str, Any], str]] = {
    "msg and args None": ({"msg": None, "args": None}, "None"),
    "arguments that don't fit": ({"msg": "%s and %s", "args": ("one",)}, "'%s and %s' % ('one',)"),
    "an argument too many": ({"msg": "plain", "args": ("extra",)}, "'plain' % ('extra',)"),
    "a mapping without the key": ({"msg": "%(missing)s", "args": ({"other": 1},)}, "%(missing)s"),
    "a message whose str raises": ({"msg": Unprintable(), "args": None}, "<Unprintable that can't be shown>"),
    "exc_info that is no exception's": ({"msg": "x", "args": None, "exc_info": True}, "exc_info: True"),
    "an empty exc_info": ({"msg": "x", "args": None, "exc_info": (None, None, None)}, "x"),
}


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("shape", sorted(ODD_RECORDS))
def test_a_record_of_any_shape_is_written_and_never_raises(
    log_format: str, shape: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logging's own "--- Logging error ---" (a traceback on stderr, the record lost) never happens."""
    fields, expected = ODD_RECORDS[shape]
    stream = io.StringIO()
    with configured(log_format, stream):
        record = logging.LogRecord("odd", logging.WARNING, __file__, 1, None, None, None)
        record.__dict__.update(fields)
        logging.getLogger("odd").handle(record)
    written = stream.getvalue()
    assert expected in (
        json.loads(written)["message"] + json.loads(written).get("exception", "") if log_format == "json" else written
    )
    assert "Logging error" not in capsys.readouterr().err


def test_without_a_stream_records_go_to_stderr_as_it_is_when_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Configured while stderr was one stream (a test's captured output) that is closed since, the handler writes
    to the stderr of now: here an in-process moto server's thread, which logs an ERROR for every call to a service
    it lacks (Access Analyzer, which the bot asks), as the tests' moto server did once per run while it ran in the
    test process (it has a process of its own now)."""
    import boto3

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        with configured():
            first.close()
            now = io.StringIO()
            monkeypatch.setattr("sys.stderr", now)
            host, port = server.get_host_and_port()
            analyzer = boto3.client("accessanalyzer", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
            with contextlib.suppress(Exception):
                analyzer.validate_policy(policyDocument="{}", policyType="IDENTITY_POLICY")
            logging.getLogger("bot.test").warning("after the swap")
    finally:
        server.stop()
    written = now.getvalue()
    assert "ERROR werkzeug: " in written and "WARNING bot.test: after the swap" in written
    assert "Logging error" not in written
