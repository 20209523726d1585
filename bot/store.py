"""The request store: every line of SQL, and the schema's versions with their migrations.

SQLite through sqlite-utils. Each thread gets its own connection (Bolt runs listeners in a thread
pool). Writes run in ``BEGIN IMMEDIATE`` transactions (one writer at a time, others wait up to the
busy timeout); a process's own threads first queue on a lock, since SQLite's busy handler retries in
sleeps of up to 100 ms and a writer it turned away could sleep long after the database was free.
A status change is one conditional ``UPDATE ... WHERE id = ? AND status IN (...)`` plus its event
row, so of two racing changes exactly one matches. Events are append-only (triggers refuse any UPDATE, DELETE
or REPLACE of them) and hash-chained (``bot.audit``); a request's content never changes once stored.

The schema version is ``PRAGMA user_version``; ``MIGRATIONS`` upgrades older databases in place at
start-up. Never edit a migration once released: append a new one.
"""

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import sqlite_utils

from bot.audit import (
    GENESIS,
    BrokenLink,
    event_hash,
    first_broken_link,
    legacy_request_hash,
    request_hash,
    request_hash_as,
)
from bot.domain import RoleRequest, request_from_json, request_to_json
from bot.domain.drift import RoleState, replaced
from bot.domain.last_use import LastUse
from bot.lifecycle import OPEN_STATUSES, EventKind, RequestKind, Status

BUSY_TIMEOUT_SECONDS = 10.0
FIRST_NUMBER = 1001
"""Requests are numbered R-1001, R-1002, ..."""

Tracer = Callable[[str, Any], None]
NOT_DELETED = "NOT EXISTS (SELECT 1 FROM requests AS gone WHERE gone.target_id = made.id AND gone.status = ?)"
"""SQL: no delete request has deleted the role the request ``made`` created (one parameter: ``deleted``)."""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the bot than this one."""


class AlreadySubmitted(Exception):
    """The form submission (its idempotency key) already made ``record``; nothing new was stored."""

    def __init__(self, record: "RequestRecord") -> None:
        super().__init__(record.id)
        self.record = record


class TooManyOpenRequests(Exception):
    """The requester already has ``limit`` requests open (``bot.lifecycle.OPEN_STATUSES``); nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class SubmissionTaken(Exception):
    """A held form submission is another replica's to finish (it took it over, or holds the first copy)."""


@dataclass(frozen=True)
class FormSubmission:
    """A form submission acked and still being checked: the view showing "checking", and what was typed."""

    key: str
    view_id: str
    requester: str
    form: dict[str, Any]
    """Slack's ``view.state.values`` as submitted."""
    kind: RequestKind = RequestKind.CREATE
    """The request it makes: ``create`` (a new role) or ``edit`` (a change of the role ``target_id`` created)."""
    target_id: str | None = None


def _form_submission(row: dict[str, Any]) -> FormSubmission:
    return FormSubmission(
        row["key"],
        row["view_id"],
        row["requester"],
        json.loads(row["form_json"]),
        RequestKind(row["kind"]),
        row["target_id"],
    )


@dataclass(frozen=True)
class Notice:
    """An outcome to announce (a row of the outbox, ``notices``): the request and the status it reached; what is said
    is rendered from the request as stored when it is sent."""

    id: int
    request_id: str
    kind: Status
    attempts: int = 0
    """Sends that failed so far."""
    parts_done: int = 0
    """Messages said before the last failure (the next send starts after them)."""


def _notice(row: dict[str, Any]) -> Notice:
    return Notice(row["id"], row["request_id"], Status(row["kind"]), row["attempts"], row["parts_done"])


@dataclass(frozen=True)
class RequestRecord:
    """A stored request as the rest of the bot sees it."""

    id: str
    role_type: str
    account_id: str
    requester: str
    role_name: str
    """The request's display name (a role name, or a description for service-linked roles)."""
    request_json: str
    status: Status
    risk: str
    """``normal`` or ``high`` (as the review found)."""
    required_approvals: int
    findings: list[dict[str, Any]]
    """The review's findings (severity, title, explanation, concerns) as shown to approvers."""
    channel: str | None
    message_ts: str | None
    created_at: float
    updated_at: float
    result: dict[str, Any] | None
    """What provisioning made: role_arn, instance_profile_arn, switch_role_url."""
    error: str | None
    """Why the last provisioning attempt failed."""
    provenance_nonce: str = ""
    """A secret made at submission, part of the role's request-id tag (``bot.executor.iam.owner_tag``) so
    that nobody can pre-create a role the bot would take for this request's; empty for older requests.
    Never shown in Slack."""
    kind: RequestKind = RequestKind.CREATE
    target_id: str | None = None
    """The request that created the role this one acts on (a delete); None for a create."""
    subject: dict[str, Any] | None = None
    """The role as the bot read it in AWS when the request was made (a delete: what will be removed,
    when it was last used)."""
    expires_at: float | None = None
    """When the bot deletes the role this request created (a time-limited role, once created)."""
    expiry_request_id: str | None = None
    """The delete request the role's expiry made (set once: the claim that makes expiry happen once)."""
    role_id: str | None = None
    """The IAM RoleId of the role this create request made (or adopted), as CreateRole or GetRole gave it: unique
    and never reused, so a role deleted and made again under the same name (its provenance tags copied, as
    ListRoleTags shows them) has another one. None: not known (a role created before the bot kept it, until a
    drift pass learns it; a service-linked role)."""

    @cached_property
    def request(self) -> RoleRequest:
        return request_from_json(self.request_json)


@dataclass(frozen=True)
class Event:
    """One line of a request's history; never changed once written."""

    id: int
    request_id: str
    at: float
    actor: str
    kind: str
    """A ``bot.lifecycle.EventKind`` (the store keeps whatever it is given)."""
    details: dict[str, Any]


class DriftState(StrEnum):
    """Where a drift report is: ``open`` until the role is as approved again (``resolved``), or another
    difference replaced it (``superseded``)."""

    OPEN = "open"
    RESOLVED = "resolved"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class DriftReport:
    """A role the bot made, found in AWS not as last approved (or gone), as reported in Slack."""

    id: str
    made_id: str
    """The create request of the role."""
    account_id: str
    role_name: str
    fingerprint: str
    approved: dict[str, Any]
    """The approved ``bot.domain.drift.RoleState`` it was compared with (``to_dict``)."""
    observed: dict[str, Any] | None
    """What AWS had (``RoleState.to_dict``); None: the role was gone."""
    differences: list[dict[str, str]]
    findings: list[dict[str, Any]]
    """The review of the observed state."""
    risk: str
    state: DriftState
    action_request_id: str | None
    channel: str | None
    message_ts: str | None
    opened_at: float
    closed_at: float | None

    @property
    def deleted(self) -> bool:
        return self.observed is None

    @property
    def replaced(self) -> bool:
        """The role in AWS is another one made under its name (``bot.domain.drift.replaced``)."""
        observed = RoleState.from_dict(self.observed) if self.observed is not None else None
        return replaced(RoleState.from_dict(self.approved), observed)


def _nullable_json(text: str | None) -> Any:
    """A JSON column that is NULL when nothing was recorded (a result, a subject, an observed role): its value, or
    None."""
    return json.loads(text) if text is not None else None


def _drift(row: dict[str, Any]) -> DriftReport:
    return DriftReport(
        id=row["id"],
        made_id=row["made_id"],
        account_id=row["account_id"],
        role_name=row["role_name"],
        fingerprint=row["fingerprint"],
        approved=json.loads(row["approved_json"]),
        observed=_nullable_json(row["observed_json"]),
        differences=json.loads(row["differences_json"]),
        findings=json.loads(row["findings_json"]),
        risk=row["risk"],
        state=DriftState(row["state"]),
        action_request_id=row["action_request_id"],
        channel=row["channel"],
        message_ts=row["message_ts"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


class Executes(Protocol):
    """What a migration written once for both engines needs: SQLite's database and psycopg's connection both have it."""

    def execute(self, sql: str, /) -> Any: ...


@dataclass(frozen=True)
class SameOnBothEngines:
    """A migration whose statements are the same text on SQLite and PostgreSQL: one definition serves ``MIGRATIONS``
    and ``bot.store_postgres.POSTGRES_MIGRATIONS``, so the two schemas can't drift apart at that version."""

    statements: Sequence[str]

    def __call__(self, db: Executes) -> None:
        for statement in self.statements:
            db.execute(statement)


def _v1_requests_and_events(db: sqlite_utils.Database) -> None:
    """Requests with their status and outcome; the append-only event log."""
    db.executescript(
        """
        CREATE TABLE requests (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            role_type TEXT NOT NULL,
            account_id TEXT NOT NULL,
            requester TEXT NOT NULL,
            request_json TEXT NOT NULL,
            status TEXT NOT NULL,
            channel TEXT,
            message_ts TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            result_json TEXT,
            error TEXT
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            details_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_request ON events (request_id, id);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """
    )


def _v2_risk_findings_and_list_indexes(db: sqlite_utils.Database) -> None:
    """N-of-M approvals for high-risk requests, stored findings and display names, list indexes."""
    requests = db.table("requests")
    requests.add_column("role_name", str, not_null_default="")
    requests.add_column("risk", str, not_null_default="normal")
    requests.add_column("required_approvals", int, not_null_default=1)
    requests.add_column("findings_json", str, not_null_default="[]")
    for row in list(db.query("SELECT id, request_json FROM requests")):
        name = request_from_json(row["request_json"]).display_name
        db.execute("UPDATE requests SET role_name = ? WHERE id = ?", [name, row["id"]])
    requests.create_index(["status", "created_at"], index_name="requests_by_status")
    requests.create_index(["requester", "created_at"], index_name="requests_by_requester")
    requests.create_index(["created_at"], index_name="requests_by_time")


def _v3_submissions(db: sqlite_utils.Database) -> None:
    """Which form submission made which request: Slack resends a submission it got no answer to in time,
    and the same form (view id and hash) must never make a second request."""
    db.execute(
        "CREATE TABLE submissions (key TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE REFERENCES requests (id))"
    )


def _v4_chained_events(db: sqlite_utils.Database) -> None:
    """A tamper-evident audit log: events hash-chained (``bot.audit``), replacing one refused, requests fixed.

    The events table is rebuilt with the chain's columns (SQLite's way to change a table:
    https://sqlite.org/lang_altertable.html#otheralter), its existing events chained in id order,
    each with its request's content as it is now. ``INSERT OR REPLACE`` deletes the old row without
    firing delete triggers (unless ``recursive_triggers`` is on: https://sqlite.org/lang_conflict.html),
    so a BEFORE INSERT trigger refuses any insert whose id is taken, and another any event that does
    not follow the last one.
    """
    db.execute(
        """
        CREATE TABLE chained_events (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            details_json TEXT NOT NULL DEFAULT '{}',
            request_hash TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )
        """
    )
    request_hashes = {row["id"]: legacy_request_hash(row) for row in db.query("SELECT * FROM requests")}
    previous = GENESIS
    for row in list(db.query("SELECT * FROM events ORDER BY id")):
        chained = {**row, "request_hash": request_hashes[row["request_id"]], "prev_hash": previous}
        previous = chained["hash"] = event_hash(chained)
        db.table("chained_events").insert(chained)
    db.execute("DROP TABLE events")  # its triggers and index go with it
    db.execute("ALTER TABLE chained_events RENAME TO events")
    for statement in (
        "CREATE INDEX events_by_request ON events (request_id, id)",
        """CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_chained BEFORE INSERT ON events
            WHEN NEW.prev_hash IS NOT COALESCE((SELECT hash FROM events ORDER BY id DESC LIMIT 1), '')
            BEGIN SELECT RAISE(ABORT, 'an event must follow the last one'); END""",
        """CREATE TRIGGER events_never_replaced BEFORE INSERT ON events
            WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id)
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER requests_content_fixed
            BEFORE UPDATE OF id, role_type, account_id, requester, request_json, risk, required_approvals ON requests
            BEGIN SELECT RAISE(ABORT, 'a request''s content never changes'); END""",
    ):
        db.execute(statement)


def _v5_provenance_nonce(db: sqlite_utils.Database) -> None:
    """A secret per request for its role's provenance tag; requests stored before keep none (their bare id)."""
    db.table("requests").add_column("provenance_nonce", str, not_null_default="")


def _v6_form_submissions(db: sqlite_utils.Database) -> None:
    """A form submission acked before its remote checks: what was typed, held until it is recorded or refused, so
    a process that stops meanwhile leaves it for the next one to finish (``Store.submissions_checking``)."""
    db.execute(
        """
        CREATE TABLE form_submissions (
            key TEXT PRIMARY KEY,
            view_id TEXT NOT NULL,
            requester TEXT NOT NULL,
            form_json TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('checking', 'recorded', 'refused')),
            request_id TEXT REFERENCES requests (id),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX form_submissions_by_state ON form_submissions (state, created_at)")


def _v7_request_kinds(db: sqlite_utils.Database) -> None:
    """Requests of other kinds than create (edit, delete, extend a role); existing rows were all creates.

    What such a request acts on (``kind``, ``target_id``, ``subject_json``) is part of its content: the
    audit chain covers it (``bot.audit.request_hash``) and, like the rest, it never changes.
    """
    requests = db.table("requests")
    requests.add_column("kind", str, not_null_default=RequestKind.CREATE.value)
    requests.add_column("target_id", str)
    requests.add_column("subject_json", str)
    db.execute("DROP TRIGGER requests_content_fixed")
    db.execute(
        """CREATE TRIGGER requests_content_fixed
            BEFORE UPDATE OF id, role_type, account_id, requester, request_json, risk, required_approvals,
                kind, target_id, subject_json ON requests
            BEGIN SELECT RAISE(ABORT, 'a request''s content never changes'); END"""
    )
    requests.create_index(["target_id", "created_at"], index_name="requests_by_target")
    requests.create_index(["kind", "status", "created_at"], index_name="requests_by_kind")


def _v8_role_expiry(db: sqlite_utils.Database) -> None:
    """Time-limited roles: when each expires, and the one delete request its expiry made."""
    requests = db.table("requests")
    requests.add_column("expires_at", float)
    requests.add_column("expiry_request_id", str)
    requests.create_index(["status", "expires_at"], index_name="requests_by_expiry")


def shared_state_sql(last_event_id: int) -> list[str]:
    """Schema version 9 on both engines: one provisioning job per approved request, held under a lease by
    the replica carrying it out (a lease that ran out is taken over); named leases for work one replica
    does at a time (housekeeping); one approval vote per (request, approver), kept by the database; the
    Slack event deliveries handled (a retry of one is answered and dropped, whichever replica gets it).

    Votes before this version (events up to ``last_event_id``) are left out of the unique index: events
    can't be removed, and a duplicate among them must not stop the upgrade (votes are counted distinct).
    """
    return [
        """CREATE TABLE jobs (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            owner TEXT,
            lease_until DOUBLE PRECISION
        )""",
        # an approved or provisioning request from before jobs: its process is gone, so it is free to take
        "INSERT INTO jobs (request_id) SELECT id FROM requests WHERE status IN ('approved', 'provisioning')",
        "CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE deliveries (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
        "CREATE UNIQUE INDEX one_vote_per_approver ON events (request_id, actor) "
        f"WHERE kind = 'approval' AND id > {int(last_event_id)}",
    ]


def _v9_shared_state(db: sqlite_utils.Database) -> None:
    last_event_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    for statement in shared_state_sql(last_event_id):
        db.execute(statement)


LAST_USE_SQL = [
    """CREATE TABLE role_last_use (
        request_id TEXT PRIMARY KEY REFERENCES requests (id),
        found INTEGER NOT NULL DEFAULT 1,
        used_at DOUBLE PRECISION,
        region TEXT,
        read_at DOUBLE PRECISION,
        tried_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX role_last_use_by_try ON role_last_use (tried_at)",
]
"""Schema version 10 on both engines: each role's last use as housekeeping last read it (``read_at``: the last
reading that worked, None if none did; ``tried_at``: the last attempt), per create request. A cache of what
IAM says, not a record: it is overwritten, and outside the audit chain."""


_v10_role_last_use = SameOnBothEngines(LAST_USE_SQL)


HELD_SUBMISSION_LEASES_SQL = [
    "ALTER TABLE form_submissions ADD COLUMN owner TEXT",
    "ALTER TABLE form_submissions ADD COLUMN lease_until DOUBLE PRECISION",
]
"""Schema version 11 on both engines: a held form submission is leased to the replica finishing it, as a
provisioning job is (a lease that ran out is taken over). Submissions held before have none: their process is
gone, so they are free to take."""


_v11_held_submission_leases = SameOnBothEngines(HELD_SUBMISSION_LEASES_SQL)


FIXED_REQUEST_COLUMNS = (
    "id, role_type, account_id, requester, request_json, risk, required_approvals, kind, target_id, subject_json, "
    "provenance_nonce"
)
"""Schema version 12 on both engines: the columns of a request no UPDATE may name (a trigger refuses it), now with
its provenance nonce, which the audit chain covers from this version on (``bot.audit.request_hash``)."""


def _v12_provenance_nonce_fixed(db: sqlite_utils.Database) -> None:
    db.execute("DROP TRIGGER requests_content_fixed")
    db.execute(
        f"""CREATE TRIGGER requests_content_fixed BEFORE UPDATE OF {FIXED_REQUEST_COLUMNS} ON requests
            BEGIN SELECT RAISE(ABORT, 'a request''s content never changes'); END"""
    )


DRIFT_REPORTS_SQL = [
    """CREATE TABLE drift_reports (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        made_id TEXT NOT NULL REFERENCES requests (id),
        account_id TEXT NOT NULL,
        role_name TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        approved_json TEXT NOT NULL,
        observed_json TEXT,
        differences_json TEXT NOT NULL,
        findings_json TEXT NOT NULL,
        risk TEXT NOT NULL,
        state TEXT NOT NULL,
        action_request_id TEXT REFERENCES requests (id),
        channel TEXT,
        message_ts TEXT,
        opened_at DOUBLE PRECISION NOT NULL,
        closed_at DOUBLE PRECISION
    )""",
    "CREATE UNIQUE INDEX one_open_drift_per_role ON drift_reports (made_id) WHERE state = 'open'",
    "CREATE INDEX drift_reports_by_state ON drift_reports (state, opened_at)",
]
"""Schema version 13 on both engines: drift reports, a role the bot made found not as approved (or gone).

One open report per role at most (the partial unique index); ``fingerprint`` names the observed state, so the
same difference seen again is not reported again; ``action_request_id`` is the accept or restore request a
click made (set by one conditional UPDATE: a doubled or replayed click makes nothing more)."""


_v13_drift_reports = SameOnBothEngines(DRIFT_REPORTS_SQL)


HELD_SUBMISSION_KINDS_SQL = [
    f"ALTER TABLE form_submissions ADD COLUMN kind TEXT NOT NULL DEFAULT '{RequestKind.CREATE.value}'",
    "ALTER TABLE form_submissions ADD COLUMN target_id TEXT",
]
"""Schema version 14 on both engines: a held form submission says what request it makes, as a request does
(``kind``, ``target_id``): an edit form is held too, and finishing it records a change of the role ``target_id``
created. Submissions held before were all request forms for a new role."""


_v14_held_submission_kinds = SameOnBothEngines(HELD_SUBMISSION_KINDS_SQL)


ROLE_IDS_SQL = ["ALTER TABLE requests ADD COLUMN role_id TEXT"]
"""Schema version 15 on both engines: the RoleId of the role a create request made (``RequestRecord.role_id``).
Rows from before have none: the next drift pass learns it while the role still carries the request's tag with its
secret nonce (``DriftWatch.check_role``); until then the bot recognises the role by that tag alone, as before."""


_v15_role_ids = SameOnBothEngines(ROLE_IDS_SQL)


NOTICES_SQL = [
    """CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'superseded', 'given_up')),
        owner TEXT,
        lease_until DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        parts_done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION
    )""",
    "CREATE INDEX notices_pending ON notices (lease_until) WHERE state = 'pending'",
    "CREATE INDEX notices_by_request ON notices (request_id, id)",
]
"""Schema version 16 on both engines: the outbox of outcomes to announce. A move to an announced status
(``bot.lifecycle.ANNOUNCED_STATUSES``) writes a notice in its transaction (``kind``: the status reached), leased to the
replica that made it (``owner``, ``lease_until``), which sends it at once; one whose lease ran out (its replica died) is
claimed by another. ``lease_until`` is also when a notice Slack failed is tried again, ``attempts`` how often it failed,
``parts_done`` how many of its messages were said before the failure (not said again). Outcomes recorded before this
version have no notice: they were announced, or fell in the gap this closes."""


_v16_notices = SameOnBothEngines(NOTICES_SQL)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
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
"""Migration N (1-based) turns a version N-1 database into version N."""


DATABASE_MODE = 0o600
"""The database and its ``-wal``/``-shm`` files are readable by the bot's user only: they hold every request."""


def restrict_permissions(path: Path) -> None:
    """Create the database file (if missing) owner-only, and make it and its WAL companions owner-only.

    SQLite's unix VFS creates ``-wal`` and ``-shm`` with the permissions of the database file
    (``findCreateFileMode`` in https://sqlite.org/src/file?name=src/os_unix.c), so creating the
    database 0600 first is what keeps them private; the chmod also tightens databases made before.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, DATABASE_MODE)
    try:
        os.fchmod(descriptor, DATABASE_MODE)
    finally:
        os.close(descriptor)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(DATABASE_MODE)


def connect(path: str | Path, tracer: Tracer | None = None) -> sqlite_utils.Database:
    """A connection as the store uses it: foreign keys on, busy timeout, explicit transactions only."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn, tracer=tracer, execute_plugins=False)


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception); joins one already open."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.conn.execute("COMMIT")


def migrate(db: sqlite_utils.Database, target: int = len(MIGRATIONS)) -> int:
    """Bring the schema to ``target`` in one transaction (safe if two processes start at once)."""
    with write_transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SchemaTooNew(f"the database has schema version {version}; this bot knows up to {len(MIGRATIONS)}")
        for migration in MIGRATIONS[version:target]:
            migration(db)
        if target > version:
            db.execute(f"PRAGMA user_version = {int(target)}")
    return max(version, target)


def _record(row: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        id=row["id"],
        role_type=row["role_type"],
        account_id=row["account_id"],
        requester=row["requester"],
        role_name=row["role_name"],
        request_json=row["request_json"],
        status=Status(row["status"]),
        risk=row["risk"],
        required_approvals=row["required_approvals"],
        findings=json.loads(row["findings_json"]),
        channel=row["channel"],
        message_ts=row["message_ts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        result=_nullable_json(row["result_json"]),
        error=row["error"],
        provenance_nonce=row["provenance_nonce"],
        kind=RequestKind(row["kind"]),
        target_id=row["target_id"],
        subject=_nullable_json(row["subject_json"]),
        expires_at=row["expires_at"],
        expiry_request_id=row["expiry_request_id"],
        role_id=row["role_id"],
    )


def _event(row: dict[str, Any]) -> Event:
    return Event(
        id=row["id"],
        request_id=row["request_id"],
        at=row["at"],
        actor=row["actor"],
        kind=row["kind"],
        details=json.loads(row["details_json"]),
    )


def _placeholders(values: Collection[Any]) -> str:
    return ", ".join("?" * len(values))


class Store:
    """Requests and their events in one SQLite file (a real file: each thread opens its own connection).

    Safe to share between threads. Every method runs in its own transaction unless called inside
    ``with store.transaction():``, in which case it joins that one.
    """

    DATABASE_ERRORS: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)
    """What this engine's driver raises when the database fails (locked, unreachable, its disk full): trouble of the
    database's, not of what was asked of it (``RoleBot.send_notice`` does not count it against a notice)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, tracer: Tracer | None = None):
        self.path = Path(path)
        self.clock = clock
        self._tracer = tracer
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        restrict_permissions(self.path)
        db = self._db()
        db.enable_wal()
        restrict_permissions(self.path)
        self.schema_version = migrate(db)

    def _db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path, self._tracer)
            self._local.db = db
            with self._lock:
                self._connections.append(db.conn)
        return db

    def close(self) -> None:
        """Close every thread's connection; the store must not be used afterwards."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """A ``BEGIN IMMEDIATE`` transaction on this thread: reads inside it see no concurrent writes."""
        return self._write(self._db())

    @contextmanager
    def _write(self, db: sqlite_utils.Database) -> Iterator[None]:
        """``write_transaction``, after this process's other writers (woken as soon as the lock is free)."""
        if db.conn.in_transaction:
            yield
            return
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        try:
            with write_transaction(db):
                yield
        finally:
            self._write_lock.release()

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        return list(self._db().query(sql, params))

    def _execute(self, sql: str, params: list[Any]) -> int:
        """Run a statement (in a write transaction); how many rows it changed."""
        return self._db().execute(sql, params).rowcount

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        self._db().table(table).insert(row)

    def _limit(self, limit: int | None) -> int | None:
        """``LIMIT ?``'s parameter for ``limit`` (None: all rows; SQLite takes a negative number for that)."""
        return -1 if limit is None else limit

    def _insert_event(self, request_id: str, at: float, actor: str, kind: str, details: dict[str, Any]) -> Event:
        """Append an event, chained to the last one and carrying its request's content hash (in a write transaction)."""
        last = self._rows("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1", [])
        request = self._rows("SELECT * FROM requests WHERE id = ?", [request_id])
        row: dict[str, Any] = {
            "id": last[0]["id"] + 1 if last else 1,
            "request_id": request_id,
            "at": at,
            "actor": actor,
            "kind": kind,
            "details_json": json.dumps(details),
            "request_hash": request_hash(request[0]) if request else "",  # no request: the foreign key refuses it
            "prev_hash": last[0]["hash"] if last else GENESIS,
        }
        row["hash"] = event_hash(row)
        self._insert("events", row)
        return Event(row["id"], request_id, at, actor, kind, details)

    def create_request(
        self,
        request: RoleRequest,
        requester: str,
        *,
        risk: str = "normal",
        required_approvals: int = 1,
        findings: list[dict[str, Any]] | None = None,
        submission_key: str | None = None,
        submission_owner: str = "",
        kind: RequestKind = RequestKind.CREATE,
        target_id: str | None = None,
        subject: dict[str, Any] | None = None,
        max_open: int | None = None,
    ) -> RequestRecord:
        """Store a new request as ``submitted``, with its ``submitted`` event, under the next id.

        ``max_open``: raise ``TooManyOpenRequests`` if the requester has that many requests open already, counted
        in the transaction that stores the request (so concurrent submissions can't go past it).

        ``submission_key`` identifies the form submission; one already stored raises ``AlreadySubmitted``
        (checked in the same write transaction, so two racing copies make one request). A held one
        (``hold_submission``) is recorded only by its holder, ``submission_owner``: for anyone else (a copy Slack
        sent to another replica, a replica whose lease was taken over) it raises ``SubmissionTaken``.
        """
        if risk not in ("normal", "high") or required_approvals < 1:
            raise ValueError(f"bad risk {risk!r} or required approvals {required_approvals}")
        now = self.clock()
        with self.transaction():
            earlier = self.submitted_as(submission_key) if submission_key else None
            if earlier is not None:
                raise AlreadySubmitted(earlier)
            if submission_key and self._held_by_another(submission_key, submission_owner):
                raise SubmissionTaken(submission_key)
            if max_open is not None and self.open_requests(requester) >= max_open:
                raise TooManyOpenRequests(max_open)
            seq = self._rows("SELECT COALESCE(MAX(seq) + 1, ?) AS seq FROM requests", [FIRST_NUMBER])[0]["seq"]
            request_id = f"R-{seq}"
            self._insert(
                "requests",
                {
                    "seq": seq,
                    "id": request_id,
                    "role_type": str(request.role_type),
                    "account_id": request.account_id,
                    "requester": requester,
                    "role_name": request.display_name,
                    "request_json": request_to_json(request),
                    "status": Status.SUBMITTED.value,
                    "risk": risk,
                    "required_approvals": required_approvals,
                    "findings_json": json.dumps(findings or []),
                    "provenance_nonce": secrets.token_hex(16),
                    "created_at": now,
                    "updated_at": now,
                    "kind": kind.value,
                    "target_id": target_id,
                    "subject_json": json.dumps(subject) if subject is not None else None,
                },
            )
            details: dict[str, Any] = {"risk": risk, "required_approvals": required_approvals}
            if kind != RequestKind.CREATE:
                details |= {"kind": kind.value, "target_id": target_id}
            self._insert_event(request_id, now, requester, EventKind.SUBMITTED, details)
            if submission_key:
                self._insert("submissions", {"key": submission_key, "request_id": request_id})
                self._finish_submission(submission_key, "recorded", request_id, submission_owner)
            return self._get(request_id)

    def _held_by_another(self, submission_key: str, owner: str) -> bool:
        """A held submission that isn't ``owner``'s to finish (another's, or finished already)."""
        rows = self._rows("SELECT state, owner FROM form_submissions WHERE key = ?", [submission_key])
        return bool(rows) and (rows[0]["state"] != "checking" or rows[0]["owner"] != owner)

    def open_requests(self, requester: str) -> int:
        """How many of ``requester``'s requests are open (``bot.lifecycle.OPEN_STATUSES``)."""
        statuses = sorted(OPEN_STATUSES)
        return self._rows(
            f"SELECT COUNT(*) AS n FROM requests WHERE requester = ? AND status IN ({_placeholders(statuses)})",
            [requester, *statuses],
        )[0]["n"]

    def hold_submission(self, submission: FormSubmission, owner: str, lease_seconds: float) -> bool:
        """Keep a form submission being checked, leased to ``owner`` (``claim_held_submissions``); False for a copy of
        one held already, which keeps the first and its holder."""
        now = self.clock()
        with self.transaction():
            return bool(
                self._execute(
                    "INSERT INTO form_submissions (key, view_id, requester, form_json, kind, target_id, state, owner, "
                    "lease_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'checking', ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    [
                        submission.key,
                        submission.view_id,
                        submission.requester,
                        json.dumps(submission.form),
                        submission.kind.value,
                        submission.target_id,
                        owner,
                        now + lease_seconds,
                        now,
                        now,
                    ],
                )
            )

    def claim_held_submissions(self, owner: str, lease_seconds: float) -> list[FormSubmission]:
        """Lease to ``owner`` the held submissions nobody holds (held before leases, or their lease ran out: their
        replica stopped or hangs), oldest first (``_claim_leased``: of replicas claiming at once one gets each)."""
        rows = self._claim_leased(
            "form_submissions", "key", "state = 'checking'", "created_at, key", owner, lease_seconds, self.clock()
        )
        return [_form_submission(row) for row in rows]

    def _claim_leased(
        self,
        table: str,
        key: str,
        waiting: str,
        order: str,
        owner: str,
        lease_seconds: float,
        now: float,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Lease to ``owner`` the rows of ``table`` that are ``waiting`` (an SQL condition) and nobody holds (no lease,
        or it ran out at ``now``), in ``order``, the first ``limit`` of them (None: all); the rows claimed. One write
        transaction, each row claimed by a conditional UPDATE; on PostgreSQL the rows are also read ``FOR UPDATE SKIP
        LOCKED`` (``_skip_locked``), so of replicas claiming at once one gets each."""
        free = f"{waiting} AND (lease_until IS NULL OR lease_until < ?)"
        if not self._rows(f"SELECT 1 FROM {table} WHERE {free} LIMIT 1", [now]):
            return []  # the usual case, every few seconds on every replica: no write transaction for it
        with self.transaction():
            rows = self._rows(
                f"SELECT * FROM {table} WHERE {free} ORDER BY {order} LIMIT ?" + self._skip_locked(),
                [now, self._limit(limit)],
            )
            return [
                row
                for row in rows
                if self._execute(
                    f"UPDATE {table} SET owner = ?, lease_until = ? WHERE {key} = ? AND {free}",
                    [owner, now + lease_seconds, row[key], now],
                )
            ]

    def renew_submission_leases(self, submission_keys: Collection[str], owner: str, lease_seconds: float) -> list[str]:
        """Extend ``owner``'s leases on these held submissions; the keys it still holds (unfinished, not taken over)."""
        return self._renew_leased(
            "form_submissions", "key", "state = 'checking'", submission_keys, owner, lease_seconds
        )

    def _renew_leased(
        self, table: str, key: str, waiting: str, keys: Collection[Any], owner: str, lease_seconds: float
    ) -> list[Any]:
        """Extend ``owner``'s leases on these rows of ``table`` still ``waiting`` (an SQL condition; empty: any); the
        keys it still holds (a row taken over by another replica, or finished, is not among them)."""
        if not keys:
            return []
        ordered = sorted(keys)
        where = f"owner = ? AND {key} IN ({_placeholders(ordered)})" + (f" AND {waiting}" if waiting else "")
        with self.transaction():
            self._execute(
                f"UPDATE {table} SET lease_until = ? WHERE {where}", [self.clock() + lease_seconds, owner, *ordered]
            )
            rows = self._rows(f"SELECT {key} FROM {table} WHERE {where}", [owner, *ordered])
        return [row[key] for row in rows]

    def submission_refused(self, submission_key: str, owner: str) -> bool:
        """A submission's checks refused it: whether ``owner`` may show that. True if it was never held, or ``owner``
        holds it (it is marked refused); False if another replica took it over or it was finished meanwhile."""
        with self.transaction():
            if not self._rows("SELECT 1 FROM form_submissions WHERE key = ?", [submission_key]):
                return True
            return self._finish_submission(submission_key, "refused", None, owner)

    def _finish_submission(self, submission_key: str, state: str, request_id: str | None, owner: str) -> bool:
        """Mark a held submission ``owner`` holds finished and drop what was typed (a recorded request keeps its own
        copy); False if ``owner`` doesn't hold it (in a write transaction)."""
        return bool(
            self._execute(
                "UPDATE form_submissions SET state = ?, request_id = ?, form_json = '{}', updated_at = ? "
                "WHERE key = ? AND state = 'checking' AND owner = ?",
                [state, request_id, self.clock(), submission_key, owner],
            )
        )

    def submissions_checking(self) -> list[FormSubmission]:
        """Submissions held and not finished, oldest first (whoever holds them)."""
        rows = self._rows("SELECT * FROM form_submissions WHERE state = 'checking' ORDER BY created_at", [])
        return [_form_submission(row) for row in rows]

    def submitted_as(self, submission_key: str) -> RequestRecord | None:
        """The request a form submission made, if that submission was stored."""
        rows = self._rows("SELECT request_id FROM submissions WHERE key = ?", [submission_key])
        return self._get(rows[0]["request_id"]) if rows else None

    def get(self, request_id: str) -> RequestRecord | None:
        rows = self._rows("SELECT * FROM requests WHERE id = ?", [request_id])
        return _record(rows[0]) if rows else None

    def _get(self, request_id: str) -> RequestRecord:
        record = self.get(request_id)
        if record is None:
            raise KeyError(request_id)
        return record

    def transition(
        self,
        request_id: str,
        *,
        expected: str | tuple[str, ...],
        new: str,
        actor: str,
        kind: str,
        details: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> RequestRecord | None:
        """Move a request from an ``expected`` status to ``new`` and record the event, atomically.

        Returns None, changing nothing, when the request is not (or no longer) in an expected status.
        ``result`` and ``error`` describe the latest outcome: every transition sets both (None clears). A
        ``result`` naming a ``role_id`` (``ProvisionResult``: the role made) sets the request's, once.
        """
        expected_statuses = [expected] if isinstance(expected, str) else list(expected)
        now = self.clock()
        with self.transaction():
            changed = self._execute(
                "UPDATE requests SET status = ?, updated_at = ?, result_json = ?, error = ?, "
                "role_id = COALESCE(role_id, ?) "
                f"WHERE id = ? AND status IN ({_placeholders(expected_statuses)})",
                [
                    new,
                    now,
                    json.dumps(result) if result is not None else None,
                    error,
                    (result or {}).get("role_id"),
                    request_id,
                    *expected_statuses,
                ],
            )
            if changed == 0:
                return None
            self._insert_event(request_id, now, actor, kind, details or {})
            return self._get(request_id)

    def add_event(self, request_id: str, actor: str, kind: str, details: dict[str, Any] | None = None) -> Event:
        """Append an event that changes no status (an approval vote, a reminder, a resumption)."""
        with self.transaction():
            return self._insert_event(request_id, self.clock(), actor, kind, details or {})

    # --- provisioning jobs and leases ----------------------------------------------------------

    def enqueue_job(self, request_id: str, owner: str | None = None, lease_seconds: float = 0.0) -> None:
        """A request to provision (in the transaction that approved it), leased to ``owner`` when given."""
        lease_until = self.clock() + lease_seconds if owner is not None else None
        with self.transaction():
            self._execute("DELETE FROM jobs WHERE request_id = ?", [request_id])
            self._insert("jobs", {"request_id": request_id, "owner": owner, "lease_until": lease_until})

    def claimable_jobs(self, limit: int | None = None) -> list[str]:
        """Requests whose job nobody holds: never leased, or its lease ran out (its replica is gone or stuck).

        Call inside a transaction followed by ``claim_job``: on PostgreSQL the rows are locked
        (``FOR UPDATE SKIP LOCKED``), so replicas polling at once never pick the same job.
        """
        rows = self._rows(
            "SELECT request_id FROM jobs WHERE lease_until IS NULL OR lease_until < ? ORDER BY request_id LIMIT ?"
            + self._skip_locked(),
            [self.clock(), self._limit(limit)],
        )
        return [row["request_id"] for row in rows]

    def _skip_locked(self) -> str:
        """The clause that locks the rows read for claiming (SQLite: none; its write transaction is the lock)."""
        return ""

    def claim_job(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Lease a request's job to ``owner`` if nobody else holds it (a conditional UPDATE: one claimant wins)."""
        now = self.clock()
        return bool(
            self._execute(
                "UPDATE jobs SET owner = ?, lease_until = ? "
                "WHERE request_id = ? AND (lease_until IS NULL OR lease_until < ? OR owner = ?)",
                [owner, now + lease_seconds, request_id, now, owner],
            )
        )

    def renew_leases(self, request_ids: Collection[str], owner: str, lease_seconds: float) -> list[str]:
        """Extend ``owner``'s leases on these jobs; the ids it still holds (a lost one was taken over)."""
        return self._renew_leased("jobs", "request_id", "", request_ids, owner, lease_seconds)

    def finish_job(self, request_id: str) -> None:
        """The request's provisioning ended (created or failed): its job goes."""
        with self.transaction():
            self._execute("DELETE FROM jobs WHERE request_id = ?", [request_id])

    def job(self, request_id: str) -> dict[str, Any] | None:
        """A request's job (``owner``, ``lease_until``), if it has one."""
        rows = self._rows("SELECT owner, lease_until FROM jobs WHERE request_id = ?", [request_id])
        return rows[0] if rows else None

    def jobs(self) -> list[dict[str, Any]]:
        """Every provisioning job (``request_id``, ``owner``, ``lease_until``): what replicas are working on."""
        return self._rows("SELECT request_id, owner, lease_until FROM jobs ORDER BY request_id", [])

    # --- the outbox: outcomes to announce ---------------------------------------------------------

    def add_notice(self, request_id: str, kind: Status, owner: str, lease_seconds: float) -> int:
        """An outcome to announce, leased to ``owner``, which sends it next; its id. Call it in the transaction that
        records the outcome, so that neither is ever stored without the other."""
        now = self.clock()
        with self.transaction():
            notice_id: int = self._rows("SELECT COALESCE(MAX(id) + 1, 1) AS id FROM notices", [])[0]["id"]
            self._insert(
                "notices",
                {
                    "id": notice_id,
                    "request_id": request_id,
                    "kind": kind.value,
                    "owner": owner,
                    "lease_until": now + lease_seconds,
                    "created_at": now,
                },
            )
            return notice_id

    def held_notices(self, request_id: str, owner: str, lease_seconds: float) -> list[Notice]:
        """The request's unsent notices ``owner`` still holds, oldest first, their leases renewed as it is about to send
        them (none that another replica took over, or that failed and wait for their retry)."""
        where = "request_id = ? AND owner = ? AND state = 'pending'"
        with self.transaction():
            self._execute(
                f"UPDATE notices SET lease_until = ? WHERE {where}", [self.clock() + lease_seconds, request_id, owner]
            )
            rows = self._rows(f"SELECT * FROM notices WHERE {where} ORDER BY id", [request_id, owner])
        return [_notice(row) for row in rows]

    def claim_notices(
        self, owner: str, lease_seconds: float, *, limit: int | None = None, now: float | None = None
    ) -> list[Notice]:
        """Lease to ``owner`` the unsent notices nobody holds (their replica died before sending them, or their retry
        is due at ``now``, by default the store's clock), the oldest ``limit`` (None: all) (``_claim_leased``: each by
        one replica)."""
        now = self.clock() if now is None else now
        rows = self._claim_leased("notices", "id", "state = 'pending'", "id", owner, lease_seconds, now, limit)
        return [_notice(row) for row in rows]

    def renew_notice_leases(self, notice_ids: Collection[int], owner: str, lease_seconds: float) -> list[int]:
        """Extend ``owner``'s leases on the notices it is sending; the ids it still holds."""
        return self._renew_leased("notices", "id", "state = 'pending'", notice_ids, owner, lease_seconds)

    def latest_notice(self, request_id: str) -> int | None:
        """The id of the request's latest notice (None: it has none)."""
        latest: int | None = self._rows("SELECT MAX(id) AS id FROM notices WHERE request_id = ?", [request_id])[0]["id"]
        return latest

    def notice_progress(self, notice_id: int, owner: str, parts_done: int, lease_seconds: float) -> bool:
        """``owner`` is about to make the next call of a notice, its first ``parts_done`` made: recorded, and its lease
        renewed, only if ``owner`` still holds it; False if not (another replica took it over: ``owner`` stops)."""
        with self.transaction():
            return bool(
                self._execute(
                    "UPDATE notices SET parts_done = ?, lease_until = ? "
                    "WHERE id = ? AND owner = ? AND state = 'pending'",
                    [parts_done, self.clock() + lease_seconds, notice_id, owner],
                )
            )

    def finish_notice(self, notice_id: int, owner: str, state: str) -> bool:
        """A notice said (``sent``), or not to be said (``superseded``: its request reached another outcome since), by
        ``owner``; False if ``owner`` no longer held it (another replica took it over, or finished it meanwhile)."""
        with self.transaction():
            return bool(
                self._execute(
                    "UPDATE notices SET state = ?, sent_at = ?, owner = NULL, lease_until = NULL "
                    "WHERE id = ? AND owner = ? AND state = 'pending'",
                    [state, self.clock(), notice_id, owner],
                )
            )

    def notice_failed(
        self, notice_id: int, owner: str, *, parts_done: int | None, error: str, retry_at: float | None
    ) -> bool:
        """``owner``'s send of a notice failed after its first ``parts_done`` messages (None: as last recorded):
        whoever claims it after ``retry_at`` sends the rest, or (None) it is given up. False if ``owner`` no longer held
        it."""
        with self.transaction():
            return bool(
                self._execute(
                    "UPDATE notices SET attempts = attempts + 1, parts_done = COALESCE(?, parts_done), error = ?, "
                    "owner = NULL, lease_until = ?, state = ? WHERE id = ? AND owner = ? AND state = 'pending'",
                    [parts_done, error, retry_at, "pending" if retry_at is not None else "given_up", notice_id, owner],
                )
            )

    def take_lease(self, name: str, owner: str, seconds: float, *, now: float | None = None) -> bool:
        """Hold the lease ``name`` for ``seconds`` if it is free, ran out, or is ``owner``'s already (at ``now``: the
        store's clock unless given, e.g. housekeeping's own).

        One upsert, so of replicas asking at once one gets it (housekeeping runs on one at a time).
        """
        now = self.clock() if now is None else now
        with self.transaction():
            return bool(
                self._execute(
                    "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET owner = excluded.owner, until = excluded.until WHERE leases.until < ? OR leases.owner = ?",
                    [name, owner, now + seconds, now, owner],
                )
            )

    def first_delivery(self, key: str) -> bool:
        """Record a Slack delivery (an event's id); False if it was recorded before (Slack retried it)."""
        with self.transaction():
            return bool(
                self._execute(
                    "INSERT INTO deliveries (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [key, self.clock()]
                )
            )

    def forget_deliveries(self, before: float) -> int:
        """Drop deliveries recorded before ``before`` (Slack retries within minutes); how many went."""
        with self.transaction():
            return self._execute("DELETE FROM deliveries WHERE at < ?", [before])

    def changed_since(self, request_id: str, kind: str) -> str | None:
        """None if the request's content is what its latest ``kind`` event recorded (e.g. approved), else why not."""
        rows = self._rows(
            "SELECT * FROM events WHERE request_id = ? AND kind = ? ORDER BY id DESC LIMIT 1", [request_id, kind]
        )
        if not rows:
            return f"it has no {kind} event on record"
        if event_hash(rows[0]) != rows[0]["hash"]:
            return f"its {kind} event was altered"
        request = self._rows("SELECT * FROM requests WHERE id = ?", [request_id])[0]
        if request_hash_as(rows[0]["request_hash"], request) != rows[0]["request_hash"]:
            return f"its stored content was changed after it was {kind}"
        return None

    def verify_audit(self) -> tuple[BrokenLink | None, int, str]:
        """The audit log checked end to end (``bot.audit.first_broken_link``): first broken link, events, head hash."""
        with self._read_snapshot():
            requests = {row["id"]: row for row in self._rows("SELECT * FROM requests", [])}
            return first_broken_link(self._rows("SELECT * FROM events ORDER BY id", []), requests)

    @contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """One read transaction, so the requests and the events are read as of the same moment."""
        db = self._db()
        db.conn.execute("BEGIN")
        try:
            yield
        finally:
            db.conn.execute("COMMIT")

    def events(self, request_id: str) -> list[Event]:
        """A request's history, oldest first."""
        rows = self._rows("SELECT * FROM events WHERE request_id = ? ORDER BY id", [request_id])
        return [_event(row) for row in rows]

    def set_message(self, request_id: str, channel: str, ts: str) -> RequestRecord:
        """Remember where the approval message is, to update it later."""
        with self.transaction():
            self._execute("UPDATE requests SET channel = ?, message_ts = ? WHERE id = ?", [channel, ts, request_id])
            return self._get(request_id)

    def pending(self, account_ids: Collection[str] | None = None, limit: int | None = 50) -> list[RequestRecord]:
        """Requests awaiting approval, oldest first; only for ``account_ids`` when given."""
        sql = "SELECT * FROM requests WHERE status = ?"
        params: list[Any] = [Status.SUBMITTED.value]
        if account_ids is not None:
            accounts = sorted(set(account_ids))
            if not accounts:
                return []  # PostgreSQL refuses an empty IN ()
            sql += f" AND account_id IN ({_placeholders(accounts)})"
            params += accounts
        rows = self._rows(sql + " ORDER BY created_at, seq LIMIT ?", [*params, self._limit(limit)])
        return [_record(row) for row in rows]

    def for_requester(self, user: str, limit: int | None = 20) -> list[RequestRecord]:
        """A user's own requests, newest first."""
        rows = self._rows(
            "SELECT * FROM requests WHERE requester = ? ORDER BY created_at DESC, seq DESC LIMIT ?",
            [user, self._limit(limit)],
        )
        return [_record(row) for row in rows]

    def by_status(self, status: str, *, before: float | None = None, limit: int | None = 100) -> list[RequestRecord]:
        """Requests in a status, oldest first; only those created at or before ``before`` when given."""
        sql = "SELECT * FROM requests WHERE status = ?"
        params: list[Any] = [status]
        if before is not None:
            sql += " AND created_at <= ?"
            params.append(before)
        rows = self._rows(sql + " ORDER BY created_at, seq LIMIT ?", [*params, self._limit(limit)])
        return [_record(row) for row in rows]

    def recent(self, limit: int | None = 50) -> list[RequestRecord]:
        """The newest requests, newest first."""
        rows = self._rows("SELECT * FROM requests ORDER BY created_at DESC, seq DESC LIMIT ?", [self._limit(limit)])
        return [_record(row) for row in rows]

    def ping(self) -> bool:
        """Whether the database answers (``/readyz``); raises when it can't be reached."""
        return bool(self._rows("SELECT 1 AS ok", []))

    def count(self, status: str | None = None) -> int:
        """How many requests there are (in ``status`` when given)."""
        if status is None:
            return self._rows("SELECT COUNT(*) AS n FROM requests", [])[0]["n"]
        return self._rows("SELECT COUNT(*) AS n FROM requests WHERE status = ?", [status])[0]["n"]

    def learn_role_id(self, made_id: str, role_id: str) -> bool:
        """Keep the RoleId of the role ``made_id`` created when none is known yet (a row from before the bot kept
        it); False if one was known already (it is never replaced)."""
        with self.transaction():
            sql = "UPDATE requests SET role_id = ? WHERE id = ? AND role_id IS NULL"
            return self._execute(sql, [role_id, made_id]) == 1

    def live_roles(
        self, account_id: str | None = None, role_name: str | None = None, *, requester: str | None = None
    ) -> list[RequestRecord]:
        """The create requests whose role exists, as far as the bot knows (created, not deleted since by a
        delete request), oldest first; only in ``account_id`` / named ``role_name`` / of ``requester`` when given."""
        sql = f"SELECT * FROM requests AS made WHERE made.kind = ? AND made.status = ? AND {NOT_DELETED}"
        params: list[Any] = [RequestKind.CREATE.value, Status.CREATED.value, Status.DELETED.value]
        if account_id is not None:
            sql += " AND made.account_id = ?"
            params.append(account_id)
        if role_name is not None:
            sql += " AND made.role_name = ?"
            params.append(role_name)
        if requester is not None:
            sql += " AND made.requester = ?"
            params.append(requester)
        rows = self._rows(sql + " ORDER BY made.created_at, made.seq", params)
        return [_record(row) for row in rows]

    def last_use_due(self, tried_before: float, limit: int) -> list[RequestRecord]:
        """Live roles (``live_roles``) whose last use was never read or last tried before ``tried_before``: never
        read first, then the longest ago; at most ``limit``."""
        sql = (
            "SELECT made.* FROM requests AS made LEFT JOIN role_last_use AS reading ON reading.request_id = made.id "
            f"WHERE made.kind = ? AND made.status = ? AND {NOT_DELETED} "
            "AND (reading.tried_at IS NULL OR reading.tried_at < ?) "
            "ORDER BY COALESCE(reading.tried_at, 0), made.created_at, made.seq LIMIT ?"
        )
        params = [RequestKind.CREATE.value, Status.CREATED.value, Status.DELETED.value, tried_before, limit]
        return [_record(row) for row in self._rows(sql, params)]

    def record_last_use(self, request_id: str, use: LastUse | None, *, tried_at: float) -> None:
        """Keep a reading of the role ``request_id`` made (None: reading it failed; the last good one stays)."""
        with self.transaction():
            if use is None:
                self._execute(
                    "INSERT INTO role_last_use (request_id, tried_at) VALUES (?, ?) "
                    "ON CONFLICT (request_id) DO UPDATE SET tried_at = excluded.tried_at",
                    [request_id, tried_at],
                )
                return
            self._execute(
                "INSERT INTO role_last_use (request_id, found, used_at, region, read_at, tried_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET found = excluded.found, "
                "used_at = excluded.used_at, region = excluded.region, read_at = excluded.read_at, "
                "tried_at = excluded.tried_at",
                [request_id, int(use.found), use.used_at, use.region, use.read_at, tried_at],
            )

    def last_uses(self, request_ids: Collection[str]) -> dict[str, LastUse]:
        """The last good reading of each role these create requests made (none for one never read)."""
        if not request_ids:
            return {}
        marks = ", ".join("?" for _ in request_ids)
        rows = self._rows(
            f"SELECT * FROM role_last_use WHERE read_at IS NOT NULL AND request_id IN ({marks})", list(request_ids)
        )
        return {
            row["request_id"]: LastUse(
                read_at=row["read_at"], found=bool(row["found"]), used_at=row["used_at"], region=row["region"]
            )
            for row in rows
        }

    def acting_on(self, target_id: str) -> list[RequestRecord]:
        """The requests made about the role ``target_id`` created (deletes), oldest first."""
        rows = self._rows("SELECT * FROM requests WHERE target_id = ? ORDER BY created_at, seq", [target_id])
        return [_record(row) for row in rows]

    def set_expiry(self, request_id: str, expires_at: float | None) -> RequestRecord:
        """When the role ``request_id`` created is deleted (None: never)."""
        with self.transaction():
            self._execute("UPDATE requests SET expires_at = ? WHERE id = ?", [expires_at, request_id])
            return self._get(request_id)

    def expiring(self, before: float) -> list[RequestRecord]:
        """Created roles whose expiry is at or before ``before`` and not yet acted on, soonest first."""
        rows = self._rows(
            "SELECT * FROM requests AS made WHERE made.expires_at <= ? AND made.expiry_request_id IS NULL "
            f"AND made.status = ? AND {NOT_DELETED} ORDER BY made.expires_at",
            [before, Status.CREATED.value, Status.DELETED.value],
        )
        return [_record(row) for row in rows]

    def claim_expiry(self, request_id: str, now: float, delete_request_id: str) -> bool:
        """Record that ``delete_request_id`` carries out the expiry of the role ``request_id`` created.

        One conditional UPDATE: of any number of callers (threads, processes, replicas), exactly one
        gets True for a role; call it in the transaction that stores the delete request.
        """
        with self.transaction():
            changed = self._execute(
                "UPDATE requests SET expiry_request_id = ? "
                "WHERE id = ? AND expiry_request_id IS NULL AND expires_at <= ? AND status = ?",
                [delete_request_id, request_id, now, Status.CREATED.value],
            )
            return changed == 1

    def extend_expiry(self, request_id: str, expires_at: float) -> bool:
        """Move the expiry of the role ``request_id`` created to ``expires_at``; False (nothing changed) once
        its expiry was claimed (``claim_expiry``): too late."""
        with self.transaction():
            changed = self._execute(
                "UPDATE requests SET expires_at = ? "
                "WHERE id = ? AND expiry_request_id IS NULL AND expires_at IS NOT NULL",
                [expires_at, request_id],
            )
            return changed == 1

    def approved_state(self, made: RequestRecord) -> RequestRecord:
        """The request whose state the role ``made`` created is in now, as approved: its latest carried-out
        edit, else ``made`` itself."""
        edits = [r for r in self.acting_on(made.id) if r.kind == RequestKind.EDIT and r.status == Status.EDITED]
        return edits[-1] if edits else made

    # --- drift reports -----------------------------------------------------------------------------

    def open_drift(self, made_id: str) -> DriftReport | None:
        """The role's open drift report, if it has one."""
        rows = self._rows("SELECT * FROM drift_reports WHERE made_id = ? AND state = ?", [made_id, DriftState.OPEN])
        return _drift(rows[0]) if rows else None

    def open_drift_reports(self) -> list[DriftReport]:
        """Every open drift report, oldest first."""
        rows = self._rows("SELECT * FROM drift_reports WHERE state = ? ORDER BY opened_at, seq", [DriftState.OPEN])
        return [_drift(row) for row in rows]

    def drift_report(self, report_id: str) -> DriftReport | None:
        rows = self._rows("SELECT * FROM drift_reports WHERE id = ?", [report_id])
        return _drift(rows[0]) if rows else None

    def report_drift(
        self,
        made: RequestRecord,
        *,
        fingerprint: str,
        approved: dict[str, Any],
        observed: dict[str, Any] | None,
        differences: list[dict[str, str]],
        findings: list[dict[str, Any]],
        risk: str,
    ) -> DriftReport | None:
        """Open a drift report for the role ``made`` created, unless its open one already has ``fingerprint``
        (None: reported already). An open report of another difference is superseded in the same transaction."""
        now = self.clock()
        with self.transaction():
            current = self.open_drift(made.id)
            if current is not None and current.fingerprint == fingerprint:
                return None
            if current is not None:
                self.close_drift(current.id, DriftState.SUPERSEDED)
            seq = self._rows("SELECT COALESCE(MAX(seq) + 1, 1) AS seq FROM drift_reports", [])[0]["seq"]
            report_id = f"D-{seq}"
            self._insert(
                "drift_reports",
                {
                    "id": report_id,
                    "seq": seq,
                    "made_id": made.id,
                    "account_id": made.account_id,
                    "role_name": made.role_name,
                    "fingerprint": fingerprint,
                    "approved_json": json.dumps(approved),
                    "observed_json": json.dumps(observed) if observed is not None else None,
                    "differences_json": json.dumps(differences),
                    "findings_json": json.dumps(findings),
                    "risk": risk,
                    "state": DriftState.OPEN.value,
                    "action_request_id": None,
                    "channel": None,
                    "message_ts": None,
                    "opened_at": now,
                    "closed_at": None,
                },
            )
            report = self.drift_report(report_id)
            assert report is not None
            return report

    def close_drift(self, report_id: str, state: DriftState) -> DriftReport | None:
        """Close an open report (None: it was not open)."""
        with self.transaction():
            changed = self._execute(
                "UPDATE drift_reports SET state = ?, closed_at = ? WHERE id = ? AND state = ?",
                [state.value, self.clock(), report_id, DriftState.OPEN.value],
            )
            return self.drift_report(report_id) if changed else None

    def set_drift_message(self, report_id: str, channel: str, ts: str) -> None:
        """Where the report was posted (its thread gets what follows)."""
        with self.transaction():
            self._execute("UPDATE drift_reports SET channel = ?, message_ts = ? WHERE id = ?", [channel, ts, report_id])

    def claim_drift_action(self, report_id: str, request_id: str, previous: str | None) -> bool:
        """Record that ``request_id`` acts on the open report, if its action is still ``previous`` (compare and
        swap: of clicks racing, doubled or replayed, one wins). Call it in the transaction storing the request."""
        with self.transaction():
            return bool(
                self._execute(
                    "UPDATE drift_reports SET action_request_id = ? WHERE id = ? AND state = ? "
                    "AND COALESCE(action_request_id, '') = ?",
                    [request_id, report_id, DriftState.OPEN.value, previous or ""],
                )
            )
