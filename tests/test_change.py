"""Editing a role, the pure part: the difference shown to approvers, what an edit can't change, and
when a change only narrows access (a wrong "narrowing" label would let a widening pass with fewer
approvals, so each way of widening is tried)."""

from typing import Any

from bot.domain import AssumableRoleRequest
from bot.domain.change import fixed_changes, only_narrows, role_changes
from tests.builders import lambda_role
from tests.builders import policy as inline

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
S3_READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
S3_WRITE = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
NO_DELETE = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}


def role(**fields: Any) -> AssumableRoleRequest:
    """A role with two managed policies (one a Deny), an inline policy with a Deny, and a tag: room to narrow."""
    defaults = {
        "account_id": "111122223333",
        "justification": "jobs",
        "role_name": "jobs",
        "managed_policy_arns": [READ_ONLY, DENY_ALL],
        "inline_policy": inline(S3_READ, S3_WRITE, NO_DELETE),
        "tags": {"team": "data"},
    }
    return lambda_role(**{**defaults, **fields})


def test_the_difference_is_told_field_by_field() -> None:
    after = role(managed_policy_arns=[READ_ONLY], description="Nightly jobs", tags={"team": "ml"})
    changes = {change.field: (change.before, change.after) for change in role_changes(role(), after)}
    assert changes == {
        "managed policies": (f"{READ_ONLY}, {DENY_ALL}", f"- {DENY_ALL}"),
        "description": ("(none)", "Nightly jobs"),
        "tags": ('{"team":"data"}', '{"team":"ml"}'),
    }
    assert role_changes(role(), role()) == []


def test_an_edit_cant_rename_move_or_retype_a_role() -> None:
    assert fixed_changes(role(), role(role_name="other", path="/x/")) == {
        "role_name": "An edit can't change the role name; request a new role instead.",
        "path": "An edit can't change the path (IAM can't move a role); request a new role instead.",
    }
    ec2 = fixed_changes(role(), role(service_principal="ec2.amazonaws.com"))
    assert list(ec2) == ["service_principal"]


def test_taking_access_away_is_narrowing() -> None:
    assert only_narrows(role(), role(inline_policy=inline(S3_READ, NO_DELETE)))
    assert only_narrows(role(), role(managed_policy_arns=[DENY_ALL]), deny_free=[READ_ONLY])
    assert only_narrows(role(), role(inline_policy=inline(S3_READ, S3_WRITE, NO_DELETE, {**NO_DELETE, "Sid": "More"})))


def test_every_way_of_widening_is_not_narrowing() -> None:
    bounded = role(permissions_boundary_arn="arn:aws:iam::111122223333:policy/boundary")
    widening = {
        "a managed policy added": (role(), role(managed_policy_arns=[READ_ONLY, DENY_ALL, S3_FULL])),
        "a Deny policy detached": (role(), role(managed_policy_arns=[READ_ONLY])),
        "an inline Deny dropped": (role(), role(inline_policy=inline(S3_READ, S3_WRITE))),
        "an inline Allow widened": (role(), role(inline_policy=inline({**S3_READ, "Action": "s3:*"}, NO_DELETE))),
        "the trust changed": (role(), role(service_principal="glue.amazonaws.com")),
        "the boundary removed": (bounded, role()),
        "tags changed (ABAC)": (role(), role(tags={"team": "admins"})),
        "longer sessions": (role(), role(max_session_duration=7200)),
    }
    for what, (before, after) in widening.items():
        assert not only_narrows(before, after, deny_free=[READ_ONLY]), what
    assert not only_narrows(role(), role(managed_policy_arns=[DENY_ALL])), "a policy whose content is unknown"


def test_an_edit_cant_move_the_expiry() -> None:
    assert fixed_changes(role(expires_after_days=7), role(expires_after_days=90)) == {
        "expires_after_days": "An edit can't change when the role expires (Extend in the reminder moves it); "
        "request a new role instead."
    }
