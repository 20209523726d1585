"""boto3 sessions per target account: the bot's own credentials at home, sts:AssumeRole elsewhere.

Clients are made with botocore's standard (or adaptive) retry mode, so throttling and 5xx answers are
retried while quota and validation errors are not. Credentials are never logged.
"""

import logging
import re
import threading
from dataclasses import dataclass

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from bot.config import Account
from bot.config import Executor as ExecutorSettings

log = logging.getLogger(__name__)

SESSION_NAME_BAD_CHARS = re.compile(r"[^\w+=,.@-]")


def role_session_name(text: str) -> str:
    """``text`` as a valid RoleSessionName: 2–64 characters of ``[\\w+=,.@-]``."""
    return SESSION_NAME_BAD_CHARS.sub("-", text)[:64].ljust(2, "-")


@dataclass(frozen=True)
class CallerIdentity:
    """Who the bot's own credentials belong to."""

    account_id: str
    partition: str


class AccountSessions:
    """Hands out boto3 sessions and IAM clients for the accounts the bot provisions into."""

    def __init__(
        self,
        config_executor: ExecutorSettings,
        accounts: list[Account],
        *,
        base_session: boto3.Session | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.config_executor = config_executor
        self.accounts = {account.id: account for account in accounts}
        self.base_session = base_session or boto3.Session(region_name=region)
        self.region = region
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts every attempt,
        # which is what the setting means.
        self.client_config = Config(
            region_name=region,
            retries={"mode": config_executor.retry_mode, "total_max_attempts": config_executor.max_attempts},
        )
        self._identity: CallerIdentity | None = None
        self._identity_lock = threading.Lock()
        self._client_lock = threading.Lock()

    def _client(self, session: boto3.Session, service: str) -> BaseClient:
        """A client of ``session``; boto3 sessions are not safe for making clients from several threads."""
        with self._client_lock:
            return session.client(service, config=self.client_config)

    @property
    def identity(self) -> CallerIdentity:
        """The bot's own account and partition (sts:GetCallerIdentity, asked once)."""
        with self._identity_lock:
            if self._identity is None:
                answer = self._client(self.base_session, "sts").get_caller_identity()
                self._identity = CallerIdentity(answer["Account"], answer["Arn"].split(":")[1])
            return self._identity

    @property
    def home_account_id(self) -> str:
        return self.identity.account_id

    def executor_role_arn(self, account_id: str) -> str:
        """The role assumed in ``account_id``: the account's own setting, else the default name."""
        account = self.accounts.get(account_id)
        name = (account and account.executor_role_name) or self.config_executor.role_name
        return f"arn:{self.identity.partition}:iam::{account_id}:role/{name}"

    def external_id(self, account_id: str) -> str | None:
        account = self.accounts.get(account_id)
        return (account and account.external_id) or self.config_executor.external_id

    def session_for(self, account_id: str, *, session_name: str) -> boto3.Session:
        """A session acting in ``account_id``; ``session_name`` shows in CloudTrail (name the request)."""
        if account_id == self.home_account_id:
            return self.base_session
        params = {
            "RoleArn": self.executor_role_arn(account_id),
            "RoleSessionName": role_session_name(session_name),
        }
        external_id = self.external_id(account_id)
        if external_id:
            params["ExternalId"] = external_id
        log.info("Assuming %s as session %s", params["RoleArn"], params["RoleSessionName"])
        credentials = self._client(self.base_session, "sts").assume_role(**params)["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.region,
        )

    def iam_client(self, account_id: str, *, session_name: str) -> BaseClient:
        """An IAM client for ``account_id`` with the configured retry mode and number of attempts."""
        return self._client(self.session_for(account_id, session_name=session_name), "iam")
