"""Helpers for end-to-end tests: the bot over HTTP, a recording fake Slack, a moto server as AWS."""

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from blocks.limits import message_problems, view_problems
from bot.sandbox.fake_slack import Call
from bot.sandbox.slack_driver import Reply, SlackDriver
from bot.sandbox.stack import BotStack

REQUESTER = "U0ALICE"
APPROVER = "U0BOB"
SECOND_APPROVER = "U0DANA"
OUTSIDER = "U0EVE"
THIRD_APPROVER = "U0CARL"

MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
VIEW_METHODS = ("views.open", "views.update", "views.push", "views.publish")


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
FIRST_CHOSEN_PORT = 20000


def free_port() -> int:
    """A loopback port free now, for a server another process will open once it has started.

    Chosen below the kernel's ephemeral range, from which every ``bind`` to port 0 and every outgoing connection
    takes its port: a port from that range could be taken by one of the many servers and connections the tests
    open in the meantime (a serve's ``/healthz`` was once answered by another test's bot, which had been given the
    port the serve was still starting to open)."""
    ephemeral_start = int(EPHEMERAL_PORTS.read_text().split()[0]) if EPHEMERAL_PORTS.exists() else 32768
    while True:
        port = random.randrange(FIRST_CHOSEN_PORT, ephemeral_start)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
            return port


def serve_settings(slack_url: str, db_dir: Path, *, token: str, secret: str, **more: str) -> dict[str, str]:
    """The environment a sandboxed ``serve`` needs to talk to the fake Slack at ``slack_url`` (one approver, one
    approvals channel, its database in ``db_dir``), plus ``more``."""
    return {
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": slack_url,
        "APPROVAL_CHANNEL_ID": "C0APPROVALS",
        "APPROVER_IDS": "U0BOB",
        "DATABASE_PATH": str(db_dir / "b.db"),
        **more,
    }


@contextlib.contextmanager
def serving(cwd: Path, env: dict[str, str], log: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``iam-role-bot serve --sandbox`` in its own process, configured only through ``env`` (plus ``PORT``), its
    output in ``log``; yields its port once ``/healthz`` answers, and stops it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--sandbox"],
        cwd=cwd,
        env={**os.environ, **env, "PORT": str(port)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the bot did not start"
                time.sleep(0.05)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """``moto.server`` in a process of its own on loopback (``tests.moto_server``), with the AWS managed policies;
    yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parents[1],  # this checkout's bot package
        env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the moto server did not start"
                time.sleep(0.05)
        yield url
    finally:
        # SIGKILL: on SIGTERM moto exits only once the request threads of clients' kept-alive connections
        # end (up to 10 s at the end of a run), and it keeps nothing worth a graceful stop.
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def in_process_moto_server() -> Iterator[str]:
    """A moto server in this process, with the AWS managed policies; yields its URL. Only for tests that reach into
    moto's records (``moto.iam.models.iam_backends``) where no API sets what they need; the in-process moto that
    other modules start resets its accounts, so it lives no longer than one module."""
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


class RecordingDriver(SlackDriver):
    """A ``SlackDriver`` that keeps every HTTP answer of the bot, to check them against Slack's limits."""

    def __init__(self, url: str, signing_secret: str) -> None:
        super().__init__(url, signing_secret)
        self.replies: list[Reply] = []

    def post(self, body: str, content_type: str, **kwargs: Any) -> Reply:
        reply = super().post(body, content_type, **kwargs)
        self.replies.append(reply)
        return reply


def reply_problems(reply: Reply) -> list[str]:
    """What in one HTTP answer (a command's message, an options list, a view to push) breaks Slack's limits."""
    try:
        body = reply.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    problems = []
    if "blocks" in body or "text" in body:
        problems += message_problems(body.get("text", ""), body.get("blocks", []))
    if "options" in body:  # an options load: checked as a static select holding them
        select = {"type": "static_select", "action_id": "options", "options": body["options"]}
        problems += message_problems("", [{"type": "actions", "elements": [select]}])
    if isinstance(body.get("view"), dict):
        problems += view_problems(body["view"])
    return problems


def call_problems(call: Call) -> list[str]:
    """What in one recorded Web API call breaks Slack's limits."""
    if call.method in MESSAGE_METHODS:
        return message_problems(call.params.get("text", ""), call.params.get("blocks") or [])
    if call.method in VIEW_METHODS:
        return view_problems(call.params["view"])
    return []


def limit_problems(stack: BotStack) -> list[str]:
    """Every problem of everything the stack's bot sent to Slack, each named by where it was sent.

    Calls the fake Slack refused count too, unless the test set ``stack.expected_refusals`` (errors
    it provokes on purpose).
    """
    problems = [
        f"{call.method} to {call.params.get('channel') or call.params.get('user_id') or ''}: {problem}"
        for call in stack.slack.calls()
        for problem in call_problems(call)
    ]
    problems += [
        f"{call.method} to {call.params.get('channel') or call.params.get('user_id') or ''}: Slack refused it: "
        f"{call.response.get('error')} {call.response.get('response_metadata', '')}"
        for call in stack.slack.refused()
        if call.response.get("error") not in getattr(stack, "expected_refusals", ())
    ]
    replies = getattr(stack.driver, "replies", [])
    problems += [
        f"HTTP answer {reply.body[:80]!r}: {problem}" for reply in replies for problem in reply_problems(reply)
    ]
    return problems


def home_iam(stack: BotStack) -> Any:
    """The IAM client the stack's bot acts with in its home account: made once and reused, so test
    hooks go on its events (``home_iam(stack).meta.events.register(...)``), not on the session's."""
    sessions = stack.runtime.sessions
    return sessions.iam_client(sessions.home_account_id)


def open_modal(stack: BotStack, user: str, text: str) -> dict[str, Any]:
    """``/iam-role TEXT`` and the modal the bot opened in answer, as Slack holds it (with its ``id`` and ``hash``)."""
    since = time.time()
    reply = stack.driver.command(user, text)
    assert reply.status == 200, reply.body
    opened = stack.slack.wait_for("views.open", lambda c: c.at >= since)
    assert opened.response.get("ok"), opened.response
    return opened.response["view"]


def submit(stack: BotStack, user: str, view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any] | None:
    """Submit a modal; returns its errors as a ``response_action: errors`` body (given in the ack, or shown by the
    form drawn again after the checks that ask AWS), or None when it closed or shows its outcome."""
    errors = stack.submit_form(user, view, answers)
    return None if errors is None else {"response_action": "errors", "errors": errors}


def request_role(stack: BotStack, role_type: str, answers: dict[str, Any], user: str = REQUESTER) -> str:
    """A whole submission; returns the new request's id."""
    view = open_modal(stack, user, role_type)
    answers = {
        "account_id": stack.runtime.bot.choices.account_ids()[0],
        "justification": "Needed for tests.",
        **answers,
    }
    errors = submit(stack, user, view, answers)
    assert errors is None, errors
    record = stack.runtime.store.for_requester(user, limit=1)[0]
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == record.requester)
    return record.id


def click(stack: BotStack, user: str, action: str, request_id: str) -> None:
    """Press a button of the request's approval message, as ``user``."""
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.message_ts, "the request was never posted for approval"
    reply = stack.driver.click(
        user, action, request_id, message={"ts": record.message_ts, "type": "message"}, channel=record.channel
    )
    assert reply.status == 200, reply.body
    stack.settle()


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
S3_GET_OBJECT = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
)


def made_lambda_role(stack: BotStack, name: str, **answers: Any) -> str:
    """A Lambda role the bot made, requested by REQUESTER and approved: read-only, the inline ``S3_GET_OBJECT``, tag
    team=data (``answers`` add or override). Where the edit, drift and submission tests start; the create's id."""
    request_id = request_role(
        stack,
        "service",
        {
            "role_name": name,
            "service_principal": "lambda.amazonaws.com",
            "managed_policy_arns": [READ_ONLY],
            "inline_policy": S3_GET_OBJECT,
            "tags": "team=data",
            **answers,
        },
    )
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"
    return request_id


def edit_form(stack: BotStack, text: str) -> dict[str, Any]:
    """The edit form ``/iam-role edit TEXT`` opens for REQUESTER, filled with the role's approved state."""
    return open_modal(stack, REQUESTER, f"edit {text}")


def approved_edit(stack: BotStack, name: str, answers: dict[str, Any]) -> str:
    """REQUESTER edits the role ``name`` through the form with ``answers``, APPROVER approves, the bot carries it out;
    the edit request's id."""
    assert submit(stack, REQUESTER, edit_form(stack, name), answers) is None
    edit = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    assert edit.kind == "edit"
    click(stack, APPROVER, "approve", edit.id)
    assert stack.runtime.store.get(edit.id).status == "edited"
    return edit.id


def approved_deletion(stack: BotStack, user: str, name: str) -> str:
    """``user`` asks to delete the role ``name`` (``/iam-role delete``), APPROVER approves, the bot deletes it; the
    delete request's id."""
    assert stack.driver.command(user, f"delete {name}").status == 200
    stack.settle()
    retire = stack.runtime.store.for_requester(user, limit=1)[0]
    click(stack, APPROVER, "approve", retire.id)
    assert stack.runtime.store.get(retire.id).status == "deleted"
    return retire.id


def thread_replies(stack: BotStack, request_id: str) -> list[Call]:
    record = stack.runtime.store.get(request_id)
    assert record is not None
    return [c for c in stack.slack.calls("chat.postMessage") if c.params.get("thread_ts") == record.message_ts]


def dms(stack: BotStack, user: str) -> list[Call]:
    return [c for c in stack.slack.calls("chat.postMessage") if c.params.get("channel") == user]


def said(call: Call) -> str:
    """Everything a message says, text and blocks, as one string to search."""
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []))


def ephemerals(stack: BotStack, user: str) -> list[Call]:
    return [c for c in stack.slack.calls("chat.postEphemeral") if c.params.get("user") == user]


def buttons_of(call: Call) -> dict[str, dict[str, Any]]:
    """A message's buttons by action_id."""
    return {
        e["action_id"]: e
        for b in call.params.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("type") == "button"
    }


def press(stack: BotStack, user: str, call: Call, action: str) -> None:
    """Press a button of a message the bot posted (``call``), where it was posted (a DM, a thread reply)."""
    button = buttons_of(call)[action]
    channel = call.params["channel"]
    channel = f"D{channel}" if channel.startswith(("U", "W")) else channel
    message = {
        "type": "message",
        "ts": "1764350000.999999",
        "text": call.params.get("text", ""),
        "blocks": call.params.get("blocks", []),
    }
    if call.params.get("thread_ts"):
        message["thread_ts"] = call.params["thread_ts"]
    reply = stack.driver.click(user, action, button["value"], message=message, channel=channel)
    assert reply.status == 200, reply.body
    stack.settle()


def open_home(stack: BotStack, user: str, tab: str = "home") -> dict[str, Any] | None:
    """Open the App Home tab as ``user``; the view the bot published for them (None if it published none)."""
    stack.slack.clear()
    reply = stack.driver.event(
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab, "event_ts": "1764350000.000100"}
    )
    assert reply.status == 200, reply.body
    stack.settle()
    published = [c.params for c in stack.slack.calls("views.publish") if c.params["user_id"] == user]
    assert len(published) <= 1
    return published[0]["view"] | {"id": f"VHOME{user}"} if published else None


def make_look_alike(iam: Any, name: str) -> tuple[str, str]:
    """Delete the role ``name`` outside the bot and make another under its name with everything copied, its
    provenance tags (nonce included: ListRoleTags shows them) among it, as an attacker could; (old, new) RoleIds."""
    role = iam.get_role(RoleName=name)["Role"]
    tags = iam.list_role_tags(RoleName=name)["Tags"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    inline = {
        n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
        for n in iam.list_role_policies(RoleName=name)["PolicyNames"]
    }
    listed = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    profiles = [profile["InstanceProfileName"] for profile in listed]
    for profile in profiles:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=name)
    for arn in attached:
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    for policy_name in inline:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    iam.delete_role(RoleName=name)
    boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    made = iam.create_role(
        RoleName=name,
        Path=role["Path"],
        AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
        Description=role.get("Description", ""),
        MaxSessionDuration=role["MaxSessionDuration"],
        Tags=tags,
        **({"PermissionsBoundary": boundary} if boundary else {}),
    )["Role"]
    for arn in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    for policy_name, document in inline.items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    for profile in profiles:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)
    assert made["RoleId"] != role["RoleId"]
    return role["RoleId"], made["RoleId"]
