"""Policy catalog against moto with the AWS managed policies: search, ranking, caching, providers."""

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from bot.aws import AccountSessions
from bot.catalog import PoliciesNotFound, PolicyCatalog
from bot.config import Account
from bot.config import Executor as ExecutorSettings
from bot.sandbox.aws import add_identity_providers

HOME = "123456789012"
MEMBER = "210987654321"
REGION = "us-east-1"
DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """Records the IAM operations (and their parameters) of every client made from a session."""

    def __init__(self, session: boto3.Session) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        session.events.register("provide-client-params.iam", self)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self.lock:
            self.made.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.made]


@pytest.fixture(scope="module")
def aws() -> Iterator[boto3.Session]:
    """moto with the AWS managed policies, a customer managed policy and both kinds of provider."""
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        iam.create_policy(PolicyName="team-lambda-executor", PolicyDocument=DOCUMENT)
        add_identity_providers(iam)
        yield session


@pytest.fixture
def base_session(aws: boto3.Session) -> boto3.Session:
    """A session per test (event hooks stay in their test) sharing the loaded service models."""
    core = botocore.session.Session()
    core.register_component("data_loader", aws._session.get_component("data_loader"))
    return boto3.Session(botocore_session=core, region_name=REGION)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalog(base_session: boto3.Session, clock: Clock) -> PolicyCatalog:
    return PolicyCatalog(AccountSessions(ExecutorSettings(), [], base_session=base_session), clock=clock)


@pytest.fixture(scope="module")
def warm_catalog(aws: boto3.Session) -> PolicyCatalog:
    catalog = PolicyCatalog(AccountSessions(ExecutorSettings(), [], base_session=aws))
    catalog.warm(HOME).join()
    return catalog


def names(results: list[tuple[str, str]]) -> list[str]:
    return [arn.rsplit("/", 1)[1] for _, arn in results]


def join_refreshes() -> None:
    """Wait for the catalogue's refresh threads (not its document readers' pool, whose threads live on)."""
    for thread in threading.enumerate():
        if thread.name.startswith("catalog-") and not thread.name.startswith("catalog-documents"):
            thread.join(timeout=10)


def test_all_words_match_in_any_case_best_first(warm_catalog: PolicyCatalog) -> None:
    results = warm_catalog.search(HOME, "lambda exec")

    found = names(results)
    assert found[0] == "AWSLambdaExecute"
    assert "AWSLambdaBasicExecutionRole" in found
    assert "team-lambda-executor" in found
    assert all("lambda" in name.lower() and "exec" in name.lower() for name in found)
    assert warm_catalog.search(HOME, "LAMBDA  Exec") == results


def test_prefix_matches_come_first_then_shorter_names(warm_catalog: PolicyCatalog) -> None:
    found = names(warm_catalog.search(HOME, "lambda exec"))

    prefixed = [n for n in found if n.lower().removeprefix("aws").startswith("lambda")]
    assert found[: len(prefixed)] == prefixed
    assert found.index("team-lambda-executor") >= len(prefixed)
    assert [len(n) for n in prefixed] == sorted(len(n) for n in prefixed)


def test_customer_managed_policies_are_labelled_and_point_to_the_account(warm_catalog: PolicyCatalog) -> None:
    results = dict(warm_catalog.search(HOME, "team-lambda"))
    assert results == {"team-lambda-executor (customer managed)": f"arn:aws:iam::{HOME}:policy/team-lambda-executor"}


def test_limit_and_label_length(warm_catalog: PolicyCatalog) -> None:
    results = warm_catalog.search(HOME, "", limit=100)
    assert len(results) == 100
    assert all(len(label) <= 75 for label, _ in results)
    assert len(warm_catalog.search(HOME, "access", limit=7)) == 7
    assert warm_catalog.search(HOME, "no policy is called this") == []


def test_a_cold_cache_is_filled_with_list_policies_alone(base_session: boto3.Session, catalog: PolicyCatalog) -> None:
    calls = Calls(base_session)

    assert catalog.search(HOME, "ReadOnlyAccess")[0][0] == "ReadOnlyAccess"

    assert set(calls.names()) == {"ListPolicies"}
    assert all(params.get("Scope") == "All" for _, params in calls.made)
    assert len(calls.made) == 2  # ~1,580 policies in pages of 1,000


def test_concurrent_searches_on_a_cold_cache_fetch_once(base_session: boto3.Session, catalog: PolicyCatalog) -> None:
    calls = Calls(base_session)
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(len(catalog.search(HOME, "s3")))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 6 and len(set(answers)) == 1 and answers[0] > 0
    assert len([params for _, params in calls.made if "Marker" not in params]) == 1


def test_warm_fetches_in_the_background_so_searches_make_no_calls(
    base_session: boto3.Session, catalog: PolicyCatalog
) -> None:
    calls = Calls(base_session)
    catalog.warm(HOME).join()
    fetched = len(calls.made)

    catalog.search(HOME, "lambda")
    catalog.providers(HOME)

    assert fetched > 0
    assert len(calls.made) == fetched


def test_a_stale_cache_is_served_while_it_is_refreshed_in_the_background(
    aws: boto3.Session, catalog: PolicyCatalog, clock: Clock
) -> None:
    assert catalog.search(HOME, "made-later") == []
    aws.client("iam").create_policy(PolicyName="made-later", PolicyDocument=DOCUMENT)
    clock.now += 14 * 60
    assert catalog.search(HOME, "made-later") == []  # still fresh: no refresh

    clock.now += 2 * 60
    assert catalog.search(HOME, "made-later") == []  # stale: served at once, refreshed behind
    join_refreshes()

    assert names(catalog.search(HOME, "made-later")) == ["made-later"]


def test_a_failed_refresh_keeps_the_old_copy(base_session: boto3.Session, catalog: PolicyCatalog, clock: Clock) -> None:
    before = catalog.search(HOME, "lambda exec")
    body = b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>"

    class Body:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    denied: list[str] = []

    def deny(request: Any, **_: Any) -> AWSResponse:
        denied.append(request.url)
        request.url = "http://injected-fault.invalid/"  # keep moto from answering too
        return AWSResponse(request.url, 403, {}, Body())

    catalog.sessions.iam_client(HOME).meta.events.register("before-send.iam.ListPolicies", deny)
    clock.now += 16 * 60

    assert catalog.search(HOME, "lambda exec") == before
    join_refreshes()
    assert catalog.search(HOME, "lambda exec") == before
    join_refreshes()
    assert len(denied) == 1  # not tried again at once: AWS is not hammered on every keystroke

    clock.now += 61
    catalog.search(HOME, "lambda exec")
    join_refreshes()
    assert len(denied) == 2


def test_providers_lists_saml_and_oidc_arns(catalog: PolicyCatalog, base_session: boto3.Session) -> None:
    calls = Calls(base_session)

    providers = catalog.providers(HOME)
    providers["saml"].clear()  # the caller's copy; the cache is unaffected

    assert catalog.providers(HOME) == {
        "saml": [f"arn:aws:iam::{HOME}:saml-provider/Okta"],
        "oidc": [f"arn:aws:iam::{HOME}:oidc-provider/token.actions.githubusercontent.com"],
    }
    assert calls.names() == ["ListSAMLProviders", "ListOpenIDConnectProviders"]


def test_each_account_has_its_own_catalog(base_session: boto3.Session) -> None:
    sts = base_session.client("sts")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/setup", RoleSessionName="setup")["Credentials"]
    member = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client("iam")
    member.create_policy(PolicyName="member-only-policy", PolicyDocument=DOCUMENT)
    sessions = AccountSessions(ExecutorSettings(), [Account(id=MEMBER, name="member")], base_session=base_session)
    catalog = PolicyCatalog(sessions)

    assert catalog.search(MEMBER, "member-only") == [
        ("member-only-policy (customer managed)", f"arn:aws:iam::{MEMBER}:policy/member-only-policy")
    ]
    assert catalog.search(HOME, "member-only") == []
    assert catalog.search(MEMBER, "team-lambda") == []


# --- policy documents, for the review ------------------------------------------------------------

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
OWN = f"arn:aws:iam::{HOME}:policy/team-lambda-executor"


def test_documents_are_the_default_versions_read_once(base_session: boto3.Session, catalog: PolicyCatalog) -> None:
    calls = Calls(base_session)
    iam = base_session.client("iam")

    read = catalog.managed_policies(HOME, [SSM_CORE, OWN], wait_seconds=None)

    for arn in (SSM_CORE, OWN):
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        assert read[arn] is not None
        assert (read[arn].document, read[arn].version_id) == (version["Document"], policy["DefaultVersionId"])
        assert read[arn].pin == f"{policy['PolicyId']}:{policy['DefaultVersionId']}"
    made = len(calls.made)
    assert sorted(calls.names()[:4]) == ["GetPolicy", "GetPolicy", "GetPolicyVersion", "GetPolicyVersion"]
    assert catalog.managed_policies(HOME, [OWN, SSM_CORE]) == {OWN: read[OWN], SSM_CORE: read[SSM_CORE]}
    assert len(calls.made) == made


def test_warm_reads_the_accounts_own_policies(base_session: boto3.Session, catalog: PolicyCatalog) -> None:
    catalog.warm(HOME).join()
    calls = Calls(base_session)
    assert catalog.managed_policies(HOME, [OWN], wait_seconds=0)[OWN] is not None
    assert calls.made == []


def test_a_policy_iam_does_not_know_is_refused(catalog: PolicyCatalog) -> None:
    missing = f"arn:aws:iam::{HOME}:policy/made-up"
    with pytest.raises(PoliciesNotFound) as raised:
        catalog.managed_policies(HOME, [SSM_CORE, missing])
    assert raised.value.arns == [missing]


def test_a_slow_read_is_unread_now_and_cached_for_next_time(catalog: PolicyCatalog) -> None:
    released = threading.Event()

    def held(**_: Any) -> None:  # returns None: a value would be taken as IAM's answer
        released.wait(30)

    catalog.sessions.iam_client(HOME).meta.events.register("before-send.iam.GetPolicyVersion", held)
    try:  # IAM doesn't answer until released: the call returns without the document
        assert catalog.managed_policies(HOME, [SSM_CORE], wait_seconds=0.1) == {SSM_CORE: None}
    finally:
        released.set()
    catalog.wait_for_reads()
    assert catalog.managed_policies(HOME, [SSM_CORE], wait_seconds=0)[SSM_CORE] is not None


def test_a_stale_document_is_served_and_read_again(aws: boto3.Session, catalog: PolicyCatalog, clock: Clock) -> None:
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName="changes-later", PolicyDocument=DOCUMENT)["Policy"]["Arn"]
    first = catalog.managed_policies(HOME, [arn])[arn]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOCUMENT.replace("s3:*", "iam:*"), SetAsDefault=True)
    clock.now += 16 * 60

    assert catalog.managed_policies(HOME, [arn])[arn] == first
    catalog.wait_for_reads()
    again = catalog.managed_policies(HOME, [arn])[arn]
    assert again is not None and again.version_id == "v2" and again.document["Statement"][0]["Action"] == "iam:*"
