"""Properties of the role request domain, checked on generated input (hypothesis).

- Any request the model accepts has a trust policy that is JSON within the quota, a plan of valid boto3
  calls naming each requested policy exactly once, and survives storage unchanged.
- Any input at all, however malformed, is either accepted or refused with ``RequestInvalid``: never
  another exception.
"""

import json
import string
from typing import Any

import botocore.session
import botocore.validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import (
    SERVICE_PRINCIPALS,
    AssumableRoleRequest,
    Limits,
    RequestInvalid,
    RoleRequest,
    parse_role_request,
    policy_size,
    request_from_json,
    request_to_json,
)
from bot.domain.errors import FIELD_LABELS
from bot.domain.services import ServiceTrust, service_trust

settings.register_profile("domain", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOMAIN = settings.get_profile("domain")
IAM = botocore.session.get_session().get_service_model("iam")
PROVENANCE = {"iam-role-bot:request-id": "r-1", "iam-role-bot:requester": "U1", "iam-role-bot:approvers": "U2"}
ROLE_TYPES = ["user", "service", "service-linked", "saml", "oidc", "custom"]

# --- valid input --------------------------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + "+=,.@_-"
PATH_CHARS = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "/")
DESCRIPTION_CHARS = "\t\n\r" + "".join(chr(code) for code in [*range(0x20, 0x7F), *range(0xA1, 0x100)])
EXTERNAL_ID_CHARS = string.ascii_letters + string.digits + "+=,.@:/_-"
SUBJECT_CHARS = string.ascii_letters + string.digits + ":/._-"
TAG_CHARS = st.characters(categories=["L", "N", "Zs"], include_characters="_.:/=+-@")
TRUST_ACTIONS = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:TagSession",
    "sts:SetSourceIdentity",
]

accounts = st.text("0123456789", min_size=12, max_size=12)
names = st.text(NAME_CHARS, min_size=1, max_size=64)
# AWS allows no wildcard inside a principal ARN, so paths in ARNs here have none.
arn_paths = st.lists(st.text(PATH_CHARS.replace("*", "").replace("?", ""), min_size=1, max_size=10), max_size=2).map(
    lambda parts: "".join(f"{part}/" for part in parts)
)
role_paths = st.lists(st.text(PATH_CHARS, min_size=1, max_size=20), max_size=5).map(
    lambda parts: "/" + "".join(f"{part}/" for part in parts)
)
policy_arns = st.builds(
    "arn:aws:iam::{}:policy/{}{}".format,
    st.just("aws") | accounts,
    arn_paths,
    st.text(NAME_CHARS, min_size=1, max_size=128),
)
principal_arns = st.one_of(
    accounts.map("arn:aws:iam::{}:root".format),
    st.builds("arn:aws:iam::{}:{}/{}{}".format, accounts, st.sampled_from(["user", "role"]), arn_paths, names),
)
service_principals = st.sampled_from([principal for principal, _ in SERVICE_PRINCIPALS]) | st.from_regex(
    r"[a-z0-9][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10})?\.amazonaws\.com", fullmatch=True
)
SOURCE_KEYS_UNKNOWN = ServiceTrust("typed", "typed in", (), "", sends_source_keys=True)
"""A service principal typed in: nothing says it doesn't send the keys, so the bot accepts them."""
tag_keys = st.text(TAG_CHARS, min_size=1, max_size=128).filter(
    lambda key: not key.lower().startswith(("aws:", "iam-role-bot:"))
)
tag_lists = st.lists(
    st.tuples(tag_keys, st.text(TAG_CHARS, max_size=256)), max_size=47, unique_by=lambda tag: tag[0].casefold()
).map(lambda pairs: [{"key": key, "value": value} for key, value in pairs])
actions = st.sampled_from(["s3:GetObject", "s3:*", "ec2:Describe*", "logs:PutLogEvents", "*", "iam:PassRole"])
resources = st.sampled_from(["*", "arn:aws:s3:::bucket/*", "arn:aws:logs:*:*:*"])
statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Action": actions | st.lists(actions, min_size=1, max_size=3),
        "Resource": resources | st.lists(resources, min_size=1, max_size=3),
    },
    optional={"Condition": st.just({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})},
)
documents = st.lists(statements, min_size=1, max_size=4).map(
    lambda items: {"Version": "2012-10-17", "Statement": items}
)


def as_typed(document: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A document as an object or as JSON text pasted in the modal."""
    return document | document.map(lambda value: json.dumps(value, indent=2))


def common(account: str) -> dict[str, st.SearchStrategy[Any]]:
    """Optional fields of every request but service-linked."""
    return {
        "path": role_paths,
        "description": st.text(DESCRIPTION_CHARS, max_size=1000),
        "max_session_duration": st.integers(3600, 43200),
        "managed_policy_arns": st.lists(policy_arns, max_size=10, unique=True),
        "inline_policy": st.none() | as_typed(documents),
        "permissions_boundary_arn": st.none() | policy_arns,
        "tags": tag_lists,
    }


@st.composite
def valid_requests(draw: st.DrawFn, role_type: str | None = None) -> dict[str, Any]:
    """Input a requester could send that the model must accept, of ``role_type`` (any when None)."""
    role_type = role_type or draw(st.sampled_from(ROLE_TYPES))
    account = draw(accounts)
    base = {
        "role_type": role_type,
        "account_id": account,
        "justification": draw(st.text(min_size=1, max_size=200).filter(str.strip)),
    }
    if role_type == "service-linked":
        extra = {"aws_service_name": service_principals}
        optional = {
            "custom_suffix": st.none() | st.text(NAME_CHARS, min_size=1, max_size=64),
            "description": st.text(DESCRIPTION_CHARS, max_size=1000),
        }
        return {**base, **draw(st.fixed_dictionaries(extra, optional=optional))}
    fields: dict[str, st.SearchStrategy[Any]] = {"role_name": names}
    optional = common(account)
    if role_type == "user":
        optional |= {
            "trusted_account_ids": st.lists(accounts, max_size=3, unique=True),
            "trusted_principal_arns": st.lists(principal_arns, max_size=3, unique=True),
            "external_id": st.none() | st.text(EXTERNAL_ID_CHARS, min_size=2, max_size=1224),
            "require_mfa": st.booleans(),
        }
    elif role_type == "service":
        # Confused-deputy keys only for services that send them (else the role could never be assumed).
        fields["service_principal"] = service_principals.filter(
            lambda key: (service_trust(key) or SOURCE_KEYS_UNKNOWN).sends_source_keys
        )
        optional |= {
            "restrict_source_account": st.booleans(),
            "source_arn": st.none() | st.builds(f"arn:aws:sns:us-east-1:{account}:{{}}".format, names),
        }
    elif role_type == "saml":
        fields["provider_arn"] = st.text(NAME_CHARS, min_size=1, max_size=128).map(
            f"arn:aws:iam::{account}:saml-provider/{{}}".format
        )
        optional["audience"] = st.sampled_from(
            ["https://signin.aws.amazon.com/saml", "https://eu-west-1.signin.aws.amazon.com/saml"]
        )
    elif role_type == "oidc":
        fields |= draw(oidc_trust(account))
    else:
        fields["trust_policy_document"] = as_typed(custom_trusts(account))
    return {**base, **draw(st.fixed_dictionaries(fields, optional=optional))}


def oidc_trust(account: str) -> st.SearchStrategy[dict[str, st.SearchStrategy[Any]]]:
    """Either the GitHub Actions shortcut, or a provider with explicit subjects (risky only when allowed)."""
    ref_names = st.text(string.ascii_letters + string.digits + "/._-", min_size=1, max_size=30)
    github = st.sampled_from(["branch", "tag", "environment", "pull_request", None]).map(
        lambda ref_type: {
            "github_repo": st.from_regex(r"[A-Za-z0-9_.-]{1,20}/[A-Za-z0-9_.-]{1,20}", fullmatch=True),
            "github_ref_type": st.just(ref_type),
            "github_ref": ref_names if ref_type not in (None, "pull_request") else st.none(),
        }
    )
    hosts = st.sampled_from(
        ["token.actions.githubusercontent.com", "login.example.com", "oidc.eks.eu-west-1.amazonaws.com/id/AB12"]
    )
    providers = hosts | hosts.map(f"arn:aws:iam::{account}:oidc-provider/{{}}".format) | hosts.map("https://{}".format)
    narrow = st.just(
        {
            "provider": providers,
            # Subjects that name one repository, which GitHub's shared issuer needs (others don't mind).
            "subjects": st.lists(
                st.text(SUBJECT_CHARS, min_size=1, max_size=60).map("repo:acme/web:{}".format), min_size=1, max_size=3
            ),
            "audiences": st.lists(st.sampled_from(["sts.amazonaws.com", "my-app"]), max_size=2),
        }
    )
    risky = st.just(
        {
            "provider": providers,
            # At least one: a GitHub trust without any subject is refused outright, ticked or not.
            "subjects": st.lists(st.sampled_from(["*", "repo:acme/*", "repo:*", "a*"]), min_size=1, max_size=2),
            "allow_high_risk": st.just(True),
        }
    )
    return github | narrow | risky


def custom_trusts(account: str) -> st.SearchStrategy[dict[str, Any]]:
    principals = st.one_of(
        st.fixed_dictionaries({"AWS": principal_arns | st.lists(principal_arns, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"Service": service_principals}),
        st.just({"Federated": f"arn:aws:iam::{account}:saml-provider/Okta"}),
    )
    statement = st.fixed_dictionaries(
        {
            "Effect": st.sampled_from(["Allow", "Deny"]),
            "Principal": principals,
            "Action": st.sampled_from(TRUST_ACTIONS) | st.lists(st.sampled_from(TRUST_ACTIONS), min_size=1, max_size=3),
        }
    )
    return st.lists(statement, min_size=1, max_size=3).map(lambda items: {"Version": "2012-10-17", "Statement": items})


# --- what holds for every accepted request -----------------------------------------------------------


def requested_inline_policy(data: dict[str, Any]) -> dict[str, Any] | None:
    policy = data.get("inline_policy")
    return json.loads(policy) if isinstance(policy, str) else policy


def check_accepted(request: RoleRequest, limits: Limits) -> None:
    """The properties every accepted request has, whatever input it came from."""
    plan = request.plan(PROVENANCE)
    for step in plan:
        botocore.validate.validate_parameters(step.params, IAM.operation_model(step.action).input_shape)
        assert step.describe().startswith(step.action)
    assert request.summary()
    assert request_from_json(request_to_json(request)) == request
    trust = request.trust_policy()
    if not isinstance(request, AssumableRoleRequest):
        assert trust is None
        assert [step.action for step in plan] == ["CreateServiceLinkedRole"]
        return
    document = plan[0].params["AssumeRolePolicyDocument"]
    assert plan[0].action == "CreateRole"
    assert json.loads(document) == trust
    assert policy_size(trust) <= limits.trust_policy_max_chars
    attached = [step.params["PolicyArn"] for step in plan if step.action == "AttachRolePolicy"]
    assert sorted(attached) == sorted(request.managed_policy_arns)
    assert len(set(attached)) == len(attached)
    put = [json.loads(step.params["PolicyDocument"]) for step in plan if step.action == "PutRolePolicy"]
    assert put == ([request.inline_policy] if request.inline_policy else [])
    tags = plan[0].params.get("Tags", [])
    assert len(tags) <= 50
    assert tags[len(request.tags) :] == [{"Key": key, "Value": value} for key, value in PROVENANCE.items()]


@DOMAIN
@given(valid_requests())
def test_every_valid_request_is_accepted_with_a_sound_trust_policy_and_plan(data: dict[str, Any]) -> None:
    request = parse_role_request(data)
    check_accepted(request, Limits())
    if isinstance(request, AssumableRoleRequest):
        plan = request.plan()
        for arn in data.get("managed_policy_arns", []):
            assert sum(step.params.get("PolicyArn") == arn for step in plan) == 1
        inline = requested_inline_policy(data)
        put = [step for step in plan if step.action == "PutRolePolicy"]
        assert [json.loads(step.params["PolicyDocument"]) for step in put] == ([inline] if inline else [])


@DOMAIN
@given(valid_requests(), st.integers(100, 2048))
def test_trust_policy_quota_is_enforced_whatever_it_is(data: dict[str, Any], quota: int) -> None:
    limits = Limits(trust_policy_max_chars=quota)
    try:
        request = parse_role_request(data, limits)
    except RequestInvalid as refused:
        size = policy_size(parse_role_request(data).trust_policy())
        assert size > quota
        [message] = refused.errors.values()
        assert f"The trust policy would be {size} characters" in message
        assert f"this account allows {quota}" in message
    else:
        check_accepted(request, limits)


@DOMAIN
@given(valid_requests("user"), st.integers(0, 10))
def test_managed_policy_quota_is_enforced_whatever_it_is(data: dict[str, Any], quota: int) -> None:
    count = len(data.get("managed_policy_arns", []))
    try:
        request = parse_role_request(data, Limits(managed_policies_per_role=quota))
    except RequestInvalid as refused:
        assert count > quota
        assert refused.errors == {
            "managed_policy_arns": f"This account allows {quota} managed policies per role; the request has {count}."
        }
    else:
        assert count <= quota
        assert isinstance(request, AssumableRoleRequest)


# --- junk ----------------------------------------------------------------------------------------------

INTERESTING_TEXT = st.sampled_from(
    [
        "",
        " ",
        "*",
        "?",
        "aws:x",
        "AWS:x",
        "{field}",
        "{message}",
        "{}",
        "[]",
        "null",
        "NaN",
        "1e999",
        "[" * 2000,
        "user",
        "service-linked",
        "ec2.amazonaws.com",
        "arn:aws:iam::111122223333:root",
        "111122223333",
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow"}}',
        "repo:acme/*",
        "a=b\nc",
        "\u00a0",
        "\ud800",
    ]
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    # 2**64 overflows what AWS takes; 2**17000 is too long even for Python to print (built lazily, as
    # hypothesis prints its strategies).
    st.tuples(st.sampled_from([1, -1]), st.sampled_from([64, 17_000])).map(lambda pair: pair[0] * 2 ** pair[1]),
    st.floats(),
    st.text(max_size=30) | INTERESTING_TEXT,
    st.binary(max_size=5),
)
junk = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.text(max_size=10)
            | st.sampled_from(
                ["Version", "Statement", "Effect", "Action", "Principal", "Resource", "key", "value", "Key"]
            ),
            children,
            max_size=4,
        ),
        st.dictionaries(st.integers() | st.none(), children, max_size=2),
    ),
    max_leaves=12,
)
FIELD_NAMES = sorted(FIELD_LABELS)


def check_outcome(data: Any) -> None:
    """Accepted (and then sound) or refused with one sentence per field; nothing else escapes."""
    try:
        request = parse_role_request(data)
    except RequestInvalid as refused:
        assert refused.errors
        assert all(
            isinstance(field, str) and isinstance(message, str) and message for field, message in refused.errors.items()
        )
    else:
        check_accepted(request, Limits())


@DOMAIN
@given(junk)
def test_any_junk_is_refused_cleanly(data: Any) -> None:
    check_outcome(data)


@DOMAIN
@given(st.sampled_from(ROLE_TYPES) | junk, st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), junk))
def test_real_field_names_with_junk_values_are_refused_cleanly(role_type: Any, fields: dict[str, Any]) -> None:
    check_outcome({**fields, "role_type": role_type})


@DOMAIN
@given(valid_requests(), st.dictionaries(st.sampled_from(FIELD_NAMES), junk, min_size=1, max_size=3))
def test_valid_request_with_some_fields_made_junk_is_refused_cleanly(
    data: dict[str, Any], spoilt: dict[str, Any]
) -> None:
    check_outcome({**data, **spoilt, "role_type": data["role_type"]})


DOCUMENT_KEYS = [
    "Version",
    "Statement",
    "Id",
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
]


@st.composite
def spoilt(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid policy document with junk put at one or two places inside it (a statement or the top)."""
    document = draw(documents)
    places = [document, *document["Statement"]]
    for _ in range(draw(st.integers(1, 2))):
        target = draw(st.sampled_from(places))
        target[draw(st.sampled_from(DOCUMENT_KEYS) | st.integers() | st.text(max_size=5))] = draw(junk)
    return document


@DOMAIN
@given(st.data())
def test_policy_documents_with_junk_inside_are_refused_cleanly(data: st.DataObject) -> None:
    request = data.draw(valid_requests(data.draw(st.sampled_from(["user", "custom"]))))
    if request["role_type"] == "custom":
        request["trust_policy_document"] = data.draw(spoilt(custom_trusts(request["account_id"])))
    else:
        request["inline_policy"] = data.draw(spoilt(documents))
    check_outcome(request)
