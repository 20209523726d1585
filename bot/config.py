"""Configuration: settings from the environment (and ``.env``) plus a TOML policy file.

The environment holds the basics and the secrets (``Settings``); the TOML file named by
``POLICY_FILE`` holds the richer, reviewable parts (``Policy``): accounts, approvers per account,
guardrails, expiry, quotas. ``load_config`` validates both and raises ``ConfigError`` naming the
setting and what is wrong, so a bad setting stops start-up with a clear message.
"""

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain import Limits
from bot.domain.fields import ACCOUNT_ID_RE
from bot.guardrails import Guardrails

SLACK_ID_PREFIXES = ("U", "W")


def split_ids(value: Any) -> Any:
    """``U1,U2`` (as written in an environment variable) into a list."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def check_user_ids(ids: list[str]) -> list[str]:
    for user_id in ids:
        if not user_id.startswith(SLACK_ID_PREFIXES) or not user_id.isalnum():
            raise ValueError(f"“{user_id}” is not a Slack user ID (like U012ABCDEF)")
    return ids


UserIds = Annotated[list[str], AfterValidator(check_user_ids)]
"""Slack user IDs, checked for their form."""


class Settings(BaseSettings):
    """Settings read from the environment and ``.env`` (see ``.env.example``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    approval_channel_id: str | None = None
    notifications_channel_id: str | None = None
    approver_ids: Annotated[UserIds, NoDecode] = []
    database_path: str = "iam-role-bot.db"
    database_url: SecretStr | None = None
    """``postgresql://user:password@host/db``: PostgreSQL (several replicas may share it) instead of the
    SQLite file at ``database_path``; a secret, as it may hold the password."""
    job_lease_seconds: float = Field(default=60.0, ge=3.0)
    """How long a replica's claim on a provisioning job lasts unrenewed (see ``bot.workflow.LEASE_SECONDS``)."""
    port: int = Field(default=3000, ge=1, le=65535)
    policy_file: Path | None = None
    aws_region: str = "us-east-1"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line, for log shippers."""

    def secret_values(self) -> list[str]:
        """The secrets' values, for the log formatter to mask should one ever reach a log line."""
        secrets = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.database_url)
        return [secret.get_secret_value() for secret in secrets if secret]

    @field_validator("approver_ids", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return split_ids(value)

    def missing_to_serve(self) -> list[str]:
        """The settings ``serve`` needs that are unset, by variable name.

        The signing secret only in HTTP mode: in Socket Mode Slack's payloads come over the app
        token's WebSocket and carry no signature.
        """
        required = [("SLACK_BOT_TOKEN", self.slack_bot_token), ("APPROVAL_CHANNEL_ID", self.approval_channel_id)]
        if not self.slack_app_token:
            required.insert(1, ("SLACK_SIGNING_SECRET", self.slack_signing_secret))
        return [name for name, value in required if not value]


class Account(BaseModel):
    """A target account requests may be made for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    approvers: UserIds = []
    """Approvers for this account; when given they replace the global approvers for it."""
    executor_role_name: str | None = None
    external_id: str | None = None
    max_role_days: int | None = Field(default=None, ge=1)
    """Roles here must expire within this many days (replaces ``[guardrails] max_role_days``)."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ACCOUNT_ID_RE.fullmatch(value):
            raise ValueError(f"“{value}” is not a 12-digit AWS account ID")
        return value


class Approvals(BaseModel):
    """Who approves, how many for high-risk requests, and when pending requests expire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: UserIds = []
    approver_usergroup: str | None = None
    high_risk_approvals: int = Field(default=2, ge=1, le=10)
    narrowing_approvals: int | None = Field(default=None, ge=1, le=10)
    """Approvals an edit needs that only narrows access (the bot's own check), when fewer than otherwise."""
    remind_after_hours: float = Field(default=24, gt=0)
    expire_after_hours: float = Field(default=72, gt=0)


class Executor(BaseModel):
    """How the bot reaches and marks what it creates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role_name: str = "iam-role-bot-executor"
    """Role assumed in accounts other than the bot's own."""
    external_id: str | None = None
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = Field(default=5, ge=1, le=10)


class Quotas(BaseModel):
    """The ``[limits]`` table: account quotas, when AWS has raised yours, and how many requests one person may
    have open at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trust_policy_max_chars: int = Field(default=2048, ge=100, le=4096)
    managed_policies_per_role: int = Field(default=10, ge=1, le=20)
    inline_policy_max_chars: int = Field(default=10240, ge=100, le=10240)
    max_open_requests_per_requester: int = Field(default=10, ge=1, le=1000)
    """Requests one person may have awaiting approval or being carried out (``bot.lifecycle.OPEN_STATUSES``);
    one more is refused at submission, so a hostile or careless requester can't flood the approvers."""

    def aws_quotas(self) -> Limits:
        """The account quotas, as the domain checks requests against them."""
        return Limits(**self.model_dump(exclude={"max_open_requests_per_requester"}))


EXPORT_PLACEHOLDERS = frozenset({"account_id", "role_name", "request_id"})


class GitExport(BaseModel):
    """``[export]``: a git repository that receives every created role as code (one file per role)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str | None = None
    """Anything ``git clone`` takes (URL or path); without it nothing is committed."""
    branch: str = "main"
    path_template: str = "roles/{account_id}/{role_name}.tf"
    format: Literal["terraform", "cloudformation"] = "terraform"
    timeout_seconds: float = Field(default=60, gt=0, le=600)
    """Each git command is stopped after this long (a hung remote must not hold a worker)."""

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not value or value.startswith(("-", "/")) or ".." in value or any(c in value for c in " ~^:?*[\\"):
            raise ValueError(f"“{value}” is not a branch name git accepts")
        return value

    @field_validator("path_template")
    @classmethod
    def _path_template(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as error:
            raise ValueError(f"path_template: {error}") from None
        unknown = names - EXPORT_PLACEHOLDERS
        if unknown:
            raise ValueError(f"path_template knows only {sorted(EXPORT_PLACEHOLDERS)}, not {sorted(unknown)}")
        if "role_name" not in names:
            raise ValueError("path_template must contain {role_name}: one file per role")
        parts = value.split("/")
        if value.startswith("/") or ".." in parts or ".git" in parts:
            raise ValueError("path_template must be a relative path inside the repository")
        return value

    @model_validator(mode="after")
    def _extension_matches_format(self) -> "GitExport":
        wanted = {"terraform": ".tf", "cloudformation": ".json"}[self.format]
        if not self.path_template.endswith(wanted):
            raise ValueError(f"path_template must end in {wanted} for format {self.format!r}")
        return self


class Drift(BaseModel):
    """``[drift]``: how often housekeeping compares every role the bot made with its approved state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_minutes: float = Field(default=60, ge=0, le=7 * 24 * 60)
    """0 turns the check off (``iam-role-bot drift check`` still runs one). Each pass reads every live role:
    five IAM calls and one more per inline policy, so keep it well above the housekeeping period (5 min)."""


class Policy(BaseModel):
    """The TOML policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[Account] = []
    approvals: Approvals = Approvals()
    executor: Executor = Executor()
    guardrails: Guardrails = Guardrails()
    limits: Quotas = Quotas()
    export: GitExport = GitExport()
    drift: Drift = Drift()


@dataclass(frozen=True)
class Config:
    """Everything the bot is configured with."""

    settings: Settings
    policy: Policy

    @property
    def limits(self) -> Limits:
        return self.policy.limits.aws_quotas()

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.policy.accounts if a.id == account_id), None)

    def max_role_days(self, account_id: str) -> int | None:
        """How many days a role in the account may live at most (None: no limit)."""
        account = self.account(account_id)
        if account and account.max_role_days is not None:
            return account.max_role_days
        return self.policy.guardrails.max_role_days

    def approvers_for(self, account_id: str) -> frozenset[str]:
        """Designated approvers of a target account (user-group members are resolved elsewhere)."""
        account = self.account(account_id)
        if account and account.approvers:
            return frozenset(account.approvers)
        return frozenset(self.settings.approver_ids) | frozenset(self.policy.approvals.approvers)


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it."""


def describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if source == "environment":
            where = where.upper()
        lines.append(f"{source}: {where}: {item['msg']}")
    return "\n".join(lines)


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"POLICY_FILE: {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"POLICY_FILE: {path} is not valid TOML: {error}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe(error, str(path))) from None


def load_config(**overrides: Any) -> Config:
    """Read the environment, ``.env`` and the policy file; raise ``ConfigError`` on any mistake."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(describe(error, "environment")) from None
    return Config(settings=settings, policy=load_policy(settings.policy_file))
