"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a unix socket, gone at the end.

Debian's server package puts initdb and pg_ctl in a versioned directory off PATH (``pg_config
--bindir`` prints the client's; the server's is ``/usr/lib/postgresql/N/bin``). PostgreSQL refuses to
run as root ("initdb: cannot be run as root"), so as root the cluster is made and run as the
``postgres`` user the package creates (``runuser``), in a directory that user owns. It listens on a
socket in its own directory only (no TCP port to collide with), trusts local connections, and skips
fsync: it lives for one test session.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bot.store_postgres import PostgresStore

SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60


def server_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest installed version), or None."""
    candidates = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(Path(bindir))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((path for path in candidates if (path / "initdb").exists() and (path / "pg_ctl").exists()), None)


@dataclass
class Cluster:
    """A running cluster: its directory (data and socket) and who runs it."""

    directory: Path
    bindir: Path
    as_user: list[str]
    _migrated: "MigratedSchema | None" = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@/{database}?host={self.directory}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=START_TIMEOUT_SECONDS)

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        options = f"-c listen_addresses='' -c unix_socket_directories={self.directory} -c fsync=off "
        options += "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.directory / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        if self._migrated is not None:
            self._migrated.close()
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def new_database(self) -> str:
        """A new empty database's URL (slower than ``new_schema``: for tests that cut connections to it)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def new_schema(self) -> str:
        """A URL whose tables live in a new empty schema: each test starts at schema version 0, in milliseconds
        (a new database takes a quarter of a second)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}&options=-csearch_path%3D{name}"

    def emptied_migrated_schema(self) -> str:
        """The URL of this process's one schema at the latest version, every table emptied: for tests that start
        from an empty store. Migrating a new schema per test took two thirds of each PostgreSQL test's time
        (~35 of ~60 ms); emptying the migrated one takes a few. Tests of migrations themselves use ``new_schema``."""
        if self._migrated is None:
            self._migrated = MigratedSchema(self.new_schema())
        return self._migrated.emptied()


class MigratedSchema:
    """A schema migrated once, emptied again for each test.

    The audit triggers refuse TRUNCATE of ``events`` (and UPDATE or DELETE of its rows), as they must in
    production; emptying runs with ``session_replication_role = replica``, under which PostgreSQL fires no
    ordinary trigger, on this connection only (a superuser setting: the cluster's own user). The schema and its
    triggers stay exactly as the migrations made them. Migrations add rows only to ``schema_version`` (checked once
    here, so a migration that seeds a table makes this refuse rather than hand tests a store missing the seed).
    """

    def __init__(self, url: str):
        self.url = url
        PostgresStore(url).close()
        self._admin = psycopg.connect(url, autocommit=True)
        self._admin.execute("SET session_replication_role = replica")
        self._admin.execute("SET lock_timeout = '10s'")  # a test that left a connection open fails, not hangs
        listed = self._admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        tables = [row[0] for row in listed]
        self._tables = [name for name in tables if name != "schema_version"]
        seeded = [name for name in self._tables if self._admin.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone()]
        if seeded:
            raise RuntimeError(f"migrations seed {seeded}: emptying them would not match a new database")

    def emptied(self) -> str:
        self._admin.execute("TRUNCATE " + ", ".join(f'"{name}"' for name in self._tables))
        return self.url

    def close(self) -> None:
        self._admin.close()


def start_cluster() -> Cluster:
    """Start a cluster as an unprivileged user; raises RuntimeError when PostgreSQL's server isn't installed."""
    bindir = server_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql")
    directory = Path(tempfile.mkdtemp(prefix="iam-role-bot-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(directory, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", SERVER_USER, "--"]
    cluster = Cluster(directory, bindir, as_user)
    cluster.start()
    return cluster
