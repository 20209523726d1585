"""FakeSlack over real HTTP, through a real slack_sdk WebClient."""

from __future__ import annotations

import functools
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.sandbox.fake_slack import MANIFEST, FakeSlack, manifest_scopes, new_trigger_id
from bot.sandbox.slack_driver import InputRefused, element_state

TOKEN = "xoxb-sandbox-token"
EVERY_SCOPE = ("commands", "chat:write", "im:write", "users:read", "usergroups:read")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """Slack's rules, with the bot in channel C1 and a token holding every scope the fake knows of."""
    with FakeSlack(channels=["C1"], scopes=EVERY_SCOPE) as fake:
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.url)


def test_url_is_a_local_base_url_and_stop_frees_it() -> None:
    fake = FakeSlack().start()
    url = fake.url
    fake.stop()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/api/")
    with pytest.raises(RuntimeError):
        _ = fake.url


def test_auth_test_identifies_the_bot(client: WebClient, fake: FakeSlack) -> None:
    response = client.auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == (
        "UBOTUSER",
        "BBOT",
        "T0001",
    )
    assert fake.last("auth.test").token == TOKEN


def test_post_message_records_blocks_as_data_and_returns_distinct_ts(client: WebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    first = client.chat_postMessage(channel="C1", text="hello", blocks=blocks)
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])

    assert first["ts"] != second["ts"]
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == blocks
    assert second["message"]["thread_ts"] == first["ts"]
    recorded = fake.calls("chat.postMessage")
    assert [c.params["text"] for c in recorded] == ["hello", "reply"]
    assert recorded[0].params["blocks"] == blocks
    assert recorded[0].token == TOKEN


def test_form_encoded_json_fields_are_decoded(fake: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=fake.url)
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": '[{"type": "divider"}]'})
    assert fake.last("chat.postMessage").params == {
        "channel": "C1",
        "blocks": [{"type": "divider"}],
    }


def test_views_open_records_the_json_view(client: WebClient, fake: FakeSlack) -> None:
    view = {
        "type": "modal",
        "callback_id": "request_role",
        "title": {"type": "plain_text", "text": "Request a role"},
        "blocks": [],
    }
    trigger_id = new_trigger_id()
    response = client.views_open(trigger_id=trigger_id, view=view)

    call = fake.last("views.open")
    assert call.params == {"trigger_id": trigger_id, "view": view}
    assert call.response["view"]["id"] == response["view"]["id"]
    assert response["view"]["id"].startswith("V")
    assert response["view"]["hash"]
    assert response["view"]["callback_id"] == "request_role"


def test_conversations_open_returns_a_dm_channel(client: WebClient, fake: FakeSlack) -> None:
    response = client.conversations_open(users="U123")
    assert response["channel"]["id"] == "DU123"
    assert fake.last("conversations.open").params["users"] == "U123"


def test_users_info_is_derived_or_configured(client: WebClient, fake: FakeSlack) -> None:
    fake.add_user("U2", name="alice", real_name="Alice Liddell")

    derived = client.users_info(user="U1")["user"]
    configured = client.users_info(user="U2")["user"]

    assert derived["id"] == "U1"
    assert derived["name"] and derived["real_name"]
    assert configured["name"] == "alice"
    assert configured["real_name"] == "Alice Liddell"
    assert configured["profile"]["display_name"] == "alice"


def test_usergroup_members_or_no_such_subteam(client: WebClient, fake: FakeSlack) -> None:
    fake.set_usergroup("S1", ["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as caught:
        client.usergroups_users_list(usergroup="S404")
    assert caught.value.response["error"] == "no_such_subteam"


def test_rate_limit_is_retried_by_the_retry_handler(
    client: WebClient, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=slept.append))
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", status=429, retry_after=1)

    response = client.chat_postMessage(channel="C1", text="hi")

    assert response["ok"] is True
    assert len(fake.calls("chat.postMessage")) == 2
    assert len(slept) == 1
    assert slept[0] >= 1  # the Retry-After header was honoured


def test_rate_limit_without_retry_handler_surfaces(client: WebClient, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=30)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="hi")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "30"
    assert caught.value.response["error"] == "ratelimited"


def test_error_injection_surfaces_as_slack_api_error_once(client: WebClient, fake: FakeSlack) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
    fake.fail_next("views.open", error="expired_trigger_id")
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id=new_trigger_id(), view=view)
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "expired_trigger_id"
    assert client.views_open(trigger_id=new_trigger_id(), view=view)["ok"]


def test_a_cut_answer_surfaces_as_an_incomplete_read_through_the_retry_handlers_once(fake: FakeSlack) -> None:
    """As a connection dropped mid-answer does: the SDK's connection-error handler does not retry it (the call was
    made); the next call is answered whole."""
    client = WebClient(token=TOKEN, base_url=fake.url)
    client.retry_handlers.append(builtin_handlers.ConnectionErrorRetryHandler(max_retry_count=2))
    fake.cut_next("chat.postMessage")
    with pytest.raises(http.client.IncompleteRead):
        client.chat_postMessage(channel="C1", text="cut")
    assert [c.params["text"] for c in fake.calls("chat.postMessage")] == ["cut"]
    assert client.chat_postMessage(channel="C1", text="whole")["ok"]


def test_last_without_calls_names_what_was_seen(client: WebClient, fake: FakeSlack) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"no chat\.update call.*auth\.test"):
        fake.last("chat.update")


def test_wait_for_sees_a_call_made_later_from_another_thread(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel="C1", text="Waiting")["ts"]
    timer = threading.Timer(0.05, client.chat_update, kwargs={"channel": "C1", "ts": ts, "text": "Approved"})
    timer.start()
    call = fake.wait_for("chat.update", lambda c: c.params["text"] == "Approved", timeout=2)
    timer.join()
    assert call.params["ts"] == ts


def test_wait_for_times_out_with_a_helpful_message(client: WebClient, fake: FakeSlack) -> None:
    client.chat_postMessage(channel="C1", text="pending")
    started = time.monotonic()
    with pytest.raises(AssertionError) as caught:
        fake.wait_for("chat.postMessage", lambda c: c.params["text"] == "done", timeout=0.1)
    assert time.monotonic() - started < 1
    message = str(caught.value)
    assert "chat.postMessage" in message
    assert "matching the predicate" in message
    assert "pending" in message


def test_delay_slows_the_method_down(client: WebClient, fake: FakeSlack) -> None:
    fake.delay("users.info", 0.1)
    started = time.monotonic()
    client.users_info(user="U1")
    assert time.monotonic() - started >= 0.1


def test_clear_forgets_calls(client: WebClient, fake: FakeSlack) -> None:
    client.auth_test()
    fake.clear()
    assert fake.calls() == []


# --- Slack's rules: each of these passes a lax fake and must be refused by this one --------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def option(text: str = "o", value: str = "v") -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def button(**changes: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain("Go"), "action_id": "go", "value": "1", **changes}


def select(options: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {"type": "static_select", "action_id": "pick", "options": options, **changes}


def modal(**changes: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Request"), "submit": plain("Send"), "blocks": [], **changes}


def text_input(**changes: Any) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "doc", **changes}
    return {"type": "input", "block_id": "doc", "label": plain("Document"), "element": element}


def refusal(call: Callable[[], Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "divider"}] * 51, "/blocks"),
        ([{"type": "header", "text": plain("h" * 151)}], "/blocks/0/text/text"),
        ([section("s" * 3001)], "/blocks/0/text/text"),
        ([{"type": "section", "fields": [plain("f")] * 11}], "/blocks/0/fields"),
        ([{"type": "section", "fields": [plain("f" * 2001)]}], "/blocks/0/fields/0/text"),
        ([actions(button(text=plain("b" * 76)))], "/blocks/0/elements/0/text/text"),
        ([actions(button(value="v" * 2001))], "/blocks/0/elements/0/value"),
        ([actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id"),
        ([actions(select([option(value=f"v{i}") for i in range(101)]))], "/blocks/0/elements/0/options"),
        ([actions(select([option(text="o" * 76)]))], "/blocks/0/elements/0/options/0/text/text"),
        ([actions(select([option(value="v" * 151)]))], "/blocks/0/elements/0/options/0/value"),
        ([actions(select([option()], placeholder=plain("p" * 151)))], "/blocks/0/elements/0/placeholder/text"),
        (
            [actions({"type": "checkboxes", "action_id": "c", "options": [option()] * 11})],
            "/blocks/0/elements/0/options",
        ),
        ([section("a") | {"block_id": "b" * 256}], "/blocks/0/block_id"),
        ([section("a") | {"block_id": "x"}, section("b") | {"block_id": "x"}], "/blocks/1/block_id"),
        ([section("")], "/blocks/0/text/text"),
        ([{"type": "sectoin", "text": plain("typo")}], "/blocks/0"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_block_over_a_limit_is_invalid_blocks_naming_where(
    client: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    error = refusal(lambda: client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in line for line in error.response["response_metadata"]["messages"])


def test_blocks_at_their_limits_are_accepted(client: WebClient) -> None:
    blocks = [
        {"type": "header", "text": plain("h" * 150)},
        section("s" * 3000),
        actions(button(text=plain("b" * 75), value="v" * 2000), select([option("o" * 75, f"{i}") for i in range(100)])),
        *[{"type": "divider"}] * 47,
    ]
    assert client.chat_postMessage(channel="C1", text="x", blocks=blocks)["ok"]


def test_a_message_whose_blocks_hold_too_much_text_in_total_is_msg_blocks_too_long(client: WebClient) -> None:
    assert client.chat_postMessage(channel="C1", text="x", blocks=[section("s" * 2700)] * 4)["ok"]  # 10,800
    error = refusal(lambda: client.chat_postMessage(channel="C1", text="x", blocks=[section("s" * 2300)] * 5))
    assert error.response["error"] == "msg_blocks_too_long"  # 11,500: every block within its own limit


def test_message_text_over_40000_characters_is_msg_too_long(client: WebClient) -> None:
    assert refusal(lambda: client.chat_postMessage(channel="C1", text="t" * 40_001)).response["error"] == "msg_too_long"


def test_chat_update_is_checked_like_a_post_and_needs_a_message_that_exists(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    error = refusal(lambda: client.chat_update(channel="C1", ts=ts, text="x", blocks=[section("s" * 3001)]))
    assert error.response["error"] == "invalid_blocks"
    assert (
        refusal(lambda: client.chat_update(channel="C1", ts="1.2", text="x")).response["error"] == "message_not_found"
    )


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal(blocks=[{"type": "divider"}] * 101), "/blocks"),
        (modal(title=plain("t" * 25)), "/view/title/text"),
        (modal(submit=plain("s" * 25)), "/view/submit/text"),
        (modal(close=plain("c" * 25)), "/view/close/text"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (modal(callback_id="c" * 256), "/view/callback_id"),
        (modal(blocks=[text_input(max_length=3001)]), "/blocks/0/element/max_length"),
        (modal(blocks=[text_input(min_length=3001)]), "/blocks/0/element/min_length"),
        (modal(blocks=[text_input(placeholder=plain("p" * 151))]), "/blocks/0/element/placeholder/text"),
        (
            modal(
                blocks=[
                    {
                        "type": "input",
                        "label": plain("r"),
                        "element": {"type": "radio_buttons", "options": [option()] * 11},
                    }
                ]
            ),
            "/blocks/0/element/options",
        ),
        ({key: value for key, value in modal(blocks=[text_input()]).items() if key != "submit"}, "/view/submit"),
        (modal(blocks=[section("s" * 2900) | {"block_id": f"b{i}"} for i in range(90)]), "/view"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_view_over_a_limit_is_invalid_arguments_naming_where(
    client: WebClient, view: dict[str, Any], pointer: str
) -> None:
    error = refusal(lambda: client.views_open(trigger_id=new_trigger_id(), view=view))
    assert error.response["error"] == "invalid_arguments"
    assert any(f"[json-pointer:{pointer}]" in line for line in error.response["response_metadata"]["messages"])


def test_a_trigger_id_is_good_once_and_for_three_seconds(client: WebClient) -> None:
    trigger_id = new_trigger_id()
    assert client.views_open(trigger_id=trigger_id, view=modal())["ok"]
    assert refusal(lambda: client.views_open(trigger_id=trigger_id, view=modal())).response["error"] == (
        "exchanged_trigger_id"
    )
    number, _, suffix = new_trigger_id().split(".")
    stale = f"{number}.{time.time_ns() // 1_000_000 - 3_100}.{suffix}"
    assert refusal(lambda: client.views_open(trigger_id=stale, view=modal())).response["error"] == "expired_trigger_id"
    assert refusal(lambda: client.views_open(trigger_id="made-up", view=modal())).response["error"] == (
        "invalid_trigger_id"
    )


def test_views_update_with_a_stale_hash_is_hash_conflict(client: WebClient, fake: FakeSlack) -> None:
    opened = client.views_open(trigger_id=new_trigger_id(), view=modal())["view"]
    first = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal(title=plain("One")))["view"]
    assert first["hash"] != opened["hash"] and fake.view_hash(opened["id"]) == first["hash"]

    stale = refusal(lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))
    assert stale.response["error"] == "hash_conflict"
    assert client.views_update(view_id=opened["id"], hash=first["hash"], view=modal())["ok"]
    assert client.views_update(view_id=opened["id"], view=modal())["ok"]  # no hash: last write wins
    assert refusal(lambda: client.views_update(view_id="V404", view=modal())).response["error"] == "not_found"


def test_the_bot_posts_only_where_it_is_a_member(client: WebClient, fake: FakeSlack) -> None:
    fake.add_channel("C2", member=False)
    fake.add_channel("C3", archived=True)
    for channel, error in (("C404", "channel_not_found"), ("C2", "not_in_channel"), ("C3", "is_archived")):
        post = functools.partial(client.chat_postMessage, channel=channel, text="x")
        post_ephemeral = functools.partial(client.chat_postEphemeral, channel=channel, user="U1", text="x")
        assert refusal(post).response["error"] == error
        assert refusal(post_ephemeral).response["error"] == error
    assert client.chat_postMessage(channel="U1", text="a DM by user id")["channel"] == "DU1"


def test_methods_need_the_manifests_scopes() -> None:
    assert manifest_scopes(MANIFEST) == {"commands", "chat:write", "files:write"}
    with FakeSlack() as fake:
        client = WebClient(token=TOKEN, base_url=fake.url)
        error = refusal(lambda: client.users_info(user="U1"))
        assert (error.response["error"], error.response["needed"]) == ("missing_scope", "users:read")
        assert refusal(lambda: client.conversations_open(users="U1")).response["error"] == "missing_scope"
        assert refusal(lambda: client.usergroups_users_list(usergroup="S1")).response["needed"] == "usergroups:read"
        assert refusal(lambda: client.api_call("chat.delete")).response["error"] == "unknown_method"
    with FakeSlack(scopes=manifest_scopes() | {"usergroups:read"}) as fake:
        fake.set_usergroup("S1", ["U1"])
        assert WebClient(token=TOKEN, base_url=fake.url).usergroups_users_list(usergroup="S1")["users"] == ["U1"]


def test_chat_post_message_is_rate_limited_per_channel_by_default(client: WebClient, fake: FakeSlack) -> None:
    for _ in range(3):  # the burst
        client.chat_postMessage(channel="C1", text="x")
    error = refusal(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert int(error.response.headers["Retry-After"]) >= 1
    assert client.chat_postMessage(channel="U1", text="another channel has its own allowance")["ok"]


def test_the_rate_limit_refills_at_its_rate() -> None:
    with FakeSlack(channels=["C1"], post_rate=20, post_burst=1) as fake:
        client = WebClient(token=TOKEN, base_url=fake.url)
        client.chat_postMessage(channel="C1", text="x")
        assert refusal(lambda: client.chat_postMessage(channel="C1", text="x")).response.status_code == 429
        time.sleep(0.06)
        assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_the_driver_refuses_what_the_input_would_not_take() -> None:
    element = {"type": "plain_text_input", "action_id": "doc", "max_length": 10, "min_length": 2}
    assert element_state(element, "x" * 10) == {"type": "plain_text_input", "value": "x" * 10}
    with pytest.raises(InputRefused, match="at most 10"):
        element_state(element, "x" * 11)
    with pytest.raises(InputRefused, match="at least 2"):
        element_state(element, "x")
    assert element_state(element, None)["value"] is None  # left empty: optional inputs are Slack's call
