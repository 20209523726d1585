"""Options loads for the modal's external selects: policies, services, identity providers."""

from typing import Any

from slack_bolt import Ack, App

from blocks.options import option_list
from bot.service import RoleBot


def chosen_account(body: dict[str, Any], bot: RoleBot) -> str:
    """The target account selected in the modal, else the first the requester may choose."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    selected = (values.get("account_id", {}).get("account_id") or {}).get("selected_option")
    return selected["value"] if selected else bot.accounts()[0][0]


def register(app: App, bot: RoleBot) -> None:
    @app.options("managed_policy_arns")
    def managed_policies(ack: Ack, body: dict[str, Any]) -> None:
        ack(options=option_list(bot.catalog.search(chosen_account(body, bot), body.get("value", ""))))

    @app.options("service_principal")
    def services(ack: Ack, body: dict[str, Any]) -> None:
        ack(options=option_list(bot.service_choices(body.get("value", ""))))

    @app.options("aws_service_name")
    def linked_services(ack: Ack, body: dict[str, Any]) -> None:
        ack(options=option_list(bot.service_choices(body.get("value", ""), linked=True)))

    @app.options("provider_arn")
    def saml_providers(ack: Ack, body: dict[str, Any]) -> None:
        ack(options=option_list(bot.provider_choices(chosen_account(body, bot), "saml", body.get("value", ""))))

    @app.options("provider")
    def oidc_providers(ack: Ack, body: dict[str, Any]) -> None:
        ack(options=option_list(bot.provider_choices(chosen_account(body, bot), "oidc", body.get("value", ""))))
