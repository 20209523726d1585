"""The policy evaluator, rule by rule, against what the IAM User Guide says AWS does.

moto evaluates none of this; these tests are how we check what only real AWS would show.
"""

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.retire import revoke_sessions_policy
from bot.review.evaluator import Principal, Request, is_allowed

ACCOUNT = "111122223333"
OTHER = "444455556666"
GITHUB = "token.actions.githubusercontent.com"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **extra}


def when(condition: dict[str, Any], **context: Any) -> bool:
    """Whether an allow with ``condition`` lets in a request with ``context`` (``__`` stands for ``:``)."""
    keys = {key.replace("__", ":"): value for key, value in context.items()}
    return is_allowed(policy(allow(Condition=condition)), Request("s3:GetObject", context=keys))


# --- effect, action, resource ------------------------------------------------------------------


def test_explicit_deny_wins_and_nothing_allowed_is_denied() -> None:
    request = Request("s3:GetObject", resource="arn:aws:s3:::b/k")
    assert is_allowed(policy(allow()), request)
    assert not is_allowed(policy(allow(), {**allow(), "Effect": "Deny"}), request)
    assert not is_allowed(policy({**allow(), "Action": "s3:PutObject"}), request)
    assert not is_allowed(policy(), request)


def test_actions_ignore_case_and_take_wildcards() -> None:
    assert is_allowed(policy(allow(Action="S3:get*")), Request("s3:GetObject"))
    assert is_allowed(policy(allow(Action="s3:Get?bject")), Request("s3:GetObject"))
    assert is_allowed(policy(allow(Action="*")), Request("iam:CreateRole"))
    assert not is_allowed(policy(allow(Action="s3:Get")), Request("s3:GetObject"))
    not_iam = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert is_allowed(policy(not_iam), Request("s3:GetObject"))
    assert not is_allowed(policy(not_iam), Request("IAM:CreateRole"))


def test_resources_are_case_sensitive_patterns_and_not_resource_excludes() -> None:
    bucket = allow(Resource="arn:aws:s3:::reports/*")
    assert is_allowed(policy(bucket), Request("s3:GetObject", resource="arn:aws:s3:::reports/a.csv"))
    assert not is_allowed(policy(bucket), Request("s3:GetObject", resource="arn:aws:s3:::Reports/a.csv"))
    outside = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}
    assert is_allowed(policy(outside), Request("s3:GetObject", resource="arn:aws:s3:::reports/a"))
    assert not is_allowed(policy(outside), Request("s3:GetObject", resource="arn:aws:s3:::secret/a"))


# --- principals ----------------------------------------------------------------------------------


def trust(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return policy({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


def test_an_account_principal_names_every_principal_of_that_account() -> None:
    role = Principal("AWS", f"arn:aws:iam::{ACCOUNT}:role/ci")
    for named in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
        assert is_allowed(trust({"AWS": named}), Request("sts:AssumeRole", role))
        assert not is_allowed(trust({"AWS": named}), Request("sts:AssumeRole", Principal("AWS", OTHER)))
    assert is_allowed(trust({"AWS": role.identifier}), Request("sts:AssumeRole", role))
    other_role = Principal("AWS", f"arn:aws:iam::{ACCOUNT}:role/other")
    assert not is_allowed(trust({"AWS": role.identifier}), Request("sts:AssumeRole", other_role))


def test_wildcard_principals_let_in_whom_they_match() -> None:
    stranger = Request("sts:AssumeRole", Principal("AWS", f"arn:aws:iam::{OTHER}:role/x"))
    assert is_allowed(trust("*"), stranger)
    assert is_allowed(trust({"AWS": "*"}), stranger)
    assert is_allowed(trust({"AWS": "arn:aws:iam::*:root"}), stranger)
    any_service = Request("sts:AssumeRole", Principal("Service", "evil.amazonaws.com"))
    assert is_allowed(trust({"Service": "*.amazonaws.com"}), any_service)
    assert not is_allowed(trust({"Service": "ec2.amazonaws.com"}), any_service)


def test_principal_kinds_do_not_mix_and_not_principal_excludes() -> None:
    service = Principal("Service", "ec2.amazonaws.com")
    assert not is_allowed(trust({"AWS": "ec2.amazonaws.com"}), Request("sts:AssumeRole", service))
    document = policy({"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": "s3:*", "Resource": "*"})
    assert is_allowed(document, Request("s3:GetObject", Principal("AWS", ACCOUNT)))
    assert not is_allowed(document, Request("s3:GetObject", Principal("AWS", OTHER)))


def test_a_statement_with_a_principal_never_applies_to_an_unknown_caller() -> None:
    assert not is_allowed(trust({"AWS": ACCOUNT}), Request("sts:AssumeRole"))


# --- conditions: logic ---------------------------------------------------------------------------


def test_operators_and_keys_are_and_ed_values_or_ed() -> None:
    both = {"StringEquals": {"a": "1", "b": "2"}}
    assert when(both, a="1", b="2")
    assert not when(both, a="1", b="3")
    either = {"StringEquals": {"a": ["1", "2"]}}
    assert when(either, a="2")
    assert not when(either, a="3")
    # the issue-13 trap: an exact subject and a pattern under two operators match no token
    sub = f"{GITHUB}:sub"
    split = {"StringEquals": {sub: "repo:o/r:ref:refs/heads/main"}, "StringLike": {sub: "repo:o/r:environment:p-*"}}
    assert not when(split, **{sub.replace(":", "__"): "repo:o/r:ref:refs/heads/main"})
    assert not when(split, **{sub.replace(":", "__"): "repo:o/r:environment:p-1"})


def test_condition_keys_ignore_case_values_do_not() -> None:
    assert when({"StringEquals": {"AWS:SourceAccount": ACCOUNT}}, aws__sourceaccount=ACCOUNT)
    assert not when({"StringEquals": {"k": "Value"}}, k="value")


def test_a_missing_key_fails_positive_operators_and_passes_negated_ones() -> None:
    assert not when({"StringEquals": {"k": "v"}})
    assert not when({"StringLike": {"k": "*"}})
    assert when({"StringNotEquals": {"k": "v"}})
    assert when({"StringNotLike": {"k": "v*"}})
    assert when({"ArnNotLike": {"k": "arn:aws:iam::*:role/x"}})


def test_negated_operators_are_nor_over_their_values() -> None:
    condition = {"StringNotEquals": {"k": ["a", "b"]}}
    assert when(condition, k="c")
    assert not when(condition, k="a")
    assert not when(condition, k="b")


def test_if_exists_passes_when_the_key_is_absent_and_checks_it_otherwise() -> None:
    condition = {"StringEqualsIfExists": {"k": "v"}}
    assert when(condition)
    assert when(condition, k="v")
    assert not when(condition, k="w")
    assert when({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})


def test_null_checks_presence_only() -> None:
    assert when({"Null": {"k": "false"}}, k="anything")
    assert not when({"Null": {"k": "false"}})
    assert when({"Null": {"k": "true"}})
    assert not when({"Null": {"k": "true"}}, k="x")
    assert when({"Null": {"k": False}}, k="x")


def test_unknown_operators_and_malformed_blocks_never_hold() -> None:
    assert not when({"StringSortOf": {"k": "v"}}, k="v")
    assert not when({"StringEquals": "v"}, k="v")
    assert not when({"NumericLessThan": {"k": "ten"}}, k="3")


# --- conditions: operators -----------------------------------------------------------------------


def test_string_operators() -> None:
    assert when({"StringLike": {"k": "repo:acme/*"}}, k="repo:acme/web:ref:refs/heads/main")
    assert not when({"StringLike": {"k": "repo:acme/*"}}, k="repo:acme-evil/web")
    assert when({"StringLike": {"k": "v?"}}, k="v1")
    assert not when({"StringLike": {"k": "v?"}}, k="v12")
    assert when({"StringLike": {"k": "literal"}}, k="literal")
    assert not when({"StringLike": {"k": "[ab]"}}, k="a")  # only * and ? are wildcards
    assert when({"StringEqualsIgnoreCase": {"k": "ABC"}}, k="abc")
    assert not when({"StringNotEqualsIgnoreCase": {"k": "ABC"}}, k="abc")
    assert not when({"StringEquals": {"k": "v*"}}, k="value")  # no wildcards in StringEquals


def test_numeric_date_bool_binary_and_ip_operators() -> None:
    assert when({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, aws__MultiFactorAuthAge="60")
    assert not when({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, aws__MultiFactorAuthAge="3600")
    assert when({"NumericGreaterThanEquals": {"n": 5}}, n=5)
    assert when({"NumericNotEquals": {"n": "5"}}, n="6")
    assert when({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, aws__CurrentTime="2026-11-30T12:00:00Z")
    assert not when({"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, aws__CurrentTime="1764504000")
    assert when({"Bool": {"aws:SecureTransport": "true"}}, aws__SecureTransport=True)
    assert not when({"Bool": {"aws:SecureTransport": "true"}}, aws__SecureTransport="false")
    assert when({"BinaryEquals": {"k": "QmluYXJ5"}}, k="QmluYXJ5")
    assert when({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, aws__SourceIp="203.0.113.7")
    assert not when({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, aws__SourceIp="198.51.100.1")
    assert when({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, aws__SourceIp="198.51.100.1")


def test_arn_operators_match_part_by_part() -> None:
    condition = {"ArnLike": {"aws:SourceArn": "arn:aws:states:*:111122223333:stateMachine:*"}}
    assert when(condition, aws__SourceArn="arn:aws:states:eu-west-1:111122223333:stateMachine:etl")
    assert not when(condition, aws__SourceArn="arn:aws:states:eu-west-1:444455556666:stateMachine:etl")
    assert not when(condition, aws__SourceArn="not-an-arn")
    assert when({"ArnEquals": {"k": "arn:aws:s3:::b"}}, k="arn:aws:s3:::b")


# --- multivalued keys ----------------------------------------------------------------------------


AMR = "cognito-identity.amazonaws.com:amr"


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("ForAnyValue:StringLike", ["authenticated", "graph.facebook.com"], True),
        ("ForAnyValue:StringLike", ["unauthenticated"], False),
        ("ForAnyValue:StringLike", [], False),
        ("ForAnyValue:StringLike", None, False),
        ("ForAllValues:StringEquals", ["authenticated"], True),
        ("ForAllValues:StringEquals", ["authenticated", "graph.facebook.com"], False),
        ("ForAllValues:StringEquals", [], True),
        ("ForAllValues:StringEquals", None, True),
        ("ForAnyValue:StringNotEquals", ["authenticated", "x"], True),
        ("ForAllValues:StringNotEquals", ["unauthenticated", "x"], True),
        ("ForAllValues:StringNotEquals", ["authenticated", "x"], False),
        ("ForAnyValue:StringLikeIfExists", None, True),
    ],
)
def test_set_operators_on_multivalued_keys(operator: str, values: list[str] | None, expected: bool) -> None:
    context = {} if values is None else {AMR.replace(":", "__"): values}
    assert when({operator: {AMR: "authenticated"}}, **context) is expected


def test_a_multivalued_key_without_qualifier_matches_when_any_value_does() -> None:
    assert when({"StringEquals": {"k": "b"}}, k=["a", "b"])
    assert not when({"StringNotEquals": {"k": "b"}}, k=["a", "b"])


def test_sessions_and_account_ids_belong_to_their_account() -> None:
    session = Principal("AWS", f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/run-1")
    assert session.account == ACCOUNT
    assert Principal("AWS", OTHER).account == OTHER
    assert Principal("Service", "ec2.amazonaws.com").account is None
    assert is_allowed(trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), Request("sts:AssumeRole", session))
    china = Principal("AWS", f"arn:aws-cn:iam::{ACCOUNT}:role/ci")
    assert not is_allowed(trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), Request("sts:AssumeRole", china))


def test_policy_variables_take_the_request_value_or_their_default() -> None:
    """A variable is the caller's own value: compared with itself, it matches whatever the caller sends
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)."""
    aud = "cognito-identity.amazonaws.com:aud"
    itself = {"StringEquals": {aud: "${cognito-identity.amazonaws.com:aud}"}}
    assert when(itself, **{aud.replace(":", "__"): "us-east-1:any-pool-in-the-world"})
    assert not when(itself)
    owner = {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}
    assert when(owner, s3__prefix="home/alice/notes", aws__username="alice")
    assert not when(owner, s3__prefix="home/alice/notes", aws__username="bob")
    assert when({"StringEquals": {"s3:prefix": "${aws:username, 'guest'}"}}, s3__prefix="guest")
    assert when({"StringEquals": {"s3:prefix": "a${*}b"}}, s3__prefix="a*b")


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_under_the_2008_policy_language_a_variable_is_literal_text(version: str | None) -> None:
    """2008-10-17 (also what a policy without Version means) has no policy variables: ``${aws:username}`` is those
    characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html). Drift
    reads documents from AWS, where such a policy may be."""
    document: dict[str, Any] = {"Statement": [allow(Condition={"StringEquals": {"s3:prefix": "${aws:username}"}})]}
    if version:
        document["Version"] = version

    def allowed(**context: str) -> bool:
        return is_allowed(document, Request("s3:GetObject", context=context))

    assert not allowed(**{"s3:prefix": "alice", "aws:username": "alice"})
    assert allowed(**{"s3:prefix": "${aws:username}", "aws:username": "alice"})
    assert is_allowed(
        {**document, "Version": "2012-10-17"},
        Request("s3:GetObject", context={"s3:prefix": "alice", "aws:username": "alice"}),
    )


def test_arn_operators_with_a_pattern_that_is_not_an_arn_match_it_whole() -> None:
    """``ArnLike {sub: "*"}``: not documented by AWS; read as matching everything, never as keeping all out."""
    assert when({"ArnLike": {"oidc:sub": "*"}}, oidc__sub="repo:evil/x:ref:refs/heads/main")
    assert when({"ArnLike": {"oidc:sub": "repo:*"}}, oidc__sub="repo:evil/x")
    assert not when({"ArnLike": {"oidc:sub": "repo:acme/*"}}, oidc__sub="repo:evil/x")


def test_the_revoke_sessions_policy_denies_sessions_issued_before_its_time_only() -> None:
    """Only real AWS evaluates aws:TokenIssueTime (moto evaluates no conditions), so our evaluator checks
    the console's "revoke active sessions" policy: older sessions are denied, newer ones keep the role's
    permissions (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html)."""
    revoke = revoke_sessions_policy(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    role = {"Version": "2012-10-17", "Statement": [*revoke["Statement"], allow_all]}

    def session_issued(at: str) -> Request:
        return Request("s3:GetObject", resource="arn:aws:s3:::bucket/key", context={"aws:TokenIssueTime": at})

    assert not is_allowed(role, session_issued("2026-11-30T11:59:59Z"))
    assert is_allowed(role, session_issued("2026-11-30T12:00:01Z"))
