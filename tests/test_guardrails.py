"""Guardrails: every rule with a request that breaks it and one that meets it, and their configuration."""

from typing import Any

import pytest
from pydantic import ValidationError

from bot.domain import RequestInvalid, RoleRequest, parse_role_request, request_from_json, request_to_json
from bot.guardrails import Guardrails, apply_guardrails, check_guardrails

ACCOUNT = "111122223333"
OTHER = "444455556666"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/Boundary"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DEFAULTS: dict[str, dict[str, Any]] = {
    "user": {"role_name": "team-ops"},
    "service": {"role_name": "team-app", "service_principal": "lambda.amazonaws.com"},
    "service-linked": {"aws_service_name": "autoscaling.amazonaws.com"},
    "custom": {"role_name": "team-partner"},
}


def request(role_type: str = "user", **fields: Any) -> RoleRequest:
    data = {"role_type": role_type, "account_id": ACCOUNT, "justification": "Needed.", **DEFAULTS[role_type]}
    return parse_role_request({**data, **fields})


def trusting(*services: str) -> RoleRequest:
    statement = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    return request("custom", trust_policy_document={"Version": "2012-10-17", "Statement": [statement]})


CASES = [
    # (guardrails, field, request that breaks the rule, request that meets it)
    ({"allowed_accounts": [ACCOUNT]}, "account_id", request(account_id=OTHER), request()),
    ({"role_name_prefix": "team-"}, "role_name", request(role_name="ops"), request()),
    ({"required_path": "/team/"}, "path", request(path="/teams/"), request(path="/team/app/")),
    ({"required_path": "/team/"}, "path", request(), request(path="/team/")),
    (
        {"required_boundary_arn": BOUNDARY},
        "permissions_boundary_arn",
        request(),
        request(permissions_boundary_arn=BOUNDARY),
    ),
    (
        {"required_boundary_arn": BOUNDARY},
        "permissions_boundary_arn",
        request(permissions_boundary_arn=f"arn:aws:iam::{ACCOUNT}:policy/Other"),
        request(permissions_boundary_arn=BOUNDARY),
    ),
    ({"forbidden_managed_policies": [ADMIN]}, "managed_policy_arns", request(managed_policy_arns=[ADMIN]), request()),
    (
        {"forbidden_managed_policies": ["administratoraccess"]},
        "managed_policy_arns",
        request(managed_policy_arns=[READ_ONLY, ADMIN]),
        request(managed_policy_arns=[READ_ONLY]),
    ),
    (
        {"max_session_duration": 7200},
        "max_session_duration",
        request(max_session_duration=7201),
        request(max_session_duration=7200),
    ),
    (
        {"allowed_service_principals": ["lambda.amazonaws.com"]},
        "service_principal",
        request("service", service_principal="ec2.amazonaws.com"),
        request("service"),
    ),
    (
        {"allowed_service_principals": ["lambda.amazonaws.com"]},
        "more_service_principals",
        request("service", more_service_principals=["ec2.amazonaws.com"]),
        request("service", more_service_principals=["lambda.amazonaws.com"]),
    ),
    (
        # Lambda@Edge trusts edgelambda too: every principal the trust names is judged.
        {"allowed_service_principals": ["lambda.amazonaws.com"]},
        "service_principal",
        request("service", service_principal="edgelambda.amazonaws.com"),
        request("service"),
    ),
    (
        {"allowed_service_principals": ["autoscaling.amazonaws.com"]},
        "aws_service_name",
        request("service-linked", aws_service_name="elasticbeanstalk.amazonaws.com"),
        request("service-linked"),
    ),
    (
        {"allowed_service_principals": ["lambda.amazonaws.com"]},
        "trust_policy_document",
        trusting("lambda.amazonaws.com", "ec2.amazonaws.com"),
        trusting("lambda.amazonaws.com"),
    ),
]


@pytest.mark.parametrize(("rules", "field", "breaks", "meets"), CASES)
def test_guardrail(rules: dict[str, Any], field: str, breaks: RoleRequest, meets: RoleRequest) -> None:
    guardrails = Guardrails(**rules)
    errors = check_guardrails(breaks, guardrails)
    assert list(errors) == [field]
    assert errors[field].endswith(".")
    assert check_guardrails(meets, guardrails) == {}
    assert check_guardrails(breaks, Guardrails()) == {}


def test_the_words_next_to_each_field() -> None:
    guardrails = Guardrails(
        role_name_prefix="team-",
        required_path="/team/",
        max_session_duration=7200,
        forbidden_managed_policies=["AdministratorAccess"],
    )
    errors = check_guardrails(
        request(role_name="ops", max_session_duration=43200, managed_policy_arns=[ADMIN]), guardrails
    )
    assert errors == {
        "role_name": "Role names must start with “team-”.",
        "path": "The path must start with /team/, e.g. /team/ itself or /team/app/.",
        "managed_policy_arns": f"The organisation doesn't allow {ADMIN}.",
        "max_session_duration": "Sessions can last at most 7200 s (2 h) here; the request asks for 43200 s.",
    }


def test_without_allowed_accounts_the_configured_accounts_are_the_allowed_ones() -> None:
    assert check_guardrails(request(account_id=OTHER), Guardrails(), configured_accounts=[ACCOUNT]) == {
        "account_id": f"Roles can only be requested in these accounts: {ACCOUNT}."
    }
    assert check_guardrails(request(), Guardrails(), configured_accounts=[ACCOUNT]) == {}
    listed = Guardrails(allowed_accounts=[OTHER])
    assert check_guardrails(request(account_id=OTHER), listed, configured_accounts=[ACCOUNT]) == {}


def test_service_linked_roles_skip_the_rules_on_fields_they_do_not_have() -> None:
    guardrails = Guardrails(
        role_name_prefix="team-", required_path="/team/", required_boundary_arn=BOUNDARY, max_session_duration=3600
    )
    linked = request("service-linked")
    assert check_guardrails(linked, guardrails) == {}
    assert apply_guardrails(linked, guardrails) is linked


def test_apply_adds_the_required_boundary_only_where_missing() -> None:
    guardrails = Guardrails(required_boundary_arn=BOUNDARY)
    applied = apply_guardrails(request(), guardrails)
    assert applied.permissions_boundary_arn == BOUNDARY
    assert applied.plan()[0].params["PermissionsBoundary"] == BOUNDARY
    assert request_from_json(request_to_json(applied)) == applied
    assert check_guardrails(applied, guardrails) == {}
    other = request(permissions_boundary_arn=f"arn:aws:iam::{ACCOUNT}:policy/Other")
    assert apply_guardrails(other, guardrails) is other
    plain = request()
    assert apply_guardrails(plain, Guardrails()) is plain


def test_a_boundary_kept_in_every_account_is_named_with_the_target_account() -> None:
    guardrails = Guardrails(required_boundary_arn="arn:aws:iam::{account_id}:policy/Boundary")
    assert apply_guardrails(request(account_id=OTHER), guardrails).permissions_boundary_arn == (
        f"arn:aws:iam::{OTHER}:policy/Boundary"
    )
    assert list(check_guardrails(request(account_id=OTHER, permissions_boundary_arn=BOUNDARY), guardrails)) == [
        "permissions_boundary_arn"
    ]


def test_every_broken_rule_is_reported_on_its_field() -> None:
    guardrails = Guardrails(allowed_service_principals=["lambda.amazonaws.com"])
    errors = check_guardrails(trusting("ec2.amazonaws.com", "ecs-tasks.amazonaws.com"), guardrails)
    assert errors["trust_policy_document"].count("is not one of the AWS services allowed here") == 2


@pytest.mark.parametrize(
    "rules",
    [
        {"allowed_accounts": ["12345"]},
        {"role_name_prefix": "team prefix"},
        {"required_path": "team"},
        {"required_boundary_arn": "Boundary"},
        {"forbidden_managed_policies": ["arn:aws:iam::aws:Admin"]},
        {"forbidden_managed_policies": ["Admin Access"]},
        {"max_session_duration": 60},
        {"allowed_service_principals": ["lambda"]},
        {"high_risk": "ignore"},
        {"unknown": True},
    ],
)
def test_mistakes_in_the_guardrails_stop_start_up(rules: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Guardrails(**rules)


def test_high_risk_defaults_to_requiring_more_approvals() -> None:
    assert Guardrails().high_risk == "require_approvals"
    assert Guardrails(high_risk="refuse").high_risk == "refuse"


def test_apply_puts_a_role_left_at_the_root_path_under_the_required_path() -> None:
    guardrails = Guardrails(required_path="/team/")
    applied = apply_guardrails(request(), guardrails)
    assert applied.path == "/team/"
    assert applied.plan()[0].params["Path"] == "/team/"
    assert check_guardrails(applied, guardrails) == {}
    chosen = request(path="/team/app/")
    assert apply_guardrails(chosen, guardrails) is chosen
    elsewhere = request(path="/other/")
    assert "path" in check_guardrails(apply_guardrails(elsewhere, guardrails), guardrails)


def test_a_maximum_role_life_needs_an_expiry_within_it_and_an_account_may_set_its_own() -> None:
    thirty = Guardrails(max_role_days=30)
    must = {"expires_after_days": f"Roles in account {ACCOUNT} must expire within 30 days."}
    assert check_guardrails(request(), thirty) == must
    assert check_guardrails(request(expires_after_days=90), thirty) == must
    assert check_guardrails(request(expires_after_days=30), thirty) == {}
    assert check_guardrails(request(expires_after_days=30), thirty, max_role_days=7) == {
        "expires_after_days": f"Roles in account {ACCOUNT} must expire within 7 days."
    }
    assert check_guardrails(request(expires_after_days=90), Guardrails(), max_role_days=90) == {}


def test_a_role_expires_only_after_one_of_the_offered_lives() -> None:
    assert request(expires_after_days="7").expires_after_days == 7
    assert request(expires_after_days="").expires_after_days is None
    assert "deleted 7 day(s) after creation" in request(expires_after_days=7).summary()
    with pytest.raises(RequestInvalid) as invalid:
        request(expires_after_days=3)
    assert invalid.value.errors == {"expires_after_days": "A role can expire after 1, 7, 30, 90 days, or never."}
