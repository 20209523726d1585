"""Events API: App Home; a delivery Slack retries is handled once, whichever replica gets it."""

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.service import RoleBot


def register(app: App, bot: RoleBot) -> None:
    @app.middleware
    def once_per_event(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        """Slack retries an event (``X-Slack-Retry-Num``) it got no answer to in 3 s, with the same ``event_id``
        (https://docs.slack.dev/apis/events-api/#retries); a copy already recorded is answered 200 and dropped."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and not bot.first_delivery(event_id):
            return BoltResponse(status=200, body="")
        next()
        return None

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            bot.publish_home(user)
