"""The request store on PostgreSQL (psycopg 3), for several replicas sharing one database.

``PostgresStore`` is ``bot.store.Store`` with PostgreSQL underneath: the same queries (their ``?``
placeholders become psycopg's ``%s``), the same logical schema and the same guarantees, kept by the
database rather than by one process:

- Writes run in a transaction that first takes one transaction-level advisory lock
  (``pg_advisory_xact_lock``, released at COMMIT or ROLLBACK:
  https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS), the equivalent of
  SQLite's ``BEGIN IMMEDIATE``: one writer at a time across every replica. The audit log is one hash
  chain (each event names the one before it), so its appends must be serialised anyway; reads in
  READ COMMITTED after the lock see every write committed before it, so check-then-write sequences
  (a vote and the approval it completes, a reminder, a form submission) hold as on SQLite.
- Events are append-only and a request's content never changes: plpgsql triggers refuse UPDATE,
  DELETE and TRUNCATE of events, an event that does not follow the last one, and any UPDATE naming a
  content column of requests, as SQLite's triggers do (``bot.audit`` verifies both the same way).
- The schema version lives in ``schema_version``; ``POSTGRES_MIGRATIONS`` has one entry per version
  of ``bot.store.MIGRATIONS`` (same numbers, same tables), applied in one transaction under the same
  advisory lock by whichever replica starts first.

psycopg was chosen as PostgreSQL's maintained Python driver (https://www.psycopg.org/psycopg3/docs/),
with binary wheels (``psycopg[binary]``) so nothing is compiled on install.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from bot.lifecycle import RequestKind
from bot.store import (
    FIXED_REQUEST_COLUMNS,
    MIGRATIONS,
    SchemaTooNew,
    Store,
    Tracer,
    _v10_role_last_use,
    _v11_held_submission_leases,
    _v13_drift_reports,
    _v14_held_submission_kinds,
    _v15_role_ids,
    _v16_notices,
    shared_state_sql,
)

WRITE_LOCK = 0x1A3_801E
"""The advisory lock key every write transaction (and migration) holds: one writer at a time."""
CONNECT_TIMEOUT_SECONDS = 5
LOCK_TIMEOUT = "10s"
"""How long a write waits for the lock before failing, like SQLite's busy timeout."""

Connection = psycopg.Connection[dict[str, Any]]


def _v1_requests_and_events(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE requests (
            seq BIGINT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            role_type TEXT NOT NULL,
            account_id TEXT NOT NULL,
            requester TEXT NOT NULL,
            request_json TEXT NOT NULL,
            status TEXT NOT NULL,
            channel TEXT,
            message_ts TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            result_json TEXT,
            error TEXT
        );
        CREATE TABLE events (
            id BIGINT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at DOUBLE PRECISION NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            details_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_request ON events (request_id, id);
        CREATE FUNCTION refuse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION refuse_append_only();
        CREATE TRIGGER events_never_truncated BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only();
        """
    )


def _v2_risk_findings_and_list_indexes(conn: Connection) -> None:
    conn.execute(
        """
        ALTER TABLE requests
            ADD COLUMN role_name TEXT NOT NULL DEFAULT '',
            ADD COLUMN risk TEXT NOT NULL DEFAULT 'normal',
            ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 1,
            ADD COLUMN findings_json TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX requests_by_status ON requests (status, created_at);
        CREATE INDEX requests_by_requester ON requests (requester, created_at);
        CREATE INDEX requests_by_time ON requests (created_at);
        """
    )


def _v3_submissions(conn: Connection) -> None:
    conn.execute(
        "CREATE TABLE submissions (key TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE REFERENCES requests (id))"
    )


def _v4_chained_events(conn: Connection) -> None:
    """The audit chain's columns and triggers (PostgreSQL has no events from before it: none to chain)."""
    conn.execute(
        """
        ALTER TABLE events
            ADD COLUMN request_hash TEXT NOT NULL,
            ADD COLUMN prev_hash TEXT NOT NULL,
            ADD COLUMN hash TEXT NOT NULL UNIQUE;
        CREATE FUNCTION refuse_unchained_event() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.prev_hash IS DISTINCT FROM
                        COALESCE((SELECT hash FROM events ORDER BY id DESC LIMIT 1), '') THEN
                    RAISE EXCEPTION 'an event must follow the last one';
                END IF;
                RETURN NEW;
            END $$;
        CREATE TRIGGER events_chained BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION refuse_unchained_event();
        CREATE FUNCTION refuse_content_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'a request''s content never changes'; END $$;
        CREATE TRIGGER requests_content_fixed
            BEFORE UPDATE OF id, role_type, account_id, requester, request_json, risk, required_approvals
            ON requests FOR EACH ROW EXECUTE FUNCTION refuse_content_change();
        """
    )


def _v5_provenance_nonce(conn: Connection) -> None:
    conn.execute("ALTER TABLE requests ADD COLUMN provenance_nonce TEXT NOT NULL DEFAULT ''")


def _v6_form_submissions(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE form_submissions (
            key TEXT PRIMARY KEY,
            view_id TEXT NOT NULL,
            requester TEXT NOT NULL,
            form_json TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('checking', 'recorded', 'refused')),
            request_id TEXT REFERENCES requests (id),
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX form_submissions_by_state ON form_submissions (state, created_at);
        """
    )


def _v7_request_kinds(conn: Connection) -> None:
    """What an edit, deletion or extension acts on is content too: the content trigger names it."""
    conn.execute(
        f"""
        ALTER TABLE requests
            ADD COLUMN kind TEXT NOT NULL DEFAULT '{RequestKind.CREATE.value}',
            ADD COLUMN target_id TEXT,
            ADD COLUMN subject_json TEXT;
        DROP TRIGGER requests_content_fixed ON requests;
        CREATE TRIGGER requests_content_fixed
            BEFORE UPDATE OF id, role_type, account_id, requester, request_json, risk, required_approvals,
                kind, target_id, subject_json
            ON requests FOR EACH ROW EXECUTE FUNCTION refuse_content_change();
        CREATE INDEX requests_by_target ON requests (target_id, created_at);
        CREATE INDEX requests_by_kind ON requests (kind, status, created_at);
        """
    )


def _v8_role_expiry(conn: Connection) -> None:
    conn.execute(
        """
        ALTER TABLE requests ADD COLUMN expires_at DOUBLE PRECISION, ADD COLUMN expiry_request_id TEXT;
        CREATE INDEX requests_by_expiry ON requests (status, expires_at);
        """
    )


def _v9_shared_state(conn: Connection) -> None:
    last_event_id = conn.execute("SELECT COALESCE(MAX(id), 0) AS id FROM events").fetchone()["id"]  # type: ignore[index]
    for statement in shared_state_sql(last_event_id):
        conn.execute(statement)


def _v12_provenance_nonce_fixed(conn: Connection) -> None:
    conn.execute(
        f"""
        DROP TRIGGER requests_content_fixed ON requests;
        CREATE TRIGGER requests_content_fixed BEFORE UPDATE OF {FIXED_REQUEST_COLUMNS}
            ON requests FOR EACH ROW EXECUTE FUNCTION refuse_content_change();
        """
    )


POSTGRES_MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_requests_and_events,
    _v2_risk_findings_and_list_indexes,
    _v3_submissions,
    _v4_chained_events,
    _v5_provenance_nonce,
    _v6_form_submissions,
    _v7_request_kinds,
    _v8_role_expiry,
    _v9_shared_state,
    _v10_role_last_use,
    _v11_held_submission_leases,
    _v12_provenance_nonce_fixed,
    _v13_drift_reports,
    _v14_held_submission_kinds,
    _v15_role_ids,
    _v16_notices,
]
"""Migration N turns a version N-1 database into version N: the same schema as ``bot.store.MIGRATIONS``."""

assert len(POSTGRES_MIGRATIONS) == len(MIGRATIONS), "each schema version needs its PostgreSQL migration"


def connect(url: str) -> Connection:
    """A connection as the store uses it: rows as dicts, autocommit (transactions are explicit), lock timeout."""
    conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    return conn


@contextmanager
def write_transaction(conn: Connection) -> Iterator[None]:
    """A transaction holding the write lock (rolled back on any exception); joins one already open."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        yield
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
        yield


def migrate(conn: Connection, target: int = len(POSTGRES_MIGRATIONS)) -> int:
    """Bring the schema to ``target`` in one transaction under the write lock (safe for replicas starting at once)."""
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row["version"] if row else 0
        if version > len(POSTGRES_MIGRATIONS):
            raise SchemaTooNew(
                f"the database has schema version {version}; this bot knows up to {len(POSTGRES_MIGRATIONS)}"
            )
        for migration in POSTGRES_MIGRATIONS[version:target]:
            migration(conn)
        if target > version:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [target])
    return max(version, target)


def _placeholders(sql: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (its queries hold no ``%`` and no literal ``?``)."""
    return sql.replace("?", "%s")


class PostgresStore(Store):
    """``Store`` on a PostgreSQL database (``url``: a libpq connection string or ``postgresql://`` URL).

    One connection per thread, as on SQLite; safe to share between threads and between processes.
    """

    DATABASE_ERRORS: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, tracer: Tracer | None = None):
        self.url = url
        self.clock = clock
        self._tracer = tracer
        self._local = threading.local()
        self._pg_connections: list[Connection] = []
        self._lock = threading.Lock()
        self.schema_version = migrate(self._conn())

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.url)
            self._local.conn = conn
            with self._lock:
                self._pg_connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._pg_connections:
                conn.close()
            self._pg_connections.clear()

    def transaction(self) -> AbstractContextManager[None]:
        """A transaction holding the write lock: reads inside it see no concurrent writes."""
        return write_transaction(self._conn())

    def _run(self, sql: str, params: list[Any]) -> psycopg.Cursor[dict[str, Any]]:
        if self._tracer is not None:
            self._tracer(sql, params)
        return self._conn().execute(_placeholders(sql), params)

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        return self._run(sql, params).fetchall()

    def _execute(self, sql: str, params: list[Any]) -> int:
        return self._run(sql, params).rowcount

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        statement = pgsql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            pgsql.Identifier(table),
            pgsql.SQL(", ").join(map(pgsql.Identifier, row)),
            pgsql.SQL(", ").join([pgsql.Placeholder()] * len(row)),
        )
        if self._tracer is not None:
            self._tracer(statement.as_string(self._conn()), list(row.values()))
        self._conn().execute(statement, list(row.values()))

    def _limit(self, limit: int | None) -> int | None:
        """PostgreSQL reads ``LIMIT NULL`` as no limit."""
        return limit

    def _skip_locked(self) -> str:
        """Lock the jobs read for claiming; rows another transaction holds are skipped, not waited for
        (https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE)."""
        return " FOR UPDATE SKIP LOCKED"

    @contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ transaction: every query in it sees the database as of its first one."""
        conn = self._conn()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield
