"""Executor and account sessions against moto: every role type end to end, failure injection with
botocore event hooks (throttling, errors after CreateRole, crashes), cross-account, HTTP, and retiring
a role (what the approver is shown, AWS's deletion order, roles the bot did not make, a retry)."""

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from bot.aws import SESSION_NAME, AccountSessions
from bot.config import Account
from bot.config import Executor as ExecutorSettings
from bot.domain import Limits, RoleRequest, parse_role_request
from bot.domain.retire import InstanceProfile
from bot.domain.urls import switch_role_url
from bot.executor import PROVENANCE_KEYS, Executor, ProvisioningError, explain
from bot.executor.iam import owner_tag
from bot.sandbox.aws import add_identity_providers

HOME = "123456789012"
MEMBER = "210987654321"
REGION = "us-east-1"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
BOUNDARY = "arn:aws:iam::aws:policy/PowerUserAccess"
SAML_PROVIDER = f"arn:aws:iam::{HOME}:saml-provider/Okta"
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
NAMES = itertools.count()


class Crash(Exception):
    """Stands for the process dying mid-plan: not an AWS error, so nothing is rolled back."""


class Body:
    """The raw body of a fake HTTP response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def aws_error(code: str, message: str, status: int = 400) -> Callable[[AWSPreparedRequest], AWSResponse]:
    """A response IAM would send for ``code`` (an IAM query-protocol error document)."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>injected</RequestId></ErrorResponse>"
    ).encode()
    return lambda request: AWSResponse(request.url, status, {}, Body(body))


def crash(*_: Any) -> None:
    raise Crash


class Fault:
    """Answers the chosen calls (1-based) of one IAM operation with ``answer``; counts all calls.

    Registered on the events of the IAM client the executor acts with (``iam_client``: made once
    per account, then reused), before the calls it is for; boto3 says a client with custom hooks is
    thread-safe only after careful review, and this hook counts under a lock.
    botocore still calls moto's own ``before-send`` handler after this one; unless ``lands``, the
    request's URL is changed so that moto ignores it and the call has no effect, as when AWS refuses.
    With ``lands``, moto carries the call out and only its answer is replaced (a lost answer).
    ``event="after-call"`` runs ``answer`` after a call that succeeded (to crash there).
    """

    def __init__(
        self,
        client: Any,
        operation: str,
        answer: Callable[..., AWSResponse | None],
        on: set[int] | None = None,
        *,
        event: str = "before-send",
        lands: bool = False,
    ) -> None:
        self.answer = answer
        self.on = on
        self.lands = lands
        self.calls = 0
        self.lock = threading.Lock()
        client.meta.events.register(f"{event}.iam.{operation}", self)

    def __call__(self, request: AWSPreparedRequest | None = None, **_: Any) -> AWSResponse | None:
        with self.lock:
            self.calls += 1
            call = self.calls
        if self.on is not None and call not in self.on:
            return None
        response = self.answer(request)
        if request is not None and response is not None and not self.lands:
            request.url = "http://injected-fault.invalid/"
        return response


@pytest.fixture(scope="module")
def aws() -> Iterator[boto3.Session]:
    """One moto with the AWS managed policies (loading them costs ~2 s), plus the SAML and OIDC providers.

    Yields a session whose botocore loader the tests' sessions share: parsing IAM's service model
    again for every session would cost ~70 ms each.
    """
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        add_identity_providers(iam)
        yield session


@pytest.fixture(scope="module")
def iam(aws: boto3.Session) -> Any:
    """An IAM client of the home account, without any test's event hooks."""
    return aws.client("iam")


def new_session(loader_from: boto3.Session) -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", loader_from._session.get_component("data_loader"))
    return boto3.Session(botocore_session=core, region_name=REGION)


@pytest.fixture
def base_session(aws: boto3.Session) -> boto3.Session:
    """A session of its own per test, so event hooks don't leak between tests."""
    return new_session(aws)


@pytest.fixture
def executor(base_session: boto3.Session) -> Executor:
    sessions = AccountSessions(ExecutorSettings(), [], base_session=base_session, region=REGION)
    return Executor(sessions)


@pytest.fixture
def home_iam(executor: Executor) -> Any:
    """The IAM client the executor acts with in the home account (the one faults are injected into)."""
    return executor.sessions.iam_client(HOME)


@pytest.fixture
def name() -> str:
    """A role name no other test uses (moto's state is shared across the module)."""
    return f"role-{next(NAMES)}"


def request_id() -> str:
    return f"req-{next(NAMES)}"


def user_request(name: str, **extra: Any) -> RoleRequest:
    return parse_role_request(
        {
            "role_type": "user",
            "account_id": HOME,
            "justification": "on-call access",
            "role_name": name,
            "path": "/team/",
            "description": "Read-only access for on-call",
            "max_session_duration": 7200,
            "trusted_account_ids": ["111122223333"],
            "external_id": "ext-123",
            "require_mfa": True,
            "managed_policy_arns": [READ_ONLY],
            "inline_policy": INLINE,
            "permissions_boundary_arn": BOUNDARY,
            "tags": {"team": "platform", "cost-center": "42"},
            **extra,
        }
    )


def ec2_request(name: str, **extra: Any) -> RoleRequest:
    return parse_role_request(
        {
            "role_type": "service",
            "account_id": HOME,
            "justification": "web servers",
            "role_name": name,
            "service_principal": "ec2.amazonaws.com",
            "managed_policy_arns": [READ_ONLY, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
            "inline_policy": INLINE,
            "permissions_boundary_arn": BOUNDARY,
            **extra,
        }
    )


REQUESTS: dict[str, Callable[[str], RoleRequest]] = {
    "user": user_request,
    "service-ec2": ec2_request,
    "service-lambda": lambda name: parse_role_request(
        {
            "role_type": "service",
            "account_id": HOME,
            "justification": "a function",
            "role_name": name,
            "service_principal": "lambda.amazonaws.com",
            "managed_policy_arns": [LAMBDA_BASIC],
        }
    ),
    "saml": lambda name: parse_role_request(
        {
            "role_type": "saml",
            "account_id": HOME,
            "justification": "SSO users",
            "role_name": name,
            "provider_arn": SAML_PROVIDER,
            "managed_policy_arns": [READ_ONLY],
            "max_session_duration": 43200,
        }
    ),
    "oidc": lambda name: parse_role_request(
        {
            "role_type": "oidc",
            "account_id": HOME,
            "justification": "deploys",
            "role_name": name,
            "github_repo": "acme/web",
            "github_ref_type": "environment",
            "github_ref": "prod",
            "inline_policy": INLINE,
        }
    ),
    "custom": lambda name: parse_role_request(
        {
            "role_type": "custom",
            "account_id": HOME,
            "justification": "break glass",
            "role_name": name,
            "trust_policy_document": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{HOME}:role/admin"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "managed_policy_arns": [READ_ONLY],
        }
    ),
}
PEOPLE_ASSUME = {"user", "custom"}


def actual(iam: Any, name: str) -> dict[str, Any]:
    """Everything about the role in AWS that the request decides (lists kept as lists: no hidden duplicates)."""
    role = iam.get_role(RoleName=name)["Role"]
    policy_names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    return {
        "path": role["Path"],
        "trust": role["AssumeRolePolicyDocument"],
        "description": role.get("Description") or "",
        "max_session_duration": role["MaxSessionDuration"],
        "boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        "tags": sorted((tag["Key"], tag["Value"]) for tag in iam.list_role_tags(RoleName=name)["Tags"]),
        "managed": sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
        "inline": {n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"] for n in policy_names},
        "profiles": [
            (profile["InstanceProfileName"], [r["RoleName"] for r in profile["Roles"]])
            for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        ],
    }


def expected(request: Any, request_id: str, requester: str, approvers: list[str]) -> dict[str, Any]:
    provenance = [
        (PROVENANCE_KEYS[0], request_id),
        (PROVENANCE_KEYS[1], requester),
        (PROVENANCE_KEYS[2], " ".join(approvers)),
    ]
    return {
        "path": request.path,
        "trust": request.trust_policy(),
        "description": request.description,
        "max_session_duration": request.max_session_duration,
        "boundary": request.permissions_boundary_arn,
        "tags": sorted([(tag.key, tag.value) for tag in request.tags] + provenance),
        "managed": sorted(request.managed_policy_arns),
        "inline": {request.inline_policy_name: request.inline_policy} if request.inline_policy else {},
        "profiles": [(request.role_name, [request.role_name])] if request.needs_instance_profile else [],
    }


def leftovers(iam: Any, name: str) -> list[str]:
    """What exists of a role and its instance profile (empty: nothing left behind)."""
    found = []
    for what, call, params in (
        ("role", iam.get_role, {"RoleName": name}),
        ("instance profile", iam.get_instance_profile, {"InstanceProfileName": name}),
    ):
        try:
            call(**params)
            found.append(what)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "NoSuchEntity"
    return found


NONCE = "5f0c3a9e2b7d41f8a6c0e9d3b2a17f64"
"""A request's secret (``RequestRecord.provenance_nonce``), as every request stored since nonces has."""


def provision(executor: Executor, request: RoleRequest, rid: str) -> Any:
    """Carry out a request with its nonce, as the bot does."""
    return executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1", "U0APP2"], nonce=NONCE)


def owned(rid: str) -> str:
    """The request-id tag ``provision`` writes."""
    return owner_tag(rid, NONCE)


# --- every role type, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_each_role_type_is_created_exactly_as_requested(executor: Executor, name: str, kind: str, iam: Any) -> None:
    request = REQUESTS[kind](name)
    rid = request_id()

    result = provision(executor, request, rid)

    assert actual(iam, name) == expected(request, owned(rid), "U0REQ", ["U0APP1", "U0APP2"])
    assert result.role_arn == iam.get_role(RoleName=name)["Role"]["Arn"]
    assert result.role_name == name
    if request.needs_instance_profile:
        assert (
            result.instance_profile_arn == iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        )
    else:
        assert result.instance_profile_arn is None
    assert (result.switch_role_url is not None) == (kind in PEOPLE_ASSUME)
    assert result.to_dict()["role_arn"] == result.role_arn


def test_instance_profile_carries_the_provenance_tags(executor: Executor, name: str, iam: Any) -> None:
    rid = request_id()
    provision(executor, ec2_request(name), rid)
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert {tag["Key"]: tag["Value"] for tag in profile["Tags"]}[PROVENANCE_KEYS[0]] == owned(rid)


def test_switch_role_link_names_path_account_and_role(name: str) -> None:
    url = switch_role_url(user_request(name))
    assert url is not None
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://signin.aws.amazon.com/switchrole"
    query = parse_qs(parts.query)
    assert query["roleName"] == [f"team/{name}"]
    assert query["account"] == [HOME]
    assert name in query["displayName"][0]


@pytest.mark.parametrize(
    ("partition", "host"),
    [("aws-cn", "signin.amazonaws.cn"), ("aws-us-gov", "signin.amazonaws-us-gov.com")],
)
def test_switch_role_link_uses_the_console_of_the_partition(name: str, partition: str, host: str) -> None:
    url = switch_role_url(
        user_request(name, partition=partition, managed_policy_arns=[], permissions_boundary_arn=None)
    )
    assert url is not None and urlsplit(url).netloc == host


def test_no_switch_role_link_when_path_and_name_exceed_64_characters() -> None:
    request = user_request("r" * 55, path="/platform/")
    assert len(request.path) + len(request.role_name) == 65
    assert switch_role_url(request) is None
    assert switch_role_url(user_request("r" * 54, path="/platform/")) is not None


def test_provenance_tags_join_approvers_with_spaces_and_refuse_bad_values(executor: Executor) -> None:
    tags = executor.provenance_tags("42", "U1", ["U2", "U3"])
    assert tags == {PROVENANCE_KEYS[0]: "42", PROVENANCE_KEYS[1]: "U1", PROVENANCE_KEYS[2]: "U2 U3"}
    with pytest.raises(ValueError, match="tag"):
        executor.provenance_tags("42", "U1", ["U2,U3"])


# --- pre-checks: errors surface before side effects --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "change", "problem"),
    [
        ("user", {"managed_policy_arns": ["arn:aws:iam::aws:policy/NoSuchPolicy"]}, "managed policy"),
        ("user", {"permissions_boundary_arn": f"arn:aws:iam::{HOME}:policy/missing-boundary"}, "boundary"),
        ("saml", {"provider_arn": f"arn:aws:iam::{HOME}:saml-provider/Missing"}, "SAML provider"),
        ("oidc", {"github_repo": None, "provider": "oidc.example.com", "subjects": ["app"]}, "OIDC provider"),
    ],
)
def test_missing_references_are_reported_before_anything_is_created(
    executor: Executor, name: str, kind: str, change: dict[str, Any], problem: str, iam: Any
) -> None:
    data = {**REQUESTS[kind](name).model_dump(), **change}
    if kind == "oidc":
        data.update(github_ref_type=None, github_ref=None)
    request = parse_role_request(data)
    rid = request_id()

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, rid)

    assert caught.value.step == "preflight"
    assert problem in caught.value.message and HOME in caught.value.message
    assert leftovers(iam, name) == []


def pinned_request(name: str, iam: Any, arn: str) -> Any:
    """A user role request with ``arn`` attached, pinned as the review read it (id and default version)."""
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    request = user_request(name, managed_policy_arns=[arn])
    return request.pinned({arn: f"{policy['PolicyId']}:{policy['DefaultVersionId']}"})


def test_a_managed_policy_is_attached_only_while_it_is_what_was_approved(
    executor: Executor, name: str, iam: Any
) -> None:
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(INLINE))["Policy"]["Arn"]
    request = pinned_request(name, iam, arn)
    assert "(default version v1)" in request.plan()[1].describe()
    broader = json.dumps({**INLINE, "Statement": [{**INLINE["Statement"][0], "Action": "*"}]})
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=broader, SetAsDefault=True)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert caught.value.step == "preflight"
    assert "its default version is now v2, not v1" in caught.value.message
    assert "Submit the request again" in caught.value.message
    assert leftovers(iam, name) == []

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    provision(executor, request, request_id())
    assert actual(iam, name)["managed"] == [arn]


def test_a_managed_policy_deleted_and_made_again_is_not_what_was_approved(
    executor: Executor, name: str, iam: Any
) -> None:
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(INLINE))["Policy"]["Arn"]
    request = pinned_request(name, iam, arn)
    iam.delete_policy(PolicyArn=arn)
    iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(INLINE))

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert caught.value.step == "preflight" and "it was deleted and made again" in caught.value.message
    assert leftovers(iam, name) == []


def test_the_accounts_real_quota_is_checked_before_anything_is_created(executor: Executor, name: str, iam: Any) -> None:
    arns = [policy["Arn"] for policy in iam.list_policies(Scope="AWS", MaxItems=12)["Policies"]]
    data = {**user_request(name).model_dump(), "managed_policy_arns": arns}
    request = parse_role_request(data, Limits(managed_policies_per_role=20))

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert caught.value.step == "preflight"
    assert caught.value.message == "This account allows 10 managed policies per role; the request has 12."
    assert leftovers(iam, name) == []


def test_the_pre_checks_are_made_at_once(executor: Executor, home_iam: Any, name: str, iam: Any) -> None:
    """Each lookup waits until all four have been sent: made one after another, they would never all arrive."""
    arrived = threading.Barrier(4, timeout=5)  # GetRole, two GetPolicy (policy, boundary), GetAccountSummary
    waited = itertools.count()

    def wait_for_the_others(**_: Any) -> None:
        if next(waited) < arrived.parties:  # the pre-checks; the waiter's GetRole comes later
            arrived.wait()

    for operation in ("GetRole", "GetPolicy", "GetAccountSummary"):
        home_iam.meta.events.register(f"before-send.iam.{operation}", wait_for_the_others)
    request = user_request(name)
    assert len(request.managed_policy_arns) == 1 and request.permissions_boundary_arn
    rid = request_id()

    provision(executor, request, rid)

    assert next(waited) == arrived.parties + 1
    assert actual(iam, name) == expected(request, owned(rid), "U0REQ", ["U0APP1", "U0APP2"])


def test_pre_check_problems_are_told_in_the_requests_order_whatever_answers_first(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    first, second = (f"arn:aws:iam::{HOME}:policy/missing-{n}" for n in (1, 2))
    boundary = f"arn:aws:iam::{HOME}:policy/missing-boundary"

    def first_answers_last(request: AWSPreparedRequest, **_: Any) -> None:
        if "missing-1" in str(request.body):
            time.sleep(0.3)

    home_iam.meta.events.register("before-send.iam.GetPolicy", first_answers_last)
    data = {
        **user_request(name).model_dump(),
        "managed_policy_arns": [first, second],
        "permissions_boundary_arn": boundary,
    }

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, parse_role_request(data), request_id())

    assert caught.value.message == (
        f"The managed policy {first} does not exist in account {HOME}. "
        f"The managed policy {second} does not exist in account {HOME}. "
        f"The permissions boundary {boundary} does not exist in account {HOME}."
    )
    assert leftovers(iam, name) == []


def test_iam_is_asked_to_show_the_role_while_the_later_steps_are_made(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    """The inline policy is held until the waiter's GetRole is sent: waited for at the end, it never would be."""
    waiter_asked = threading.Event()
    get_roles = itertools.count()
    held: list[bool] = []

    def note_the_waiters_get_role(**_: Any) -> None:
        if next(get_roles) == 1:  # the first GetRole is the pre-check's
            waiter_asked.set()

    home_iam.meta.events.register("before-send.iam.GetRole", note_the_waiters_get_role)
    home_iam.meta.events.register("before-send.iam.PutRolePolicy", lambda **_: held.append(waiter_asked.wait(5)))
    rid = request_id()

    provision(executor, ec2_request(name), rid)

    assert held == [True]
    assert actual(iam, name) == expected(ec2_request(name), owned(rid), "U0REQ", ["U0APP1", "U0APP2"])


def test_a_role_the_bot_did_not_make_is_never_adopted_or_changed(executor: Executor, name: str, iam: Any) -> None:
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": "owner", "Value": "bob"}])
    before = actual(iam, name)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, user_request(name), request_id())

    assert caught.value.step == "preflight"
    assert f"A role named {name} already exists" in caught.value.message
    assert "will not adopt or change it" in caught.value.message
    assert actual(iam, name) == before


def test_a_role_made_for_another_request_is_not_taken_over(executor: Executor, name: str, iam: Any) -> None:
    first = request_id()
    provision(executor, ec2_request(name), first)
    before = actual(iam, name)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, ec2_request(name), request_id())

    assert f"its tag names request {first}" in caught.value.message
    assert "An instance profile named" in caught.value.message
    assert actual(iam, name) == before


FOREIGN_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}
    ],
}


def pre_created(iam: Any, request: Any, owner: str, **change: Any) -> None:
    """Someone else's role of the request's name, tagged ``owner``: the plan's CreateRole with ``change``."""
    params = {**request.plan()[0].params, "Tags": [{"Key": PROVENANCE_KEYS[0], "Value": owner}], **change}
    iam.create_role(**{key: value for key, value in params.items() if value is not None})


@pytest.mark.parametrize(
    ("tag", "change", "problem"),
    [
        (
            "guessed id",
            {"AssumeRolePolicyDocument": json.dumps(FOREIGN_TRUST), "PermissionsBoundary": None},
            "not made",
        ),
        ("guessed id", {}, "not made"),
        ("id and nonce", {"AssumeRolePolicyDocument": json.dumps(FOREIGN_TRUST)}, "its trust policy differs"),
        ("id and nonce", {"PermissionsBoundary": None}, "its permissions boundary differs"),
        ("id and nonce", {"Path": "/elsewhere/"}, "its path differs"),
    ],
)
def test_a_pre_created_role_is_adopted_only_with_the_nonce_and_the_planned_settings(
    executor: Executor, name: str, iam: Any, tag: str, change: dict[str, Any], problem: str
) -> None:
    """A role pre-created with the (sequential, guessable) request id in the tag is someone else's; with the
    secret nonce it is the bot's own half-made role only if it is what the plan makes."""
    request, rid = user_request(name), request_id()
    pre_created(iam, request, rid if tag == "guessed id" else f"{rid}:{NONCE}", **change)
    before = actual(iam, name)

    with pytest.raises(ProvisioningError) as caught:
        executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce=NONCE)

    assert caught.value.step == "preflight"
    assert problem in caught.value.message and "will not adopt or change it" in caught.value.message
    assert NONCE not in caught.value.message
    assert actual(iam, name) == before


def test_a_request_without_a_nonce_adopts_no_role_carrying_its_bare_id(executor: Executor, name: str, iam: Any) -> None:
    """A request stored before nonces has a guessable tag (its sequential id): a role pre-created with it, exactly
    as the plan makes it (so it passes every other check), is still not taken for the bot's own."""
    request, rid = ec2_request(name), request_id()
    pre_created(iam, request, rid)
    before = actual(iam, name)

    with pytest.raises(ProvisioningError) as caught:
        executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce="")

    assert caught.value.step == "preflight"
    assert "stored before the bot's tags held a secret" in caught.value.message
    assert actual(iam, name) == before  # neither adopted nor rolled back


def test_a_request_without_a_nonce_neither_adopts_nor_deletes_a_role_appearing_during_create_role(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    """Someone creates the role with the bare id's tag between the bot's look and its CreateRole: the bot's
    EntityAlreadyExists is not taken for a lost answer, and its rollback leaves the role it didn't make alone."""
    request, rid = user_request(name), request_id()
    Fault(home_iam, "CreateRole", lambda _: pre_created(iam, request, rid), {1})

    with pytest.raises(ProvisioningError) as caught:
        executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce="")

    assert caught.value.code == "EntityAlreadyExists"
    assert "The bot had made nothing" in caught.value.message
    assert leftovers(iam, name) == ["role"]


def test_a_request_without_a_nonce_still_rolls_back_what_it_made(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    Fault(home_iam, "AddRoleToInstanceProfile", aws_error("AccessDenied", "User is not authorized", 403), {1})

    with pytest.raises(ProvisioningError) as caught:
        executor.provision(ec2_request(name), request_id=request_id(), requester="U0REQ", approvers=["U1"], nonce="")

    assert "nothing is left behind" in caught.value.message
    assert leftovers(iam, name) == []


def test_a_role_with_the_nonce_and_a_policy_the_plan_lacks_is_not_adopted(
    executor: Executor, name: str, iam: Any
) -> None:
    request, rid = user_request(name), request_id()
    pre_created(iam, request, f"{rid}:{NONCE}")
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    broader = {**INLINE, "Statement": [{**INLINE["Statement"][0], "Action": "s3:*"}]}
    iam.put_role_policy(RoleName=name, PolicyName=request.inline_policy_name, PolicyDocument=json.dumps(broader))
    before = actual(iam, name)

    with pytest.raises(ProvisioningError) as caught:
        executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce=NONCE)

    assert "AdministratorAccess" in caught.value.message
    assert f"its inline policy {request.inline_policy_name} differs" in caught.value.message
    assert actual(iam, name) == before


def test_a_half_made_role_whose_trust_iam_stored_with_the_account_arn_is_still_the_bots(
    executor: Executor, name: str, iam: Any
) -> None:
    """IAM may store a principal given as an account id as that account's root ARN: the same trust."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}],
    }
    request = parse_role_request(
        {**REQUESTS["custom"](name).model_dump(), "trust_policy_document": trust, "role_type": "custom"}
    )
    stored = {
        **trust,
        "Statement": [{**trust["Statement"][0], "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]}}],
    }
    rid = request_id()
    pre_created(iam, request, f"{rid}:{NONCE}", AssumeRolePolicyDocument=json.dumps(stored))

    executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce=NONCE)

    assert sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]) == [
        READ_ONLY
    ]


@pytest.mark.parametrize(("operation", "call"), [("AttachRolePolicy", 1), ("PutRolePolicy", 1)])
def test_a_rerun_with_the_nonce_completes_the_bots_own_half_made_role(
    executor: Executor, home_iam: Any, name: str, operation: str, call: int, iam: Any
) -> None:
    request, rid = ec2_request(name), request_id()
    Fault(home_iam, operation, crash, {call}, event="after-call")
    with pytest.raises(Crash):
        executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce=NONCE)

    executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP1"], nonce=NONCE)

    assert actual(iam, name) == expected(request, f"{rid}:{NONCE}", "U0REQ", ["U0APP1"])


def test_an_unreachable_member_account_is_a_preflight_problem(base_session: boto3.Session, name: str) -> None:
    sessions = AccountSessions(ExecutorSettings(), [], base_session=base_session)
    refused: list[str] = []
    refuse = aws_error("AccessDenied", "Not authorized", 403)

    def refuse_once(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if refused:
            return None
        refused.append(request.url)
        return refuse(request)

    sessions.sts.meta.events.register("before-send.sts.AssumeRole", refuse_once)
    request = parse_role_request({**user_request(name).model_dump(), "account_id": MEMBER})

    with pytest.raises(ProvisioningError) as caught:
        provision(Executor(sessions), request, request_id())

    assert caught.value.step == "preflight"
    assert "sts:AssumeRole" in caught.value.message and MEMBER in caught.value.message
    assert sessions.iam_client(MEMBER).get_account_summary()["SummaryMap"]  # a refusal is not kept: tried again


# --- idempotency -------------------------------------------------------------------------------


def test_running_a_finished_request_again_changes_nothing(executor: Executor, name: str, iam: Any) -> None:
    rid = request_id()
    first = provision(executor, ec2_request(name), rid)
    state = actual(iam, name)

    again = provision(executor, ec2_request(name), rid)

    assert again == first
    assert actual(iam, name) == state


CRASH_POINTS = [
    ("CreateRole", 1),
    ("AttachRolePolicy", 1),
    ("AttachRolePolicy", 2),
    ("PutRolePolicy", 1),
    ("CreateInstanceProfile", 1),
    ("AddRoleToInstanceProfile", 1),
]


@pytest.mark.parametrize(("operation", "call"), CRASH_POINTS)
def test_a_rerun_after_a_crash_completes_without_duplicates(
    executor: Executor, home_iam: Any, name: str, operation: str, call: int, iam: Any
) -> None:
    request = ec2_request(name)
    rid = request_id()
    Fault(home_iam, operation, crash, {call}, event="after-call")

    with pytest.raises(Crash):
        provision(executor, request, rid)
    assert "role" in leftovers(iam, name)  # half done, as a crash leaves it

    provision(executor, request, rid)

    assert actual(iam, name) == expected(request, owned(rid), "U0REQ", ["U0APP1", "U0APP2"])


def test_a_role_that_appears_during_create_role_is_adopted_only_if_tagged_for_this_request(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    """As when a retried CreateRole finds that its first, lost attempt succeeded."""
    request = ec2_request(name)
    rid = request_id()
    tags = [
        {"Key": key, "Value": value}
        for key, value in executor.provenance_tags(rid, "U0REQ", ["U0APP1", "U0APP2"], NONCE).items()
    ]

    def first_attempt_lands(request_: AWSPreparedRequest) -> None:
        iam.create_role(**{**request.plan()[0].params, "Tags": tags})

    fault = Fault(home_iam, "CreateRole", first_attempt_lands, {1})

    provision(executor, request, rid)

    assert fault.calls == 1
    assert actual(iam, name) == expected(request, owned(rid), "U0REQ", ["U0APP1", "U0APP2"])


def test_a_foreign_role_that_appears_during_create_role_is_left_alone(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    request = user_request(name)

    def someone_else_creates_it(request_: AWSPreparedRequest) -> None:
        iam.create_role(**request.plan()[0].params)

    Fault(home_iam, "CreateRole", someone_else_creates_it, {1})

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert caught.value.step == "CreateRole"
    assert caught.value.code == "EntityAlreadyExists"
    assert actual(iam, name)["tags"] == sorted((tag.key, tag.value) for tag in request.tags)


# --- failures after CreateRole roll back -------------------------------------------------------


FAILURE_POINTS = [
    ("AttachRolePolicy", 1, "AttachRolePolicy"),
    ("AttachRolePolicy", 2, "AttachRolePolicy"),
    ("PutRolePolicy", 1, "PutRolePolicy"),
    ("CreateInstanceProfile", 1, "CreateInstanceProfile"),
    ("AddRoleToInstanceProfile", 1, "AddRoleToInstanceProfile"),
    ("GetRole", 2, "CreateRole"),  # the waiter's check, after every step succeeded
]


@pytest.mark.parametrize(("operation", "call", "step"), FAILURE_POINTS)
def test_a_failure_after_create_role_leaves_nothing_behind(
    executor: Executor, home_iam: Any, name: str, operation: str, call: int, step: str, iam: Any
) -> None:
    fault = Fault(home_iam, operation, aws_error("AccessDenied", "User is not authorized", 403), {call})

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, ec2_request(name), request_id())

    assert fault.calls >= call
    assert caught.value.step == step
    assert caught.value.code == "AccessDenied"
    assert "not allowed" in caught.value.message
    assert "nothing is left behind" in caught.value.message
    assert leftovers(iam, name) == []


def test_a_failure_on_a_rerun_also_removes_what_the_first_run_made(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    request = ec2_request(name)
    rid = request_id()
    Fault(home_iam, "PutRolePolicy", crash, {1}, event="after-call")
    with pytest.raises(Crash):
        provision(executor, request, rid)
    Fault(home_iam, "CreateInstanceProfile", aws_error("AccessDenied", "denied", 403), {1})

    with pytest.raises(ProvisioningError):
        provision(executor, request, rid)

    assert leftovers(iam, name) == []


def test_quota_errors_are_not_retried_and_are_told_in_plain_words(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    fault = Fault(
        home_iam,
        "AttachRolePolicy",
        aws_error("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 1", 409),
        {2},
    )

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, ec2_request(name), request_id())

    assert fault.calls == 2
    assert caught.value.message.startswith("This account allows 1 managed policies per role; the request has 2.")
    assert leftovers(iam, name) == []


def test_a_failure_in_create_role_itself_has_nothing_to_roll_back(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    Fault(home_iam, "CreateRole", aws_error("MalformedPolicyDocument", "Invalid principal in policy"))

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, user_request(name), request_id())

    assert caught.value.step == "CreateRole"
    assert caught.value.message == (
        "AWS rejected a policy document as malformed when the bot tried to create the role "
        f"{name}: Invalid principal in policy The bot had made nothing, so nothing is left behind."
    )
    assert leftovers(iam, name) == []


# --- retries -----------------------------------------------------------------------------------


def test_a_throttled_call_is_retried_and_the_request_succeeds(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    fault = Fault(home_iam, "CreateRole", aws_error("Throttling", "Rate exceeded"), {1})

    provision(executor, user_request(name), request_id())

    assert fault.calls == 2
    assert leftovers(iam, name) == ["role"]


def test_throttling_that_outlasts_the_retries_is_reported(base_session: boto3.Session, name: str, iam: Any) -> None:
    settings = ExecutorSettings(max_attempts=1)
    executor = Executor(AccountSessions(settings, [], base_session=base_session))
    fault = Fault(executor.sessions.iam_client(HOME), "PutRolePolicy", aws_error("Throttling", "Rate exceeded"))

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, user_request(name), request_id())

    assert fault.calls == 1
    assert caught.value.code == "Throttling"
    assert "kept throttling" in caught.value.message and "attempts: 1" in caught.value.message
    assert leftovers(iam, name) == []


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048"),
        ("NoSuchEntity", 404, "could not find"),
        ("InvalidInput", 400, "refused a value"),
        ("EntityAlreadyExists", 409, "already exists"),
        ("AccessDenied", 403, "lacks iam:CreateRole"),
        ("ServiceFailure", 500, "try again later"),
        ("ConcurrentModification", 409, "at the same time"),
    ],
)
def test_aws_errors_are_explained_in_plain_words(code: str, status: int, words: str) -> None:
    said = "Cannot exceed quota for ACLSizePerRole: 2048" if code == "LimitExceeded" else "detail"
    error = ClientError(
        {"Error": {"Code": code, "Message": said}, "ResponseMetadata": {"HTTPStatusCode": status}}, "CreateRole"
    )
    message = explain(error, doing="create the role r", account_id=HOME)
    assert words in message


def test_a_too_large_trust_policy_is_told_with_its_size(name: str) -> None:
    error = ClientError(
        {"Error": {"Code": "LimitExceeded", "Message": "Cannot exceed quota for ACLSizePerRole: 100"}}, "CreateRole"
    )
    request = user_request(name)
    message = explain(error, doing="create the role", account_id=HOME, request=request)
    assert message.startswith("This account allows trust policies of 100 characters (not counting spaces)")


# --- service-linked roles ----------------------------------------------------------------------


def service_linked(service: str, suffix: str | None = None) -> RoleRequest:
    return parse_role_request(
        {
            "role_type": "service-linked",
            "account_id": HOME,
            "justification": "needed by the service",
            "aws_service_name": service,
            "custom_suffix": suffix,
            "description": "made by the bot",
        }
    )


def test_a_service_linked_role_is_created_with_its_suffix(executor: Executor, iam: Any) -> None:
    result = provision(executor, service_linked("autoscaling.amazonaws.com", "web"), request_id())

    role = iam.get_role(RoleName="AWSServiceRoleForAutoScaling_web")["Role"]
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Description"] == "made by the bot"
    assert result.role_arn == role["Arn"]
    assert (result.instance_profile_arn, result.switch_role_url) == (None, None)


def test_a_service_that_refuses_the_approved_suffix_fails_and_creates_nothing(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    """The approver saw the suffix: a role without it is not what was approved (issue 13, point 9)."""

    def refuse_suffix(request: AWSPreparedRequest) -> AWSResponse | None:
        if "CustomSuffix" in str(request.body):
            return aws_error("InvalidInput", "Custom suffix is not allowed for AWSServiceRoleForElasticBeanstalk")(
                request
            )
        return None

    fault = Fault(home_iam, "CreateServiceLinkedRole", refuse_suffix)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, service_linked("elasticbeanstalk.amazonaws.com", "web"), request_id())

    assert fault.calls == 1
    assert "doesn't accept a custom suffix" in caught.value.message and "suffix web" in caught.value.message
    assert caught.value.code == "InvalidInput"
    names = [role["RoleName"] for role in iam.list_roles()["Roles"]]
    assert not [name for name in names if name.startswith("AWSServiceRoleForElasticBeanstalk")]


def test_an_existing_service_linked_role_is_a_clear_failure(executor: Executor, iam: Any) -> None:
    existing = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]["RoleName"]
    request = service_linked("ecs.amazonaws.com")

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert f"{existing} for ecs.amazonaws.com already exists" in caught.value.message
    assert caught.value.step == "preflight"
    assert "cannot tell whether it made it" in caught.value.message


def test_a_service_linked_preflight_reports_a_missing_permission(executor: Executor, home_iam: Any, iam: Any) -> None:
    """ListRoles is asked only once AWS says the role exists (it was the first call before: now the role is there)."""
    iam.create_service_linked_role(AWSServiceName="lambda.amazonaws.com")
    Fault(home_iam, "ListRoles", aws_error("AccessDenied", "not authorized", 403))

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, service_linked("lambda.amazonaws.com"), request_id())

    assert caught.value.step == "preflight"
    assert "iam:ListRoles" in caught.value.message


def autoscaling_role() -> RoleRequest:
    """A service-linked role no other test makes (moto's state is shared across the module)."""
    return service_linked("autoscaling.amazonaws.com", f"s{next(NAMES)}")


def test_a_service_linked_role_is_one_call_when_nothing_is_in_the_way(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    """No ListRoles before and no waiter after: the call is the check, its answer the role."""
    made = calls_made(home_iam)

    result = provision(executor, autoscaling_role(), request_id())

    assert made == ["CreateServiceLinkedRole"]
    assert result.role_arn == iam.get_role(RoleName=result.role_name)["Role"]["Arn"]


def test_a_service_linked_role_made_just_before_the_call_is_not_claimed(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    request = autoscaling_role()
    existing = iam.create_service_linked_role(**request.plan()[0].params)["Role"]
    made = calls_made(home_iam)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, request_id())

    assert made == ["CreateServiceLinkedRole", "ListRoles"]
    assert caught.value.step == "preflight" and caught.value.code == "EntityAlreadyExists"
    assert f"The service-linked role {existing['RoleName']} for autoscaling.amazonaws.com already exists" in (
        caught.value.message
    )
    assert iam.get_role(RoleName=existing["RoleName"])["Role"]["CreateDate"] == existing["CreateDate"]


def test_a_rerun_after_a_crash_past_create_service_linked_role_does_not_claim_the_role(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    """As before: the role carries no tag, so the second run can't tell it made it, and says so."""
    request = autoscaling_role()
    rid = request_id()
    Fault(home_iam, "CreateServiceLinkedRole", crash, {1}, event="after-call")
    with pytest.raises(Crash):
        provision(executor, request, rid)

    with pytest.raises(ProvisioningError) as caught:
        provision(executor, request, rid)

    assert caught.value.step == "preflight" and "cannot tell whether it made it" in caught.value.message
    suffix = f"_{request.plan()[0].params['CustomSuffix']}"
    assert [role["RoleName"] for role in iam.list_roles()["Roles"] if role["RoleName"].endswith(suffix)] == [
        f"AWSServiceRoleForAutoScaling{suffix}"
    ]


def test_a_service_linked_role_whose_answer_was_lost_and_retried_counts_as_made(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    """The first attempt lands but its answer is a 500; botocore sends it again and AWS says it exists."""
    fault = Fault(home_iam, "CreateServiceLinkedRole", aws_error("ServiceFailure", "try again", 500), {1}, lands=True)
    request = autoscaling_role()

    result = provision(executor, request, request_id())

    assert fault.calls == 2
    assert result.role_name.endswith(f"_{request.plan()[0].params['CustomSuffix']}")
    assert result.role_arn == iam.get_role(RoleName=result.role_name)["Role"]["Arn"]


def test_a_service_linked_role_made_by_a_lost_first_attempt_counts_as_made(
    executor: Executor, home_iam: Any, iam: Any
) -> None:
    def first_attempt_lands(request: AWSPreparedRequest) -> None:
        iam.create_service_linked_role(AWSServiceName="rds.amazonaws.com")

    fault = Fault(home_iam, "CreateServiceLinkedRole", first_attempt_lands, {1})

    result = provision(executor, service_linked("rds.amazonaws.com"), request_id())

    assert fault.calls == 1
    assert result.role_arn == iam.get_role(RoleName=result.role_name)["Role"]["Arn"]


# --- sessions and accounts ---------------------------------------------------------------------


def test_home_account_is_asked_once_even_from_many_threads(base_session: boto3.Session) -> None:
    calls: list[str] = []
    base_session.events.register("before-send.sts.GetCallerIdentity", lambda **kw: calls.append("x"))
    sessions = AccountSessions(ExecutorSettings(), [], base_session=base_session)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(sessions.home_account_id)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [HOME] * 8
    assert calls == ["x"]


def test_the_home_account_uses_the_bots_own_credentials_and_one_client(base_session: boto3.Session) -> None:
    assumed: list[dict[str, Any]] = []
    base_session.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(params))
    sessions = AccountSessions(ExecutorSettings(), [], base_session=base_session)
    clients: list[Any] = []
    threads = [threading.Thread(target=lambda: clients.append(sessions.iam_client(HOME))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in clients}) == 1
    assert assumed == []


def test_iam_clients_use_the_configured_retry_mode(base_session: boto3.Session) -> None:
    settings = ExecutorSettings(retry_mode="adaptive", max_attempts=7)
    client = AccountSessions(settings, [], base_session=base_session).iam_client(HOME)
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}


def member_account_with_executor_role(base_session: boto3.Session) -> Any:
    """An IAM client of the member account, where a role ``bot-executor`` trusts the home account."""
    sts = base_session.client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )
    member = boto3.Session(
        aws_access_key_id=creds["Credentials"]["AccessKeyId"],
        aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
        aws_session_token=creds["Credentials"]["SessionToken"],
        region_name=REGION,
    ).client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    if lookup_role(member, "bot-executor") is None:
        member.create_role(RoleName="bot-executor", AssumeRolePolicyDocument=json.dumps(trust))
    return member


def lookup_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError:
        return None


MEMBER_ACCOUNTS = [Account(id=MEMBER, name="member", executor_role_name="bot-executor", external_id="ext-member")]


def test_a_request_for_another_account_assumes_the_executor_role_and_acts_only_there(
    base_session: boto3.Session, name: str, iam: Any
) -> None:
    member = member_account_with_executor_role(base_session)
    assumed: list[dict[str, Any]] = []
    base_session.events.register("provide-client-params.sts.AssumeRole", lambda params, **kw: assumed.append(params))
    executor = Executor(AccountSessions(ExecutorSettings(), MEMBER_ACCOUNTS, base_session=base_session))
    request = parse_role_request({**REQUESTS["service-lambda"](name).model_dump(), "account_id": MEMBER})
    second = parse_role_request({**REQUESTS["service-lambda"](f"{name}-2").model_dump(), "account_id": MEMBER})
    rid = request_id()

    result = executor.provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP"])
    executor.provision(second, request_id=request_id(), requester="U0REQ", approvers=["U0APP"])

    assert [(a["RoleArn"], a["ExternalId"], a["RoleSessionName"]) for a in assumed] == [
        (f"arn:aws:iam::{MEMBER}:role/bot-executor", "ext-member", SESSION_NAME)
    ]  # once for both requests: the member account's client is reused
    assert result.role_arn == f"arn:aws:iam::{MEMBER}:role/{name}"
    assert actual(member, name) == expected(request, rid, "U0REQ", ["U0APP"])
    assert leftovers(iam, name) == []


def test_assumed_role_credentials_are_renewed_before_they_expire(base_session: boto3.Session, name: str) -> None:
    """The first credentials STS hands out expire in 5 minutes: the shared client assumes the role again."""
    member_account_with_executor_role(base_session)
    expirations: list[datetime] = []

    def expiring_soon(parsed: dict[str, Any], **_: Any) -> None:
        if not expirations:
            parsed["Credentials"]["Expiration"] = datetime.now(UTC) + timedelta(minutes=5)
        expirations.append(parsed["Credentials"]["Expiration"])

    base_session.events.register("after-call.sts.AssumeRole", expiring_soon)
    sessions = AccountSessions(ExecutorSettings(), MEMBER_ACCOUNTS, base_session=base_session)
    member = sessions.iam_client(MEMBER)
    assert len(expirations) == 1

    request = parse_role_request({**user_request(name).model_dump(), "account_id": MEMBER})
    result = Executor(sessions).provision(request, request_id=request_id(), requester="U0REQ", approvers=["U0APP"])

    assert result.role_arn == f"arn:aws:iam::{MEMBER}:role/team/{name}"
    assert sessions.iam_client(MEMBER) is member
    assert len(expirations) == 2  # renewed once, before its first call, and not again
    assert expirations[1] > datetime.now(UTC) + timedelta(minutes=30)


def test_the_executor_talks_to_a_moto_server_over_http(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        session = boto3.Session(region_name=REGION)
        iam = session.client("iam")
        policy = iam.create_policy(PolicyName=f"{name}-read", PolicyDocument=json.dumps(INLINE))["Policy"]["Arn"]
        servers: list[str] = []
        session.events.register(
            "after-call.iam.CreateRole", lambda http_response, **kw: servers.append(http_response.headers["server"])
        )
        sessions = AccountSessions(ExecutorSettings(), [], base_session=session)
        request = parse_role_request(
            {**user_request(name).model_dump(), "managed_policy_arns": [policy], "permissions_boundary_arn": None}
        )
        rid = request_id()

        result = Executor(sessions).provision(request, request_id=rid, requester="U0REQ", approvers=["U0APP"])

        assert sessions.iam_client(HOME).meta.endpoint_url == endpoint
        assert "Werkzeug" in servers[0]
        assert actual(iam, name) == expected(request, rid, "U0REQ", ["U0APP"])
        assert result.switch_role_url is not None
    finally:
        server.stop()


# --- retiring a role ---------------------------------------------------------------------------


EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def calls_made(client: Any) -> list[str]:
    """Every IAM operation ``client`` calls from now on, in order."""
    made: list[str] = []
    client.meta.events.register("before-call.iam", lambda model, **_: made.append(model.name))
    return made


def test_reading_a_role_shows_what_deleting_it_removes(executor: Executor, name: str) -> None:
    rid = request_id()
    provision(executor, ec2_request(name), rid)

    role = executor.read_role(HOME, name)

    assert role is not None
    assert role.made_by == owned(rid)
    assert role.role_arn.endswith(f":role/{name}")
    assert sorted(role.managed_policy_arns) == sorted(ec2_request(name).managed_policy_arns)
    assert len(role.inline_policy_names) == 1
    assert role.instance_profiles == (InstanceProfile(name, made_by_bot=True),)
    assert [step.action for step in role.plan()] == [
        "RemoveRoleFromInstanceProfile",
        "DeleteInstanceProfile",
        "DetachRolePolicy",
        "DetachRolePolicy",
        "DeleteRolePolicy",
        "DeleteRole",
    ]
    assert "removes 2 managed and 1 inline policies, instance profile" in role.summary()
    assert executor.read_role(HOME, "no-such-role") is None


def test_retiring_deletes_everything_in_the_order_aws_requires(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    rid = request_id()
    provision(executor, ec2_request(name), rid)
    made = calls_made(home_iam)

    outcome = executor.retire(HOME, name, made_by=owned(rid), request_id="R-2")

    assert leftovers(iam, name) == []
    writes = [call for call in made if not call.startswith(("Get", "List"))]
    assert writes == [
        "RemoveRoleFromInstanceProfile",
        "DeleteInstanceProfile",
        "DetachRolePolicy",
        "DetachRolePolicy",
        "DeleteRolePolicy",
        "DeleteRole",
    ]
    assert outcome["already_gone"] is False and len(outcome["removed"]) == 6
    assert executor.retire(HOME, name, made_by=owned(rid), request_id="R-2")["already_gone"] is True


def test_a_role_the_bot_did_not_make_is_not_deleted(executor: Executor, name: str, iam: Any) -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST)
    iam.attach_role_policy(RoleName=name, PolicyArn=READ_ONLY)

    role = executor.read_role(HOME, name)
    assert role is not None and role.made_by is None
    with pytest.raises(ProvisioningError, match="deletes only roles it made"):
        executor.retire(HOME, name, made_by="R-1001", request_id="R-2")

    assert leftovers(iam, name) == ["role"]
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]


def test_an_instance_profile_someone_else_made_is_kept_without_the_role(
    executor: Executor, name: str, iam: Any
) -> None:
    rid = request_id()
    provision(executor, ec2_request(name), rid)
    iam.create_instance_profile(InstanceProfileName=f"{name}-theirs")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-theirs", RoleName=name)

    executor.retire(HOME, name, made_by=owned(rid), request_id="R-2")

    kept = iam.get_instance_profile(InstanceProfileName=f"{name}-theirs")["InstanceProfile"]
    assert kept["Roles"] == []
    assert leftovers(iam, name) == []


def test_a_failure_part_way_is_reported_and_a_retry_finishes(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    rid = request_id()
    provision(executor, ec2_request(name), rid)
    Fault(home_iam, "DeleteRolePolicy", aws_error("AccessDenied", "not allowed", 403), {1})

    with pytest.raises(ProvisioningError) as failed:
        executor.retire(HOME, name, made_by=owned(rid), request_id="R-2")
    assert failed.value.step == "DeleteRolePolicy"
    assert "a retry finishes the rest" in failed.value.message
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] != []

    executor.retire(HOME, name, made_by=owned(rid), request_id="R-2")
    assert leftovers(iam, name) == []


def test_a_role_whose_time_is_up_has_its_sessions_revoked_before_it_is_deleted(
    executor: Executor, home_iam: Any, name: str, iam: Any
) -> None:
    rid = request_id()
    provision(executor, user_request(name), rid)
    revoked: list[dict[str, Any]] = []
    home_iam.meta.events.register(
        "provide-client-params.iam.PutRolePolicy", lambda params, **_: revoked.append(dict(params))
    )
    made = calls_made(home_iam)

    executor.retire(HOME, name, made_by=owned(rid), request_id="R-3", revoke_sessions=True)

    writes = [call for call in made if not call.startswith(("Get", "List"))]
    assert writes == ["PutRolePolicy", "DetachRolePolicy", "DeleteRolePolicy", "DeleteRolePolicy", "DeleteRole"]
    assert revoked[0]["PolicyName"] == "AWSRevokeOlderSessions"
    deny = json.loads(revoked[0]["PolicyDocument"])["Statement"][0]
    assert (deny["Effect"], deny["Action"], list(deny["Condition"]["DateLessThan"])) == (
        "Deny",
        ["*"],
        ["aws:TokenIssueTime"],
    )
    assert leftovers(iam, name) == []


# --- editing a role ----------------------------------------------------------------------------

LAMBDA_INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}


def edited(name: str) -> RoleRequest:
    """``user_request(name)`` with every editable field changed."""
    return user_request(
        name,
        description="Now for deploys",
        max_session_duration=3600,
        trusted_account_ids=["444455556666"],
        managed_policy_arns=[LAMBDA_BASIC],
        inline_policy=LAMBDA_INLINE,
        permissions_boundary_arn=None,
        tags={"team": "payments", "tier": "1"},
    )


def test_an_edit_makes_exactly_the_difference(executor: Executor, name: str, iam: Any) -> None:
    rid = request_id()
    provision(executor, user_request(name), rid)
    after = edited(name)

    outcome = executor.edit(user_request(name), after, made_by=owned(rid), request_id="R-9")

    assert actual(iam, name) == expected(after, owned(rid), "U0REQ", ["U0APP1", "U0APP2"])
    assert [line.split()[0] for line in outcome["changed"]] == [
        "UpdateAssumeRolePolicy",
        "UpdateRole",
        "DeleteRolePermissionsBoundary",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePolicy",
        "TagRole",
        "UntagRole",
    ]


@pytest.mark.parametrize("operation", ["AttachRolePolicy", "PutRolePolicy", "UntagRole"])
def test_a_failure_in_the_middle_of_an_edit_puts_the_role_back(
    executor: Executor, home_iam: Any, name: str, iam: Any, operation: str
) -> None:
    rid = request_id()
    provision(executor, user_request(name), rid)
    before = actual(iam, name)
    Fault(home_iam, operation, aws_error("ServiceFailure", "injected", 500), {1, 2, 3, 4, 5, 6})

    with pytest.raises(ProvisioningError) as failed:
        executor.edit(user_request(name), edited(name), made_by=owned(rid), request_id="R-9")

    assert failed.value.step == operation
    assert "put the role back as it was" in failed.value.message
    assert actual(iam, name) == before


def test_an_edit_of_a_role_the_bot_did_not_make_changes_nothing(executor: Executor, name: str, iam: Any) -> None:
    provision(executor, user_request(name), request_id())
    before = actual(iam, name)
    with pytest.raises(ProvisioningError, match="edits only roles it made"):
        executor.edit(user_request(name), edited(name), made_by="R-other", request_id="R-9")
    assert actual(iam, name) == before
