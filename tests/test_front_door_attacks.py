"""The front door against a hostile client that knows Slack's protocol: signature edge cases, replays,
lying headers and odd methods, over real sockets to the waitress server. Every refusal is a 4xx, never
a 500 or a traceback in the log, and a replayed click never counts twice."""

import json
import logging
import socket
import time
import urllib.parse

import pytest

from blocks import ids
from bot.http import EVENTS_PATH
from bot.lifecycle import EventKind
from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, request_role
from tests.test_http_limits import post, read_answer, signed_headers

FORM = "application/x-www-form-urlencoded"
COMMAND = b"command=%2Fiam-role&text=help&user_id=U0EVE&channel_id=C0GENERAL&team_id=T0SANDBOX&trigger_id=1.2.3"


def raw_request(port: int, head: bytes, body: bytes = b"", *, wait: float = 3) -> bytes:
    """Send a request as raw bytes; the answer, or what came within ``wait`` seconds (nothing, if the server waits
    for more of the request)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + body)
        return read_answer(sock, timeout=wait)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text


def signature_for(secret: str, timestamp: bytes, body: bytes) -> str:
    import hashlib
    import hmac

    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "timestamp",
    [
        b"\xb2",  # latin-1 superscript two: str.isdigit() says yes, int() says no
        b"\xb9\xb2\xb3",
        b"9" * 5000,  # longer than Python's int() accepts from a string
        b"+1764500000",
        b" 1764500000",
        b"-1",
        b"",
    ],
)
def test_odd_timestamps_are_refused_with_401_not_a_500(
    stack: BotStack, timestamp: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    head = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {len(COMMAND)}\r\n"
    ).encode()
    head += b"X-Slack-Request-Timestamp: " + timestamp + b"\r\n"
    head += b"X-Slack-Signature: " + signature_for(stack.signing_secret, timestamp, COMMAND).encode() + b"\r\n\r\n"
    answer = raw_request(stack.server.server_port, head, COMMAND)
    assert status_of(answer) == 401, answer[:300]
    no_traceback(caplog)


@pytest.mark.parametrize("skew", [-301, 301, -(10**9), 10**9])
def test_a_signed_request_from_outside_the_five_minutes_is_refused(stack: BotStack, skew: int) -> None:
    stamp = str(int(time.time()) + skew)
    if skew < 0 and int(stamp) < 0:
        stamp = "0"
    assert post(stack.server.server_port, COMMAND, signed_headers(stack.signing_secret, COMMAND, FORM, stamp))[0] == 401


def test_signature_variants_are_refused(stack: BotStack) -> None:
    headers = signed_headers(stack.signing_secret, COMMAND, FORM)
    good = headers["X-Slack-Signature"]
    port = stack.server.server_port
    for variant in (good.upper(), "V0=" + good[3:], "v1=" + good[3:], good[3:], good + "00", "v0=" + good, ""):
        assert post(port, COMMAND, headers | {"X-Slack-Signature": variant})[0] == 401, variant
    missing = {k: v for k, v in headers.items() if k != "X-Slack-Signature"}
    assert post(port, COMMAND, missing)[0] == 401
    assert post(port, COMMAND, headers)[0] == 200


def test_duplicate_signature_headers_are_refused(stack: BotStack, caplog: pytest.LogCaptureFixture) -> None:
    headers = signed_headers(stack.signing_secret, COMMAND, FORM)
    head = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {len(COMMAND)}\r\n"
        f"X-Slack-Request-Timestamp: {headers['X-Slack-Request-Timestamp']}\r\n"
        f"X-Slack-Signature: v0=forged\r\nX-Slack-Signature: {headers['X-Slack-Signature']}\r\n\r\n"
    ).encode()
    assert status_of(raw_request(stack.server.server_port, head, COMMAND)) == 401
    no_traceback(caplog)


@pytest.mark.parametrize(
    "length_header",
    [
        b"Content-Length: -5",
        b"Content-Length: abc",
        b"Content-Length: 5",
        b"Content-Length: 1e3",
        b"Content-Length: 10\r\nContent-Length: 20",
        b"Transfer-Encoding: chunked, identity",
        b"Transfer-Encoding: gzip",
        b"Content-Length: 3\r\nTransfer-Encoding: chunked",
    ],
)
def test_lying_lengths_and_encodings_get_a_4xx(
    stack: BotStack, length_header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = signed_headers(stack.signing_secret, COMMAND, FORM)
    head = f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n".encode() + length_header + b"\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "Content-Type").encode() + b"\r\n"
    # A body shorter than its chunked coding promises leaves the server waiting for the rest (no answer, as
    # accepted below); a refusal comes at once, so waiting 1 s for one is plenty.
    answer = raw_request(stack.server.server_port, head, COMMAND, wait=1)
    # A transfer coding the server doesn't know is answered 501, as RFC 9112 section 6.1 says it should
    # (https://www.rfc-editor.org/rfc/rfc9112#section-6.1): waitress's refusal, before the app is called.
    unknown_coding = length_header in (b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked, identity")
    assert 400 <= status_of(answer) < 500 or answer == b"" or (unknown_coding and status_of(answer) == 501), answer
    no_traceback(caplog)


def test_many_headers_a_long_url_and_other_methods_get_a_4xx(stack: BotStack, caplog: pytest.LogCaptureFixture) -> None:
    port = stack.server.server_port
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    assert (
        400
        <= status_of(raw_request(port, f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\n".encode() + many + b"\r\n"))
        < 500
    )
    long_url = f"POST {EVENTS_PATH}?{'a' * 200_000} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    answer = raw_request(port, long_url)
    assert 400 <= status_of(answer) < 500 or answer == b""
    for method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"):
        answer = raw_request(port, f"{method} {EVENTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        assert 400 <= status_of(answer) < 500, (method, answer[:200])
    for path in (
        "/slack/events/../healthz",
        "/slack//events",
        "/slack/events/",
        "/%2e%2e/etc/passwd",
        "//slack/events",
    ):
        answer = raw_request(port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        assert 400 <= status_of(answer) < 500, (path, answer[:200])
    no_traceback(caplog)


def test_an_unsigned_url_verification_challenge_is_not_echoed(stack: BotStack) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "<script>evil</script>", "token": "x"}).encode()
    status, answer = post(stack.server.server_port, body, {"Content-Type": "application/json"})
    assert status == 401 and b"evil" not in answer
    status, answer = post(
        stack.server.server_port, body, signed_headers(stack.signing_secret, body, "application/json")
    )
    assert status == 200 and b"evil" in answer


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "event_callback", "event": {"type": "app_home_opened", "user": "U0EVE"}, "n": ' + b"9" * 5000 + b"}",
        b'{"type": "event_callback", "event": {"type": "app_home_opened", "user": "U0EVE"}, "n": 1e999999}',
        b'{"type": "event_callback", "type": "url_verification", "challenge": "c"}',
        b'{"type": "event_callback", "event": {"type": "app_home_opened", "user": ["U0EVE"]}}',
        b'{"type": "event_callback", "event": {"type": "app_home_opened"}}',
        b'{"type": "event_callback", "event": ' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"}",
    ],
)
def test_signed_odd_json_gets_no_500_or_traceback(
    stack: BotStack, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = signed_headers(stack.signing_secret, body, "application/json") | {"X-Slack-Retry-Num": "1"}
    status, _ = post(stack.server.server_port, body, headers)
    assert status < 500
    stack.settle()
    no_traceback(caplog)


def test_a_replayed_approve_click_counts_once(stack: BotStack) -> None:
    request_id = request_role(stack, "service", {"role_name": "etl", "service_principal": "glue.amazonaws.com"})
    record = stack.runtime.store.get(request_id)
    assert record is not None
    payload = stack.driver.base_payload("block_actions", APPROVER) | {
        "actions": [{"action_id": ids.APPROVE, "block_id": ids.APPROVE, "type": "button", "value": request_id}],
        "channel": {"id": record.channel},
        "message": {"ts": record.message_ts, "type": "message"},
        "container": {"type": "message", "message_ts": record.message_ts, "channel_id": record.channel},
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = signed_headers(stack.signing_secret, body, FORM)
    for _ in range(3):
        assert post(stack.server.server_port, body, headers)[0] == 200
        stack.settle()
    stack.runtime.bot.drain()
    events = [e.kind for e in stack.runtime.store.events(request_id)]
    assert events.count(EventKind.APPROVAL) == 1 and events.count(EventKind.APPROVED) == 1, events
    assert events.count(EventKind.PROVISIONING) == 1, events
