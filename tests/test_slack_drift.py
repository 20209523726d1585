"""Drift, end to end: a role the bot made is changed (or deleted) behind its back in moto, a drift pass reports it
once to the approvals channel with the review of the role as it is now, and signed clicks on Accept or Restore
go through the workflow. Passes are run directly (``RoleBot.check_drift``) except where the schedule is tested."""

import json
import sqlite3
from typing import Any

import boto3
import pytest

from bot.cli import main
from bot.config import Drift, Policy
from bot.lifecycle import RequestKind
from bot.sandbox.fake_slack import Call
from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from bot.workflow import ActionRefused
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    READ_ONLY,
    REQUESTER,
    SECOND_APPROVER,
    THIRD_APPROVER,
    approved_edit,
    buttons_of,
    click,
    ephemerals,
    made_lambda_role,
    make_look_alike,
    open_home,
    press,
    request_role,
    said,
)

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
BOUNDARY = "arn:aws:iam::aws:policy/PowerUserAccess"
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
NAME = "watched"


def made_role(stack: BotStack, name: str = NAME) -> str:
    """The watched role: e2e's Lambda role, with a permissions boundary."""
    return made_lambda_role(stack, name, permissions_boundary_arn=BOUNDARY)


def drift_posts(stack: BotStack) -> list[Call]:
    """The drift reports posted to the approvals channel (not their thread replies)."""
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params["channel"] == APPROVAL_CHANNEL and "thread_ts" not in c.params and "Drift D-" in c.params["text"]
    ]


def report_message(stack: BotStack, report_id: str) -> Call:
    """The report's message as it shows now (its latest update, which carries the buttons)."""
    report = stack.runtime.store.drift_report(report_id)
    assert report is not None and report.message_ts
    updates = [c for c in stack.slack.calls("chat.update") if c.params["ts"] == report.message_ts]
    return updates[-1]


def role_state(aws: boto3.Session, name: str = NAME) -> dict[str, Any]:
    iam = aws.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    return {
        "trust": role["AssumeRolePolicyDocument"],
        "boundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        "managed": sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
        "inline": {
            n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=name)["PolicyNames"]
        },
        "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]},
        "description": role.get("Description", ""),
    }


def outcomes(stack: BotStack) -> list[str]:
    found = stack.runtime.bot.check_drift()
    stack.settle()
    return [item.outcome for item in found]


def test_a_role_as_approved_is_not_reported(stack: BotStack) -> None:
    made_role(stack)
    assert outcomes(stack) == ["as approved"]
    assert outcomes(stack) == ["as approved"]
    assert drift_posts(stack) == []


def test_trust_widened_behind_the_bots_back_is_reported_once_as_high_risk(stack: BotStack, aws: boto3.Session) -> None:
    made_role(stack)
    open_to_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    aws.client("iam").update_assume_role_policy(RoleName=NAME, PolicyDocument=json.dumps(open_to_all))
    assert outcomes(stack) == ["reported D-1"]
    assert outcomes(stack) == ["still D-1"]  # the same difference again: not posted again
    assert len(drift_posts(stack)) == 1
    message = said(report_message(stack, "D-1"))
    assert "trust policy: approved" in message and "lambda.amazonaws.com" in message
    assert ":red_circle: High" in message and "Trust the bot refuses at submission" in message
    assert set(buttons_of(report_message(stack, "D-1"))) == {"accept_drift", "restore_drift"}
    assert stack.runtime.store.drift_report("D-1").risk == "high"
    assert "iam_role_bot_drift_reports_open 1.0" in stack.runtime.metrics().decode()


def test_each_aspect_changed_outside_is_named_with_before_and_after(stack: BotStack, aws: boto3.Session) -> None:
    made_role(stack)
    iam = aws.client("iam")
    iam.attach_role_policy(RoleName=NAME, PolicyArn=ADMIN)
    widened = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=NAME, PolicyName=f"{NAME}-inline", PolicyDocument=json.dumps(widened))
    iam.delete_role_permissions_boundary(RoleName=NAME)
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "\u0430dmins"}])  # a Cyrillic а, not a Latin a
    iam.update_role(RoleName=NAME, Description="<!channel> see <https://evil.example|the docs>")
    assert outcomes(stack) == ["reported D-1"]
    report = stack.runtime.store.drift_report("D-1")
    assert [d["aspect"] for d in report.differences] == [
        "managed policies",
        f"inline policy {NAME}-inline",
        "permissions boundary",
        "tags",
        "description",
    ]
    shown = said(report_message(stack, "D-1")) + "".join(
        said(c) for c in stack.slack.calls("chat.postMessage") if c.params.get("thread_ts") == report.message_ts
    )
    assert f"+ {ADMIN}" in shown and "s3:*" in shown and BOUNDARY in shown
    assert "\\\\u0430dmins" in shown  # the look-alike letter shown as its escape
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert "Full administrator access" in shown and "Permissions boundary removed or replaced" in shown
    assert report.risk == "high"


def test_a_new_difference_is_reported_again_and_a_role_back_as_approved_closes_its_report(
    stack: BotStack, aws: boto3.Session
) -> None:
    made_role(stack)
    iam = aws.client("iam")
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    assert outcomes(stack) == ["reported D-1"]
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "extra", "Value": "x"}])
    assert outcomes(stack) == ["reported D-2"]
    assert stack.runtime.store.drift_report("D-1").state == "superseded"
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "data"}])
    iam.untag_role(RoleName=NAME, TagKeys=["extra"])
    assert outcomes(stack) == ["closed D-2"]
    assert stack.runtime.store.open_drift_reports() == []
    assert len(drift_posts(stack)) == 2


def test_accept_goes_through_approvals_and_makes_the_observed_state_the_approved_one(
    make_stack: Any, aws: boto3.Session
) -> None:
    stack = make_stack(approvers=[APPROVER, SECOND_APPROVER, THIRD_APPROVER])
    made = made_role(stack)
    aws.client("iam").attach_role_policy(RoleName=NAME, PolicyArn=ADMIN)
    assert outcomes(stack) == ["reported D-1"]
    press(stack, APPROVER, report_message(stack, "D-1"), "accept_drift")
    press(stack, APPROVER, report_message(stack, "D-1"), "accept_drift")  # a second click makes nothing
    [accept] = [r for r in stack.runtime.store.acting_on(made) if r.kind == "accept"]
    assert (accept.requester, accept.risk, accept.required_approvals) == (APPROVER, "high", 2)
    assert any("already acts on drift report D-1" in said(c) for c in ephemerals(stack, APPROVER))
    click(stack, SECOND_APPROVER, "approve", accept.id)
    assert stack.runtime.store.get(accept.id).status == "submitted"
    click(stack, THIRD_APPROVER, "approve", accept.id)
    assert stack.runtime.store.get(accept.id).status == "accepted"
    assert role_state(aws)["managed"] == sorted([ADMIN, READ_ONLY])  # nothing changed in AWS
    approved = stack.runtime.bot.drift.approved_state(stack.runtime.store.get(made))
    assert approved is not None and ADMIN in approved.managed_policy_arns
    assert outcomes(stack) == ["closed D-1"]
    assert outcomes(stack) == ["as approved"]


def test_accept_refuses_when_aws_changed_again_since_the_report(stack: BotStack, aws: boto3.Session) -> None:
    made = made_role(stack)
    iam = aws.client("iam")
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    assert outcomes(stack) == ["reported D-1"]
    press(stack, SECOND_APPROVER, report_message(stack, "D-1"), "accept_drift")
    [accept] = [r for r in stack.runtime.store.acting_on(made) if r.kind == "accept"]
    iam.attach_role_policy(RoleName=NAME, PolicyArn=ADMIN)  # not what the approvers were shown
    click(stack, APPROVER, "approve", accept.id)
    failed = stack.runtime.store.get(accept.id)
    assert failed.status == "failed" and "changed again" in (failed.error or "")
    approved = stack.runtime.bot.drift.approved_state(stack.runtime.store.get(made))
    assert approved is not None and approved.tags["team"] == "data"
    assert outcomes(stack) == ["reported D-2"]  # the failed accept changed nothing and blocks nothing
    press(stack, APPROVER, report_message(stack, "D-2"), "restore_drift")
    assert [r.status for r in stack.runtime.store.acting_on(made) if r.kind == "restore"] == ["restored"]
    assert ADMIN not in role_state(aws)["managed"] and role_state(aws)["tags"]["team"] == "data"


def test_restore_puts_the_role_back_exactly_as_approved(stack: BotStack, aws: boto3.Session) -> None:
    made_role(stack)
    before = role_state(aws)
    iam = aws.client("iam")
    iam.update_assume_role_policy(
        RoleName=NAME,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.attach_role_policy(RoleName=NAME, PolicyArn=ADMIN)
    iam.delete_role_policy(RoleName=NAME, PolicyName=f"{NAME}-inline")
    iam.put_role_policy(RoleName=NAME, PolicyName="backdoor", PolicyDocument=json.dumps(INLINE))
    iam.delete_role_permissions_boundary(RoleName=NAME)
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}, {"Key": "added", "Value": "x"}])
    assert outcomes(stack) == ["reported D-1"]
    press(stack, APPROVER, report_message(stack, "D-1"), "restore_drift")
    press(stack, APPROVER, report_message(stack, "D-1"), "restore_drift")  # doubled: acts once
    stack.settle()
    restores = [r for r in stack.runtime.store.recent() if r.kind == "restore"]
    assert [r.status for r in restores] == ["restored"]
    assert role_state(aws) == before
    assert outcomes(stack) == ["closed D-1"]


def test_only_an_approver_of_the_account_may_click(stack: BotStack, aws: boto3.Session) -> None:
    made_role(stack)
    aws.client("iam").tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    assert outcomes(stack) == ["reported D-1"]
    for user in (OUTSIDER, REQUESTER):
        press(stack, user, report_message(stack, "D-1"), "restore_drift")
        press(stack, user, report_message(stack, "D-1"), "accept_drift")
        assert any("Only the approvers of account" in said(c) for c in ephemerals(stack, user))
    assert [r.kind for r in stack.runtime.store.recent()] == ["create"]
    assert role_state(aws)["tags"]["team"] == "other"


def test_a_role_deleted_outside_is_reported_once_without_restore_and_marked(
    stack: BotStack, aws: boto3.Session
) -> None:
    made = made_role(stack)
    iam = aws.client("iam")
    for arn in (READ_ONLY,):
        iam.detach_role_policy(RoleName=NAME, PolicyArn=arn)
    iam.delete_role_policy(RoleName=NAME, PolicyName=f"{NAME}-inline")
    iam.delete_role(RoleName=NAME)
    assert outcomes(stack) == ["reported D-1"]
    assert outcomes(stack) == ["still D-1"]
    assert len(drift_posts(stack)) == 1
    assert set(buttons_of(report_message(stack, "D-1"))) == {"accept_drift"}
    message = report_message(stack, "D-1")
    assert "deleted outside the bot" in said(message)
    home = open_home(stack, REQUESTER)  # (forgets what was said so far)
    assert home is not None and "deleted outside the bot (D-1)" in json.dumps(home)
    press(stack, SECOND_APPROVER, message, "accept_drift")
    [accept] = [r for r in stack.runtime.store.acting_on(made) if r.kind == "accept"]
    click(stack, APPROVER, "approve", accept.id)
    assert stack.runtime.store.get(accept.id).status == "accepted"
    assert outcomes(stack) == ["skipped: service-linked (AWS owns it), or its deletion was accepted"]


@pytest.mark.parametrize("interval", [0, 30])
def test_housekeeping_checks_for_drift_once_per_interval(make_stack: Any, aws: boto3.Session, interval: int) -> None:
    stack = make_stack(policy=Policy(drift=Drift(interval_minutes=interval)))
    made_role(stack)
    iam = aws.client("iam")
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    now = 1_900_000_000.0
    stack.runtime.bot.housekeeping(now)
    stack.settle()
    assert len(drift_posts(stack)) == (1 if interval else 0)
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "third"}])
    stack.runtime.bot.housekeeping(now + 60)  # within the interval: no pass
    stack.settle()
    assert len(drift_posts(stack)) == (1 if interval else 0)
    stack.runtime.bot.housekeeping(now + interval * 60 + 1)
    stack.settle()
    assert len(drift_posts(stack)) == (2 if interval else 0)


def test_the_drift_check_command_runs_one_pass_and_says_what_it_found(
    stack: BotStack, aws: boto3.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made = made_role(stack)
    for name, value in {
        "DATABASE_PATH": stack.settings.database_path,
        "SLACK_BOT_TOKEN": "xoxb-sandbox",
        "SLACK_API_URL": str(stack.settings.slack_api_url),
        "APPROVAL_CHANNEL_ID": APPROVAL_CHANNEL,
        "APPROVER_IDS": f"{APPROVER},{SECOND_APPROVER}",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["drift", "check"]) == 0
    assert f"{made} " in capsys.readouterr().out
    aws.client("iam").attach_role_policy(RoleName=NAME, PolicyArn=ADMIN)
    assert main(["drift", "check"]) == 1
    assert "reported D-1" in capsys.readouterr().out
    assert len(drift_posts(stack)) == 1  # posted by the command, through the same notifier
    assert main(["roles", "list"]) == 0
    assert "CHANGED outside the bot (D-1)" in capsys.readouterr().out


def test_a_report_made_before_an_approved_edit_can_no_longer_undo_the_edit(stack: BotStack, aws: boto3.Session) -> None:
    """The report compares AWS with the approved state of its time. Once an edit approves what the console did, AWS
    is still exactly the report's "now", so without a check a one-click Restore would undo the approved edit (a tag
    ABAC conditions read, a trust, a policy) without its approvals; Accept would replace it just as well."""
    made = made_role(stack)
    aws.client("iam").tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    assert outcomes(stack) == ["reported D-1"]
    approved_edit(stack, NAME, {"tags": "team=other", "justification": "Moved to team other."})
    assert stack.runtime.store.drift_report("D-1").state == "open"  # until the next pass closes it
    for action in ("restore_drift", "accept_drift"):
        press(stack, SECOND_APPROVER, report_message(stack, "D-1"), action)
    stack.settle()
    assert any("approved state changed" in said(c) for c in ephemerals(stack, SECOND_APPROVER))
    assert [r.kind for r in stack.runtime.store.acting_on(made)] == ["edit"]
    assert role_state(aws)["tags"]["team"] == "other"
    assert outcomes(stack) == ["closed D-1"]


def test_a_document_with_a_repeated_key_is_a_difference_shown_with_both_values(
    stack: BotStack, aws: boto3.Session
) -> None:
    """IAM accepts a policy whose JSON repeats a key, and AWS documents no meaning for it; JSON readers keep the last
    value (botocore too), so a trust whose first "Principal" is everyone and whose last is the approved one read as
    exactly as approved. Whatever AWS makes of it, it is not the approved document: it is reported, both values
    shown, and Restore puts the approved one back."""
    made_role(stack)
    iam = aws.client("iam")
    trust = iam.get_role(RoleName=NAME)["Role"]["AssumeRolePolicyDocument"]
    [statement] = trust["Statement"]
    repeated = json.dumps({**trust, "Statement": ["STATEMENT"]}).replace(
        '"STATEMENT"', '{"Principal": {"AWS": "*"}, ' + json.dumps(statement)[1:]
    )
    iam.update_assume_role_policy(RoleName=NAME, PolicyDocument=repeated)
    assert outcomes(stack) == ["reported D-1"]
    report = stack.runtime.store.drift_report("D-1")
    assert [d["aspect"] for d in report.differences] == ["trust policy"]
    assert '"Principal (repeated 1)": {\n' in report.differences[0]["after"]
    assert '"AWS": "*"' in report.differences[0]["after"]
    assert "Principal (repeated 1)" in said(report_message(stack, "D-1"))
    press(stack, APPROVER, report_message(stack, "D-1"), "restore_drift")
    assert outcomes(stack) == ["closed D-1"]
    assert "*" not in json.dumps(role_state(aws)["trust"])


def test_a_report_whose_approved_state_was_rewritten_in_the_database_restores_nothing(
    stack: BotStack, aws: boto3.Session
) -> None:
    """``drift_reports`` is outside the audit chain; Restore acts on one click. Its target is checked against the
    approved state the chained requests give, so whoever can write that one table can't make Restore grant anything."""
    made_role(stack)
    aws.client("iam").tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    assert outcomes(stack) == ["reported D-1"]
    report = stack.runtime.store.drift_report("D-1")
    forged = {**report.approved, "managed_policy_arns": [ADMIN, READ_ONLY]}
    with sqlite3.connect(stack.settings.database_path) as db:
        db.execute("UPDATE drift_reports SET approved_json = ? WHERE id = 'D-1'", [json.dumps(forged)])
    press(stack, APPROVER, report_message(stack, "D-1"), "restore_drift")
    assert any("approved state changed" in said(c) for c in ephemerals(stack, APPROVER))
    assert ADMIN not in role_state(aws)["managed"]


def test_a_new_default_version_of_the_roles_own_managed_policy_is_reported_high_and_accepted_not_restored(
    make_stack: Any, aws: boto3.Session
) -> None:
    """The role's customer managed policy given a new default version (CreatePolicyVersion --set-as-default, a known
    escalation path) widens the role without touching it: the approvers pinned the version they reviewed, so it is
    drift, reviewed as it is now. Restore can't put a shared policy's version back (other roles use it): it says so."""
    stack = make_stack(approvers=[APPROVER, SECOND_APPROVER, THIRD_APPROVER])
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName="team-reader", PolicyDocument=json.dumps(INLINE))["Policy"]["Arn"]
    made = request_role(
        stack,
        "service",
        {"role_name": NAME, "service_principal": "lambda.amazonaws.com", "managed_policy_arns": [arn]},
    )
    click(stack, APPROVER, "approve", made)
    assert stack.runtime.store.get(made).status == "created"
    assert outcomes(stack) == ["as approved"]
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(everything), SetAsDefault=True)
    assert outcomes(stack) == ["reported D-1"]
    report = stack.runtime.store.drift_report("D-1")
    assert [d["aspect"] for d in report.differences] == ["managed policy versions"]
    assert f"{arn} v1" in report.differences[0]["before"] and f"{arn} v2" in report.differences[0]["after"]
    assert report.risk == "high"
    assert "Full administrator access" in [f["title"] for f in report.findings]  # the new version, not a cached one
    press(stack, APPROVER, report_message(stack, "D-1"), "restore_drift")
    [restore] = [r for r in stack.runtime.store.acting_on(made) if r.kind == "restore"]
    assert restore.status == "failed" and "default version" in (restore.error or "")
    press(stack, APPROVER, report_message(stack, "D-1"), "accept_drift")
    [accept] = [r for r in stack.runtime.store.acting_on(made) if r.kind == "accept"]
    assert accept.required_approvals == 2
    click(stack, SECOND_APPROVER, "approve", accept.id)
    click(stack, THIRD_APPROVER, "approve", accept.id)
    assert stack.runtime.store.get(accept.id).status == "accepted"
    assert outcomes(stack) == ["closed D-1"]
    assert outcomes(stack) == ["as approved"]


def test_after_an_edit_approves_part_of_a_drift_the_rest_is_reported_anew_against_the_new_state(
    stack: BotStack, aws: boto3.Session
) -> None:
    """An edit that approves one of the console's changes leaves AWS as it was: the same observed state, but measured
    against another approved state. The open report (whose Restore would undo the edit, so it is refused) gives way
    to a new one naming only what is still unapproved, so the role doesn't stay stuck on a report no one can act on."""
    made = made_role(stack)
    iam = aws.client("iam")
    iam.tag_role(RoleName=NAME, Tags=[{"Key": "team", "Value": "other"}])
    iam.update_role(RoleName=NAME, Description="changed in the console")
    assert outcomes(stack) == ["reported D-1"]
    approved_edit(stack, NAME, {"tags": "team=other", "justification": "Moved to team other."})
    assert [r.kind for r in stack.runtime.store.acting_on(made)] == ["edit"]
    assert outcomes(stack) == ["reported D-2"]
    assert [d["aspect"] for d in stack.runtime.store.drift_report("D-2").differences] == ["description"]
    press(stack, APPROVER, report_message(stack, "D-2"), "restore_drift")
    assert (role_state(aws)["description"], role_state(aws)["tags"]["team"]) == ("", "other")
    assert outcomes(stack) == ["closed D-2"]


def test_a_role_deleted_and_made_again_with_copied_tags_is_reported_replaced_with_nothing_to_click(
    stack: BotStack, aws: boto3.Session
) -> None:
    """Name and provenance tags (nonce included) can be copied onto a role made again under the name; its RoleId
    can't: IAM never reuses one. The look-alike is not the bot's: no Restore onto it, no Accept that adopts it."""
    made = made_role(stack)
    old_id, new_id = make_look_alike(aws.client("iam"), NAME)
    assert stack.runtime.store.get(made).role_id == old_id
    assert outcomes(stack) == ["reported D-1"]
    assert outcomes(stack) == ["still D-1"]
    report = stack.runtime.store.drift_report("D-1")
    assert report.replaced and not report.deleted
    [difference] = report.differences
    assert difference["aspect"] == "role" and old_id in difference["before"] and new_id in difference["after"]
    message = report_message(stack, "D-1")
    assert "Role replaced outside the bot" in said(message) and "not the bot's" in said(message)
    assert buttons_of(message) == {}
    for kind in (RequestKind.RESTORE, RequestKind.ACCEPT):
        with pytest.raises(ActionRefused, match="neither restores it nor takes it as its own"):
            stack.runtime.bot.drift.act("D-1", APPROVER, kind)
    assert [r.kind for r in stack.runtime.store.recent()] == ["create"]
    home = open_home(stack, REQUESTER)
    assert home is not None and "replaced outside the bot (D-1)" in json.dumps(home)


def test_a_role_made_before_role_ids_were_kept_has_its_id_learned_while_its_tag_is_the_bots(
    stack: BotStack, aws: boto3.Session
) -> None:
    """Rows from before schema 15 have no RoleId: a drift pass learns it from the role carrying the request's tag
    with its secret nonce, and from then on a look-alike is told apart."""
    made = made_role(stack)
    role_id = aws.client("iam").get_role(RoleName=NAME)["Role"]["RoleId"]
    with sqlite3.connect(stack.settings.database_path) as db:
        db.execute("UPDATE requests SET role_id = NULL WHERE id = ?", [made])
    assert outcomes(stack) == ["as approved"]
    assert stack.runtime.store.get(made).role_id == role_id
    make_look_alike(aws.client("iam"), NAME)
    assert outcomes(stack) == ["reported D-1"]
    assert stack.runtime.store.drift_report("D-1").replaced
    assert stack.runtime.store.get(made).role_id == role_id  # learned once, never replaced by the look-alike's
