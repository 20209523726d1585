"""What only PostgreSQL shows: its triggers keep the audit log as SQLite's do (attacked with raw SQL as a
database user would), replicas starting at once migrate once, and a newer schema is refused."""

import threading
from collections.abc import Iterator

import psycopg
import pytest

from bot.domain import RoleRequest, parse_role_request
from bot.store import SchemaTooNew
from bot.store_postgres import POSTGRES_MIGRATIONS, PostgresStore
from tests.postgres import Cluster

ACCOUNT = "111122223333"


def role(name: str) -> RoleRequest:
    return parse_role_request({"role_type": "user", "account_id": ACCOUNT, "justification": "CI", "role_name": name})


@pytest.fixture
def url(postgres: Cluster) -> str:
    return postgres.new_schema()


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    with PostgresStore(url) as store:
        first = store.create_request(role("first"), "U1").id
        store.add_event(first, "U3", "approval")
        store.transition(first, expected="submitted", new="approved", actor="U3", kind="approved")
        store.create_request(role("second"), "U2")
        yield store


def raw(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET actor = 'U666'",
        "DELETE FROM events WHERE kind = 'approval'",
        "TRUNCATE events CASCADE",
        "INSERT INTO events (id, request_id, at, actor, kind, request_hash, prev_hash, hash) "
        "VALUES (99, 'R-1001', 1, 'U666', 'approved', 'x', 'not the last hash', 'y')",
        "INSERT INTO events SELECT * FROM events WHERE id = 1 ON CONFLICT (id) DO UPDATE SET actor = 'U666'",
    ],
)
def test_events_are_append_only(store: PostgresStore, url: str, statement: str) -> None:
    before = store.events("R-1001")
    with pytest.raises(psycopg.errors.RaiseException, match=r"append-only|must follow the last one"):
        raw(url, statement)
    assert store.events("R-1001") == before
    assert store.verify_audit()[0] is None


@pytest.mark.parametrize("change", ["required_approvals = 0", "provenance_nonce = ''"])
def test_a_requests_content_never_changes(store: PostgresStore, url: str, change: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="content never changes"):
        raw(url, f"UPDATE requests SET {change}")
    store.set_message("R-1001", "C1", "1.2")  # what may change still does


def test_verify_finds_an_event_changed_with_the_triggers_disabled(store: PostgresStore, url: str) -> None:
    """The owner of the tables can disable triggers; the chain still shows what they changed."""
    raw(url, "ALTER TABLE events DISABLE TRIGGER USER", "UPDATE events SET actor = 'U666' WHERE kind = 'approved'")
    broken, count, _ = store.verify_audit()
    assert broken is not None and (broken.event_id, broken.problem) == (3, "was changed after it was written")
    assert count == 3


def test_verify_finds_a_request_changed_after_approval(store: PostgresStore, url: str) -> None:
    raw(
        url,
        "ALTER TABLE requests DISABLE TRIGGER USER",
        "UPDATE requests SET request_json = replace(request_json, 'first', 'admin') WHERE id = 'R-1001'",
    )
    assert store.changed_since("R-1001", "approved") == "its stored content was changed after it was approved"
    broken, _, _ = store.verify_audit()
    assert broken is not None and broken.request_id == "R-1001"


def test_replicas_starting_at_once_migrate_once(url: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresStore(url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert {store.schema_version for store in stores} == {len(POSTGRES_MIGRATIONS)}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(POSTGRES_MIGRATIONS),)]
    for store in stores:
        store.close()


def test_a_database_from_a_newer_bot_is_refused(url: str) -> None:
    PostgresStore(url).close()
    raw(url, "UPDATE schema_version SET version = version + 1")
    with pytest.raises(SchemaTooNew):
        PostgresStore(url)


def test_verify_finds_a_provenance_nonce_changed_after_approval(store: PostgresStore, url: str) -> None:
    """A nonce set to one the tamperer knows would let a role they pre-create be taken for the bot's own."""
    raw(url, "ALTER TABLE requests DISABLE TRIGGER USER", "UPDATE requests SET provenance_nonce = 'known'")
    assert store.changed_since("R-1001", "approved") == "its stored content was changed after it was approved"
    broken, _, _ = store.verify_audit()
    assert broken is not None and broken.problem == "the request was changed after its last event"
