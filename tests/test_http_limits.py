"""The HTTP front door against hostile clients, over real sockets on loopback: oversized bodies are
refused before they are read, connections that stall are closed without holding a worker thread,
and malformed bodies get 401 unsigned (never parsed) or 400 signed — never a 500 or a traceback."""

import hashlib
import hmac
import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bot.http import EVENTS_PATH, HttpLimits, HttpServer, make_http_server
from bot.sandbox.stack import BotStack

MB = 1024 * 1024
MALFORMED = {
    "truncated JSON": (b'{"type": "block_actions", "user": ', "application/json"),
    "bad UTF-8": (b'{"type": "\xff\xfe"}', "application/json"),
    "deeply nested JSON": (b"[" * 200_000 + b"]" * 200_000, "application/json"),
    "a JSON list": (b"[1, 2, 3]", "application/json"),
    "payload that is not JSON": (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    "payload nested too deep": (b"payload=" + b"%5B" * 100_000, "application/x-www-form-urlencoded"),
    "a bad timestamp": (b"command=%2Fiam-role&text=help", "application/x-www-form-urlencoded"),
}


def signed_headers(secret: str, body: bytes, content_type: str, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", EVENTS_PATH, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def port_of(stack: BotStack) -> int:
    return stack.server.server_port


def head_of(body_length: int | None, *, chunked: bool = False) -> bytes:
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_length}"
    return (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket, timeout: float = 5) -> bytes:
    """What the server sent: one whole response, or all it sent before closing (or within ``timeout``)."""
    sock.settimeout(timeout)
    answer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not complete(answer):
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        answer += chunk
    return answer


def complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response with a Content-Length (a kept-alive connection stays open)."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"content-length:")
    ]
    return bool(separator and lengths and lengths[0].strip().isdigit() and len(body) >= int(lengths[0].strip()))


def test_a_100_mb_body_is_refused_from_its_content_length_before_a_byte_of_it_is_sent(stack: BotStack) -> None:
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head_of(100 * MB))
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


def test_a_chunked_body_is_cut_off_at_the_limit(stack: BotStack) -> None:
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5) as sock:
        sock.sendall(head_of(None, chunked=True))
        try:
            while sent < 20 * MB:  # bounded: the server must stop us long before
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413") or answer == b"", answer[:200]
    assert sent < 8 * MB, f"the server kept reading: {sent} bytes sent"


def test_a_body_just_under_the_limit_is_read_and_then_judged_by_its_signature(stack: BotStack) -> None:
    body = b"x" * (MB - 100)
    assert post(port_of(stack), body, {"Content-Type": "application/json"})[0] == 401
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5) as sock:
        sock.sendall(head_of(MB + 100))  # the answer comes before the body: sending it could only race the close
        assert read_answer(sock).startswith(b"HTTP/1.1 413")


@pytest.fixture
def impatient_server(stack: BotStack) -> Iterator[HttpServer]:
    """The stack's app behind a server that closes idle connections after one second and has two threads."""
    limits = HttpLimits(idle_timeout=1.0, cleanup_interval=0.2, threads=2)
    server = make_http_server(
        stack.runtime.app, host="127.0.0.1", port=0, signing_secret=stack.signing_secret, limits=limits
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="impatient-http").start()
    yield server
    server.shutdown()


def test_stalled_connections_are_closed_and_hold_no_worker_thread(impatient_server: HttpServer) -> None:
    port = impatient_server.server_port
    stalled = []
    for _ in range(30):  # far more than the server's two threads
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head_of(500) + b'{"type": ')  # promises 500 bytes, sends 9, then nothing
        stalled.append(sock)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200, "stalled bodies held the worker threads"
        conn.close()

        started = time.monotonic()
        answers = [read_answer(sock, timeout=6) for sock in stalled]
        waited = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()
    assert answers == [b""] * len(stalled), "a stalled request was answered instead of dropped"
    assert waited < 5, f"stalled connections lived {waited:.1f} s"


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_bodies_get_401_unsigned_and_400_signed_never_a_500_or_a_traceback(
    stack: BotStack, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body, content_type = MALFORMED[case]
    unsigned = post(port_of(stack), body, {"Content-Type": content_type})
    forged = post(port_of(stack), body, signed_headers("forged", body, content_type))
    timestamp = "not-a-number" if case == "a bad timestamp" else None
    signed = post(port_of(stack), body, signed_headers(stack.signing_secret, body, content_type, timestamp))

    assert unsigned[0] == 401 and forged[0] == 401
    assert signed[0] == (401 if timestamp else 400), signed
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text


def test_a_signed_slash_command_mentioning_payload_still_reaches_its_listener(stack: BotStack) -> None:
    reply = stack.driver.command("U0ALICE", "status R-9999 payload")
    assert reply.status == 200 and "No request" in reply.body
