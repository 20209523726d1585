"""The ``iam-role-bot`` command: the runtime contract of ``serve``, config errors, the admin views."""

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main, start_bot
from bot.config import Config, Policy, Settings
from bot.domain import parse_role_request
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.stack import sandbox_slack
from bot.store import Store
from bot.store_postgres import PostgresStore
from tests.e2e import serve_settings, serving
from tests.test_slack_submissions import engine_settings

SECRET = "cli-test-signing-secret"
TOKEN = "xoxb-cli-test-token"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    path = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    store = Store(path)
    request = parse_role_request(
        {
            "role_type": "service",
            "account_id": "123456789012",
            "role_name": "etl",
            "service_principal": "glue.amazonaws.com",
            "justification": "Nightly ETL.",
        }
    )
    store.create_request(request, "U0ALICE")
    return store


def test_requests_list_and_show(database: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requests", "list"]) == 0
    listing = capsys.readouterr().out
    assert "R-1001" in listing and "etl" in listing and "submitted" in listing
    assert main(["requests", "show", "r-1001"]) == 0
    shown = capsys.readouterr().out
    assert "CreateRole RoleName=etl" in shown and "submitted" in shown and "U0ALICE" in shown
    assert main(["requests", "show", "R-9999"]) == 1


def test_serve_without_slack_settings_names_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "APPROVAL_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_policy_file_stops_start_up_with_the_setting_named(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('[approvals]\nhigh_risk_approvals = "two"\n')
    env = {
        **os.environ,
        "POLICY_FILE": str(tmp_path / "policy.toml"),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "APPROVAL_CHANNEL_ID": "C1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "approvals.high_risk_approvals" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SlackDriver, FakeSlack, subprocess.Popen[str], Path]]:
    """``iam-role-bot serve --sandbox`` in its own process, configured only through the environment."""
    with sandbox_slack() as slack:
        env = serve_settings(slack.url, tmp_path, token=TOKEN, secret=SECRET, LOG_LEVEL="DEBUG")
        log = tmp_path / "bot.log"
        with serving(tmp_path, env, log) as (port, process):
            yield SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET), slack, process, log


def test_serve_answers_slack_on_port_at_slack_events(
    served: tuple[SlackDriver, FakeSlack, subprocess.Popen[str], Path],
) -> None:
    driver, slack, process, log = served
    help_reply = driver.command("U0ALICE", "help")
    assert help_reply.status == 200 and "/iam-role" in help_reply.body
    assert driver.command("U0ALICE", "saml").status == 200
    opened = slack.wait_for("views.open", timeout=10)
    assert opened.token == TOKEN
    assert {b["block_id"] for b in opened.params["view"]["blocks"]} >= {"provider_arn", "role_name"}
    assert driver.command("U0ALICE", "help", secret="forged").status == 401
    process.terminate()
    process.wait(timeout=10)
    output = log.read_text()
    assert "SANDBOX" in output and "DEBUG" in output
    assert SECRET not in output and TOKEN not in output


def test_a_failed_start_leaves_the_garbage_collector_running(tmp_path: Path) -> None:
    """``start_bot`` pauses collection while it builds the bot; a start that fails (here: no directory for the
    database) must not leave the process without it."""
    settings = Settings(_env_file=None, approver_ids=["U0BOB"], database_path=str(tmp_path / "missing" / "b.db"))
    with pytest.raises(FileNotFoundError):
        start_bot(Config(settings, Policy()), sandbox=False)
    assert gc.isenabled()


def test_roles_list_shows_the_roles_that_exist_with_their_expiry(
    database: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["roles", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no roles"

    made = database.transition("R-1001", expected="submitted", new="created", actor="U0BOB", kind="created")
    assert made is not None
    database.set_expiry(made.id, 1_800_000_000.0)
    assert main(["roles", "list", "--account", "123456789012"]) == 0
    listed = capsys.readouterr().out
    assert "R-1001" in listed and "etl" in listed and "expires 2027-01-15 08:00:00Z" in listed
    assert main(["roles", "list", "--account", "210987654321"]) == 0
    assert capsys.readouterr().out.strip() == "no roles"


def test_roles_list_reads_the_database_the_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``DATABASE_URL`` set, the bot's requests are in PostgreSQL: ``roles list`` reads them there, as every
    other command does (it opened the SQLite file at ``DATABASE_PATH`` instead, and listed no roles)."""
    url = engine_settings(request, "postgresql")["database_url"].get_secret_value()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    store = PostgresStore(url)
    request_id = store.create_request(
        parse_role_request(
            {"role_type": "user", "account_id": "123456789012", "role_name": "inpg", "justification": "Tests."}
        ),
        "U0ALICE",
    ).id
    store.transition(request_id, expected="submitted", new="created", actor="U0BOB", kind="created")
    store.close()
    assert main(["roles", "list"]) == 0
    assert "inpg" in capsys.readouterr().out
