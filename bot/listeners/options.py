"""Options loads for the modal's external selects: policies, services, identity providers."""

from typing import Any

from slack_bolt import Ack, App

from blocks import ids
from blocks.options import option_list
from bot.metrics import OPTIONS_LOAD
from bot.service import RoleBot


def chosen_account(body: dict[str, Any]) -> str | None:
    """The target account selected in the modal, if any (else the choices use the first offered)."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    selected = (values.get(ids.ACCOUNT, {}).get(ids.ACCOUNT) or {}).get("selected_option")
    return selected["value"] if selected else None


def register(app: App, bot: RoleBot) -> None:
    choices = bot.choices

    @app.options(ids.MANAGED_POLICIES)
    def managed_policies(ack: Ack, body: dict[str, Any]) -> None:
        with OPTIONS_LOAD.labels(select=ids.MANAGED_POLICIES).time():
            ack(options=option_list(choices.policies(chosen_account(body), body.get("value", ""))))

    @app.options(ids.SERVICE)
    def services(ack: Ack, body: dict[str, Any]) -> None:
        with OPTIONS_LOAD.labels(select=ids.SERVICE).time():
            ack(options=option_list(choices.services(body.get("value", ""))))

    @app.options(ids.LINKED_SERVICE)
    def linked_services(ack: Ack, body: dict[str, Any]) -> None:
        with OPTIONS_LOAD.labels(select=ids.LINKED_SERVICE).time():
            ack(options=option_list(choices.services(body.get("value", ""), linked=True)))

    @app.options(ids.SAML_PROVIDER)
    def saml_providers(ack: Ack, body: dict[str, Any]) -> None:
        with OPTIONS_LOAD.labels(select=ids.SAML_PROVIDER).time():
            ack(options=option_list(choices.providers(chosen_account(body), "saml", body.get("value", ""))))

    @app.options(ids.OIDC_PROVIDER)
    def oidc_providers(ack: Ack, body: dict[str, Any]) -> None:
        with OPTIONS_LOAD.labels(select=ids.OIDC_PROVIDER).time():
            ack(options=option_list(choices.providers(chosen_account(body), "oidc", body.get("value", ""))))
