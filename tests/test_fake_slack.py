"""FakeSlack over real HTTP, through a real slack_sdk WebClient."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.sandbox.fake_slack import FakeSlack

TOKEN = "xoxb-sandbox-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
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
    response = client.views_open(trigger_id="123.456", view=view)

    call = fake.last("views.open")
    assert call.params == {"trigger_id": "123.456", "view": view}
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
    fake.fail_next("views.open", error="expired_trigger_id")
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id="1.2", view={"type": "modal", "blocks": []})
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "expired_trigger_id"
    assert client.views_open(trigger_id="1.3", view={"type": "modal", "blocks": []})["ok"]


def test_last_without_calls_names_what_was_seen(client: WebClient, fake: FakeSlack) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"no chat\.update call.*auth\.test"):
        fake.last("chat.update")


def test_wait_for_sees_a_call_made_later_from_another_thread(client: WebClient, fake: FakeSlack) -> None:
    timer = threading.Timer(0.05, client.chat_update, kwargs={"channel": "C1", "ts": "1.2", "text": "Approved"})
    timer.start()
    call = fake.wait_for("chat.update", lambda c: c.params["text"] == "Approved", timeout=2)
    timer.join()
    assert call.params["ts"] == "1.2"


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
