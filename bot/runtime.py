"""Wires the bot together from its configuration: store, workflow, AWS, Slack client, listeners."""

import gc
import threading
from concurrent.futures import Executor as ThreadExecutor
from dataclasses import dataclass

import boto3
from slack_bolt import App
from slack_sdk import WebClient

from bot.analyzer import AccessAnalyzer, NoNewAccess
from bot.app import build_app, web_client
from bot.aws import AccountSessions
from bot.catalog import PolicyCatalog
from bot.choices import Choices
from bot.config import Config
from bot.database import open_store
from bot.directory import UsergroupMembers
from bot.executor import Executor
from bot.git_export import GitRepository
from bot.intake import Intake
from bot.metrics import render
from bot.notifier import Notifier
from bot.presenter import Presenter
from bot.role_code import RoleCode
from bot.role_names import ExistingRoles
from bot.service import RoleBot
from bot.store import Store
from bot.workflow import Workflow


@dataclass
class Runtime:
    """Every long-lived part of a running bot."""

    config: Config
    store: Store
    workflow: Workflow
    sessions: AccountSessions
    catalog: PolicyCatalog
    client: WebClient
    bot: RoleBot
    app: App
    warming: list[threading.Thread]
    """Background fetches of each account's policy catalogue started with the bot (none without ``warm_catalog``)."""

    def metrics(self) -> bytes:
        """``GET /metrics``: the process's metrics, the database's requests by status and its open drift reports."""
        return render(self.store.count, lambda: len(self.store.open_drift_reports()))


def build_runtime(
    config: Config,
    *,
    client: WebClient | None = None,
    aws_session: boto3.Session | None = None,
    sandbox: bool = False,
    listener_executor: ThreadExecutor | None = None,
    warm_catalog: bool = True,
) -> Runtime:
    """Build the bot; ``client``, ``aws_session`` and ``listener_executor`` replace the defaults.

    ``warm_catalog`` fetches every account's policy catalogue in the background now, so the form's
    first policy search is instant; without it the first search fetches it (ListPolicies alone). On
    moto that fetch lists ~1,500 AWS managed policies, which tests that never search can skip.
    """
    client = client or web_client(config.settings)
    bot = build_bot(config, client=client, aws_session=aws_session, sandbox=sandbox)
    catalog = bot.choices.catalog
    warming = [catalog.warm(account_id) for account_id in bot.choices.account_ids()] if warm_catalog else []
    app = build_app(config.settings, client, bot, listener_executor)
    return Runtime(config, bot.store, bot.workflow, bot.executor.sessions, catalog, client, bot, app, warming)


def build_bot(
    config: Config, *, client: WebClient | None = None, aws_session: boto3.Session | None = None, sandbox: bool = False
) -> RoleBot:
    """The bot without Bolt: for commands that act but serve nothing (``drift check``)."""
    settings = config.settings
    client = client or web_client(settings)
    store = open_store(settings)
    usergroup_members = UsergroupMembers(client)
    group = config.policy.approvals.approver_usergroup
    if group:
        usergroup_members.warm(group)
    workflow = Workflow(store, config, usergroup_members=usergroup_members, lease_seconds=settings.job_lease_seconds)
    sessions = AccountSessions(
        config.policy.executor, config.policy.accounts, base_session=aws_session, region=settings.aws_region
    )
    catalog = PolicyCatalog(sessions)
    identity = sessions.identity
    choices = Choices(config, catalog, home_account_id=identity.account_id, partition=identity.partition)
    presenter = Presenter(
        store=store, config=config, choices=choices, approvers_for=workflow.approvers_for, sandbox=sandbox
    )
    intake = Intake(
        config,
        choices,
        validate_policy=None if sandbox else AccessAnalyzer(sessions.base_session, region=settings.aws_region),
        role_taken=ExistingRoles(sessions).taken,
        check_no_new_access=None if sandbox else NoNewAccess(sessions.base_session, region=settings.aws_region),
    )
    notifier = Notifier(client, store=store, config=config, presenter=presenter)
    export = config.policy.export
    bot = RoleBot(
        store=store,
        workflow=workflow,
        executor=Executor(sessions),
        notifier=notifier,
        intake=intake,
        presenter=presenter,
        role_code=RoleCode(store, notifier, GitRepository(export) if export.repository else None),
    )
    return bot


def freeze_startup_objects() -> None:
    """Leave what start-up loaded out of the garbage collector's full passes; call once, ready to serve.

    Start-up loads some 100,000 long-lived objects (AWS service models, the review's IAM data, Bolt,
    pydantic) and every full collection walked them all, holding the GIL for 40-100 ms on whichever
    thread triggered it, so now and then an ack waited that long (bench/ack_latency.py). Objects made
    later are collected as before.
    """
    gc.collect()
    gc.freeze()
