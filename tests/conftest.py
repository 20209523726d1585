"""Shared fixtures: fake AWS credentials so nothing can reach a real account, and the end-to-end stack.

The end-to-end fixtures run the bot as in production: Slack's signed requests over HTTP, its Web API
calls to a recording ``FakeSlack``, AWS = a moto server over HTTP, SQLite a real file. Every stack
made through ``make_stack`` has, at teardown, every message and view the bot sent (and every
message it answered over HTTP) checked against Slack's Block Kit limits.
"""

import copy
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.hooks import HierarchicalEmitter
from botocore.loaders import Loader
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator

from bot.runtime import freeze_startup_objects
from bot.sandbox.aws import GITHUB_HOST, add_identity_providers, lighten_moto
from bot.sandbox.stack import BotStack
from bot.store import Store
from bot.store_postgres import PostgresStore
from tests.e2e import APPROVER, SECOND_APPROVER, RecordingDriver, limit_problems, moto_server
from tests.postgres import Cluster, start_cluster

lighten_moto()  # in-process moto (mock_aws, the replicas' server): see its docstring


LONGEST_MODULES_FIRST = [
    "tests/test_workflow.py",
    "tests/test_replicas.py",
    "tests/test_logging.py",
    "tests/test_slack_behaviour.py",
    "tests/test_executor.py",
    "tests/test_export.py",
    "tests/test_domain_properties.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the modules that take longest first (measured wall time, longest first), the rest in collection order.

    The suite runs with ``-n 3 --dist loadfile --no-loadscope-reorder``: each worker takes the next whole module
    in this order when it runs out of work, so the long ones start early and the short ones fill in at the end.
    xdist's own reordering (most tests first) put test_replicas, one 11 s test, last: one worker ran it alone
    for its last ~8 s.
    """
    rank = {path: position for position, path in enumerate(LONGEST_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what importing and collecting made (modules, service models, the test items) out of the garbage
    collector's full passes, as ``serve`` does at start-up: each pass walked it all again, holding the GIL
    (five heavy modules: 24.4 s -> 22.5 s CPU, 51 s -> 42 s wall)."""
    freeze_startup_objects()


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with made-up credentials and no profile, whatever the machine has."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server over HTTP with the AWS managed policies, as production talks to AWS (one per test process).

    It runs in a process of its own, as AWS would: the in-process moto that other modules start
    (``mock_aws``) resets every backend of this interpreter when it starts and stops, which would
    wipe the server's accounts and make it load its ~1,500 managed policies again.
    """
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def empty_account(iam: Any) -> None:
    """Remove what earlier tests made (faster than resetting moto, which reloads ~1,500 policies)."""
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        for role in profile["Roles"]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=role["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=profile["InstanceProfileName"])
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        iam.delete_policy(PolicyArn=policy["Arn"])
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
    for provider in iam.list_saml_providers()["SAMLProviderList"]:
        iam.delete_saml_provider(SAMLProviderArn=provider["Arn"])


IDENTITY_PROVIDERS = {f"oidc-provider/{GITHUB_HOST}", "saml-provider/Okta"}  # what add_identity_providers makes


def as_set_up(iam: Any) -> bool:
    """Whether the account holds exactly what ``aws`` sets up: no role, instance profile or customer managed policy
    (GetAccountSummary counts them) and the two identity providers. Three calls; emptying and setting up again
    takes seven (~7 ms each on the moto server), and most tests leave the account as they found it."""
    summary = iam.get_account_summary()["SummaryMap"]
    if (summary["Roles"], summary["InstanceProfiles"], summary["Policies"], summary["Providers"]) != (0, 0, 0, 2):
        return False
    oidc = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    saml = [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    return {arn.split(":", 5)[5] for arn in oidc + saml} == IDENTITY_PROVIDERS


@pytest.fixture(scope="session")
def botocore_loader() -> Loader:
    """One botocore data loader for the test process: a session of its own per test keeps event hooks
    from leaking between tests, and sharing the loader spares each one parsing the service models
    (IAM's, STS's, Access Analyzer's, endpoints) again, most of a new client's cost."""
    return botocore.session.Session().get_component("data_loader")


@functools.cache
def builtin_event_hooks() -> HierarchicalEmitter:
    """botocore's built-in event handlers (~250 of them), registered once: each new session gets a copy, which
    costs a tenth of registering them again (~3.5 ms of CPU per test)."""
    hooks = HierarchicalEmitter()
    botocore.session.Session(event_hooks=hooks)  # registers the built-in handlers on ``hooks``
    return hooks


def session_sharing(loader: Loader) -> boto3.Session:
    """A new boto3 session (its own events, credentials, clients) reading service models through ``loader``.

    Its event hooks are a copy of ``builtin_event_hooks()``, as botocore copies a session's for each client:
    what a test registers stays in its own session."""
    core = botocore.session.Session(event_hooks=copy.copy(builtin_event_hooks()), include_builtin_handlers=False)
    core.register_component("data_loader", loader)
    return boto3.Session(botocore_session=core, region_name="us-east-1")


@pytest.fixture(scope="module")
def moto_iam(moto_endpoint: str, botocore_loader: Loader) -> Any:
    """An IAM client of the moto server's account, made once per module (a module may have a server of its own:
    tests/test_slack_home.py), for the fixtures that empty and seed it."""
    return session_sharing(botocore_loader).client(
        "iam", endpoint_url=moto_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def aws(moto_endpoint: str, moto_iam: Any, botocore_loader: Loader, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """An empty account on the moto server, with a GitHub OIDC and a SAML provider; the session is the test's own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    if not as_set_up(moto_iam):
        empty_account(moto_iam)
        add_identity_providers(moto_iam)
    return session_sharing(botocore_loader)


QUICK_RETRY = FixedValueRetryIntervalCalculator(0.01)


@pytest.fixture
def make_stack(tmp_path: Path, aws: boto3.Session) -> Iterator[Callable[..., BotStack]]:
    """``make_stack(**kwargs)``: a started ``BotStack`` on the test's moto account and database file.

    The policy catalogue is not fetched at start (``warm_catalog=False``): listing moto's ~1,500
    managed policies took most of each stack's start and close, and only the options searches read
    it (tests/test_slack_options.py turns it on). The Web API client retries a 5xx or a dropped connection
    after 10 ms (``QUICK_RETRY``), not after production's 0.5-1.5 s and 1-2 s, with the same number of tries.

    At teardown each stack is closed, then everything its bot sent to Slack (Web API calls and HTTP
    answers) is checked against Slack's limits.
    """
    stacks: list[BotStack] = []

    def make(**kwargs: Any) -> BotStack:
        options = {
            "approvers": [APPROVER, SECOND_APPROVER],
            "aws_session": aws,
            "sandbox": False,
            "warm_catalog": False,
            "slack_retry_interval": QUICK_RETRY,
            **kwargs,
        }
        made = BotStack(tmp_path, **options)
        made.driver = RecordingDriver(made.url, made.signing_secret)
        stacks.append(made)
        return made

    yield make
    problems: list[str] = []
    for made in stacks:
        made.close()
        problems += limit_problems(made)
    assert not problems, "the bot sent Slack something over its limits:\n" + "\n".join(problems)


@pytest.fixture
def stack(make_stack: Callable[..., BotStack]) -> BotStack:
    return make_stack()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for this test process (each xdist worker starts its own)."""
    cluster = start_cluster()
    yield cluster
    cluster.stop()


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """``open_store(**kwargs)``: the test's own database, opened again on each call (a restart), on each engine.

    SQLite: a file in the test's directory. PostgreSQL: the session cluster's migrated schema, emptied
    (``Cluster.emptied_migrated_schema``).
    Every store opened is closed at teardown.
    """
    if request.param == "sqlite":
        location: str | Path = tmp_path / "bot.db"
        engine: Callable[..., Store] = Store
    else:
        location = request.getfixturevalue("postgres").emptied_migrated_schema()
        engine = PostgresStore
    opened: list[Store] = []

    def open_again(**kwargs: Any) -> Store:
        opened.append(engine(location, **kwargs))
        return opened[-1]

    yield open_again
    for store in opened:
        store.close()
