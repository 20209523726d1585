"""Block Kit builders: within Slack's limits with maximal data, ids that map 1:1 to request fields,
buttons the listeners route on, escaped user text, and the form's state read back as request data."""

import dataclasses
import functools
import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.models.blocks import Block as SdkBlock
from slack_sdk.models.views import View

from blocks import home, messages, modals
from blocks.cards import FindingCard, RequestCard
from blocks.kit import cut, escape, fit
from blocks.limits import assert_within_limits, message_problems, view_problems
from blocks.options import option_list
from bot.domain import (
    CustomTrustRoleRequest,
    OidcRoleRequest,
    SamlRoleRequest,
    ServiceLinkedRoleRequest,
    ServiceRoleRequest,
    UserRoleRequest,
    parse_role_request,
)
from bot.domain.errors import FIELD_LABELS
from bot.domain.models import RoleRequestBase

ACCOUNT = "111122223333"
ACCOUNTS = [(ACCOUNT, f"Payments prod ({ACCOUNT})")]
SERVICES = [("ec2.amazonaws.com", "EC2"), ("lambda.amazonaws.com", "Lambda")]
MODELS: dict[str, type[RoleRequestBase]] = {
    "user": UserRoleRequest,
    "service": ServiceRoleRequest,
    "service-linked": ServiceLinkedRoleRequest,
    "saml": SamlRoleRequest,
    "oidc": OidcRoleRequest,
    "custom": CustomTrustRoleRequest,
}
ASSUMABLE = {
    "account_id",
    "justification",
    "role_name",
    "path",
    "description",
    "max_session_duration",
    "expires_after_days",
    "managed_policy_arns",
    "inline_policy",
    "permissions_boundary_arn",
    "tags",
}
EXPECTED_FIELDS = {
    "user": ASSUMABLE | {"trusted_account_ids", "trusted_principal_arns", "external_id", "require_mfa"},
    "service": ASSUMABLE | {"service_principal", "more_service_principals", "restrict_source_account", "source_arn"},
    "service-linked": {"account_id", "justification", "aws_service_name", "custom_suffix", "description"},
    "saml": ASSUMABLE | {"provider_arn", "audience", "allow_session_tags", "allow_source_identity"},
    "oidc": ASSUMABLE
    | {
        "provider",
        "github_repo",
        "github_ref_type",
        "github_ref",
        "subjects",
        "audiences",
        "cognito_amr",
        "allow_high_risk",
    },
    "custom": ASSUMABLE | {"trust_policy_document"},
}
DECIDED = ["approved", "provisioning", "created", "failed", "rejected", "cancelled", "expired"]
PING = "<!channel> <@U0BOSS> <https://evil.example|click> & co"


# --- data ---------------------------------------------------------------------------------------


def card(**changes: Any) -> RequestCard:
    """A typical request; ``changes`` override any field."""
    values: dict[str, Any] = {
        "id": "R-1042",
        "role_type": "oidc",
        "role_name": "gh-deployer",
        "account_id": ACCOUNT,
        "account_label": "Payments prod",
        "requester": "U01REQ",
        "summary": f"Role `/gh-deployer` in {ACCOUNT}, assumable by web identities from GitHub",
        "justification": "Deploys the payments API from GitHub Actions.",
        "plan": ["CreateRole gh-deployer", "AttachRolePolicy arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "trust_policy_json": json.dumps({"Version": "2012-10-17", "Statement": []}, indent=2),
        "findings": [FindingCard("warning", "Broad subject", "Any branch can assume the role.", "subjects")],
        "approvers": ["U01APP", "U02APP"],
        "created_at": 1_700_000_000.0,
        "result": {
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/gh-deployer",
            "instance_profile_arn": None,
            "switch_role_url": f"https://signin.aws.amazon.com/switchrole?roleName=gh-deployer&account={ACCOUNT}",
        },
    }
    return RequestCard(**{**values, **changes})


@functools.cache
def big_policy(chars: int) -> str:
    """Pretty JSON of about ``chars`` characters."""
    statements: list[dict[str, Any]] = []
    text = ""
    while len(text) < chars:
        statements.append({"Effect": "Allow", "Action": f"s3:GetObject{len(statements)}", "Resource": "*"})
        text = json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)
    return text


SEVERITY_CYCLE = ["info", "warning", "high"]


def maximal_card(**changes: Any) -> RequestCard:
    """Everything as long or as many as the bot allows, and user text that tries to ping."""
    policies = [f"arn:aws:iam::{ACCOUNT}:policy/{'p' * 100}{i}" for i in range(10)]
    values: dict[str, Any] = {
        "role_name": "r" * 64,
        "account_label": "A very long account label " * 4 + PING,
        "summary": "S" * 2500 + PING,
        "justification": (PING + "\n") * 40 + "j" * 2000,
        "plan": ["CreateRole " + "x" * 400, *(f"AttachRolePolicy {arn}" for arn in policies), "PutRolePolicy y"],
        "trust_policy_json": big_policy(2048),
        "inline_policy_json": big_policy(10_240),
        "settings_json": json.dumps(
            {
                "Path": "/" + "p/" * 255,
                "Description": (PING + "\n") * 18,
                "MaxSessionDuration": 43200,
                "PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/{'b' * 128}",
                "Tags": {f"{i:02d}{'k' * 126}": PING[:40] + "v" * 216 for i in range(47)},
            },
            indent=2,
        ),
        "findings": [
            FindingCard(SEVERITY_CYCLE[i % 3], f"Finding {i} " + "t" * 200 + PING, "e" * 800 + PING, "inline_policy")
            for i in range(50)
        ],
        "approvers": [f"U{i:08d}" for i in range(40)],
        "approvals": [f"U{i:08d}" for i in range(3)],
        "needed": 5,
        "decided_by": "U00000000",
        "reason": PING + "r" * 3000,
        "error": PING + "e" * 5000,
        "result": {
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{'p' * 400}/{'r' * 64}",
            "instance_profile_arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{'r' * 64}",
            "switch_role_url": "https://signin.aws.amazon.com/switchrole?roleName=" + "r" * 64 + "&account=" + ACCOUNT,
        },
        "sandbox": True,
    }
    return card(**{**values, **changes})


def all_texts(obj: Any) -> list[str]:
    """Every string anywhere in a message or view."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [text for value in obj.values() for text in all_texts(value)]
    if isinstance(obj, list | tuple):
        return [text for value in obj for text in all_texts(value)]
    return []


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button, in order: in actions blocks and as section accessories."""
    found = []
    for block in blocks:
        elements = block["elements"] if block["type"] == "actions" else [block.get("accessory") or {}]
        found += [element for element in elements if element.get("type") == "button"]
    return found


def check_message(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """No limit problems, and slack_sdk's own models accept every block."""
    text, blocks = rendered
    assert message_problems(text, blocks) == []
    assert [block.to_dict() for block in SdkBlock.parse_all(blocks)] == blocks


def check_view(view: dict[str, Any]) -> None:
    assert view_problems(view) == []
    assert View(**view).to_dict()["blocks"] == view["blocks"]


# --- the request form -----------------------------------------------------------------------------


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}


def test_form_without_a_type_offers_only_the_six_types() -> None:
    view = modals.request_modal(None, accounts=ACCOUNTS, service_principals=SERVICES, private_metadata="C1")
    check_view(view)
    assert list(inputs(view)) == ["role_type"]
    select = view["blocks"][1]
    assert select["dispatch_action"] is True
    assert select["element"]["action_id"] == "role_type"
    assert "initial_option" not in select["element"]
    assert [o["value"] for o in select["element"]["options"]] == list(MODELS)
    assert (view["callback_id"], view["private_metadata"]) == ("role_request", "C1")
    assert view["submit"]["text"] == "Submit request"


def test_unknown_type_is_shown_as_no_type() -> None:
    view = modals.request_modal("admin", accounts=ACCOUNTS, service_principals=SERVICES)
    assert list(inputs(view)) == ["role_type"]


def test_role_type_labels_fit_and_use_the_guides_terms() -> None:
    labels = {choice.value: choice.label for choice in modals.ROLE_TYPE_CHOICES}
    assert labels["service"] == "An AWS service (EC2, Lambda, …)"
    assert labels["oidc"] == "Web identity / OIDC (e.g. GitHub Actions)"
    assert all(len(choice.label) <= 75 and choice.description for choice in modals.ROLE_TYPE_CHOICES)


@pytest.mark.parametrize("role_type", list(MODELS))
def test_each_type_shows_exactly_its_fields_named_as_the_model(role_type: str) -> None:
    view = modals.request_modal(role_type, accounts=ACCOUNTS, service_principals=SERVICES)
    fields = inputs(view)
    assert view["blocks"][0]["block_id"] == "role_type"
    assert view["blocks"][0]["element"]["initial_option"]["value"] == role_type
    assert view["blocks"][0]["hint"]["text"].startswith(modals.CHOICES_BY_VALUE[role_type].description)
    assert set(fields) - {"role_type"} == EXPECTED_FIELDS[role_type]
    assert set(fields) <= set(FIELD_LABELS)
    model = MODELS[role_type].model_fields
    for field, block in fields.items():
        assert block["element"]["action_id"] == field
        assert block["label"]["text"] == FIELD_LABELS[field]
        if field != "role_type":
            assert block["optional"] is not model[field].is_required(), field
    assert [b["type"] for b in view["blocks"]] == ["input"] * len(fields)  # every block id is a field name


@pytest.mark.parametrize("role_type", list(MODELS))
def test_each_type_is_within_limits_with_many_long_accounts(role_type: str) -> None:
    accounts = [(f"{i:012d}", f"Business unit {i} " + "x" * 80) for i in range(250)]
    view = modals.request_modal(role_type, accounts=accounts, service_principals=SERVICES, private_metadata="m" * 3000)
    check_view(view)
    groups = inputs(view)["account_id"]["element"]["option_groups"]
    assert [len(group["options"]) for group in groups] == [100, 100, 50]


def test_one_account_is_preselected_and_several_are_not() -> None:
    one = inputs(modals.request_modal("user", accounts=ACCOUNTS, service_principals=[]))["account_id"]
    assert one["element"]["initial_option"]["value"] == ACCOUNT
    two = modals.request_modal("user", accounts=[*ACCOUNTS, ("444455556666", "Dev")], service_principals=[])
    element = inputs(two)["account_id"]["element"]
    assert "initial_option" not in element
    assert element["options"][1]["text"]["text"] == "Dev (444455556666)"


def test_selects_load_their_options_from_the_bot() -> None:
    fields = inputs(modals.request_modal("service", accounts=ACCOUNTS, service_principals=SERVICES))
    policies, service = fields["managed_policy_arns"]["element"], fields["service_principal"]["element"]
    assert (policies["type"], policies["min_query_length"]) == ("multi_external_select", 2)
    assert (service["type"], service["min_query_length"]) == ("external_select", 0)
    assert "ec2.amazonaws.com" in fields["service_principal"]["hint"]["text"]
    session = fields["max_session_duration"]["element"]
    assert [o["value"] for o in session["options"]] == ["3600", "7200", "14400", "28800", "43200"]
    assert session["initial_option"]["value"] == "3600"


def test_checkbox_fields_are_exactly_the_flag_fields() -> None:
    checkboxes = {
        field
        for role_type in MODELS
        for field, block in inputs(modals.request_modal(role_type, accounts=ACCOUNTS, service_principals=[])).items()
        if block["element"]["type"] == "checkboxes"
    }
    assert checkboxes == modals.FLAG_FIELDS


def wire(kind: str, **state: Any) -> dict[str, Any]:
    return {"type": kind, **state}


def picked(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def state_of(**actions: dict[str, Any]) -> dict[str, Any]:
    return {"state": {"values": {field: {field: action} for field, action in actions.items()}}}


def test_read_request_state_reads_every_element_type_from_the_wire_format() -> None:
    view = state_of(
        role_type=wire("static_select", selected_option=picked("oidc")),
        account_id=wire("static_select", selected_option=picked(ACCOUNT)),
        role_name=wire("plain_text_input", value="  gh-deployer "),
        path=wire("plain_text_input", value=None),
        description=wire("plain_text_input", value="   "),
        max_session_duration=wire("static_select", selected_option=picked("7200")),
        managed_policy_arns=wire(
            "multi_external_select",
            selected_options=[picked("arn:aws:iam::aws:policy/ReadOnlyAccess"), picked("arn:aws:iam::aws:policy/X")],
        ),
        provider=wire("external_select", selected_option=None),
        github_repo=wire("plain_text_input", value="acme/payments"),
        github_ref_type=wire("static_select", selected_option=picked("branch")),
        github_ref=wire("plain_text_input", value="main"),
        subjects=wire("plain_text_input", value="repo:acme/payments:environment:prod\nrepo:acme/payments:pull_request"),
        allow_high_risk=wire("checkboxes", selected_options=[]),
        require_mfa=wire("checkboxes", selected_options=[picked("true")]),
        tags=wire("multi_static_select", selected_options=[]),
        justification=wire("plain_text_input", value="Deploys payments"),
    )
    assert modals.read_request_state(view) == {
        "role_type": "oidc",
        "account_id": ACCOUNT,
        "role_name": "gh-deployer",
        "max_session_duration": "7200",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/X"],
        "github_repo": "acme/payments",
        "github_ref_type": "branch",
        "github_ref": "main",
        "subjects": "repo:acme/payments:environment:prod\nrepo:acme/payments:pull_request",
        "allow_high_risk": False,
        "require_mfa": True,
        "justification": "Deploys payments",
    }


def test_read_state_of_an_untouched_form_has_no_type() -> None:
    view = state_of(role_type=wire("static_select", selected_option=None))
    assert modals.read_request_state(view) == {"role_type": None}
    assert modals.read_request_state({}) == {"role_type": None}


def test_a_read_form_validates_into_the_request_it_shows() -> None:
    view = state_of(
        role_type=wire("static_select", selected_option=picked("service")),
        account_id=wire("static_select", selected_option=picked(ACCOUNT)),
        role_name=wire("plain_text_input", value="web-servers"),
        service_principal=wire("external_select", selected_option=picked("ecs-tasks.amazonaws.com")),
        restrict_source_account=wire("checkboxes", selected_options=[picked("true")]),
        max_session_duration=wire("static_select", selected_option=picked("14400")),
        tags=wire("plain_text_input", value="team=payments\nenv=prod"),
        path=wire("plain_text_input", value=""),
        justification=wire("plain_text_input", value="Web tier"),
    )
    request = parse_role_request(modals.read_request_state(view))
    assert isinstance(request, ServiceRoleRequest)
    assert (request.max_session_duration, request.path, request.restrict_source_account) == (14400, "/", True)
    assert [tag.key for tag in request.tags] == ["team", "env"]


def test_reject_modal_carries_the_request_and_reads_the_reason() -> None:
    view = modals.reject_modal("R-7", PING)
    check_view(view)
    assert (view["callback_id"], view["private_metadata"]) == ("reject_request", "R-7")
    reason = inputs(view)["reason"]
    assert reason["element"]["action_id"] == "reason" and reason["element"]["multiline"] is True
    assert "optional" not in reason or reason["optional"] is False
    assert "<!channel>" not in view["blocks"][0]["text"]["text"]
    assert modals.read_reject_reason(state_of(reason=wire("plain_text_input", value=" Too broad "))) == "Too broad"
    assert modals.read_reject_reason(state_of(reason=wire("plain_text_input", value="  "))) is None
    assert modals.read_reject_reason({"state": {"values": {}}}) is None


# --- messages ------------------------------------------------------------------------------------

CARD_BUILDERS: list[Callable[[RequestCard], tuple[str, list[dict[str, Any]]]]] = [
    messages.approval_message,
    lambda c: messages.approval_recorded(c, "U01APP"),
    messages.approved_reply,
    messages.provisioning_reply,
    lambda c: messages.provisioning_reply(c, resumed=True),
    messages.created_reply,
    messages.failed_reply,
    messages.rejected_reply,
    messages.cancelled_reply,
    messages.expired_reply,
    lambda c: messages.reminder_reply(c, 26.4),
    messages.submitted_dm,
    messages.approved_dm,
    messages.rejected_dm,
    messages.created_dm,
    messages.failed_dm,
    messages.cancelled_dm,
    messages.expired_dm,
    messages.created_announcement,
    lambda c: messages.request_status(c, [(1_700_000_000.0 + i, "U01APP", "approval", PING) for i in range(500)]),
    lambda c: messages.request_list([c] * 200),
]


@pytest.mark.parametrize("status", ["submitted", *DECIDED])
@pytest.mark.parametrize("make", [card, maximal_card], ids=["typical", "maximal"])
def test_every_message_is_within_limits_and_never_pings_from_user_text(
    make: Callable[..., RequestCard], status: str
) -> None:
    request = make(status=status, justification=PING, reason=PING, error=PING, summary=PING + "s" * 3000)
    for build in CARD_BUILDERS:
        rendered = build(request)
        check_message(rendered)
        assert not any("<!channel>" in text or "<https://evil" in text for text in all_texts(rendered))


@pytest.mark.parametrize("rendered", [messages.help_message(), messages.request_list([]), messages.refusal(PING)])
def test_command_answers_are_within_limits(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    check_message(rendered)
    assert not any("<!channel>" in text for text in all_texts(rendered))


def test_waiting_request_has_approve_and_reject_with_the_request_id() -> None:
    approve, reject = buttons(messages.approval_message(card())[1])
    assert (approve["text"]["text"], approve["action_id"], approve["value"], approve["style"]) == (
        "Approve",
        "approve",
        "R-1042",
        "primary",
    )
    assert (reject["text"]["text"], reject["action_id"], reject["value"], reject["style"]) == (
        "Reject",
        "reject",
        "R-1042",
        "danger",
    )
    assert "confirm" not in approve


def test_approve_asks_to_confirm_when_a_finding_is_high() -> None:
    high = card(findings=[FindingCard("high", "Admin", "AdministratorAccess", "managed_policy_arns")])
    approve = buttons(messages.approval_message(high)[1])[0]
    assert approve["confirm"]["title"]["text"] == "Create this role in AWS?"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("approved", "✅ Approved by <@U01APP>"),
        ("provisioning", "⚙️ Provisioning…"),
        ("created", f"✅ Approved by <@U01APP> — created `arn:aws:iam::{ACCOUNT}:role/gh-deployer`"),
        ("failed", "⚠️ Failed: AccessDenied on CreateRole"),
        ("rejected", "❌ Rejected by <@U01APP>: Too broad"),
        ("cancelled", "🚫 Cancelled by <@U01APP>"),
        ("expired", "⌛ Expired"),
    ],
)
def test_decided_request_shows_the_outcome_and_no_buttons(status: str, expected: str) -> None:
    decided = card(status=status, decided_by="U01APP", reason="Too broad", error="AccessDenied on CreateRole")
    blocks = messages.approval_message(decided)[1]
    assert buttons(blocks) == []
    assert any(text.startswith(expected) for text in all_texts(blocks))


def test_findings_are_grouped_most_severe_first() -> None:
    findings = [
        FindingCard("info", "Info one", "", ""),
        FindingCard("warning", "Warning one", "", ""),
        FindingCard("high", "High one", "", "inline_policy"),
        FindingCard("info", "Info two", "", ""),
    ]
    text = "\n".join(all_texts(messages.approval_message(card(findings=findings))[1]))
    positions = [text.index(title) for title in ("High", "High one", "Warning one", "Info one", "Info two")]
    assert positions == sorted(positions)
    assert ":red_circle: High" in text and "_(Inline policy)_" in text


def test_approvers_and_progress_for_several_approvals() -> None:
    text = "\n".join(all_texts(messages.approval_message(card(needed=2, approvals=["U01APP"]))[1]))
    assert "Approvers: <@U01APP> <@U02APP>" in text
    assert "Needs 2 approvals (1 so far: <@U01APP>)" in text


def test_sandbox_note_only_in_the_sandbox() -> None:
    note = ":test_tube: Sandbox"
    assert any(note in text for text in all_texts(messages.approval_message(card(sandbox=True))))
    assert not any(note in text for text in all_texts(messages.approval_message(card())))


def test_long_policies_are_cut_with_the_number_of_characters_left_out() -> None:
    inline = big_policy(10_240)
    blocks = messages.approval_message(card(inline_policy_json=inline))[1]
    section = next(text for text in all_texts(blocks) if text.startswith("*Inline policy*"))
    shown = section.split("```")[1].replace("&quot;", '"')
    left = int(re.search(r"([\d,]+) more characters; full text in the thread", section)[1].replace(",", ""))
    assert len(section) <= 3000
    assert inline.startswith(shown) and len(shown) + left == len(inline)


@pytest.mark.parametrize("role_type", [choice.value for choice in modals.ROLE_TYPE_CHOICES])
@pytest.mark.parametrize("status", ["submitted", "failed"])
def test_a_maximal_request_fits_one_message_and_its_cut_parts_follow_whole_in_the_thread(
    status: str, role_type: str
) -> None:
    """Slack refuses a message over ~13k characters of text in all (msg_blocks_too_long), however each field fits."""
    request = maximal_card(status=status, role_type=role_type)
    check_message(messages.approval_message(request))
    replies = messages.approval_overflow(request)
    for reply in replies:
        check_message(reply)
    said = "\n".join(text for reply in replies for text in all_texts(reply))
    shown = "".join(
        piece
        for reply in replies
        if "Inline policy (full text" in reply[0]
        for text in all_texts(reply[1])
        for piece in re.findall(r"```(.*?)```", text, re.DOTALL)
    )
    assert html.unescape(shown) == request.inline_policy_json
    settings = "".join(
        piece
        for reply in replies
        if "Role settings (full text" in reply[0]
        for text in all_texts(reply[1])
        for piece in re.findall(r"```(.*?)```", text, re.DOTALL)
    )
    assert html.unescape(settings) == request.settings_json  # every tag, key and value, in order
    assert all(finding.title[:100].replace("<", "&lt;")[:50] in said for finding in request.findings)
    assert not messages.approval_overflow(card())  # a typical request fits whole: nothing follows


def test_a_code_block_split_for_the_thread_never_puts_a_backtick_against_a_fence() -> None:
    """Four or five backticks in a row would end a block early or show a fence as text; the split can land
    anywhere, so each piece is fenced apart (a zero-width space) and nothing is lost."""
    raw = ("``x" * 3000) + "``"
    pieces = [
        text
        for reply in messages.LongText("Trust policy", raw, "code").full()
        for text in all_texts(reply[1])
        if text.startswith("```")
    ]
    assert len(pieces) > 1
    for piece in pieces:
        body = piece.removeprefix("```").removesuffix("```")
        assert "```" not in body and not body.startswith("`") and not body.endswith("`")
    assert "".join(p.removeprefix("```").removesuffix("```") for p in pieces).replace("\u200b", "") == raw


def test_a_cut_approval_message_offers_no_decision_until_its_full_text_is_posted() -> None:
    big = maximal_card(status="submitted")
    waiting = messages.approval_message(dataclasses.replace(big, posted=False))[1]
    assert not any(block["type"] == "actions" for block in waiting)
    assert any(messages.FULL_TEXT_PENDING in text for text in all_texts(waiting))
    assert buttons(messages.approval_message(big)[1])
    whole = card(posted=False)  # nothing cut: nothing to wait for
    assert not messages.approval_overflow(whole) and buttons(messages.approval_message(whole)[1])
    assert not any(block["type"] == "actions" for block in home.awaiting_blocks([card(posted=False)]))


def test_justification_is_quoted_and_escaped() -> None:
    blocks = messages.approval_message(card(justification="Needed for <!channel>\nand & more"))[1]
    assert "*Justification*\n> Needed for &lt;!channel&gt;\n> and &amp; more" in all_texts(blocks)


def test_created_reply_links_to_switch_role_and_shows_the_arns() -> None:
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile/web"
    created = card(status="created", result={**card().result, "instance_profile_arn": profile})
    text = "\n".join(all_texts(messages.created_reply(created)[1]))
    assert f"arn:aws:iam::{ACCOUNT}:role/gh-deployer" in text and profile in text
    assert f"<https://signin.aws.amazon.com/switchrole?roleName=gh-deployer&amp;account={ACCOUNT}|" in text
    # IAM is eventually consistent: the reply says the role may need a few seconds before it works.
    assert "a few seconds (usually under 10) before a new role can be used" in text


def test_failed_reply_offers_retry() -> None:
    retry = buttons(messages.failed_reply(card(status="failed", error="Throttling"))[1])
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in retry] == [("Retry", "retry", "R-1042")]


def test_submitted_dm_shows_findings_and_offers_to_cancel() -> None:
    text, blocks = messages.submitted_dm(card())
    assert "R-1042" in text
    assert any("Broad subject" in t for t in all_texts(blocks))
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons(blocks)] == [
        ("Cancel request", "cancel", "R-1042")
    ]


def test_rejected_dm_gives_the_reason() -> None:
    assert any(
        ":\n> Use a narrower policy" in t for t in all_texts(messages.rejected_dm(card(reason="Use a narrower policy")))
    )


def test_reminder_mentions_only_approvers_who_have_not_approved() -> None:
    text = messages.reminder_reply(card(approvals=["U01APP"], needed=2), 5.2)[0]
    assert "<@U02APP>" in text and "<@U01APP>" not in text and "5 hours" in text


def test_help_lists_every_type_and_subcommand() -> None:
    text = "\n".join(all_texts(messages.help_message()))
    for word in [*MODELS, "list", "status ID", "help"]:
        assert f"`/iam-role {word}`" in text


def test_request_list_says_how_many_are_left_out() -> None:
    text = messages.request_list([maximal_card()] * 200)[1][0]["text"]["text"]
    assert re.search(r"…and \d+ more", text) and "⏳ Waiting for approval" in text


def test_request_status_keeps_the_latest_events() -> None:
    events = [(1_700_000_000.0 + i, "U01APP", f"event-{i}", "") for i in range(500)]
    history = messages.request_status(card(), events)[1][-1]["text"]["text"]
    assert "event-499" in history and "event-0 " not in history and "earlier_" in history


# --- App Home ------------------------------------------------------------------------------------


def test_home_for_an_approver_with_many_requests_is_within_limits() -> None:
    view = home.home_view(
        user_id="U01APP",
        my_requests=[maximal_card(status=s) for s in DECIDED * 15],
        awaiting_me=[maximal_card(id=f"R-{i}") for i in range(40)],
        is_approver=True,
    )
    check_view(view)
    assert view["type"] == "home"
    found = buttons(view["blocks"])
    assert found[0]["action_id"] == "open_request_modal"
    decisions = [(b["text"]["text"], b["action_id"], b["value"]) for b in found[1:]]
    assert decisions[:2] == [("Approve", "approve", "R-0"), ("Reject", "reject", "R-0")]
    assert any("…and 25 more" in text for text in all_texts(view))


def test_home_for_a_requester_has_no_decision_buttons() -> None:
    view = home.home_view(user_id="U01REQ", my_requests=[card()], awaiting_me=[], is_approver=False)
    check_view(view)
    assert [b["action_id"] for b in buttons(view["blocks"])] == ["open_request_modal"]
    assert any("R-1042" in text for text in all_texts(view))


# --- options and text helpers --------------------------------------------------------------------


def test_option_list_fits_slack() -> None:
    choices = [("x" * 100, f"arn:{i}") for i in range(150)] + [("too long", "v" * 151)]
    options = option_list(choices)
    assert len(options) == 100 and all(len(o["text"]["text"]) == 75 for o in options)
    assert option_list([("long value", "v" * 151), ("ok", "ok")]) == [
        {"text": {"type": "plain_text", "text": "ok", "emoji": True}, "value": "ok"}
    ]


def test_escape_and_fit_never_split_an_entity() -> None:
    assert escape("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"
    assert cut("a&b", 5) == ("a", 2)
    text = fit("<" * 100, 60)
    assert len(text) <= 60 and text.startswith("&lt;" * 6) and "truncated, 94 more characters" in text


# --- the limits checker --------------------------------------------------------------------------


def plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def btn(**changes: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain_text("Go"), "action_id": "go", "value": "1", **changes}


def opt(text: str = "a", value: str = "a") -> dict[str, Any]:
    return {"text": plain_text(text), "value": value}


def text_input(**changes: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "label": plain_text("L"),
        "element": {"type": "plain_text_input", "action_id": "t", **changes},
    }


def modal(*blocks: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain_text("T"), "submit": plain_text("OK"), "blocks": list(blocks), **changes}


def sec(text: str = "x") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


BAD_VIEWS = {
    "101 blocks in a modal": (modal(*[sec()] * 101), "101 blocks (max 100)"),
    "modal title": (modal(title=plain_text("t" * 25)), "title: text is 25 characters (max 24)"),
    "modal submit": (modal(submit=plain_text("s" * 25)), "submit: text is 25"),
    "modal close": (modal(close=plain_text("c" * 25)), "close: text is 25"),
    "private_metadata": (modal(private_metadata="m" * 3001), "private_metadata is 3001"),
    "callback_id": (modal(callback_id="c" * 256), "callback_id is 256"),
    "view size": (modal(*[sec("x" * 3000)] * 90), "bytes of JSON"),
    "input label": (modal({**text_input(), "label": plain_text("l" * 2001)}), "label: text is 2001"),
    "input hint": (modal({**text_input(), "hint": plain_text("h" * 2001)}), "hint: text is 2001"),
    "text input max_length": (modal(text_input(max_length=3001)), "max_length 3001"),
    "placeholder": (modal(text_input(placeholder=plain_text("p" * 151))), "placeholder: text is 151"),
    "static select options": (
        modal({**text_input(), "element": {"type": "static_select", "options": [opt()] * 101}}),
        "101 options (max 100)",
    ),
    "checkbox options": (
        modal({**text_input(), "element": {"type": "checkboxes", "options": [opt()] * 11}}),
        "11 options (max 10)",
    ),
    "inputs without submit": ({"type": "modal", "title": plain_text("T"), "blocks": [text_input()]}, "needs a submit"),
}
BAD_BLOCKS = {
    "section text": ([sec("x" * 3001)], "text is 3001 characters (max 3000)"),
    "section fields count": ([{"type": "section", "fields": [plain_text("f")] * 11}], "11 fields (max 10)"),
    "section field length": ([{"type": "section", "fields": [plain_text("f" * 2001)]}], "fields[0]: text is 2001"),
    "header": ([{"type": "header", "text": plain_text("h" * 151)}], "text is 151 characters (max 150)"),
    "context elements": ([{"type": "context", "elements": [plain_text("c")] * 11}], "11 context elements"),
    "button text": ([{"type": "actions", "elements": [btn(text=plain_text("b" * 76))]}], "text is 76"),
    "button value": ([{"type": "actions", "elements": [btn(value="v" * 2001)]}], "value is 2001"),
    "option text": ([sec() | {"accessory": {"type": "static_select", "options": [opt(text="o" * 76)]}}], "text is 76"),
    "option value": (
        [sec() | {"accessory": {"type": "static_select", "options": [opt(value="v" * 151)]}}],
        "value is 151",
    ),
    "action_id": ([{"type": "actions", "elements": [btn(action_id="a" * 256)]}], "action_id is 256"),
    "block_id": ([sec() | {"block_id": "b" * 256}], "block_id is 256"),
    "duplicate block_id": ([sec() | {"block_id": "b"}, sec() | {"block_id": "b"}], "duplicate block_id 'b'"),
    "empty text": ([sec("")], "empty text"),
    "confirm title": (
        [
            {
                "type": "actions",
                "elements": [
                    btn(
                        confirm={
                            "title": plain_text("t" * 101),
                            "text": plain_text("x"),
                            "confirm": plain_text("y"),
                            "deny": plain_text("n"),
                        }
                    )
                ],
            }
        ],
        "confirm.title: text is 101",
    ),
    "51 blocks in a message": ([sec()] * 51, "51 blocks (max 50)"),
}


@pytest.mark.parametrize(("view", "problem"), BAD_VIEWS.values(), ids=BAD_VIEWS.keys())
def test_view_limits_are_caught(view: dict[str, Any], problem: str) -> None:
    problems = view_problems(view)
    assert any(problem in p for p in problems), problems
    with pytest.raises(ValueError, match="Over Slack's limits"):
        assert_within_limits(view)


@pytest.mark.parametrize(("blocks", "problem"), BAD_BLOCKS.values(), ids=BAD_BLOCKS.keys())
def test_message_limits_are_caught(blocks: list[dict[str, Any]], problem: str) -> None:
    problems = message_problems("fallback", blocks)
    assert any(problem in p for p in problems), problems
    with pytest.raises(ValueError, match=re.escape(problem)):
        assert_within_limits(("fallback", blocks))


def test_message_text_limit_is_caught_and_a_good_message_passes() -> None:
    assert message_problems("t" * 40_001, []) == ["text is 40001 characters (max 40000)"]
    assert message_problems("ok", [sec(), {"type": "header", "text": plain_text("h" * 150)}]) == []
    assert_within_limits(modal(sec()))


def test_a_cancellation_names_who_cancelled() -> None:
    by_requester = card(status="cancelled", decided_by="U01REQ")
    by_approver = card(status="cancelled", decided_by="U01APP")
    assert messages.cancelled_reply(by_requester)[0] == "🚫 Cancelled by the requester."
    assert messages.cancelled_reply(by_approver)[0] == "🚫 Cancelled by <@U01APP>."
    assert "cancelled by <@U01APP>" in messages.cancelled_dm(by_approver)[0]
    assert "by <@" not in messages.cancelled_dm(by_requester)[0]


def test_a_refusal_keeps_only_the_mentions_of_the_people_it_names() -> None:
    text, blocks = messages.refusal("R-1 was approved by <@U01APP>; you asked for <@U02EVE> and <!channel>", ["U01APP"])
    shown = text + json.dumps(blocks)
    assert "<@U01APP>" in shown
    assert "<@U02EVE>" not in shown and "&lt;@U02EVE&gt;" in shown and "<!channel>" not in shown
