"""Editing a role the bot made, end to end over HTTP against moto: ``/iam-role edit`` opens the form
filled with the role's approved state, the approval message shows the difference and whether it only
narrows access, and after approval the role is exactly the new state; the next edit starts from it."""

import json

import boto3

from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from tests.e2e import (
    APPROVER,
    READ_ONLY,
    REQUESTER,
    S3_GET_OBJECT,
    click,
    dms,
    edit_form,
    ephemerals,
    made_lambda_role,
    make_look_alike,
    said,
    submit,
)

LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def initial(view: dict, field: str) -> object:
    element = next(b for b in view["blocks"] if b.get("block_id") == field)["element"]
    if "initial_options" in element:
        return [o["value"] for o in element["initial_options"]]
    if "initial_option" in element:
        return element["initial_option"]["value"]
    return element.get("initial_value")


def latest_approval_message(stack: BotStack) -> str:
    posted = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    return said(posted[-1])


def test_an_edit_starts_from_the_approved_state_and_makes_exactly_the_change(
    stack: BotStack, aws: boto3.Session
) -> None:
    made = made_lambda_role(stack, "edit-me")
    view = edit_form(stack, "edit-me")
    assert view["private_metadata"] == f"edit:{made}"
    assert (initial(view, "role_name"), initial(view, "service_principal")) == ("edit-me", "lambda.amazonaws.com")
    assert initial(view, "managed_policy_arns") == [READ_ONLY]
    assert json.loads(str(initial(view, "inline_policy"))) == json.loads(S3_GET_OBJECT)
    assert initial(view, "tags") == "team=data"

    assert submit(stack, REQUESTER, view, {"inline_policy": "", "justification": "S3 no longer needed."}) is None
    narrowing = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    assert (narrowing.kind, narrowing.target_id, narrowing.required_approvals) == ("edit", made, 1)
    message = latest_approval_message(stack)
    assert "Only narrows access" in message and "inline policy:" in message and "→ (none)" in message
    assert "DeleteRolePolicy" in message
    click(stack, APPROVER, "approve", narrowing.id)
    assert stack.runtime.store.get(narrowing.id).status == "edited"
    iam = aws.client("iam")
    assert iam.list_role_policies(RoleName="edit-me")["PolicyNames"] == []
    assert any("change to the role" in said(c) for c in dms(stack, REQUESTER))

    view = edit_form(stack, "edit-me")  # the next edit starts from the edited state
    assert initial(view, "inline_policy") is None
    answers = {"managed_policy_arns": [READ_ONLY, LAMBDA_BASIC], "justification": "Logs too."}
    assert submit(stack, REQUESTER, view, answers) is None
    widening = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    message = latest_approval_message(stack)
    assert "Only narrows access" not in message and f"+ {LAMBDA_BASIC}" in message
    click(stack, APPROVER, "approve", widening.id)
    attached = iam.list_attached_role_policies(RoleName="edit-me")["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted([READ_ONLY, LAMBDA_BASIC])
    assert stack.runtime.store.approved_state(stack.runtime.store.get(made)).id == widening.id


def test_an_edit_that_changes_what_it_cant_or_nothing_is_refused_per_field(stack: BotStack) -> None:
    made_lambda_role(stack, "fixed")
    view = edit_form(stack, "fixed")
    errors = submit(stack, REQUESTER, view, {"role_name": "renamed", "justification": "x"})
    assert errors is not None and "can't change the role name" in errors["errors"]["role_name"]
    errors = submit(stack, REQUESTER, edit_form(stack, "fixed"), {"justification": "nothing"})
    assert errors is not None and "changes nothing" in errors["errors"]["justification"]


def test_a_role_the_bot_did_not_create_cant_be_edited(stack: BotStack) -> None:
    assert stack.driver.command(REQUESTER, "edit someone-elses").status == 200
    stack.settle()
    refused = " ".join(said(c) for c in ephemerals(stack, REQUESTER))
    assert "has not created a role named someone-elses" in refused
    assert stack.slack.calls("views.open") == []


def test_an_edit_form_drawn_again_with_errors_stays_an_edit_form(stack: BotStack) -> None:
    made = made_lambda_role(stack, "again")
    view = edit_form(stack, "again")
    drawn = stack.runtime.bot.presenter.request_modal_again(view, {"role_name": "An edit can't change the role name."})
    assert (drawn["private_metadata"], drawn["title"]["text"]) == (f"edit:{made}", "Edit an IAM role")
    new_form = stack.runtime.bot.presenter.request_modal_again({**view, "private_metadata": ""}, {})
    assert new_form["private_metadata"] == "" and new_form["title"]["text"] != "Edit an IAM role"


def test_an_edit_of_a_role_deleted_and_made_again_with_copied_tags_fails_and_leaves_the_look_alike_alone(
    stack: BotStack, aws: boto3.Session
) -> None:
    made_lambda_role(stack, "edit-twin")
    view = edit_form(stack, "edit-twin")
    assert submit(stack, REQUESTER, view, {"inline_policy": "", "justification": "S3 no longer needed."}) is None
    edit = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    iam = aws.client("iam")
    old_id, new_id = make_look_alike(iam, "edit-twin")
    click(stack, APPROVER, "approve", edit.id)
    failed = stack.runtime.store.get(edit.id)
    assert failed.status == "failed"
    assert "is not the one the bot made" in (failed.error or "") and old_id in failed.error and new_id in failed.error
    assert iam.list_role_policies(RoleName="edit-twin")["PolicyNames"] == ["edit-twin-inline"]
