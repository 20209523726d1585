"""Events API: App Home."""

from typing import Any

from slack_bolt import App

from bot.service import RoleBot


def register(app: App, bot: RoleBot) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            bot.publish_home(event["user"])
