"""What the request form's selects offer: target accounts, services, managed policies, identity providers.

Read-only answers for the form and its options loads; what is finally allowed is checked again at
submission (``bot.intake``) whatever the form offered.
"""

import time
from typing import Literal

from bot.catalog import PolicyCatalog
from bot.config import Config
from bot.domain import SERVICE_PRINCIPALS
from bot.domain.partitions import DEFAULT_PARTITION
from bot.domain.services import SERVICE_LINKED_ROLE_NAMES
from bot.domain.webidentity import WEB_IDENTITY_PROVIDERS

Choice = tuple[str, str]
"""(text, value) of one option."""

OPTIONS_BUDGET = 1.5
"""Seconds an options load may wait for AWS: Slack shows a broken list unless the answer comes within
3 s (https://docs.slack.dev/reference/interaction-payloads/block-suggestion; the 3 s rule:
https://docs.slack.dev/interactivity/handling-user-interaction), and the HTTP round trip needs the rest."""
STILL_LOADING: Choice = ("Still loading this account's list: type again in a moment", "still-loading")
"""Answered when the catalogue is not there within the budget (a cold start); the fetch goes on."""


class Choices:
    """The form's choices for an organisation's configuration and the accounts' IAM catalogues."""

    def __init__(
        self, config: Config, catalog: PolicyCatalog, *, home_account_id: str, partition: str = DEFAULT_PARTITION
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.home_account_id = home_account_id
        self.partition = partition
        """The bot's partition (from its sts:GetCallerIdentity ARN): every ARN a request names or builds uses it."""

    def accounts(self) -> list[Choice]:
        """Target accounts to offer: (id, label), the configured ones allowed by the guardrails."""
        allowed = self.config.policy.guardrails.allowed_accounts
        configured = [(a.id, f"{a.name} ({a.id})") for a in self.config.policy.accounts]
        if not configured:
            configured = [(self.home_account_id, f"This account ({self.home_account_id})")]
        return [(id_, label) for id_, label in configured if not allowed or id_ in allowed]

    def account_ids(self) -> list[str]:
        """The ids of ``accounts()``, the accounts a request may target."""
        return [account_id for account_id, _ in self.accounts()]

    def known_accounts(self) -> set[str]:
        """Accounts of this organisation (the review treats others as outsiders)."""
        return {self.home_account_id, *(a.id for a in self.config.policy.accounts)}

    def services(self, query: str, *, linked: bool = False) -> list[Choice]:
        """Curated service principals matching ``query``, plus what was typed if it looks like one.

        ``linked``: services with a service-linked role (labelled with the role's name) instead of
        services that assume ordinary roles.
        """
        curated = SERVICE_LINKED_ROLE_NAMES.items() if linked else SERVICE_PRINCIPALS
        words = query.lower().split()
        matches = [(f"{label} ({p})", p) for p, label in curated if all(w in f"{p} {label}".lower() for w in words)]
        typed = query.strip().lower()
        if typed.endswith(".amazonaws.com") and typed not in {p for _, p in matches}:
            matches.insert(0, (typed, typed))
        return matches

    def target(self, chosen: str | None) -> str | None:
        """The account whose catalogue a search reads: the one chosen in the form (if it may be targeted), or
        the only one offered; None while the form has several and none is chosen (another's policies would do)."""
        offered = self.account_ids()
        if chosen in offered:
            return chosen
        return offered[0] if len(offered) == 1 and chosen is None else None

    def policies(self, chosen: str | None, query: str) -> list[Choice]:
        """Managed policies of the chosen account matching ``query``, within ``OPTIONS_BUDGET``."""
        account = self.target(chosen)
        if account is None:
            return []
        found = self.catalog.search_within(account, query, OPTIONS_BUDGET)
        return [STILL_LOADING] if found is None else found

    def providers(self, chosen: str | None, kind: Literal["saml", "oidc"], query: str) -> list[Choice]:
        """The chosen account's SAML or OIDC identity providers matching ``query``, within ``OPTIONS_BUDGET``.

        A search that finds nothing fetches the list again (a provider added since the last fetch),
        within what is left of the budget.
        """
        account = self.target(chosen)
        if account is None:
            return []
        started = time.monotonic()
        matches = self._matching_providers(self.catalog.providers_within(account, OPTIONS_BUDGET), kind, query)
        if matches == []:
            left = max(0.0, OPTIONS_BUDGET - (time.monotonic() - started))
            matches = self._matching_providers(self.catalog.providers_within(account, left, fresh=True), kind, query)
        return [STILL_LOADING] if matches is None else matches

    def _matching_providers(
        self, providers: dict[str, list[str]] | None, kind: Literal["saml", "oidc"], query: str
    ) -> list[Choice] | None:
        if providers is None:
            return None
        choices = [(arn.split("/", 1)[-1], arn) for arn in providers[kind]]
        if kind == "oidc" and self.partition == DEFAULT_PARTITION:
            # Web identities AWS trusts without an IAM OIDC provider (bot.domain.webidentity).
            choices += [(f"{p.label} ({p.host})", p.host) for p in WEB_IDENTITY_PROVIDERS.values()]
        return [(label, value) for label, value in choices if query.lower() in f"{label} {value}".lower()]
