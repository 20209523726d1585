"""One IAM client per target account: the bot's own credentials at home, sts:AssumeRole elsewhere.

Clients are made once per account and shared by every thread: boto3 documents clients as thread-safe
once made, and sessions (which make them) as not
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients,
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/session.html#multithreading-or-multiprocessing-with-sessions).
A new client per request cost 3-7 ms of CPU and, against AWS, a TLS handshake (bench/provisioning.py).
Assumed-role credentials are botocore ``RefreshableCredentials``: they assume the role again before
they expire (15 minutes ahead, blocking calls only in the last 10), as boto3's own assume-role
provider does (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html#assume-role-provider).

Clients use botocore's standard (or adaptive) retry mode, so throttling and 5xx answers are retried
while quota and validation errors are not. Credentials are never logged.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

from bot.config import Account
from bot.config import Executor as ExecutorSettings

log = logging.getLogger(__name__)

SESSION_NAME = "iam-role-bot"
"""The RoleSessionName of the bot's sessions in member accounts, as CloudTrail shows it."""


@dataclass(frozen=True)
class CallerIdentity:
    """Who the bot's own credentials belong to."""

    account_id: str
    partition: str


class AssumedRoleCredentials(CredentialProvider):
    """Hands a botocore session credentials the bot got (and keeps fresh) with sts:AssumeRole."""

    METHOD = "sts-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self.credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self.credentials


class AccountSessions:
    """Makes, once per account, the IAM client the bot acts with there; every thread shares it."""

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
        self._session_lock = threading.Lock()  # held while making a client: sessions are not thread-safe
        self._sessions: dict[str, boto3.Session] = {}
        self._sts: BaseClient | None = None
        self._iam: dict[str, BaseClient] = {}
        self._iam_lock = threading.Lock()

    def _base_client(self, service: str) -> BaseClient:
        with self._session_lock:
            return self.base_session.client(service, config=self.client_config)

    @property
    def sts(self) -> BaseClient:
        """The bot's own STS client (made once)."""
        with self._identity_lock:
            if self._sts is None:
                self._sts = self._base_client("sts")
            return self._sts

    @property
    def identity(self) -> CallerIdentity:
        """The bot's own account and partition (sts:GetCallerIdentity, asked once)."""
        sts = self.sts
        with self._identity_lock:
            if self._identity is None:
                answer = sts.get_caller_identity()
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

    def iam_client(self, account_id: str) -> BaseClient:
        """The IAM client for ``account_id`` (made on first use, then shared), with the configured retries.

        A member account's role is assumed on first use, so a refusal surfaces as this call's error;
        nothing is cached then, and the next call tries again.
        """
        with self._iam_lock:
            client = self._iam.get(account_id)
            if client is None:
                client = self._iam[account_id] = self.new_iam_client(account_id)
            return client

    def new_iam_client(self, account_id: str, *, config: Config | None = None) -> BaseClient:
        """A client of its own for ``account_id``, ``config`` (e.g. shorter timeouts) over the configured one."""
        home, sts = self.home_account_id, self.sts  # before the lock: they may make the STS client
        with self._session_lock:
            session = self._sessions.get(account_id)
            if session is None:
                session = self.base_session if account_id == home else self._assumed_session(account_id, sts)
                self._sessions[account_id] = session
            return session.client("iam", config=self.client_config.merge(config) if config else self.client_config)

    def _assumed_session(self, account_id: str, sts: BaseClient) -> boto3.Session:
        """A session acting in ``account_id`` through its executor role, re-assumed before it expires."""
        params = {"RoleArn": self.executor_role_arn(account_id), "RoleSessionName": SESSION_NAME}
        external_id = self.external_id(account_id)
        if external_id:
            params["ExternalId"] = external_id

        def assume() -> dict[str, Any]:
            log.info("Assuming %s as session %s", params["RoleArn"], SESSION_NAME)
            credentials = sts.assume_role(**params)["Credentials"]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            assume(), refresh_using=assume, method=AssumedRoleCredentials.METHOD
        )
        core = botocore.session.Session()
        core.register_component("credential_provider", CredentialResolver([AssumedRoleCredentials(credentials)]))
        return boto3.Session(botocore_session=core, region_name=self.region)
