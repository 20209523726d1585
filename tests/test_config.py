"""Configuration: environment settings and the TOML policy file, and the errors a mistake gives."""

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, load_policy
from bot.domain import Limits

EXAMPLE = Path(__file__).parent.parent / "docs" / "policy.example.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env or SLACK_* settings of the machine leak in."""
    monkeypatch.chdir(tmp_path)
    for name in ("APPROVER_IDS", "POLICY_FILE", "SLACK_APP_TOKEN", "PORT", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_environment_settings_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVER_IDS", "U01, W02")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    monkeypatch.setenv("PORT", "8080")
    settings = load_config().settings
    assert settings.approver_ids == ["U01", "W02"]
    assert settings.slack_app_token is None
    assert settings.port == 8080


def test_a_wrong_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVER_IDS", "alice")
    with pytest.raises(ConfigError, match=r"APPROVER_IDS.*alice"):
        load_config()


def test_secrets_are_not_shown_when_settings_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = load_config().settings
    assert "xoxb-very-secret" not in repr(settings) and "xoxb-very-secret" not in str(settings.model_dump())


def test_the_example_policy_file_is_valid() -> None:
    policy = load_policy(EXAMPLE)
    assert [a.name for a in policy.accounts] == ["sandbox", "production"]
    assert policy.approvals.high_risk_approvals == 2
    assert policy.limits.aws_quotas() == Limits()
    assert policy.limits.max_open_requests_per_requester == 10


def test_per_account_approvers_replace_the_global_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVER_IDS", "U0GLOBAL")
    monkeypatch.setenv("POLICY_FILE", str(EXAMPLE))
    config = load_config()
    assert config.approvers_for("444455556666") == {"U0SECLEAD", "U0PLATFORM"}
    assert config.approvers_for("111122223333") == {"U0GLOBAL"}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[approvals]\nhigh_risk_approvals = 0\n", "approvals.high_risk_approvals"),
        ('[[accounts]]\nid = "12"\nname = "x"\n', "accounts.0.id"),
        ("[guardrails]\nmax_session_duration = 60\n", "guardrails.max_session_duration"),
        ("[limits]\nmanaged_policies_per_role = 20\nbogus = 1\n", "limits"),
        ("[limits]\nmax_open_requests_per_requester = 0\n", "limits.max_open_requests_per_requester"),
        ("[nonsense]\n", "nonsense"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_policy_file_mistakes_are_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_policy(path)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="POLICY_FILE"):
        load_policy(tmp_path / "absent.toml")


def test_the_signing_secret_is_needed_only_in_http_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("APPROVAL_CHANNEL_ID", "C1")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert load_config().settings.missing_to_serve() == ["SLACK_SIGNING_SECRET"]
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_config().settings.missing_to_serve() == []
