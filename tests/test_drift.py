"""Drift's parts on their own: comparing documents by meaning (never missing a widening), the restore plan, the
URL-encoded documents IAM returns, and the store's reports on SQLite and PostgreSQL (one open per role, the same
difference kept once, a click's claim made once), including databases from before drift existed."""

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from blocks.cards import DifferenceCard, DriftCard
from blocks.drift import drift_message, drift_overflow
from blocks.kit import MESSAGE_TEXT_BUDGET, text_size
from bot.domain import parse_role_request
from bot.domain.drift import DELETED, RoleState, differences, fingerprint, restore_plan, same_document
from bot.executor.drift import policy_document
from bot.store import MIGRATIONS, DriftReport, DriftState, RequestRecord, Store, connect, migrate
from bot.store_postgres import POSTGRES_MIGRATIONS, PostgresStore
from bot.store_postgres import connect as pg_connect
from bot.store_postgres import migrate as pg_migrate
from tests.postgres import Cluster

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Lambda",
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
            "Condition": {"Bool": {"aws:SecureTransport": True}, "StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ],
}


def state(**changes: Any) -> RoleState:
    base = RoleState(
        role_name="r",
        path="/",
        trust_policy=TRUST,
        managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
        inline_policies={
            "r-inline": {
                "Version": "2012-10-17",
                "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            }
        },
        permissions_boundary_arn="arn:aws:iam::aws:policy/PowerUserAccess",
        tags={"team": "data", "iam-role-bot:request-id": "R-1001:abc"},
    )
    return RoleState(
        **{
            **base.to_dict(),
            **changes,
            "managed_policy_arns": changes.get("managed_policy_arns", base.managed_policy_arns),
        }
    )


def test_the_same_document_spelled_as_iam_returns_it_is_no_difference() -> None:
    respelled = {
        "Version": "2012-10-17",
        "Statement": {  # one statement, not a list; no Sid; single values bare; case of actions and keys
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "STS:assumerole",
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": ["123456789012"]},
                "Bool": {"aws:securetransport": "true"},
            },
        },
    }
    assert same_document(TRUST, respelled)
    assert differences(state(), state(trust_policy=respelled)) == []
    assert policy_document(quote(json.dumps(respelled))) == respelled  # URL-encoded, as GetRole's raw answer


@pytest.mark.parametrize(
    "widened",
    [
        {"Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}},
        {"Principal": "*"},
        {"Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}},
        {"Condition": {"StringLike": {"aws:SourceAccount": "*"}}},
        {"Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Deny"},
    ],
)
def test_every_real_change_of_the_trust_is_a_difference(widened: dict[str, Any]) -> None:
    changed = {**TRUST, "Statement": [{**TRUST["Statement"][0], **widened}]}
    assert [d.aspect for d in differences(state(), state(trust_policy=changed))] == ["trust policy"]
    assert fingerprint(state(trust_policy=changed), state()) != fingerprint(state(), state())


def test_a_condition_values_case_and_the_policy_version_count() -> None:
    lower = json.loads(
        json.dumps(TRUST).replace("123456789012", "123456789012").replace("StringEquals", "StringEquals")
    )
    lower["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] = "123456789012"
    assert same_document(TRUST, lower)
    assert not same_document({"Version": "2012-10-17", "Statement": []}, {"Version": "2008-10-17", "Statement": []})
    values = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::A"}],
    }
    other = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::a"}],
    }
    assert not same_document(values, other)  # resources are case-sensitive


def test_each_aspect_is_named_and_a_deleted_role_is_one_difference() -> None:
    observed = state(
        managed_policy_arns=("arn:aws:iam::aws:policy/AdministratorAccess",),
        inline_policies={"extra": {"Version": "2012-10-17", "Statement": []}},
        permissions_boundary_arn=None,
        tags={"team": "data"},
        description="new",
        max_session_duration=43200,
    )
    assert [d.aspect for d in differences(state(), observed)] == [
        "managed policies",
        "inline policy extra",
        "inline policy r-inline",
        "permissions boundary",
        "tags",
        "description",
        "maximum session duration",
    ]
    [gone] = differences(state(), None)
    assert (gone.aspect, gone.after, fingerprint(None, state())) == ("role", "deleted outside the bot", DELETED)


def test_the_restore_plan_undoes_exactly_the_difference_and_reversed_redoes_it() -> None:
    observed = state(
        managed_policy_arns=("arn:aws:iam::aws:policy/AdministratorAccess",),
        inline_policies={"extra": {"Version": "2012-10-17", "Statement": []}},
        permissions_boundary_arn=None,
        tags={"team": "ops", "iam-role-bot:request-id": "R-1001:abc", "added": "x"},
    )
    plan = [
        (step.action, step.params.get("PolicyArn") or step.params.get("PolicyName"))
        for step in restore_plan(observed, state())
    ]
    assert plan == [
        ("PutRolePermissionsBoundary", None),
        ("DetachRolePolicy", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("AttachRolePolicy", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ("DeleteRolePolicy", "extra"),
        ("PutRolePolicy", "r-inline"),
        ("UntagRole", None),
        ("TagRole", None),
    ]
    assert restore_plan(state(), state()) == []
    assert [step.action for step in restore_plan(state(), observed)][:2] == [
        "DeleteRolePermissionsBoundary",
        "DetachRolePolicy",
    ]


def test_the_approved_state_of_a_request_includes_the_provenance_tags() -> None:
    request = parse_role_request(
        {
            "role_type": "service",
            "account_id": "123456789012",
            "role_name": "etl",
            "service_principal": "glue.amazonaws.com",
            "inline_policy": json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
            ),
            "tags": "team=data",
            "justification": "x",
        }
    )
    approved = RoleState.approved(request, {"iam-role-bot:request-id": "R-1:n"})
    assert approved.tags == {"team": "data", "iam-role-bot:request-id": "R-1:n"}
    assert list(approved.inline_policies) == ["etl-inline"] and approved.trust_policy == request.trust_policy()
    assert RoleState.from_dict(json.loads(json.dumps(approved.to_dict()))) == approved


def made(store: Store) -> RequestRecord:
    request = parse_role_request(
        {
            "role_type": "service",
            "account_id": "123456789012",
            "role_name": "etl",
            "service_principal": "glue.amazonaws.com",
            "justification": "x",
        }
    )
    return store.create_request(request, "U1")


def report(store: Store, record: RequestRecord, print_: str) -> DriftReport | None:
    return store.report_drift(
        record,
        fingerprint=print_,
        approved=state().to_dict(),
        observed=None,
        differences=[],
        findings=[],
        risk="normal",
    )


def test_reports_are_kept_once_per_difference_and_closed(open_store: Callable[..., Store]) -> None:
    store = open_store()
    record = made(store)
    first = report(store, record, "a")
    assert first is not None and first.id == "D-1" and first.state == DriftState.OPEN
    assert report(store, record, "a") is None  # the same difference: nothing new
    second = report(store, record, "b")
    assert second is not None and second.id == "D-2"
    assert store.drift_report("D-1").state == DriftState.SUPERSEDED
    assert [r.id for r in store.open_drift_reports()] == ["D-2"] and store.open_drift(record.id).id == "D-2"
    accept = store.create_request(record.request, "U2")
    assert store.claim_drift_action("D-2", accept.id, None)
    assert not store.claim_drift_action("D-2", "R-9999", None)  # a doubled click: its claim is gone
    assert store.drift_report("D-2").action_request_id == accept.id
    assert store.close_drift("D-2", DriftState.RESOLVED).state == DriftState.RESOLVED
    assert store.close_drift("D-2", DriftState.RESOLVED) is None
    assert not store.claim_drift_action("D-2", accept.id, accept.id)  # closed: nothing to act on
    assert store.open_drift_reports() == []


def test_a_sqlite_database_from_before_drift_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = connect(path)
    before_drift = len(MIGRATIONS) - 1  # drift_reports is the last migration
    assert migrate(old, target=before_drift) == before_drift
    old.close()
    with Store(path) as store:
        assert report(store, made(store), "a") is not None


def test_a_postgres_database_from_before_drift_upgrades(postgres: Cluster) -> None:
    url = postgres.new_schema()
    conn = pg_connect(url)
    before_drift = len(POSTGRES_MIGRATIONS) - 1
    assert pg_migrate(conn, target=before_drift) == before_drift
    conn.close()
    store = PostgresStore(url)
    try:
        assert report(store, made(store), "a") is not None
    finally:
        store.close()


def test_a_long_difference_is_cut_with_a_note_and_given_whole_in_the_thread_before_any_button() -> None:
    big = json.dumps({"Statement": [{"Action": f"s3:Get{i}", "Resource": "<!channel>"} for i in range(900)]}, indent=2)
    card = DriftCard(
        id="D-1",
        made_id="R-1001",
        role_name="r",
        account_id="123456789012",
        account_label="Prod",
        differences=[DifferenceCard("inline policy r-inline", "(none)", big)],
        findings=[],
        risk="normal",
        deleted=False,
        posted=False,
    )
    _, blocks = drift_message(card)
    assert "in the thread" in json.dumps(blocks) and not any(b["type"] == "actions" for b in blocks)
    assert text_size(blocks) <= MESSAGE_TEXT_BUDGET
    thread = "".join(json.dumps(reply_blocks) for _, reply_blocks in drift_overflow(card))
    assert '\\"s3:Get0\\"' in thread and '\\"s3:Get899\\"' in thread  # the whole text, first to last
    assert "<!channel>" not in thread and "&lt;!channel&gt;" in thread
    _, posted_blocks = drift_message(replace(card, posted=True))
    [buttons] = [b for b in posted_blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]] == ["accept_drift", "restore_drift"]


def test_two_spellings_of_one_condition_key_are_not_merged_into_one_list_of_alternatives() -> None:
    """Keys under one operator are AND-ed, a key's values OR-ed (IAM User Guide, "Conditions with multiple context
    keys or values"). Two spellings of one key (names are case-insensitive) each demand their value; one key listing
    both values lets either in. Merging the spellings would call that widening "no difference"."""
    both = {"StringEquals": {"aws:PrincipalOrgID": "o-aaaa", "AWS:PrincipalOrgID": "o-bbbb"}}
    either = {"StringEquals": {"aws:PrincipalOrgID": ["o-aaaa", "o-bbbb"]}}
    statement = TRUST["Statement"][0]
    approved = {**TRUST, "Statement": [{**statement, "Condition": both}]}
    widened = {**TRUST, "Statement": [{**statement, "Condition": either}]}
    assert not same_document(approved, widened)
    found = differences(state(trust_policy=approved), state(trust_policy=widened))
    assert [d.aspect for d in found] == ["trust policy"]
    assert same_document(approved, approved)
