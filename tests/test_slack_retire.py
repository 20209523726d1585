"""Retiring a role through Slack, end to end over HTTP against moto: ``/iam-role delete`` shows what will
be removed and when the role was last used, goes through the same approval, and the bot deletes the
role; roles the bot did not make are refused, and so is a second request to delete the same role."""

import json
import sqlite3

import boto3
import pytest

from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from tests.e2e import APPROVER, OUTSIDER, REQUESTER, click, dms, ephemerals, make_look_alike, request_role, said

FOREIGN_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def created_role(stack: BotStack, name: str) -> str:
    """A role the bot created through the usual request and approval; the request's id."""
    request_id = request_role(stack, "service", {"role_name": name, "service_principal": "ec2.amazonaws.com"})
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"
    return request_id


def ask_to_delete(stack: BotStack, user: str, text: str) -> None:
    reply = stack.driver.command(user, f"delete {text}")
    assert reply.status == 200, reply.body
    assert reply.json()["response_type"] == "ephemeral"
    stack.settle()


def test_a_role_the_bot_made_is_deleted_after_approval(stack: BotStack, aws: boto3.Session) -> None:
    made = created_role(stack, "retire-me")
    iam = aws.client("iam")
    assert iam.list_instance_profiles_for_role(RoleName="retire-me")["InstanceProfiles"]

    ask_to_delete(stack, OUTSIDER, "retire-me")

    retire = stack.runtime.store.for_requester(OUTSIDER, limit=1)[0]
    assert (retire.kind, retire.target_id, retire.status) == ("delete", made, "submitted")
    posted = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    approval = said(posted[-1])
    assert "IAM role deletion" in approval and retire.id in approval
    for shown in ("RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRole", "Not used recently"):
        assert shown in approval, shown
    assert "nothing to flag" not in approval

    click(stack, APPROVER, "approve", retire.id)

    assert stack.runtime.store.get(retire.id).status == "deleted"
    assert [r.id for r in stack.runtime.store.live_roles(role_name="retire-me")] == []
    assert "retire-me" not in [role["RoleName"] for role in iam.list_roles()["Roles"]]
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    told = [said(c) for c in dms(stack, OUTSIDER)]
    assert any("The role is being deleted" in text for text in told)
    assert any("is deleted" in text for text in told)


def test_a_role_the_bot_did_not_make_is_refused(stack: BotStack, aws: boto3.Session) -> None:
    account = stack.runtime.bot.choices.account_ids()[0]
    aws.client("iam").create_role(RoleName="hand-made", AssumeRolePolicyDocument=FOREIGN_TRUST)

    ask_to_delete(stack, REQUESTER, f"hand-made {account}")

    refused = " ".join(said(c) for c in ephemerals(stack, REQUESTER))
    assert "was not created by this bot" in refused and "iam-role-bot:request-id" in refused
    assert stack.runtime.store.for_requester(REQUESTER) == []
    assert aws.client("iam").get_role(RoleName="hand-made")

    ask_to_delete(stack, REQUESTER, "hand-made")
    assert "has not created a role named hand-made" in " ".join(said(c) for c in ephemerals(stack, REQUESTER))


def test_a_second_request_to_delete_the_same_role_is_refused(stack: BotStack) -> None:
    created_role(stack, "twice")
    ask_to_delete(stack, OUTSIDER, "twice")
    first = stack.runtime.store.for_requester(OUTSIDER, limit=1)[0]

    ask_to_delete(stack, REQUESTER, "twice")

    assert f"{first.id} already asks to delete twice" in " ".join(said(c) for c in ephemerals(stack, REQUESTER))
    assert [r.kind for r in stack.runtime.store.for_requester(REQUESTER)] == ["create"]


def test_a_deletion_whose_subject_changed_after_approval_is_refused(stack: BotStack, aws: boto3.Session) -> None:
    """What a deletion acts on is part of its audited content: swapping it after approval is caught."""
    created_role(stack, "kept-safe")
    ask_to_delete(stack, OUTSIDER, "kept-safe")
    retire = stack.runtime.store.for_requester(OUTSIDER, limit=1)[0]
    stack.runtime.workflow.lease_seconds = 0.0  # its job is free at once, as after its replica died
    stack.runtime.workflow.approve(retire.id, APPROVER)  # approved; not carried out yet
    with sqlite3.connect(stack.runtime.store.path, isolation_level=None) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="never changes"):
            conn.execute(f"UPDATE requests SET target_id = 'R-1' WHERE id = '{retire.id}'")
        conn.execute("DROP TRIGGER requests_content_fixed")
        conn.execute(
            f"UPDATE requests SET subject_json = replace(subject_json, 'kept-safe', 'other') WHERE id = '{retire.id}'"
        )

    stack.runtime.bot.resume_interrupted()
    stack.settle()

    record = stack.runtime.store.get(retire.id)
    assert record.status == "failed" and "not what was approved" in (record.error or "")
    assert "kept-safe" in [role["RoleName"] for role in aws.client("iam").list_roles()["Roles"]]


def test_a_same_named_role_tagged_for_another_request_is_refused(stack: BotStack, aws: boto3.Session) -> None:
    created_role(stack, "copycat")
    iam = aws.client("iam")
    for profile in iam.list_instance_profiles_for_role(RoleName="copycat")["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName="copycat")
    for policy in iam.list_role_policies(RoleName="copycat")["PolicyNames"]:
        iam.delete_role_policy(RoleName="copycat", PolicyName=policy)
    iam.delete_role(RoleName="copycat")
    tag = [{"Key": "iam-role-bot:request-id", "Value": "R-9999"}]
    iam.create_role(RoleName="copycat", AssumeRolePolicyDocument=FOREIGN_TRUST, Tags=tag)

    ask_to_delete(stack, OUTSIDER, "copycat")

    refused = " ".join(said(c) for c in ephemerals(stack, OUTSIDER))
    assert "no record of creating it as it is tagged" in refused
    assert stack.runtime.store.for_requester(OUTSIDER) == []


def test_a_role_deleted_and_made_again_with_copied_tags_is_not_deleted(stack: BotStack, aws: boto3.Session) -> None:
    """The look-alike carries the bot's tag with the request's nonce (ListRoleTags shows both), but another RoleId:
    asked before, it is refused; approved before it appeared, the deletion fails and leaves it."""
    created_role(stack, "twin")
    iam = aws.client("iam")
    make_look_alike(iam, "twin")
    ask_to_delete(stack, OUTSIDER, "twin")
    refused = " ".join(said(c) for c in ephemerals(stack, OUTSIDER))
    assert "is not the one the bot made" in refused and "deleted and another made under its name" in refused
    assert stack.runtime.store.for_requester(OUTSIDER) == []

    created_role(stack, "twin-later")
    ask_to_delete(stack, OUTSIDER, "twin-later")
    retire = stack.runtime.store.for_requester(OUTSIDER, limit=1)[0]
    make_look_alike(iam, "twin-later")
    click(stack, APPROVER, "approve", retire.id)
    failed = stack.runtime.store.get(retire.id)
    assert failed.status == "failed" and "is not the one the bot made" in (failed.error or "")
    assert {"twin", "twin-later"} <= {role["RoleName"] for role in iam.list_roles()["Roles"]}
