"""The role request domain: every role type's trust policy and plan, and every validation rule.

Requests are built as the Slack modal sends them (plain dicts) and go through ``parse_role_request``;
rejections are checked on the field they are reported on and on the words the requester reads.
"""

import json
from typing import Any

import botocore.session
import botocore.validate
import pytest

from bot.domain import (
    SERVICE_PRINCIPALS,
    CustomTrustRoleRequest,
    Limits,
    OidcRoleRequest,
    PlanStep,
    RequestInvalid,
    RoleRequest,
    SamlRoleRequest,
    ServiceLinkedRoleRequest,
    ServiceRoleRequest,
    Tag,
    UserRoleRequest,
    parse_role_request,
    policy_size,
    request_from_json,
    request_to_json,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
GITHUB = "token.actions.githubusercontent.com"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
INLINE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}],
}
CUSTOM_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:role/ci"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ],
}
VALID: dict[str, dict[str, Any]] = {
    "user": {"role_name": "ops-admin"},
    "service": {"role_name": "app", "service_principal": "lambda.amazonaws.com"},
    "service-linked": {"aws_service_name": "autoscaling.amazonaws.com"},
    "saml": {"role_name": "okta-readonly", "provider_arn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"},
    "oidc": {"role_name": "deploy", "github_repo": "acme/web", "github_ref_type": "branch", "github_ref": "main"},
    "custom": {"role_name": "partner", "trust_policy_document": CUSTOM_TRUST},
}
ASSUMABLE = [role_type for role_type in VALID if role_type != "service-linked"]


def data(role_type: str = "user", **fields: Any) -> dict[str, Any]:
    """A valid request of ``role_type`` as the modal sends it, with ``fields`` overriding."""
    base = {"role_type": role_type, "account_id": ACCOUNT, "justification": "Nightly billing export"}
    return {**base, **VALID[role_type], **fields}


def parse(role_type: str = "user", limits: Limits | None = None, **fields: Any) -> RoleRequest:
    return parse_role_request(data(role_type, **fields), limits)


def errors_of(role_type: str = "user", limits: Limits | None = None, **fields: Any) -> dict[str, str]:
    with pytest.raises(RequestInvalid) as caught:
        parse(role_type, limits, **fields)
    return caught.value.errors


def assert_rejected(field: str, words: str, role_type: str = "user", limits: Limits | None = None, **fields: Any):
    """The request is refused, on ``field``, with a message containing ``words``."""
    errors = errors_of(role_type, limits, **fields)
    assert field in errors, errors
    assert words in errors[field], errors[field]


def trust(role_type: str = "user", **fields: Any) -> dict[str, Any] | None:
    return parse(role_type, **fields).trust_policy()


def allow(
    principal: dict[str, Any], action: str | list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The trust policy with one Allow statement, as the bot should build it."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def tags(count: int) -> list[dict[str, str]]:
    return [{"key": f"key{number}", "value": "v"} for number in range(count)]


# --- every role type: the variant chosen and the trust policy it produces --------------------------------


@pytest.mark.parametrize(
    ("role_type", "model"),
    [
        ("user", UserRoleRequest),
        ("service", ServiceRoleRequest),
        ("service-linked", ServiceLinkedRoleRequest),
        ("saml", SamlRoleRequest),
        ("oidc", OidcRoleRequest),
        ("custom", CustomTrustRoleRequest),
    ],
)
def test_role_type_selects_the_variant(role_type: str, model: type) -> None:
    assert type(parse(role_type)) is model


def test_user_role_trusts_the_target_account_by_default() -> None:
    assert trust("user") == allow({"AWS": ROOT}, "sts:AssumeRole")


def test_user_role_trusts_other_accounts() -> None:
    assert trust("user", trusted_account_ids=[OTHER, "777788889999"]) == allow(
        {"AWS": [f"arn:aws:iam::{OTHER}:root", "arn:aws:iam::777788889999:root"]}, "sts:AssumeRole"
    )


def test_user_role_trusts_named_principals_instead_of_the_account() -> None:
    alice, ci = f"arn:aws:iam::{OTHER}:user/alice", f"arn:aws:iam::{OTHER}:role/team/ci"
    assert trust("user", trusted_principal_arns=f"{alice}\n{ci}") == allow({"AWS": [alice, ci]}, "sts:AssumeRole")


def test_user_role_with_external_id_and_mfa() -> None:
    assert trust("user", trusted_account_ids=OTHER, external_id="partner-42", require_mfa=True) == allow(
        {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "sts:AssumeRole",
        {"StringEquals": {"sts:ExternalId": "partner-42"}, "Bool": {"aws:MultiFactorAuthPresent": "true"}},
    )


def test_service_role_trusts_the_service() -> None:
    assert trust("service") == allow({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")


def test_service_role_with_confused_deputy_conditions() -> None:
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    assert trust("service", service_principal="sns.amazonaws.com", restrict_source_account=True, source_arn=topic) == (
        allow(
            {"Service": "sns.amazonaws.com"},
            "sts:AssumeRole",
            {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": topic}},
        )
    )


def test_service_principal_is_normalised_to_lower_case() -> None:
    assert parse("service", service_principal=" Lambda.AmazonAWS.com ").service_principal == "lambda.amazonaws.com"


def test_service_linked_role_has_no_trust_policy() -> None:
    assert trust("service-linked") is None


def test_saml_role_uses_the_signin_audience_by_default() -> None:
    provider = VALID["saml"]["provider_arn"]
    assert trust("saml") == allow(
        {"Federated": provider},
        "sts:AssumeRoleWithSAML",
        {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
    )
    assert trust("saml", audience="") == trust("saml")


def test_saml_role_with_another_audience() -> None:
    regional = "https://eu-west-1.signin.aws.amazon.com/saml"
    assert trust("saml", audience=regional)["Statement"][0]["Condition"] == {"StringEquals": {"SAML:aud": regional}}


@pytest.mark.parametrize(
    ("ref_type", "ref", "subject"),
    [
        ("branch", "main", "repo:acme/web:ref:refs/heads/main"),
        ("tag", "v1.2.3", "repo:acme/web:ref:refs/tags/v1.2.3"),
        ("environment", "prod", "repo:acme/web:environment:prod"),
        ("pull_request", None, "repo:acme/web:pull_request"),
    ],
)
def test_github_actions_shortcut(ref_type: str, ref: str | None, subject: str) -> None:
    assert trust("oidc", github_ref_type=ref_type, github_ref=ref) == allow(
        {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"},
        "sts:AssumeRoleWithWebIdentity",
        {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": subject}},
    )


def test_github_repository_without_a_ref_trusts_any_ref_of_that_repository() -> None:
    assert trust("oidc", github_ref_type=None, github_ref=None) == allow(
        {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"},
        "sts:AssumeRoleWithWebIdentity",
        {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}, "StringLike": {f"{GITHUB}:sub": "repo:acme/web:*"}},
    )


def test_oidc_role_for_another_provider_with_exact_and_pattern_subjects() -> None:
    host = "oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    policy = trust(
        "oidc",
        provider=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}",
        github_repo=None,
        github_ref_type=None,
        github_ref=None,
        audiences="sts.amazonaws.com, my-app",
        subjects="system:serviceaccount:prod:api\nsystem:serviceaccount:jobs:*",
    )
    assert policy == allow(
        {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"},
        "sts:AssumeRoleWithWebIdentity",
        # One operator for every subject: AWS ANDs operators, so splitting them would match no token.
        {
            "StringEquals": {f"{host}:aud": ["sts.amazonaws.com", "my-app"]},
            "StringLike": {f"{host}:sub": ["system:serviceaccount:prod:api", "system:serviceaccount:jobs:*"]},
        },
    )


def test_oidc_provider_given_as_a_url_becomes_the_provider_arn_in_the_target_account() -> None:
    request = parse("oidc", provider=f"https://{GITHUB}/")
    assert isinstance(request, OidcRoleRequest)
    assert request.provider_arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"


def test_custom_trust_policy_is_used_as_written() -> None:
    assert trust("custom") == CUSTOM_TRUST
    assert trust("custom", trust_policy_document=json.dumps(CUSTOM_TRUST, indent=2)) == CUSTOM_TRUST


def test_every_trust_policy_is_deterministic_compact_json() -> None:
    for role_type in ASSUMABLE:
        request = parse(role_type)
        document = request.plan()[0].params["AssumeRolePolicyDocument"]
        assert json.loads(document) == request.trust_policy()
        assert document == parse(role_type).plan()[0].params["AssumeRolePolicyDocument"]
        assert " " not in document and "\n" not in document


# --- fields common to every assumable role --------------------------------------------------------------


@pytest.mark.parametrize("role_type", ASSUMABLE)
def test_role_name_of_64_characters_is_accepted_and_65_refused(role_type: str) -> None:
    assert parse(role_type, role_name="r" * 64).role_name == "r" * 64
    assert_rejected("role_name", "at most 64 characters; this one has 65", role_type, role_name="r" * 65)


@pytest.mark.parametrize("name", ["my role", "rôle", "team/app", "a*", "na\nme"])
def test_role_name_with_characters_aws_refuses(name: str) -> None:
    assert_rejected("role_name", "may only contain letters, digits and + = , . @ _ -", role_name=name)


def test_role_name_with_every_allowed_punctuation_is_accepted() -> None:
    assert parse(role_name="a+b=c,d.e@f_g-h").role_name == "a+b=c,d.e@f_g-h"


@pytest.mark.parametrize("name", [None, "", "   "])
def test_role_name_is_required(name: str | None) -> None:
    assert_rejected("role_name", "Role name is required", role_name=name)


@pytest.mark.parametrize("path", ["/", "/team/", "/team/app/", "/a-b_c.d@e/"])
def test_paths_aws_accepts(path: str) -> None:
    assert parse(path=path).path == path


@pytest.mark.parametrize("path", ["team/", "/team", "//", "/a//b/", "/my team/", "/é/"])
def test_paths_aws_refuses(path: str) -> None:
    assert_rejected("path", "must be / or start and end with /", path=path)


def test_path_of_512_characters_is_accepted_and_513_refused() -> None:
    assert parse(path="/" + "p" * 510 + "/").path.count("p") == 510
    assert_rejected("path", "at most 512 characters; this one has 513", path="/" + "p" * 511 + "/")


def test_missing_or_blank_path_and_description_take_their_defaults() -> None:
    request = parse(path="  ", description=None)
    assert (request.path, request.description) == ("/", "")


@pytest.mark.parametrize(("field", "junk"), [("path", 0), ("path", []), ("description", False), ("description", {})])
def test_junk_path_or_description_is_refused_not_replaced_by_the_default(field: str, junk: Any) -> None:
    assert_rejected(field, "must be text", **{field: junk})


def test_description_of_1000_characters_is_accepted_and_1001_refused() -> None:
    assert len(parse(description="d" * 1000).description) == 1000
    assert_rejected("description", "at most 1000 characters; this one has 1001", description="d" * 1001)


def test_description_may_use_latin_1_up_to_u00ff() -> None:
    text = "Rôle für Zürich — no, ÿ is the last one\tand tabs\nand newlines"
    text = text.replace("—", "-")
    assert parse(description=text).description == text


@pytest.mark.parametrize("char", ["Ā", "€", "😀", "\u00a0", "\x00"])
def test_description_with_a_character_aws_refuses(char: str) -> None:
    assert_rejected("description", f"U+{ord(char):04X}", description=f"Billing {char} export")


@pytest.mark.parametrize(("seconds", "accepted"), [(3599, False), (3600, True), (43200, True), (43201, False)])
def test_max_session_duration_edges(seconds: int, accepted: bool) -> None:
    if accepted:
        assert parse(max_session_duration=seconds).max_session_duration == seconds
    else:
        assert_rejected(
            "max_session_duration",
            f"between 3600 s (1 hour) and 43200 s (12 hours); got {seconds}",
            max_session_duration=seconds,
        )


def test_max_session_duration_typed_as_text() -> None:
    assert parse(max_session_duration="7200").max_session_duration == 7200
    assert_rejected("max_session_duration", "must be a whole number", max_session_duration="two hours")


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        f"arn:aws:iam::{ACCOUNT}:policy/team/app/my-policy",
        f"arn:aws-us-gov:iam::{ACCOUNT}:policy/gov",
    ],
)
def test_managed_policy_arns_aws_accepts(arn: str) -> None:
    partition = arn.split(":")[1]
    assert parse(managed_policy_arns=[arn], partition=partition).managed_policy_arns == [arn]


@pytest.mark.parametrize(
    "arn",
    [
        "ReadOnlyAccess",
        "arn:aws:iam::aws:role/ReadOnlyAccess",
        "arn:aws:iam::12345:policy/short-account",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::aws:policy/",
        "arn:aws:iam::aws:policy/" + "p" * 129,
        "arn:aws:iam::١١١١٢٢٢٢٣٣٣٣:policy/arabic-digits",
    ],
)
def test_managed_policy_arns_aws_refuses(arn: str) -> None:
    assert_rejected("managed_policy_arns", "is not a managed policy ARN", managed_policy_arns=[arn])


def test_managed_policies_typed_one_per_line_or_comma_separated() -> None:
    second = f"arn:aws:iam::{ACCOUNT}:policy/extra"
    assert parse(managed_policy_arns=f"{READ_ONLY},\n {second}\n").managed_policy_arns == [READ_ONLY, second]


def test_managed_policies_up_to_the_per_role_quota() -> None:
    arns = [f"arn:aws:iam::{ACCOUNT}:policy/p{number}" for number in range(11)]
    assert len(parse(managed_policy_arns=arns[:10]).managed_policy_arns) == 10
    assert_rejected(
        "managed_policy_arns", "allows 10 managed policies per role; the request has 11", managed_policy_arns=arns
    )
    assert len(parse(limits=Limits(managed_policies_per_role=20), managed_policy_arns=arns).managed_policy_arns) == 11


def test_the_same_managed_policy_twice_is_refused() -> None:
    assert_rejected("managed_policy_arns", f"lists “{READ_ONLY}” twice", managed_policy_arns=[READ_ONLY, READ_ONLY])


def test_permissions_boundary_must_be_a_managed_policy_arn() -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
    assert parse(permissions_boundary_arn=boundary).permissions_boundary_arn == boundary
    assert parse(permissions_boundary_arn=" ").permissions_boundary_arn is None
    assert_rejected("permissions_boundary_arn", "is not a managed policy ARN", permissions_boundary_arn="boundary")


# --- tags -----------------------------------------------------------------------------------------------


def test_tags_as_typed_in_the_modal_or_as_a_mapping() -> None:
    expected = [Tag(key="team", value="data"), Tag(key="cost center", value="42"), Tag(key="empty", value="")]
    assert parse(tags="team=data\n\n cost center = 42 \nempty=").tags == expected
    assert parse(tags={"team": "data", "cost center": "42", "empty": ""}).tags == expected


def test_a_tag_line_without_equals_sign_is_refused() -> None:
    assert_rejected("tags", "Tags line 2 (“oops”) must look like key=value", tags="team=data\noops")


def test_default_tag_budget_is_47_because_the_bot_keeps_3() -> None:
    assert len(parse(tags=tags(47)).tags) == 47
    assert_rejected(
        "tags", "at most 47 tags (AWS allows 50 and the bot adds 3 of its own); this request has 48", tags=tags(48)
    )


def test_aws_limit_of_50_tags_when_the_bot_reserves_none() -> None:
    limits = Limits(reserved_tags=0)
    assert len(parse(limits=limits, tags=tags(50)).tags) == 50
    assert_rejected("tags", "at most 50 tags (AWS allows 50); this request has 51", limits=limits, tags=tags(51))


@pytest.mark.parametrize("key", ["aws:createdBy", "AWS:team", "Aws:x"])
def test_tag_keys_with_the_aws_prefix_are_refused(key: str) -> None:
    assert_rejected("tags", "starts with aws:, which AWS reserves", tags={key: "x"})


def test_tag_keys_with_the_bot_prefix_are_refused() -> None:
    assert_rejected("tags", "the bot reserves for its provenance tags", tags={"iam-role-bot:request-id": "1"})


def test_tag_keys_differing_only_in_case_clash() -> None:
    assert_rejected(
        "tags",
        "unique ignoring case: “Key” and “key” clash",
        tags=[{"key": "Key", "value": "a"}, {"key": "key", "value": "b"}],
    )


def test_tag_key_of_128_characters_is_accepted_and_129_refused() -> None:
    assert parse(tags={"k" * 128: "v"}).tags[0].key == "k" * 128
    assert_rejected("tags", "at most 128 characters; it has 129", tags={"k" * 129: "v"})


def test_tag_value_of_256_characters_is_accepted_and_257_refused() -> None:
    assert parse(tags={"k": "v" * 256}).tags[0].value == "v" * 256
    assert_rejected("tags", "can be at most 256 characters", tags={"k": "v" * 257})


def test_an_empty_tag_key_is_refused() -> None:
    assert_rejected("tags", "tag key can't be empty", tags=[{"key": "", "value": "v"}])


def test_tags_may_use_letters_of_any_script_and_the_allowed_punctuation() -> None:
    assert parse(tags={"équipe_1.a:b/c=d+e-f@g": "Zürich 東京"}).tags[0].value == "Zürich 東京"


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [("team!", "x", "key"), ("team", "a,b", "value"), ("team", "x😀", "value"), ("#", "x", "key")],
)
def test_tag_characters_aws_refuses(key: str, value: str, where: str) -> None:
    assert_rejected("tags", f"Tag {where} “", tags={key: value})
    assert "may only contain letters, digits, spaces and _ . : / = + - @" in errors_of(tags={key: value})["tags"]


# --- target account and justification ------------------------------------------------------------------


@pytest.mark.parametrize("account", ["11112222333", "1111222233334", "11112222333a", "١١١١٢٢٢٢٣٣٣٣", "1111 2222 3333"])
def test_target_account_must_be_12_ascii_digits(account: str) -> None:
    assert_rejected("account_id", "must be exactly 12 digits", account_id=account)


@pytest.mark.parametrize("role_type", list(VALID))
def test_account_and_justification_are_required_for_every_role_type(role_type: str) -> None:
    assert_rejected("account_id", "Target account is required", role_type, account_id=None)
    assert_rejected("justification", "Justification is required", role_type, justification="  ")


def test_justification_over_2000_characters_is_refused() -> None:
    assert_rejected("justification", "at most 2000 characters", justification="j" * 2001)


# --- role for IAM users ---------------------------------------------------------------------------------


def test_trusted_accounts_must_be_account_ids() -> None:
    assert_rejected("trusted_account_ids", "“12345” is not an AWS account ID", trusted_account_ids="12345")
    assert_rejected("trusted_account_ids", f"lists “{OTHER}” twice", trusted_account_ids=[OTHER, OTHER])


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{OTHER}:group/admins",
        f"arn:aws:iam::{OTHER}:role/*",
        "arn:aws:iam::*:root",
        "alice",
        f"arn:aws:sts::{OTHER}:assumed-role/x/y",
    ],
)
def test_trusted_principals_must_be_user_or_role_arns(arn: str) -> None:
    assert_rejected("trusted_principal_arns", "is not an IAM user or role ARN", trusted_principal_arns=[arn])


@pytest.mark.parametrize("external_id", ["ab", "A1+=,.@:/_-", "x" * 1224])
def test_external_ids_aws_accepts(external_id: str) -> None:
    assert parse(external_id=external_id).external_id == external_id


@pytest.mark.parametrize("external_id", ["a", "x" * 1225, "has space", "semi;colon", "ünï"])
def test_external_ids_aws_refuses(external_id: str) -> None:
    assert_rejected(
        "external_id", "2 to 1224 characters of letters, digits and + = , . @ : / _ -", external_id=external_id
    )


# --- role for an AWS service ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        "lambda",
        "lambda.amazon.com",
        "amazonaws.com",
        "https://lambda.amazonaws.com",
        "lambda.amazonaws.com/x",
        "*.amazonaws.com",
        "lambda.amazonaws.com.evil.io",
    ],
)
def test_service_principal_must_look_like_name_dot_amazonaws_com(principal: str) -> None:
    assert_rejected(
        "service_principal", "must look like <service>.amazonaws.com", "service", service_principal=principal
    )


def test_service_principal_is_required() -> None:
    assert_rejected("service_principal", "AWS service is required", "service", service_principal="")


def test_source_arn_must_be_an_arn() -> None:
    assert_rejected("source_arn", "is not a resource ARN", "service", source_arn="my-topic")


# --- service-linked role --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("managed_policy_arns", [READ_ONLY], "you can't set managed policies"),
        ("inline_policy", INLINE, "you can't set inline policy"),
        ("permissions_boundary_arn", f"arn:aws:iam::{ACCOUNT}:policy/b", "you can't set permissions boundary"),
        ("trust_policy_document", CUSTOM_TRUST, "you can't set trust policy"),
        ("tags", {"team": "x"}, "you can't set tags"),
        ("max_session_duration", 7200, "you can't set maximum session duration"),
    ],
)
def test_service_linked_role_refuses_what_the_service_defines(field: str, value: Any, words: str) -> None:
    errors = errors_of("service-linked", **{field: value})
    assert "trust and permissions are defined by the AWS service" in errors[field]
    assert words in errors[field]


def test_service_linked_custom_suffix_of_64_characters_is_accepted_and_65_refused() -> None:
    assert parse("service-linked", custom_suffix="s" * 64).custom_suffix == "s" * 64
    assert_rejected("custom_suffix", "1 to 64 characters; this one has 65", "service-linked", custom_suffix="s" * 65)
    assert_rejected("custom_suffix", "may only contain", "service-linked", custom_suffix="my suffix")


def test_service_linked_description_follows_the_aws_rules() -> None:
    assert_rejected("description", "U+0100", "service-linked", description="Ā")


# --- SAML -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn", ["Okta", f"arn:aws:iam::{ACCOUNT}:oidc-provider/Okta", f"arn:aws:iam::{ACCOUNT}:saml-provider/"]
)
def test_saml_provider_must_be_a_saml_provider_arn(arn: str) -> None:
    assert_rejected("provider_arn", "is not a SAML provider ARN", "saml", provider_arn=arn)


def test_saml_provider_must_be_in_the_target_account() -> None:
    assert_rejected(
        "provider_arn",
        f"is in account {OTHER}, but the role is for {ACCOUNT}",
        "saml",
        provider_arn=f"arn:aws:iam::{OTHER}:saml-provider/Okta",
    )


def test_saml_provider_text_is_shown_as_typed_even_with_braces() -> None:
    assert_rejected(
        "provider_arn", "“{field}{message}” is not a SAML provider ARN", "saml", provider_arn="{field}{message}"
    )


# --- OIDC -----------------------------------------------------------------------------------------------

NO_GITHUB = {"github_repo": None, "github_ref_type": None, "github_ref": None}


def test_oidc_without_a_subject_is_high_risk_and_refused() -> None:
    assert_rejected(
        "subjects",
        "Without a subject (sub) condition, any GitHub repository in the world",
        "oidc",
        provider=GITHUB,
        **NO_GITHUB,
    )
    assert_rejected("subjects", "any identity of this provider", "oidc", provider="login.example.com", **NO_GITHUB)


@pytest.mark.parametrize("subject", ["*", "**", "?"])
def test_oidc_subject_matching_everything_is_refused(subject: str) -> None:
    assert_rejected(
        "subjects",
        f"The subject “{subject}” matches everything",
        "oidc",
        provider=GITHUB,
        subjects=[subject],
        **NO_GITHUB,
    )


@pytest.mark.parametrize("subject", ["repo:acme/*", "repo:acme/*:ref:refs/heads/main", "repo:*", "repo:acme/web*:*"])
def test_github_org_wide_wildcard_is_refused(subject: str) -> None:
    assert_rejected(
        "subjects",
        "matches repositories by wildcard, not one repository",
        "oidc",
        provider=GITHUB,
        subjects=[subject],
        **NO_GITHUB,
    )


def test_high_risk_trust_is_accepted_only_when_explicitly_allowed() -> None:
    request = parse("oidc", provider=GITHUB, subjects="repo:acme/*", allow_high_risk=True, **NO_GITHUB)
    assert isinstance(request, OidcRoleRequest)
    assert request.high_risk_reasons()
    assert request.trust_policy()["Statement"][0]["Condition"]["StringLike"] == {f"{GITHUB}:sub": "repo:acme/*"}


def test_a_repository_wide_wildcard_is_not_high_risk() -> None:
    request = parse("oidc", provider=GITHUB, subjects="repo:acme/web:*", **NO_GITHUB)
    assert isinstance(request, OidcRoleRequest)
    assert request.high_risk_reasons() == []


def test_github_branch_tag_or_environment_needs_its_name() -> None:
    assert_rejected(
        "github_ref",
        "Name the environment the workflow must run on",
        "oidc",
        github_ref_type="environment",
        github_ref=" ",
    )


def test_github_ref_type_needs_the_repository() -> None:
    assert_rejected("github_repo", "Give the repository (ORG/REPO)", "oidc", provider=GITHUB, github_repo=None)


@pytest.mark.parametrize("repo", ["acme", "acme/web/extra", "acme/we b", "https://github.com/acme/web"])
def test_github_repository_must_be_org_slash_repo(repo: str) -> None:
    assert_rejected("github_repo", "write it as ORG/REPO", "oidc", github_repo=repo)


def test_github_ref_type_must_be_one_of_the_choices() -> None:
    assert_rejected("github_ref_type", "must be one of the listed choices", "oidc", github_ref_type="commit")


def test_oidc_needs_a_provider_or_a_github_repository() -> None:
    assert_rejected("provider", "Choose the OIDC provider", "oidc", subjects="x", **NO_GITHUB)


@pytest.mark.parametrize(
    "provider", ["not a host", "localhost", "http://login.example.com", f"arn:aws:iam::{ACCOUNT}:saml-provider/x"]
)
def test_oidc_provider_must_be_an_arn_or_a_host(provider: str) -> None:
    assert_rejected("provider", "is neither an OIDC provider ARN nor a host", "oidc", provider=provider)


def test_oidc_provider_must_be_in_the_target_account() -> None:
    assert_rejected(
        "provider",
        f"is in account {OTHER}, but the role is for {ACCOUNT}",
        "oidc",
        provider=f"arn:aws:iam::{OTHER}:oidc-provider/{GITHUB}",
    )


# --- custom trust policy --------------------------------------------------------------------------------


def custom(statement: dict[str, Any], **document: Any) -> dict[str, Any]:
    """A custom trust request whose one statement is ``CUSTOM_TRUST``'s with ``statement`` merged in (None drops)."""
    merged = {key: value for key, value in {**CUSTOM_TRUST["Statement"][0], **statement}.items() if value is not None}
    return {"trust_policy_document": {"Version": "2012-10-17", "Statement": [merged], **document}}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (custom({"Principal": "*"}), '"Principal": "*": anyone at all could assume this role'),
        (custom({"Principal": {"AWS": "*"}}), '{"AWS": "*"}: anyone at all'),
        (custom({"Principal": {"AWS": [ROOT, "*"]}}), '{"AWS": "*"}: anyone at all'),
        (custom({"Principal": {"Everyone": ROOT}}), "“Everyone” is not a principal type"),
        (custom({"Principal": {}}), "Principal must look like"),
        (custom({"Principal": None}), "needs a Principal"),
        (custom({"NotPrincipal": {"AWS": ROOT}}), "uses NotPrincipal"),
        (custom({"Resource": "*"}), "has a Resource"),
        (custom({"NotResource": "*"}), "has a Resource"),
        (custom({"Action": "s3:GetObject"}), "“s3:GetObject” is not allowed in a trust policy"),
        (custom({"Action": "sts:*"}), "“sts:*” is not allowed in a trust policy"),
        (custom({"Action": "*"}), "“*” is not allowed in a trust policy"),
        (custom({"Action": None}), "needs exactly one of Action or NotAction"),
        (custom({"Action": None, "NotAction": "s3:GetObject"}), "uses NotAction; list the sts: actions"),
        (custom({"Effect": "Maybe"}), 'needs "Effect": "Allow" or "Deny"'),
        (custom({"Condition": "true"}), "Condition must look like"),
        (custom({"Extra": 1}), "has unknown keys: Extra"),
        (custom({}, Version="2020-01-01"), 'needs "Version": "2012-10-17"'),
        (custom({}, Version="2008-10-17"), 'needs "Version": "2012-10-17"'),
        (custom({}, Version=["2012-10-17"]), 'needs "Version": "2012-10-17"'),
        ({"trust_policy_document": {"Statement": CUSTOM_TRUST["Statement"]}}, 'needs "Version": "2012-10-17"'),
        (custom({}, Other=1), "unknown top-level keys: Other"),
        ({"trust_policy_document": {"Version": "2012-10-17", "Statement": []}}, "needs a Statement"),
        ({"trust_policy_document": {"Version": "2012-10-17", "Statement": ["x"]}}, "statement 1 must be a JSON object"),
        ({"trust_policy_document": '{"Version": "2012-10-17",'}, "Trust policy is not valid JSON"),
        ({"trust_policy_document": "[1, 2]"}, "Trust policy must be a JSON object"),
        ({"trust_policy_document": None}, "Trust policy is required"),
    ],
)
def test_custom_trust_policies_aws_or_the_bot_refuses(fields: dict[str, Any], words: str) -> None:
    assert_rejected("trust_policy_document", words, "custom", **fields)


@pytest.mark.parametrize(
    "action",
    [
        "sts:AssumeRole",
        "sts:AssumeRoleWithSAML",
        "sts:AssumeRoleWithWebIdentity",
        "sts:TagSession",
        "sts:SetSourceIdentity",
    ],
)
def test_custom_trust_policy_allows_each_sts_action(action: str) -> None:
    assert trust("custom", **custom({"Action": action}))["Statement"][0]["Action"] == action


# --- inline policy --------------------------------------------------------------------------------------


def inline_statement(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{**INLINE["Statement"][0], **statement}]}


def test_inline_policy_as_object_or_as_pasted_json() -> None:
    assert parse(inline_policy=INLINE).inline_policy == INLINE
    assert parse(inline_policy=json.dumps(INLINE, indent=4)).inline_policy == INLINE
    assert parse(inline_policy="  ").inline_policy is None


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ('{"Version": ', "Inline policy is not valid JSON"),
        ({"Statement": INLINE["Statement"]}, 'needs "Version": "2012-10-17"'),
        (inline_statement() | {"Version": "2008-10-17"}, 'needs "Version": "2012-10-17"'),
        (inline_statement() | {"Version": "2012-10-17 "}, 'needs "Version": "2012-10-17"'),
        (
            inline_statement(Resource=None) | {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]},
            "needs exactly one of Resource or NotResource",
        ),
        (inline_statement(Principal={"AWS": ROOT}), "keys an inline policy can't have: Principal"),
        (inline_statement(Action="GetObject"), "“GetObject” is not an action like s3:GetObject"),
        (inline_statement(Effect="allow"), 'needs "Effect": "Allow" or "Deny"'),
    ],
)
def test_inline_policies_aws_refuses(policy: Any, words: str) -> None:
    assert_rejected("inline_policy", words, inline_policy=policy)


def inline_of_size(size: int) -> dict[str, Any]:
    """An inline policy of exactly ``size`` characters as AWS counts them."""
    policy = inline_statement(Sid="")
    policy["Statement"][0]["Sid"] = "S" * (size - policy_size(policy))
    assert policy_size(policy) == size
    return policy


def test_inline_policy_of_10240_characters_is_accepted_and_10241_refused() -> None:
    assert parse(inline_policy=inline_of_size(10240)).inline_policy is not None
    assert_rejected(
        "inline_policy",
        "Inline policy is 10241 characters (without whitespace); AWS allows 10240",
        inline_policy=inline_of_size(10241),
    )


def test_inline_policy_size_ignores_whitespace() -> None:
    policy = inline_of_size(10240)
    assert parse(inline_policy=json.dumps(policy, indent=8)).inline_policy == policy


def test_inline_policy_quota_is_configurable() -> None:
    assert_rejected(
        "inline_policy",
        "AWS allows 200 per role",
        limits=Limits(inline_policy_max_chars=200),
        inline_policy=inline_of_size(201),
    )


# --- policy documents that are not plain JSON, or that AWS would refuse --------------------------------

NOT_JSON = [
    pytest.param({1: "x"}, id="non-text key"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="infinity"),
    pytest.param({"a", "b"}, id="set"),
    pytest.param("\ud800", id="lone surrogate"),
    pytest.param(object(), id="object"),
]


@pytest.mark.parametrize("junk", NOT_JSON)
def test_inline_policy_holding_something_json_cannot_carry_is_refused(junk: Any) -> None:
    assert_rejected("inline_policy", "Inline policy may only hold JSON", inline_policy=inline_statement(Condition=junk))


@pytest.mark.parametrize("junk", NOT_JSON)
def test_trust_policy_holding_something_json_cannot_carry_is_refused(junk: Any) -> None:
    assert_rejected(
        "trust_policy_document",
        "Trust policy may only hold JSON",
        "custom",
        **custom({"Condition": {"StringEquals": {"k": junk}}}),
    )


def test_pasted_json_with_nan_or_infinity_is_refused() -> None:
    text = json.dumps(inline_statement(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": 1}}))
    assert_rejected("inline_policy", "may only hold JSON", inline_policy=text.replace("1}", "NaN}"))
    assert_rejected("inline_policy", "may only hold JSON", inline_policy=text.replace("1}", "Infinity}"))


def test_policy_nested_too_deeply_is_refused() -> None:
    deep = json.loads("[" * 40 + "]" * 40)
    condition = {"StringEquals": {"k": deep}}
    assert_rejected("inline_policy", "at most 32 levels deep", inline_policy=inline_statement(Condition=condition))
    pasted = "[" * 100_000 + "]" * 100_000
    assert_rejected("trust_policy_document", "nests too deeply", "custom", trust_policy_document=pasted)


def test_pasted_policy_with_a_number_python_refuses_to_read() -> None:
    assert_rejected("inline_policy", "has a number too long", inline_policy="1" * 5000)


def test_a_policy_referring_to_itself_is_refused() -> None:
    policy = inline_statement()
    policy["Statement"][0]["Condition"] = {"StringEquals": policy}
    assert_rejected("inline_policy", "may only hold JSON", inline_policy=policy)


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ({"Action": []}, "Action must be a text or a list of texts, not empty"),
        ({"Action": [""]}, "Action must be a text or a list of texts"),
        ({"Action": 7}, "Action must be a text or a list of texts"),
        ({"Resource": []}, "Resource must be a text or a list of texts"),
        ({"Resource": {"arn": "x"}}, "Resource must be a text or a list of texts"),
        ({"Sid": "not alphanumeric!"}, "Sid that isn't only letters and digits"),
        ({"Sid": 1}, "Sid that isn't only letters and digits"),
    ],
)
def test_inline_statements_aws_refuses(statement: dict[str, Any], words: str) -> None:
    assert_rejected("inline_policy", words, inline_policy=inline_statement(**statement))


def test_inline_statement_ids_must_be_unique() -> None:
    statement = {**INLINE["Statement"][0], "Sid": "Read"}
    assert_rejected(
        "inline_policy",
        "Sid “Read” is used by two statements",
        inline_policy={"Version": "2012-10-17", "Statement": [statement, statement]},
    )


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ({"Action": []}, "Action must be a text or a list of texts, not empty"),
        ({"Principal": {"AWS": []}}, "the AWS principal must be a text or a list of texts"),
        ({"Principal": {"Service": 5}}, "the Service principal must be a text or a list of texts"),
        ({"Principal": {"AWS": [ROOT, ""]}}, "the AWS principal must be a text or a list of texts"),
    ],
)
def test_trust_statements_aws_refuses(statement: dict[str, Any], words: str) -> None:
    assert_rejected("trust_policy_document", words, "custom", **custom(statement))


# --- trust policy size quota ----------------------------------------------------------------------------


def principals(count: int) -> list[str]:
    return [f"arn:aws:iam::{OTHER}:role/r{number:04d}" for number in range(count)]


def test_trust_policy_over_the_default_2048_quota_is_refused_with_a_clear_error() -> None:
    errors = errors_of(trusted_principal_arns=principals(60))
    assert "The trust policy would be" in errors["trusted_principal_arns"]
    assert "this account allows 2048" in errors["trusted_principal_arns"]
    assert "ACLSizePerRole" in errors["trusted_principal_arns"]


def test_trust_policy_exactly_at_the_quota_is_accepted_and_one_over_refused() -> None:
    size = policy_size(
        parse(trusted_principal_arns=principals(60), limits=Limits(trust_policy_max_chars=10**6)).trust_policy()
    )
    assert parse(trusted_principal_arns=principals(60), limits=Limits(trust_policy_max_chars=size))
    assert_rejected(
        "trusted_principal_arns",
        f"would be {size} characters",
        limits=Limits(trust_policy_max_chars=size - 1),
        trusted_principal_arns=principals(60),
    )


@pytest.mark.parametrize(
    ("role_type", "field", "fields"),
    [
        ("service", "service_principal", {}),
        ("saml", "provider_arn", {}),
        ("oidc", "subjects", {}),
        ("custom", "trust_policy_document", {}),
    ],
)
def test_trust_size_error_is_shown_on_the_field_that_shapes_the_trust(
    role_type: str, field: str, fields: dict[str, Any]
) -> None:
    assert_rejected(field, "this account allows 50", role_type, limits=Limits(trust_policy_max_chars=50), **fields)


# --- error reporting ------------------------------------------------------------------------------------


def test_role_type_is_required_and_must_be_known() -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_role_request({"account_id": ACCOUNT})
    assert caught.value.errors == {"role_type": "Choose a role type."}
    with pytest.raises(RequestInvalid) as caught:
        parse_role_request({"role_type": "admin"})
    assert "must be one of user, service, service-linked, saml, oidc, custom" in caught.value.errors["role_type"]


@pytest.mark.parametrize("junk", [None, [], "user", 42])
def test_a_request_that_is_not_a_set_of_fields(junk: Any) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_role_request(junk)
    assert caught.value.errors == {"role_type": "The request must be a set of fields."}


def test_an_unknown_field_is_named() -> None:
    assert errors_of(colour="blue") == {"colour": "colour is not a field of a user request."}


def test_every_invalid_field_is_reported_at_once() -> None:
    errors = errors_of(role_name="a b", path="x", max_session_duration=1)
    assert set(errors) == {"role_name", "path", "max_session_duration"}


def test_request_invalid_is_a_value_error_naming_the_fields() -> None:
    with pytest.raises(ValueError, match="role_name: Role name can be at most 64"):
        parse(role_name="r" * 65)


@pytest.mark.parametrize(
    ("tag_list", "words"),
    [
        ([{"value": "data"}], "Tags (item 1, key) is required."),
        ([{"key": "team", "value": "data"}, {"key": 5, "value": "x"}], "Tags (item 2, key) must be text."),
        (["team=data"], "Tags (item 1) must be a key and a value, e.g. team=data."),
        ([{"key": "team", "colour": "blue"}], "Tags (item 1) has an unknown part “colour”."),
        ({"team": ["data"]}, "Tags (item 1, value) must be text."),
        (42, "Tags must be a list."),
    ],
)
def test_errors_inside_a_tag_are_reported_on_tags_with_the_item(tag_list: list[Any], words: str) -> None:
    assert errors_of(tags=tag_list) == {"tags": words}


def test_tags_as_aws_spells_them() -> None:
    assert parse(tags=[{"Key": "team", "Value": "data"}, {"Key": "owner"}]).tags == [
        Tag(key="team", value="data"),
        Tag(key="owner"),
    ]


def test_a_tag_without_a_value_has_an_empty_value() -> None:
    assert parse(tags=[{"key": "team", "value": None}, {"key": "owner"}]).tags == [Tag(key="team"), Tag(key="owner")]


def test_a_key_that_is_not_text_is_reported_as_an_unknown_field() -> None:
    errors = errors_of(**{"7": "x"})
    assert errors == {"7": "7 is not a field of a user request."}
    with pytest.raises(RequestInvalid) as caught:
        parse_role_request({**data(), 7: "x"})
    assert list(caught.value.errors) == ["role_type"]


def test_a_missing_document_is_required_not_malformed() -> None:
    assert_rejected("trust_policy_document", "Trust policy is required.", "custom", trust_policy_document=None)


# --- the plan -------------------------------------------------------------------------------------------

BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
EXTRA = f"arn:aws:iam::{ACCOUNT}:policy/team/extra"
PROVENANCE = {"iam-role-bot:request-id": "42", "iam-role-bot:requester": "U123"}
IAM = botocore.session.get_session().get_service_model("iam")


def assert_boto3_accepts(plan: list[PlanStep]) -> None:
    """Each step's params are exactly keyword arguments botocore accepts for that operation."""
    for step in plan:
        botocore.validate.validate_parameters(step.params, IAM.operation_model(step.action).input_shape)


def test_plan_of_a_role_with_everything() -> None:
    request = parse(
        path="/team/",
        description="Billing export",
        max_session_duration=7200,
        managed_policy_arns=[READ_ONLY, EXTRA],
        inline_policy=INLINE,
        permissions_boundary_arn=BOUNDARY,
        tags="team=data",
    )
    plan = request.plan(PROVENANCE)
    assert plan == [
        PlanStep(
            "CreateRole",
            {
                "RoleName": "ops-admin",
                "Path": "/team/",
                "AssumeRolePolicyDocument": json.dumps(allow({"AWS": ROOT}, "sts:AssumeRole"), separators=(",", ":")),
                "MaxSessionDuration": 7200,
                "Description": "Billing export",
                "PermissionsBoundary": BOUNDARY,
                "Tags": [
                    {"Key": "team", "Value": "data"},
                    {"Key": "iam-role-bot:request-id", "Value": "42"},
                    {"Key": "iam-role-bot:requester", "Value": "U123"},
                ],
            },
        ),
        PlanStep("AttachRolePolicy", {"RoleName": "ops-admin", "PolicyArn": READ_ONLY}),
        PlanStep("AttachRolePolicy", {"RoleName": "ops-admin", "PolicyArn": EXTRA}),
        PlanStep(
            "PutRolePolicy",
            {
                "RoleName": "ops-admin",
                "PolicyName": "ops-admin-inline",
                "PolicyDocument": json.dumps(INLINE, separators=(",", ":")),
            },
        ),
    ]
    assert_boto3_accepts(plan)


def test_plan_of_a_bare_role_sends_no_empty_optional_params() -> None:
    assert parse().plan() == [
        PlanStep(
            "CreateRole",
            {
                "RoleName": "ops-admin",
                "Path": "/",
                "AssumeRolePolicyDocument": json.dumps(allow({"AWS": ROOT}, "sts:AssumeRole"), separators=(",", ":")),
                "MaxSessionDuration": 3600,
            },
        )
    ]


def test_provenance_tags_alone_are_sent() -> None:
    create = parse().plan(PROVENANCE)[0]
    assert create.params["Tags"] == [{"Key": key, "Value": value} for key, value in PROVENANCE.items()]


def test_ec2_role_gets_an_instance_profile_of_the_same_name() -> None:
    request = parse("service", service_principal="ec2.amazonaws.com", path="/apps/", managed_policy_arns=[READ_ONLY])
    plan = request.plan()
    assert [step.action for step in plan] == [
        "CreateRole",
        "AttachRolePolicy",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
    ]
    assert plan[2:] == [
        PlanStep("CreateInstanceProfile", {"InstanceProfileName": "app", "Path": "/apps/"}),
        PlanStep("AddRoleToInstanceProfile", {"InstanceProfileName": "app", "RoleName": "app"}),
    ]
    assert "instance profile" in request.summary()
    assert_boto3_accepts(plan)


def test_other_services_get_no_instance_profile() -> None:
    assert [step.action for step in parse("service").plan()] == ["CreateRole"]


def test_service_linked_plan_is_one_create_service_linked_role_call() -> None:
    request = parse("service-linked", custom_suffix="blue", description="Scaling for blue")
    plan = request.plan(PROVENANCE)
    assert plan == [
        PlanStep(
            "CreateServiceLinkedRole",
            {"AWSServiceName": "autoscaling.amazonaws.com", "Description": "Scaling for blue", "CustomSuffix": "blue"},
        )
    ]
    assert parse("service-linked").plan() == [
        PlanStep("CreateServiceLinkedRole", {"AWSServiceName": "autoscaling.amazonaws.com"})
    ]
    assert_boto3_accepts(plan)


@pytest.mark.parametrize("role_type", list(VALID))
def test_every_plan_is_made_of_boto3_calls(role_type: str) -> None:
    assert_boto3_accepts(parse(role_type).plan(PROVENANCE))


def test_plan_steps_describe_themselves_in_one_line() -> None:
    plan = parse(
        "service",
        service_principal="ec2.amazonaws.com",
        managed_policy_arns=[READ_ONLY],
        inline_policy=INLINE,
        tags="team=data",
    ).plan(PROVENANCE)
    assert [step.describe() for step in plan] == [
        "CreateRole RoleName=app Path=/ MaxSessionDuration=3600 Tags=3",
        f"AttachRolePolicy PolicyArn={READ_ONLY}",
        "PutRolePolicy PolicyName=app-inline",
        "CreateInstanceProfile InstanceProfileName=app Path=/",
        "AddRoleToInstanceProfile InstanceProfileName=app RoleName=app",
    ]
    assert [step.method for step in plan] == [
        "create_role",
        "attach_role_policy",
        "put_role_policy",
        "create_instance_profile",
        "add_role_to_instance_profile",
    ]
    assert [step.doing() for step in plan] == [
        "create the role app",
        f"attach the managed policy {READ_ONLY}",
        "put the inline policy app-inline",
        "create the instance profile app",
        "add the role to the instance profile app",
    ]
    assert [step.makes for step in plan] == [
        ("CreateRole", "app"),
        ("AttachRolePolicy", READ_ONLY),
        None,  # PutRolePolicy overwrites, so a re-run repeats it
        ("CreateInstanceProfile", "app"),
        ("AddRoleToInstanceProfile", "app"),
    ]
    assert parse("service-linked", custom_suffix="x").plan()[0].describe() == (
        "CreateServiceLinkedRole AWSServiceName=autoscaling.amazonaws.com CustomSuffix=x"
    )


# --- summary and storage --------------------------------------------------------------------------------


def test_summary_of_a_user_role() -> None:
    request = parse(
        path="/team/",
        managed_policy_arns=[READ_ONLY],
        inline_policy=INLINE,
        external_id="abc",
        require_mfa=True,
        permissions_boundary_arn=BOUNDARY,
        max_session_duration=7200,
    )
    assert request.summary() == (
        f"Role `/team/ops-admin` in {ACCOUNT}, assumable by {ROOT} (with external ID and MFA); "
        "with 1 managed policy and an inline policy; bounded by boundary; sessions up to 120 min "
        "(60 min when reached by role chaining)."
    )


@pytest.mark.parametrize(
    ("role_type", "words"),
    [
        ("user", f"assumable by {ROOT}; with no permissions yet"),
        ("service", "assumable by the AWS service lambda.amazonaws.com"),
        ("service-linked", f"Service-linked role for autoscaling.amazonaws.com in {ACCOUNT}; its trust"),
        ("saml", "assumable by users federated by SAML provider Okta"),
        ("oidc", f"web identities from {GITHUB} (repo:acme/web:ref:refs/heads/main)"),
        ("custom", f"principals of a custom trust policy (AWS: arn:aws:iam::{OTHER}:role/ci)"),
    ],
)
def test_summary_says_who_can_assume_the_role(role_type: str, words: str) -> None:
    assert words in parse(role_type).summary()


RICH: dict[str, dict[str, Any]] = {
    "user": {
        "trusted_principal_arns": [f"arn:aws:iam::{OTHER}:user/alice"],
        "external_id": "xyz",
        "require_mfa": True,
        "tags": "team=data\nowner=ops",
        "inline_policy": INLINE,
        "description": "Zürich",
    },
    "service": {
        "service_principal": "ec2.amazonaws.com",
        "more_service_principals": ["ssm.amazonaws.com"],
        "managed_policy_arns": [READ_ONLY],
        "permissions_boundary_arn": BOUNDARY,
        "path": "/apps/",
    },
    "service-linked": {"custom_suffix": "blue", "description": "For blue"},
    "saml": {"audience": "https://eu-west-1.signin.aws.amazon.com/saml", "max_session_duration": 43200},
    "oidc": {"provider": GITHUB, "subjects": ["repo:acme/*"], "allow_high_risk": True, "audiences": "a, b"},
    "custom": {"trust_policy_document": json.dumps(CUSTOM_TRUST)},
}


@pytest.mark.parametrize("role_type", list(VALID))
def test_stored_request_reloads_equal(role_type: str) -> None:
    request = parse(role_type, **RICH[role_type])
    text = request_to_json(request)
    assert json.loads(text)["role_type"] == role_type
    reloaded = request_from_json(text)
    assert reloaded == request
    assert reloaded.plan(PROVENANCE) == request.plan(PROVENANCE)


def test_stored_request_reloads_whatever_the_quotas_are_today() -> None:
    request = parse(
        limits=Limits(reserved_tags=0, managed_policies_per_role=20),
        tags=tags(50),
        managed_policy_arns=[f"arn:aws:iam::{ACCOUNT}:policy/p{number}" for number in range(15)],
    )
    assert request_from_json(request_to_json(request)) == request


# --- OIDC: nothing the requester typed is silently dropped or widened -----------------------------------


def test_a_github_ref_without_its_type_is_refused_rather_than_trusting_every_ref() -> None:
    assert_rejected(
        "github_ref_type",
        "Choose whether “main” is a branch, a tag or an environment",
        "oidc",
        github_ref_type=None,
        github_ref="main",
    )
    assert_rejected(
        "github_ref_type", "pull requests have no name", "oidc", github_ref_type="pull_request", github_ref="main"
    )


@pytest.mark.parametrize(
    "provider",
    [
        "Token.Actions.GitHubUserContent.com",
        f"https://{GITHUB}/acme-enterprise",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}/acme-enterprise",
    ],
)
def test_org_wide_wildcard_is_refused_whatever_the_spelling_of_the_github_issuer(provider: str) -> None:
    assert_rejected(
        "subjects", "matches repositories by wildcard", "oidc", provider=provider, subjects="repo:acme/*", **NO_GITHUB
    )


def test_oidc_provider_arn_ending_in_a_slash_is_refused() -> None:
    assert_rejected(
        "provider",
        "is neither an OIDC provider ARN nor a host",
        "oidc",
        provider=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}/",
    )


def test_github_shortcut_with_another_provider_is_refused() -> None:
    assert_rejected("github_repo", "only applies to GitHub Actions", "oidc", provider="login.example.com")


def test_blank_subjects_and_audiences_are_dropped() -> None:
    request = parse(
        "oidc", provider="login.example.com", subjects=["", " user-1 "], audiences=[" ", "app"], **NO_GITHUB
    )
    assert isinstance(request, OidcRoleRequest)
    assert (request.subjects, request.audiences) == (["user-1"], ["app"])


@pytest.mark.parametrize("audiences", [None, "", [], ["  "]])
def test_missing_audience_is_sts(audiences: Any) -> None:
    request = parse("oidc", audiences=audiences)
    assert isinstance(request, OidcRoleRequest)
    assert request.audiences == ["sts.amazonaws.com"]


def test_junk_audiences_are_refused_not_replaced_by_the_default() -> None:
    assert_rejected("audiences", "Audiences must be a list", "oidc", audiences=0)
    assert_rejected("audience", "SAML audiences must be a list", "saml", audience=0)


def test_blank_items_of_a_list_are_dropped() -> None:
    assert parse(managed_policy_arns=["", READ_ONLY, " "]).managed_policy_arns == [READ_ONLY]


# --- curated services and service-linked role names -----------------------------------------------------


def test_curated_service_principals_cover_the_common_services() -> None:
    principals = [principal for principal, _ in SERVICE_PRINCIPALS]
    assert 12 <= len(principals) <= 20
    assert len(set(principals)) == len(principals)
    for common in ("ec2", "lambda", "ecs-tasks", "glue", "states", "events", "codebuild", "sagemaker"):
        assert f"{common}.amazonaws.com" in principals


SPECIAL_SERVICE_TRUSTS = {
    "edgelambda.amazonaws.com": allow(
        {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]}, "sts:AssumeRole"
    ),
    "pods.eks.amazonaws.com": allow({"Service": "pods.eks.amazonaws.com"}, ["sts:AssumeRole", "sts:TagSession"]),
}


@pytest.mark.parametrize(("principal", "label"), SERVICE_PRINCIPALS)
def test_each_curated_service_is_a_valid_choice_for_a_slack_select(principal: str, label: str) -> None:
    expected = SPECIAL_SERVICE_TRUSTS.get(principal) or allow({"Service": principal}, "sts:AssumeRole")
    assert parse("service", service_principal=principal).trust_policy() == expected
    assert 0 < len(label) <= 75 and len(principal) <= 150
    assert "amazonaws" not in label


def test_ec2_in_china_gets_an_instance_profile_too() -> None:
    plan = parse("service", service_principal="ec2.amazonaws.com.cn").plan()
    assert [step.action for step in plan] == ["CreateRole", "CreateInstanceProfile", "AddRoleToInstanceProfile"]


@pytest.mark.parametrize(
    ("partition", "ec2"),
    [("aws", "ec2.amazonaws.com"), ("aws-cn", "ec2.amazonaws.com.cn"), ("aws-us-gov", "ec2.amazonaws.com")],
)
def test_ec2_chosen_from_the_list_is_trusted_under_the_partitions_own_principal(partition: str, ec2: str) -> None:
    """AWS China's EC2 principal is ec2.amazonaws.com.cn; Lambda's stays lambda.amazonaws.com there."""
    request = parse("service", partition=partition, service_principal="ec2.amazonaws.com")
    more = parse(
        "service",
        partition=partition,
        service_principal="ec2.amazonaws.com",
        more_service_principals="lambda.amazonaws.com",
    )
    assert request.trust_policy() == allow({"Service": ec2}, "sts:AssumeRole")
    assert more.principals_by_field() == [
        ("service_principal", ec2),
        ("more_service_principals", "lambda.amazonaws.com"),
    ]
    assert ec2 in request.trusted_by() and request.needs_instance_profile


@pytest.mark.parametrize(
    ("service", "suffix", "name"),
    [
        ("autoscaling.amazonaws.com", None, "AWSServiceRoleForAutoScaling"),
        ("autoscaling.amazonaws.com", "blue", "AWSServiceRoleForAutoScaling_blue"),
        ("ecs.amazonaws.com", None, "AWSServiceRoleForECS"),
        ("spot.amazonaws.com", None, "AWSServiceRoleForEC2Spot"),
        ("access-analyzer.amazonaws.com", None, "AWSServiceRoleForAccessAnalyzer"),
    ],
)
def test_service_linked_role_name_is_the_one_aws_gives(service: str, suffix: str | None, name: str) -> None:
    request = parse("service-linked", aws_service_name=service, custom_suffix=suffix)
    assert request.role_name == name


def test_unknown_service_linked_role_name_follows_the_usual_pattern() -> None:
    request = parse("service-linked", aws_service_name="example-thing.amazonaws.com", custom_suffix="x")
    assert request.role_name == "AWSServiceRoleForExampleThing_x"


def test_every_role_type_has_a_role_name() -> None:
    assert [parse(role_type).role_name for role_type in VALID] == [
        "ops-admin",
        "app",
        "AWSServiceRoleForAutoScaling",
        "okta-readonly",
        "deploy",
        "partner",
    ]


def test_a_service_linked_role_name_cannot_be_chosen() -> None:
    assert_rejected("role_name", "you can't set role name", "service-linked", role_name="mine")


# --- numbers too large to print -------------------------------------------------------------------------


def test_a_session_duration_too_long_to_print_is_refused_in_plain_words() -> None:
    assert errors_of(max_session_duration=10**5000)["max_session_duration"] == (
        "Maximum session duration must be between 3600 s (1 hour) and 43200 s (12 hours)."
    )


def test_a_role_type_that_is_not_text_is_refused_quietly(recwarn: pytest.WarningsRecorder) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_role_request({"role_type": 10**5000, "account_id": ACCOUNT})
    assert caught.value.errors == {
        "role_type": "Role type must be one of user, service, service-linked, saml, oidc, custom."
    }
    assert not recwarn.list


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**5000], ids=["2**63", "-2**63-1", "10**5000"])
def test_numbers_beyond_64_bits_in_a_policy_are_refused(number: int) -> None:
    condition = {"NumericLessThan": {"aws:MultiFactorAuthAge": number}}
    assert_rejected("inline_policy", "finite 64-bit numbers", inline_policy=inline_statement(Condition=condition))
    for edge in (2**63 - 1, -(2**63)):
        assert parse(inline_policy=inline_statement(Condition={"NumericLessThan": {"k": edge}})).inline_policy


# --- issue 13: what real AWS refuses, or would never let in, is refused at submission ---------------------


def trusting(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return allow(
        principal, "sts:AssumeRoleWithWebIdentity" if "Federated" in principal else "sts:AssumeRole", condition
    )


def test_a_custom_trust_for_cognito_must_name_the_identity_pool() -> None:
    cognito = {"Federated": "cognito-identity.amazonaws.com"}
    assert_rejected(
        "trust_policy_document",
        "without a cognito-identity.amazonaws.com:aud",
        "custom",
        trust_policy_document=trusting(cognito),
    )
    negated = {"StringNotEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:x"}}
    assert_rejected(
        "trust_policy_document", "naming your identity pool", "custom", trust_policy_document=trusting(cognito, negated)
    )
    named = {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:x"}}
    assert parse("custom", trust_policy_document=trusting(cognito, named))


def test_a_custom_trust_for_github_must_have_a_subject_condition() -> None:
    github = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"}
    only_aud = {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}}
    assert_rejected(
        "trust_policy_document",
        f"without a {GITHUB}:sub condition",
        "custom",
        trust_policy_document=trusting(github, only_aud),
    )
    with_sub = {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": "repo:acme/web:pull_request"}}
    assert parse("custom", trust_policy_document=trusting(github, with_sub))


def test_canonical_user_and_wildcards_inside_principals_are_refused() -> None:
    assert_rejected(
        "trust_policy_document",
        "can't trust a CanonicalUser",
        "custom",
        trust_policy_document=trusting(
            {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}
        ),
    )
    for value in (f"arn:aws:iam::{OTHER}:role/ci-*", "arn:aws:iam::*:root", "*.amazonaws.com"):
        kind = "Service" if value.startswith("*.") else "AWS"
        assert_rejected(
            "trust_policy_document", "has a wildcard inside", "custom", trust_policy_document=trusting({kind: value})
        )
    assert_rejected(
        "trusted_principal_arns",
        "is not an IAM user or role ARN",
        trusted_principal_arns=[f"arn:aws:iam::{OTHER}:role/a*/ci"],
    )


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        (
            "inline_policy",
            {
                "inline_policy": {
                    **INLINE,
                    "Statement": [{**INLINE["Statement"][0], "Sid": "", "Resource": "arn:aws:s3:::bücket✓/*"}],
                }
            },
        ),
        (
            "trust_policy_document",
            {
                "role_type": "custom",
                "trust_policy_document": trusting(
                    {"AWS": f"arn:aws:iam::{OTHER}:role/ci"}, {"StringEquals": {"aws:PrincipalTag/team": "ops 🚀"}}
                ),
            },
        ),
        ("github_repo", {"role_type": "oidc", "github_ref": "main→prod"}),
    ],
)
def test_characters_aws_refuses_in_a_policy_are_refused(field: str, fields: dict[str, Any]) -> None:
    role_type = fields.pop("role_type", "user" if field == "inline_policy" else "oidc")
    errors = errors_of(role_type, **fields)
    where = "subjects" if field == "github_repo" else field
    assert "Latin-1 characters (U+0020–U+00FF)" in errors[where]


def test_latin1_text_is_fine_in_a_policy() -> None:
    statement = {**INLINE["Statement"][0], "Resource": "arn:aws:s3:::bucket/Zürich/*"}
    assert parse(inline_policy={**INLINE, "Statement": [statement]})


def test_provider_arns_of_another_partition_are_refused_and_never_rewritten() -> None:
    china = f"arn:aws-cn:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
    assert_rejected(
        "provider",
        "is in partition aws-cn, but the bot works in aws",
        "oidc",
        provider=china,
        subjects="repo:acme/web:*",
        **NO_GITHUB,
    )
    request = parse("oidc", partition="aws-cn", provider=china, subjects="repo:acme/web:*", **NO_GITHUB)
    assert request.trust_policy()["Statement"][0]["Principal"] == {"Federated": china}
    assert parse("oidc", partition="aws-us-gov").trust_policy()["Statement"][0]["Principal"] == {
        "Federated": f"arn:aws-us-gov:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
    }
    gov = f"arn:aws-us-gov:iam::{ACCOUNT}:saml-provider/Okta"
    assert_rejected("provider_arn", "is in partition aws-us-gov", "saml", provider_arn=gov)


@pytest.mark.parametrize(
    ("partition", "audience"),
    [
        ("aws", "https://signin.aws.amazon.com/saml"),
        ("aws-cn", "https://signin.amazonaws.cn/saml"),
        ("aws-us-gov", "https://signin.amazonaws-us-gov.com/saml"),
    ],
)
def test_saml_audience_defaults_to_the_sign_in_endpoint_of_the_partition(partition: str, audience: str) -> None:
    provider = f"arn:{partition}:iam::{ACCOUNT}:saml-provider/Okta"
    policy = trust("saml", partition=partition, provider_arn=provider)
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"SAML:aud": audience}}


def test_a_saml_audience_no_sign_in_would_carry_is_refused() -> None:
    assert_rejected(
        "audience",
        "is not a sign-in endpoint of partition aws",
        "saml",
        audience="https://signin.aws.amazon.com.evil.example/saml",
    )
    assert_rejected("audience", "lists", "saml", audience=["https://signin.aws.amazon.com/saml"] * 2)


@pytest.mark.parametrize("service", ["ec2.amazonaws.com", "lambda.amazonaws.com"])
def test_confused_deputy_keys_are_refused_for_services_that_never_send_them(service: str) -> None:
    assert_rejected(
        "restrict_source_account",
        "doesn't send aws:SourceAccount",
        "service",
        service_principal=service,
        restrict_source_account=True,
    )
    assert_rejected(
        "source_arn",
        "doesn't send aws:SourceAccount",
        "service",
        service_principal="ecs-tasks.amazonaws.com",
        more_service_principals=[service],
        source_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/x",
    )


def test_an_aws_cn_source_arn_is_refused_in_partition_aws() -> None:
    assert_rejected(
        "source_arn",
        "is in partition aws-cn",
        "service",
        service_principal="ecs-tasks.amazonaws.com",
        source_arn=f"arn:aws-cn:ecs:cn-north-1:{ACCOUNT}:task/x",
    )


@pytest.mark.parametrize(
    "subject",
    [
        "repository_owner_id:1234:repository_id:5678:environment:prod",
        "repository_id:5678:*",
        "repository_owner_id:1234:*",
        "job_workflow_ref:acme/pipelines/.github/workflows/deploy.yml@refs/heads/main",
        "repository:acme/web:context:environment:prod",
        "repo:acme/web:*",
    ],
)
def test_github_custom_subject_claims_that_pin_an_owner_or_repository_are_accepted(subject: str) -> None:
    request = parse("oidc", provider=GITHUB, subjects=subject, **NO_GITHUB)
    assert isinstance(request, OidcRoleRequest) and request.high_risk_reasons() == []


@pytest.mark.parametrize(
    "subject",
    [
        "context:ref:refs/heads/main",
        "environment:prod",
        "*:repository_id:5678",
        "repository_id:56*",
        "repository_owner:acme:context:*",
        "job_workflow_ref:*/pipelines/.github/workflows/deploy.yml@refs/heads/main",
    ],
)
def test_github_subjects_that_pin_no_owner_or_repository_are_high_risk(subject: str) -> None:
    assert_rejected("subjects", "doesn't name one repository", "oidc", provider=GITHUB, subjects=subject, **NO_GITHUB)
    assert parse("oidc", provider=GITHUB, subjects=subject, allow_high_risk=True, **NO_GITHUB)


def test_a_github_trust_without_a_subject_is_refused_even_when_high_risk_is_allowed() -> None:
    assert_rejected(
        "subjects", "any GitHub repository in the world", "oidc", provider=GITHUB, allow_high_risk=True, **NO_GITHUB
    )


@pytest.mark.parametrize(
    "host", ["cognito-identity.amazonaws.com", "www.amazon.com", "graph.facebook.com", "accounts.google.com"]
)
def test_built_in_web_identities_need_the_app_id(host: str) -> None:
    assert_rejected("audiences", "app id", "oidc", provider=host, **NO_GITHUB)
    assert_rejected(
        "provider",
        "only supported by the bot in partition aws",
        "oidc",
        partition="aws-cn",
        provider=host,
        audiences="us-east-1:x",
        **NO_GITHUB,
    )


def test_cognito_trust_is_the_one_the_cognito_guide_documents() -> None:
    pool = "us-east-1:12345678-1234-1234-1234-123456789012"
    assert trust(
        "oidc", provider="cognito-identity.amazonaws.com", audiences=pool, cognito_amr="unauthenticated", **NO_GITHUB
    ) == allow(
        {"Federated": "cognito-identity.amazonaws.com"},
        "sts:AssumeRoleWithWebIdentity",
        {
            "StringEquals": {"cognito-identity.amazonaws.com:aud": pool},
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"},
        },
    )
    assert_rejected(
        "audiences",
        "is not an identity pool id",
        "oidc",
        provider="cognito-identity.amazonaws.com",
        audiences="my-app",
        **NO_GITHUB,
    )
    assert_rejected("cognito_amr", "Only a Cognito identity pool", "oidc", cognito_amr="authenticated")


def test_google_trust_pins_the_app_with_its_own_key() -> None:
    assert trust(
        "oidc", provider="accounts.google.com", audiences="123.apps.googleusercontent.com", **NO_GITHUB
    ) == allow(
        {"Federated": "accounts.google.com"},
        "sts:AssumeRoleWithWebIdentity",
        {"StringEquals": {"accounts.google.com:aud": "123.apps.googleusercontent.com"}},
    )


def test_saml_session_tags_and_source_identity_add_their_actions() -> None:
    policy = trust("saml", allow_session_tags=True, allow_source_identity=True)
    assert policy["Statement"][0]["Action"] == ["sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"]


def test_long_sessions_say_role_chaining_caps_them_at_one_hour() -> None:
    assert parse(max_session_duration=3600).summary().endswith("sessions up to 60 min.")
    assert (
        "sessions up to 720 min (60 min when reached by role chaining)" in parse(max_session_duration=43200).summary()
    )


@pytest.mark.parametrize(
    "condition",
    [
        {"Null": {f"{GITHUB}:sub": "false"}},
        {"StringNotLike": {f"{GITHUB}:sub": "repo:evil/*"}},
        {"StringLikeIfExists": {f"{GITHUB}:sub": "repo:acme/web:*"}},
        {"ForAllValues:StringEquals": {f"{GITHUB}:sub": "repo:acme/web:ref:refs/heads/main"}},
    ],
)
def test_a_github_sub_condition_that_a_token_without_sub_passes_does_not_count(condition: dict[str, Any]) -> None:
    github = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"}
    document = trusting(github, {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}, **condition})
    assert_rejected(
        "trust_policy_document", f"without a {GITHUB}:sub condition", "custom", trust_policy_document=document
    )
