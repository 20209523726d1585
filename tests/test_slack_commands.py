"""``/iam-role`` over HTTP: help, list, status, the "payload" parser bug, and which modal opens.

Answers to ``help``, ``list`` and ``status`` come back in the HTTP acknowledgement (ephemeral), so
nothing is posted through the Web API for them.
"""

import json
import time

from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, OUTSIDER, REQUESTER, request_role


def answer(stack: BotStack, user: str, text: str) -> dict:
    """The command's HTTP answer, which must be an ephemeral message in the ack body."""
    reply = stack.driver.command(user, text)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["response_type"] == "ephemeral", body
    return body


def shown(body: dict) -> str:
    return body.get("text", "") + json.dumps(body.get("blocks", []))


def input_blocks(view: dict) -> list[str]:
    return [block["block_id"] for block in view["blocks"] if block["type"] == "input"]


def test_help_and_unknown_words_answer_with_help_in_the_ack(stack: BotStack) -> None:
    for text in ("help", "HELP", "frobnicate the roles", "status"):
        body = answer(stack, REQUESTER, text)
        assert "/iam-role list" in shown(body) and "/iam-role status" in shown(body), text
    stack.settle()
    assert stack.slack.calls("views.open") == []
    assert stack.slack.calls("chat.postMessage") == []


def test_list_shows_only_the_callers_requests(stack: BotStack) -> None:
    mine = request_role(stack, "user", {"role_name": "alice-reader"})
    theirs = request_role(stack, "user", {"role_name": "carl-writer"}, user=OUTSIDER)

    listed = shown(answer(stack, REQUESTER, "list"))
    assert mine in listed and "alice-reader" in listed
    assert theirs not in listed and "carl-writer" not in listed

    nothing = shown(answer(stack, APPROVER, "list"))
    assert "no requests" in nothing and mine not in nothing


def test_status_for_requester_and_approver_refused_for_an_outsider(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "status-check"})
    for user in (REQUESTER, APPROVER):
        body = answer(stack, user, f"status {request_id}")
        assert body["blocks"][0]["type"] == "header" and request_id in body["blocks"][0]["text"]["text"], user
        assert "History" in shown(body) and "submitted" in shown(body)
    assert request_id in shown(answer(stack, REQUESTER, f"status {request_id.lower()}"))

    refused = shown(answer(stack, OUTSIDER, f"status {request_id}"))
    assert "No request" in refused
    assert "status-check" not in refused and "History" not in refused


def test_status_echoes_what_was_typed_as_text_never_as_a_mention_or_broadcast(stack: BotStack) -> None:
    for typed in (f"x<@{APPROVER}>x", "x<!channel>x", "x<!subteam^S0ADMINS>x", "x<https://evil.example|login>x"):
        body = answer(stack, OUTSIDER, f"status {typed}")
        texts = [body["text"], *(b["text"]["text"] for b in body["blocks"] if "text" in b)]
        for text in texts:
            assert "No request" in text, text
            assert "<@" not in text and "<!" not in text and "<http" not in text, text
            assert "&lt;" in text, text


def test_status_tolerates_extra_words_and_a_bare_number(stack: BotStack) -> None:
    request_id = request_role(stack, "user", {"role_name": "picky-user"})
    assert "picky-user" in shown(answer(stack, REQUESTER, f"status {request_id} please"))
    assert "picky-user" in shown(answer(stack, REQUESTER, f"status {request_id.removeprefix('R-')}"))


def test_the_word_payload_in_a_command_still_works(stack: BotStack) -> None:
    """Bolt's form parser takes any body containing "payload" for interactivity; bot/http.py undoes that."""
    request_id = request_role(stack, "user", {"role_name": "payload-reader"})
    assert "/iam-role list" in shown(answer(stack, REQUESTER, "help payload"))
    assert request_id in shown(answer(stack, REQUESTER, "list payload"))
    since = time.time()
    assert stack.driver.command(REQUESTER, "service payload").status == 200
    view = stack.slack.wait_for("views.open", lambda c: c.at >= since).params["view"]
    assert "service_principal" in input_blocks(view)


def test_a_role_type_opens_its_form_and_no_text_opens_the_type_chooser(stack: BotStack) -> None:
    reply = stack.driver.command(REQUESTER, "service")
    assert reply.status == 200 and reply.body == ""
    service = stack.slack.wait_for("views.open").params
    assert service["trigger_id"]
    blocks = input_blocks(service["view"])
    assert "service_principal" in blocks and "trusted_account_ids" not in blocks
    role_type = next(b for b in service["view"]["blocks"] if b["block_id"] == "role_type")
    assert role_type["element"]["initial_option"]["value"] == "service"

    stack.slack.clear()
    assert stack.driver.command(REQUESTER, "").status == 200
    chooser = stack.slack.wait_for("views.open").params["view"]
    assert input_blocks(chooser) == ["role_type"]
    assert "initial_option" not in chooser["blocks"][1]["element"]


def test_when_slack_cannot_open_the_form_the_user_is_told_to_try_again(stack: BotStack) -> None:
    stack.slack.fail_next("views.open", error="expired_trigger_id")
    assert stack.driver.command(REQUESTER, "user").status == 200
    stack.settle()
    [told] = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == REQUESTER]
    assert "try again" in told.params["text"]
    assert stack.driver.command(REQUESTER, "user").status == 200
    stack.settle()
    assert len(stack.slack.calls("views.open")) == 2
    assert len(stack.slack.calls("chat.postMessage")) == 1
