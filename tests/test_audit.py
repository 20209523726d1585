"""The tamper-evident audit log on a real SQLite file, attacked with raw SQL as someone holding the file
would: replacing events is refused, a request's content is fixed, ``iam-role-bot audit verify`` finds
the first broken link, older databases are chained when migrated, and provisioning refuses a request
that is no longer what was approved."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bot.audit import GENESIS, event_hash, legacy_request_hash
from bot.cli import main
from bot.domain import RoleRequest, parse_role_request
from bot.sandbox.stack import BotStack
from bot.store import MIGRATIONS, Store, connect, migrate
from tests.e2e import APPROVER, request_role, said, thread_replies
from tests.older_schema import older_request_row

ACCOUNT = "111122223333"


def role(name: str) -> RoleRequest:
    return parse_role_request({"role_type": "user", "account_id": ACCOUNT, "justification": "CI", "role_name": name})


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.db"))
    return tmp_path / "bot.db"


@pytest.fixture
def history(path: Path) -> Iterator[Store]:
    """Two requests with a few events each, on a real file."""
    with Store(path) as store:
        first = store.create_request(role("first"), "U1").id
        second = store.create_request(role("second"), "U2").id
        store.add_event(first, "U3", "approval")
        store.transition(first, expected="submitted", new="approved", actor="U3", kind="approved")
        store.transition(second, expected="submitted", new="rejected", actor="U3", kind="rejected")
        yield store


def raw(path: Path, *statements: str) -> None:
    """Run SQL on the file the way an attacker with the file would, triggers dropped first if asked."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify"])
    out, err = capsys.readouterr()
    return code, out + err


def test_an_intact_log_verifies(history: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = verify(capsys)
    assert code == 0 and "intact: 5 events" in output


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_replacing_an_event_is_refused(history: Store, path: Path, verb: str) -> None:
    before = history.events("R-1001")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw(
            path,
            f"{verb} INTO events (id, request_id, at, actor, kind, details_json, request_hash, prev_hash, hash) "
            "SELECT id, request_id, at, 'U666', kind, details_json, request_hash, prev_hash, hash FROM events "
            "WHERE kind = 'approved'",
        )
    assert history.events("R-1001") == before


def test_an_event_that_does_not_follow_the_last_is_refused(history: Store, path: Path) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="follow the last one"):
        raw(
            path,
            "INSERT INTO events (request_id, at, actor, kind, details_json, request_hash, prev_hash, hash) "
            "VALUES ('R-1002', 1.0, 'U666', 'approved', '{}', '', 'forged', 'forged')",
        )


@pytest.mark.parametrize("column", ["required_approvals = 0", "provenance_nonce = ''"])
def test_a_requests_content_cannot_be_changed(history: Store, path: Path, column: str) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="never changes"):
        raw(path, f"UPDATE requests SET {column} WHERE id = 'R-1001'")


@pytest.mark.parametrize(
    ("tampering", "reported"),
    [
        (
            ["DROP TRIGGER events_append_only_update", "UPDATE events SET actor = 'U666' WHERE id = 3"],
            "event 3 (R-1001): was changed after it was written",
        ),
        (
            ["DROP TRIGGER events_append_only_delete", "DELETE FROM events WHERE id = 2"],
            "event 3 (R-1001): does not follow the event before it",
        ),
        (
            [
                "DROP TRIGGER requests_content_fixed",
                "UPDATE requests SET request_json = replace(request_json, 'second', 'admin') WHERE id = 'R-1002'",
            ],
            "R-1002: the request was changed after its last event",
        ),
        (  # a nonce the tamperer knows (a role pre-created with it would be adopted), or none: the bare id
            [
                "DROP TRIGGER requests_content_fixed",
                "UPDATE requests SET provenance_nonce = 'known' WHERE id = 'R-1002'",
            ],
            "R-1002: the request was changed after its last event",
        ),
        (
            ["DROP TRIGGER requests_content_fixed", "UPDATE requests SET provenance_nonce = '' WHERE id = 'R-1001'"],
            "R-1001: the request was changed after its last event",
        ),
    ],
)
def test_verify_reports_the_first_broken_link(
    history: Store, path: Path, capsys: pytest.CaptureFixture[str], tampering: list[str], reported: str
) -> None:
    raw(path, *tampering)
    code, output = verify(capsys)
    assert code == 1 and "BROKEN" in output and reported in output, output


def test_an_older_database_is_chained_when_migrated(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = connect(path)
    migrate(old, target=2)
    old.table("requests").insert(older_request_row(role("legacy"), status="approved", role_name="legacy"))
    for at, actor, kind in [(1.0, "U1", "submitted"), (2.0, "U2", "approval"), (2.0, "U2", "approved")]:
        old.table("events").insert({"request_id": "R-1001", "at": at, "actor": actor, "kind": kind})
    old.close()

    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert [(e.actor, e.kind) for e in store.events("R-1001")] == [
            ("U1", "submitted"),
            ("U2", "approval"),
            ("U2", "approved"),
        ]
        assert store.changed_since("R-1001", "approved") is None
        store.transition("R-1001", expected="approved", new="provisioning", actor="bot", kind="provisioning")
    code, output = verify(capsys)
    assert code == 0 and "intact: 4 events" in output
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw(path, "REPLACE INTO events SELECT * FROM events WHERE id = 1")


NONCE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def chained_before_nonces_were_covered(path: Path) -> None:
    """R-1001 submitted, voted and approved by a bot at schema version 11: a nonce, and events whose request
    hashes (the version 1 scheme) don't cover it."""
    old = connect(path)
    migrate(old, target=11)
    old.table("requests").insert(
        older_request_row(role("older"), status="approved", role_name="older", provenance_nonce=NONCE)
    )
    stored = next(old.query("SELECT * FROM requests WHERE id = 'R-1001'"))
    previous = GENESIS
    for number, (actor, kind) in enumerate([("U1", "submitted"), ("U2", "approval"), ("U2", "approved")], 1):
        event = {"id": number, "request_id": "R-1001", "at": float(number), "actor": actor, "kind": kind}
        event |= {"details_json": "{}", "request_hash": legacy_request_hash(stored), "prev_hash": previous}
        previous = event["hash"] = event_hash(event)
        old.table("events").insert(event)
    old.close()


def test_a_chain_written_before_the_nonce_was_covered_verifies_and_covers_it_from_its_next_event(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chained_before_nonces_were_covered(path)
    with Store(path) as store:
        assert store.changed_since("R-1001", "approved") is None  # its approval, in the older scheme, still holds
        code, output = verify(capsys)
        assert code == 0 and "intact: 3 events" in output
        store.transition("R-1001", expected="approved", new="provisioning", actor="bot", kind="provisioning")
        assert store.events("R-1001")[-1].kind == "provisioning"
    code, output = verify(capsys)
    assert code == 0 and "intact: 4 events" in output

    raw(path, "DROP TRIGGER requests_content_fixed", "UPDATE requests SET provenance_nonce = 'known'")
    code, output = verify(capsys)
    assert code == 1 and "R-1001: the request was changed after its last event" in output


def test_an_event_cannot_be_moved_back_to_the_scheme_without_the_nonce(
    history: Store, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rewriting a new event's request hash in the older scheme (which doesn't cover the nonce) changes the event."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    stored = dict(conn.execute("SELECT * FROM requests WHERE id = 'R-1002'").fetchone())
    conn.close()
    raw(
        path,
        "DROP TRIGGER events_append_only_update",
        f"UPDATE events SET request_hash = '{legacy_request_hash(stored)}' WHERE request_id = 'R-1002'",
    )
    code, output = verify(capsys)
    assert code == 1 and "(R-1002): was changed after it was written" in output


def test_provisioning_refuses_a_request_changed_after_its_approval(stack: BotStack, aws: boto3.Session) -> None:
    request_id = request_role(stack, "user", {"role_name": "approved-name"})
    stack.runtime.workflow.lease_seconds = 0.0  # its job is free at once, as after its replica died
    stack.runtime.workflow.approve(request_id, APPROVER)  # approved; provisioning not started yet
    raw(
        stack.runtime.store.path,
        "DROP TRIGGER requests_content_fixed",
        "UPDATE requests SET request_json = replace(request_json, 'approved-name', 'swapped-name') "
        f"WHERE id = '{request_id}'",
    )

    stack.runtime.bot.resume_interrupted()
    stack.settle()

    record = stack.runtime.store.get(request_id)
    assert record.status == "failed" and "not what was approved" in (record.error or "")
    assert aws.client("iam").list_roles()["Roles"] == [], "a role was created"
    assert any("not what was approved" in said(c) for c in thread_replies(stack, request_id))
    broken = stack.runtime.store.verify_audit()[0]
    assert broken is not None and broken.request_id == request_id and "changed in between" in broken.problem
