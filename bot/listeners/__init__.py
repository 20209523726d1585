"""Bolt listeners, one module per kind of Slack request; each is thin: parse, call the bot, render."""

from slack_bolt import App

from bot.listeners import actions, commands, events, options, views
from bot.service import RoleBot


def register_listeners(app: App, bot: RoleBot) -> None:
    for module in (commands, views, actions, options, events):
        module.register(app, bot)
