"""Plain data the bot fills in for ``blocks``: one request as people should see it."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FindingCard:
    """One review finding: ``severity`` is ``high``, ``warning`` or ``info``; ``concerns`` names the field."""

    severity: str
    title: str
    explanation: str
    concerns: str = ""


@dataclass(frozen=True)
class LastUseCard:
    """A role's last use as the bot last read it in IAM, at ``read_at``: App Home shows how old the reading is."""

    read_at: float
    found: bool = True
    """The role existed when read."""
    used_at: float | None = None
    """When IAM last saw it used (None: not within IAM's tracking period, 400 days)."""
    region: str | None = None


@dataclass(frozen=True)
class RequestCard:
    """A role request with its status, review and outcome, ready to render.

    ``plan`` has one line per AWS call; ``result`` holds ``role_arn``, ``instance_profile_arn`` and
    ``switch_role_url`` once created; ``created_at`` is a Unix timestamp.
    """

    id: str
    role_type: str
    role_name: str
    account_id: str
    account_label: str
    requester: str
    summary: str
    justification: str
    status: str = "submitted"
    plan: list[str] = field(default_factory=list)
    trust_policy_json: str | None = None
    inline_policy_json: str | None = None
    settings_json: str | None = None
    """The role's own settings as its first AWS call gets them (path, description, session duration,
    boundary, tags: all but the trust policy and the name), as indented JSON."""
    findings: list[FindingCard] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)
    needed: int = 1
    decided_by: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0
    sandbox: bool = False
    posted: bool = True
    """The approval message is in the approvals channel, with the full text of whatever it had to cut in
    its thread: until then nobody is offered Approve (see ``messages.approval_layout``)."""
    not_posted: str | None = None
    """Why Slack refused for good to post it for approval (``not_in_channel``, …): the bot stopped trying."""
    kind: str = "create"
    """``create`` or ``delete`` (``bot.lifecycle.RequestKind``): what approving does to the role."""
    automatic: bool = False
    """The bot approved it by itself: a time-limited role's deletion (its life was approved with it)."""

    @property
    def deletes(self) -> bool:
        return self.kind == "delete"

    expires_at: float | None = None
    """When the bot deletes the role this request created (time-limited roles)."""
    last_used: LastUseCard | None = None
    """When the role was last used, as housekeeping last read it in AWS (None: not read yet)."""
    drift: str | None = None
    """The role's open drift report, in words (``changed outside the bot (D-3)``), if it has one."""

    @property
    def doing(self) -> str:
        """``Creating``, ``Changing``, ``Deleting`` or ``Extending``: what approving starts."""
        doing = {
            "delete": "Deleting",
            "extend": "Extending",
            "edit": "Changing",
            "accept": "Checking",
            "restore": "Restoring",
        }
        return doing.get(self.kind, "Creating")


@dataclass(frozen=True)
class DifferenceCard:
    """One aspect of a drifted role: ``before`` as approved, ``after`` as in AWS (raw text: blocks escape it)."""

    aspect: str
    before: str
    after: str


@dataclass(frozen=True)
class DriftCard:
    """A drift report, ready to render: a role the bot made that is not (or no longer) as approved."""

    id: str
    made_id: str
    role_name: str
    account_id: str
    account_label: str
    differences: list[DifferenceCard]
    findings: list[FindingCard]
    risk: str
    deleted: bool
    open: bool = True
    replaced: bool = False
    """The role in AWS is another one made under its name (``bot.domain.drift.replaced``): nothing to click."""
    acted_by: str | None = None
    """The latest accept or restore request a click made (its id), if any (the buttons stay: the bot refuses a
    click while that request is under way)."""
    posted: bool = True
    """The full text of whatever the message cut is in its thread: only then are its buttons offered."""
    sandbox: bool = False
