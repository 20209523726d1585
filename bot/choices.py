"""What the request form's selects offer: target accounts, services, managed policies, identity providers.

Read-only answers for the form and its options loads; what is finally allowed is checked again at
submission (``bot.intake``) whatever the form offered.
"""

from typing import Literal

from bot.catalog import PolicyCatalog
from bot.config import Config
from bot.domain import SERVICE_PRINCIPALS
from bot.domain.partitions import DEFAULT_PARTITION
from bot.domain.services import SERVICE_LINKED_ROLE_NAMES
from bot.domain.webidentity import WEB_IDENTITY_PROVIDERS

Choice = tuple[str, str]
"""(text, value) of one option."""


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

    def policies(self, account_id: str | None, query: str) -> list[Choice]:
        """Managed policies of the account (default: the first offered) matching ``query``."""
        return self.catalog.search(account_id or self.account_ids()[0], query)

    def providers(self, account_id: str | None, kind: Literal["saml", "oidc"], query: str) -> list[Choice]:
        """The account's (default: the first offered) SAML or OIDC identity providers matching ``query``."""
        arns = self.catalog.providers(account_id or self.account_ids()[0])[kind]
        choices = [(arn.split("/", 1)[-1], arn) for arn in arns]
        if kind == "oidc" and self.partition == DEFAULT_PARTITION:
            # Web identities AWS trusts without an IAM OIDC provider (bot.domain.webidentity).
            choices += [(f"{p.label} ({p.host})", p.host) for p in WEB_IDENTITY_PROVIDERS.values()]
        return [(label, value) for label, value in choices if query.lower() in f"{label} {value}".lower()]
