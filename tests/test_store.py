"""The request store on real SQLite files and a real PostgreSQL (tests/postgres.py): records, conditional
transitions, append-only events, migrations from older schemas, thread safety, and indexes for the bot's list
queries."""

import os
import re
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.domain import RoleRequest, parse_role_request
from bot.domain.last_use import LastUse
from bot.lifecycle import RequestKind, Status
from bot.store import MIGRATIONS, RequestRecord, SchemaTooNew, Store, connect, migrate
from tests.older_schema import older_request_row

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def role(name: str = "deployer", account: str = ACCOUNT) -> RoleRequest:
    return parse_role_request(
        {"role_type": "user", "account_id": account, "justification": "CI deploys", "role_name": name}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(open_store: Callable[..., Store], clock: Clock) -> Store:
    """The store on each engine (SQLite, PostgreSQL): everything not about SQLite's file runs on both."""
    return open_store(clock=clock)


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(tmp_path / "bot.db", clock=clock) as store:
        yield store


def test_requests_get_short_sequential_ids_and_a_submitted_event(store: Store) -> None:
    first = store.create_request(role("a"), "U1")
    second = store.create_request(role("b"), "U2", risk="high", required_approvals=2)

    assert (first.id, second.id) == ("R-1001", "R-1002")
    assert store.count() == 2
    [event] = store.events(second.id)
    assert (event.actor, event.kind, event.details) == ("U2", "submitted", {"risk": "high", "required_approvals": 2})


def test_a_record_keeps_the_request_its_findings_and_risk(store: Store, clock: Clock) -> None:
    findings = [{"severity": "high", "title": "Admin access", "explanation": "…", "concerns": "managed_policy_arns"}]
    request = role()
    record = store.create_request(request, "U1", risk="high", required_approvals=2, findings=findings)

    loaded = store.get(record.id)
    assert loaded == record
    assert loaded.request == request
    assert (loaded.role_type, loaded.account_id, loaded.role_name) == ("user", ACCOUNT, "deployer")
    assert (loaded.status, loaded.risk, loaded.required_approvals) == (Status.SUBMITTED, "high", 2)
    assert loaded.findings == findings
    assert loaded.created_at == loaded.updated_at == clock.now
    assert (loaded.result, loaded.error, loaded.channel) == (None, None, None)
    assert store.get("R-9999") is None


def test_bad_risk_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.create_request(role(), "U1", risk="extreme")
    assert store.count() == 0


def test_a_transition_only_happens_from_an_expected_status(store: Store, clock: Clock) -> None:
    record = store.create_request(role(), "U1")
    clock.now += 60

    assert (
        store.transition(record.id, expected="approved", new="provisioning", actor="bot", kind="provisioning") is None
    )
    assert store.get(record.id) == record
    assert [e.kind for e in store.events(record.id)] == ["submitted"]

    moved = store.transition(
        record.id, expected=("submitted", "failed"), new="approved", actor="U2", kind="approved", details={"n": 1}
    )
    assert moved is not None
    assert (moved.status, moved.updated_at) == (Status.APPROVED, clock.now)
    assert store.events(record.id)[-1].details == {"n": 1}


def test_result_and_error_describe_the_latest_outcome(store: Store) -> None:
    record = store.create_request(role(), "U1")
    store.transition(record.id, expected="submitted", new="approved", actor="U2", kind="approved")
    store.transition(record.id, expected="approved", new="provisioning", actor="bot", kind="provisioning")
    failed = store.transition(record.id, expected="provisioning", new="failed", actor="bot", kind="failed", error="x")
    assert failed is not None and failed.error == "x"

    retried = store.transition(record.id, expected="failed", new="provisioning", actor="U2", kind="retried")
    assert retried is not None and retried.error is None
    result = {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/deployer"}
    created = store.transition(record.id, expected="provisioning", new="created", actor="bot", kind="c", result=result)
    assert created is not None and store.get(record.id).result == result


def test_set_message_remembers_where_the_approval_message_is(store: Store) -> None:
    record = store.create_request(role(), "U1")
    updated = store.set_message(record.id, "C123", "1700000000.000100")
    assert (updated.channel, updated.message_ts) == ("C123", "1700000000.000100")
    assert store.get(record.id) == updated


def test_a_transaction_rolls_back_everything_on_error(store: Store) -> None:
    record = store.create_request(role(), "U1")
    with pytest.raises(RuntimeError), store.transaction():
        store.add_event(record.id, "U2", "approval")
        store.transition(record.id, expected="submitted", new="approved", actor="U2", kind="approved")
        raise RuntimeError("boom")
    assert store.get(record.id).status == Status.SUBMITTED
    assert [e.kind for e in store.events(record.id)] == ["submitted"]


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.add_event("R-9999", "U1", "approval")


def test_the_database_uses_wal(sqlite_store: Store) -> None:
    with sqlite3.connect(sqlite_store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- events are append-only ---------------------------------------------------------------


def test_triggers_refuse_to_update_or_delete_events(sqlite_store: Store) -> None:
    store = sqlite_store
    record = store.create_request(role(), "U1")
    conn = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET actor = 'U666'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert [(e.actor, e.kind) for e in store.events(record.id)] == [("U1", "submitted")]


EVENT_WRITES = re.compile(
    r"(UPDATE|DELETE\s+FROM|REPLACE\s+INTO|INSERT\s+OR\s+REPLACE\s+INTO)\s+[\"'\[`]?events\b"
    r"|table\(\s*[\"']events[\"']\s*\)\.(update|upsert|delete|delete_where|insert_all)"
    r"|replace\s*=\s*True",
    re.IGNORECASE,
)


@pytest.mark.parametrize("module", ["bot/store.py", "bot/store_postgres.py", "bot/workflow.py"])
def test_no_code_path_updates_or_deletes_events(module: str) -> None:
    source = (ROOT / module).read_text()
    assert EVENT_WRITES.findall(source) == []
    assert EVENT_WRITES.search('db.execute("DELETE FROM events WHERE id = ?")')  # the pattern does catch one


# --- migrations ------------------------------------------------------------------------------


def test_a_first_version_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = connect(path)
    assert migrate(old, target=1) == 1
    old.table("requests").insert(
        older_request_row(role("legacy-role"), status="failed", channel="C1", message_ts="1.2", error="Throttled")
    )
    old.table("events").insert({"request_id": "R-1001", "at": 1.0, "actor": "U1", "kind": "submitted"})
    assert "risk" not in old.table("requests").columns_dict
    old.close()

    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        record = store.get("R-1001")
        assert isinstance(record, RequestRecord)
        assert (record.status, record.error, record.channel, record.message_ts) == ("failed", "Throttled", "C1", "1.2")
        assert record.request == role("legacy-role")
        assert (record.role_name, record.risk, record.required_approvals, record.findings) == (
            "legacy-role",
            "normal",
            1,
            [],
        )
        assert (record.kind, record.target_id, record.subject) == ("create", None, None)
        assert [(e.actor, e.kind, e.details) for e in store.events("R-1001")] == [("U1", "submitted", {})]
        assert record.provenance_nonce == ""  # its role, if any, carries the bare request id
        new = store.create_request(role("new-role"), "U2")
        assert new.id == "R-1002"
        assert len(new.provenance_nonce) == 32

    upgraded = connect(path)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert {"requests_by_status", "requests_by_requester", "requests_by_time", "requests_by_target"} <= {
        index.name for index in upgraded.table("requests").indexes
    }
    with pytest.raises(sqlite3.IntegrityError):
        upgraded.execute("DELETE FROM events")
    upgraded.close()


def test_each_request_gets_its_own_secret_nonce(tmp_path: Path) -> None:
    with Store(tmp_path / "bot.db") as store:
        first, second = store.create_request(role("a"), "U1"), store.create_request(role("b"), "U1")
    assert len({first.provenance_nonce, second.provenance_nonce}) == 2
    assert all(len(nonce) == 32 for nonce in (first.provenance_nonce, second.provenance_nonce))


def test_reopening_a_current_database_changes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "bot.db") as store:
        record = store.create_request(role(), "U1")
    with Store(tmp_path / "bot.db") as reopened:
        assert reopened.get(record.id) == record
        assert reopened.schema_version == len(MIGRATIONS)


def test_a_database_from_a_newer_bot_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "bot.db").close()
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew):
        Store(tmp_path / "bot.db")


# --- request kinds ------------------------------------------------------------------------------


def test_a_delete_request_names_the_role_it_retires_and_ends_its_life(store: Store) -> None:
    made = store.create_request(role("old-role"), "U1")
    other = store.create_request(role("old-role", OTHER_ACCOUNT), "U1")
    for record in (made, other):
        store.transition(record.id, expected="submitted", new="created", actor="U2", kind="created")
    assert [r.id for r in store.live_roles(ACCOUNT, "old-role")] == [made.id]

    subject = {"role_arn": "arn:aws:iam::111122223333:role/old-role", "last_used": None}
    retire = store.create_request(made.request, "U3", kind=RequestKind.DELETE, target_id=made.id, subject=subject)
    assert (retire.kind, retire.target_id, retire.subject, retire.role_name) == ("delete", made.id, subject, "old-role")
    assert store.events(retire.id)[0].details == {
        "risk": "normal",
        "required_approvals": 1,
        "kind": "delete",
        "target_id": made.id,
    }
    assert [r.id for r in store.acting_on(made.id)] == [retire.id]
    assert [r.id for r in store.live_roles(role_name="old-role")] == [made.id, other.id]

    store.transition(retire.id, expected="submitted", new="deleted", actor="U2", kind="deleted")
    assert [r.id for r in store.live_roles()] == [other.id]


def test_roles_last_use_is_read_oldest_first_and_a_failed_read_keeps_the_last_good_one(store: Store) -> None:
    first, second = (store.create_request(role(name), "U1") for name in ("first", "second"))
    for record in (first, second):
        store.transition(record.id, expected="submitted", new="created", actor="U2", kind="created")
    assert [r.id for r in store.last_use_due(100.0, 10)] == [first.id, second.id]  # never read: both, oldest first
    used = LastUse(read_at=50.0, used_at=40.0, region="eu-west-1")
    store.record_last_use(first.id, used, tried_at=50.0)
    assert [r.id for r in store.last_use_due(100.0, 10)] == [second.id, first.id]  # never read, then read longest ago
    assert [r.id for r in store.last_use_due(50.0, 1)] == [second.id]
    store.record_last_use(first.id, None, tried_at=120.0)  # reading it again failed
    assert store.last_uses([first.id, second.id]) == {first.id: used}
    assert [r.id for r in store.last_use_due(100.0, 10)] == [second.id]  # tried lately: not again at once
    store.record_last_use(second.id, None, tried_at=130.0)
    assert store.last_uses([second.id]) == {}  # never read successfully: nothing to show
    gone = LastUse(read_at=200.0, found=False)
    store.record_last_use(first.id, gone, tried_at=200.0)
    assert store.last_uses([first.id]) == {first.id: gone} and store.last_uses([]) == {}


# --- list queries ------------------------------------------------------------------------------


def test_list_queries_filter_and_order(store: Store, clock: Clock) -> None:
    ids = []
    for n, (account, requester) in enumerate([(ACCOUNT, "U1"), (OTHER_ACCOUNT, "U2"), (ACCOUNT, "U1")]):
        clock.now += 10
        ids.append(store.create_request(role(f"r{n}", account), requester).id)
    store.transition(ids[2], expected="submitted", new="cancelled", actor="U1", kind="cancelled")

    assert [r.id for r in store.pending()] == ids[:2]
    assert [r.id for r in store.pending([ACCOUNT])] == ids[:1]
    assert store.pending([]) == []
    assert [r.id for r in store.pending(limit=1)] == ids[:1]
    assert [r.id for r in store.for_requester("U1")] == [ids[2], ids[0]]
    assert [r.id for r in store.by_status("submitted")] == ids[:2]
    assert [r.id for r in store.by_status("submitted", before=clock.now - 15)] == ids[:1]
    assert [r.id for r in store.recent()] == ids[::-1]
    assert [r.id for r in store.recent(limit=None)] == ids[::-1]
    assert (store.count(), store.count("cancelled"), store.count("created")) == (3, 1, 0)


def test_list_queries_use_indexes(tmp_path: Path) -> None:
    executed: list[tuple[str, Any]] = []
    with Store(tmp_path / "bot.db", tracer=lambda sql, params: executed.append((sql, params))) as store:
        store.create_request(role(), "U1")
        executed.clear()
        store.pending()
        store.pending([ACCOUNT, OTHER_ACCOUNT], limit=5)
        store.for_requester("U1")
        store.by_status("submitted")
        store.by_status("submitted", before=1.0)
        store.recent()
        store.count("failed")
        store.events("R-1001")
        store.acting_on("R-1001")
        store.live_roles(ACCOUNT, "deployer")
        store.expiring(2.0)
        queries = [(sql, params) for sql, params in executed if sql.lstrip().upper().startswith("SELECT")]
        assert len(queries) == 11

        conn = sqlite3.connect(store.path)
        for sql, params in queries:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            assert plan, sql
            for step in plan:
                if step.startswith("CORRELATED SCALAR SUBQUERY"):  # a heading: its own search follows
                    continue
                assert re.search(r"USING (COVERING )?INDEX", step), f"{sql}\n{plan}"
                assert "TEMP B-TREE" not in step, f"{sql}\n{plan}"
        conn.close()


# --- threads -----------------------------------------------------------------------------------


def run_together(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` on ``count`` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_concurrent_submissions_get_distinct_ids(store: Store) -> None:
    records = run_together(20, lambda i: store.create_request(role(f"r{i}"), f"U{i}"))
    assert sorted(r.id for r in records) == sorted(f"R-{n}" for n in range(1001, 1021))
    assert store.count() == 20


def test_concurrent_transitions_have_exactly_one_winner(store: Store) -> None:
    record = store.create_request(role(), "U1")
    results = run_together(
        20, lambda i: store.transition(record.id, expected="submitted", new="approved", actor=f"U{i}", kind="approved")
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert [e.kind for e in store.events(record.id)] == ["submitted", "approved"]


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_the_database_and_its_wal_files_are_private(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        path = tmp_path / "bot.db"
        with Store(path) as store:
            store.create_request(role(), "U1")
            files = [path, tmp_path / "bot.db-wal", tmp_path / "bot.db-shm"]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        os.umask(previous)
    assert modes == {f.name: 0o600 for f in files}


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    Store(path).close()
    path.chmod(0o644)
    Store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_roles_expiry_is_claimed_exactly_once_by_racing_callers(store: Store, clock: Clock) -> None:
    made = store.create_request(role("brief"), "U1")
    store.transition(made.id, expected="submitted", new="created", actor="U2", kind="created")
    store.set_expiry(made.id, clock.now + 10)
    assert store.expiring(clock.now) == []
    assert [r.id for r in store.expiring(clock.now + 10)] == [made.id]
    assert not store.claim_expiry(made.id, clock.now, "R-TOO-EARLY")

    wins = run_together(8, lambda i: store.claim_expiry(made.id, clock.now + 11, f"R-{i}"))

    assert wins.count(True) == 1
    assert store.get(made.id).expiry_request_id == f"R-{wins.index(True)}"
    assert store.expiring(clock.now + 11) == []


def test_a_version_8_database_gets_free_jobs_for_unfinished_requests_despite_duplicate_votes(tmp_path: Path) -> None:
    """Before jobs, a restart resumed whatever was approved or provisioning; after the upgrade, a free job does.
    Votes cast before the upgrade may repeat (the workflow counted them distinct): the upgrade keeps them."""
    path = tmp_path / "v8.db"
    with Store(path) as store:
        approved, provisioning, created = (store.create_request(role(name), "U1").id for name in "abc")
        walks = {approved: ["approved"], provisioning: ["approved", "provisioning"], created: ["approved"]}
        for request_id, statuses in walks.items():
            for previous, status in zip(["submitted", *statuses], statuses, strict=False):
                store.transition(request_id, expected=previous, new=status, actor="U2", kind=status)
        store.transition(created, expected="approved", new="created", actor="U2", kind="created")
        conn = sqlite3.connect(path)  # back to version 8, as that bot left it
        conn.executescript(
            "DROP TABLE notices; DROP TABLE drift_reports;"
            " DROP TABLE jobs; DROP TABLE leases; DROP TABLE deliveries; DROP INDEX one_vote_per_approver;"
            " DROP TABLE role_last_use;"
            " ALTER TABLE form_submissions DROP COLUMN owner; ALTER TABLE form_submissions DROP COLUMN lease_until;"
            " ALTER TABLE form_submissions DROP COLUMN kind; ALTER TABLE form_submissions DROP COLUMN target_id;"
            " ALTER TABLE requests DROP COLUMN role_id;"
            " PRAGMA user_version = 8;"
        )
        conn.close()
        store.add_event(approved, "U2", "approval")
        store.add_event(approved, "U2", "approval")

    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.claimable_jobs() == [approved, provisioning]
        assert store.verify_audit()[0] is None


def test_a_submission_held_before_leases_is_free_to_claim_after_the_upgrade(tmp_path: Path) -> None:
    """A form a version 9 bot held has no holder: its process is gone, so the first replica to look takes it; it was
    a request form for a new role (edit forms were held from version 14)."""
    path = tmp_path / "v9.db"
    db = connect(path)
    migrate(db, target=9)
    db.execute(
        "INSERT INTO form_submissions (key, view_id, requester, form_json, state, created_at, updated_at) "
        "VALUES ('V1:h1', 'V1', 'U1', '{}', 'checking', 1, 1)"
    )
    db.conn.close()
    with Store(path) as store:
        claimed = store.claim_held_submissions("replica-1", 60)
        assert [(held.key, held.kind, held.target_id) for held in claimed] == [("V1:h1", RequestKind.CREATE, None)]
        assert store.claim_held_submissions("replica-2", 60) == []


def test_a_named_lease_has_one_holder_until_it_runs_out(store: Store, clock: Clock) -> None:
    assert store.take_lease("housekeeping", "replica-a", 600)
    assert not store.take_lease("housekeeping", "replica-b", 600)
    assert store.take_lease("housekeeping", "replica-a", 600)  # the holder keeps it
    clock.now += 601
    assert store.take_lease("housekeeping", "replica-b", 600)  # a ran out: b takes over
    assert not store.take_lease("housekeeping", "replica-a", 600)


def test_concurrent_claims_of_one_job_have_one_winner(store: Store) -> None:
    request_id = store.create_request(role(), "U1").id
    store.enqueue_job(request_id)
    results = run_together(10, lambda i: store.claim_job(request_id, f"replica-{i}", 60))
    assert results.count(True) == 1


def test_a_delivery_is_first_once_and_forgotten_after_a_while(store: Store, clock: Clock) -> None:
    assert store.first_delivery("event:Ev1")
    assert run_together(5, lambda i: store.first_delivery("event:Ev1")) == [False] * 5
    clock.now += 10
    assert store.forget_deliveries(before=clock.now) == 1
    assert store.first_delivery("event:Ev1")


def test_the_role_id_provisioning_reports_is_kept_once_and_a_learned_one_never_replaces_it(store: Store) -> None:
    """Schema 15 on both engines: the created role's RoleId, from the result that marks it created; a row without
    one (made before) learns it once; nothing later (an edit's result, another learning) replaces it."""
    made, older = (store.create_request(role(name), "U1").id for name in ("made", "older"))
    for request_id in (made, older):
        store.transition(request_id, expected="submitted", new="approved", actor="U2", kind="approved")
    store.transition(made, expected="approved", new="created", actor="bot", kind="created", result={"role_id": "AROA1"})
    store.transition(older, expected="approved", new="created", actor="bot", kind="created", result={"role_arn": "a"})
    assert (store.get(made).role_id, store.get(older).role_id) == ("AROA1", None)
    store.transition(made, expected="created", new="created", actor="bot", kind="edited", result={"role_id": "AROA9"})
    assert store.get(made).role_id == "AROA1"
    assert store.learn_role_id(older, "AROA2") and not store.learn_role_id(older, "AROA3")
    assert not store.learn_role_id(made, "AROA4")
    assert (store.get(made).role_id, store.get(older).role_id) == ("AROA1", "AROA2")
