"""How the bot's state looks in Slack: request cards, the request form, refusals, a request's status.

The bridge between the bot and ``blocks/``: it turns stored requests into ``RequestCard``s (the data
``blocks/`` renders) and the workflow's sentences into Slack text, where people become mentions. It
reads the store but changes nothing and sends nothing (that is the notifier's job).
"""

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from blocks import messages, modals
from blocks.cards import DifferenceCard, DriftCard, FindingCard, LastUseCard, RequestCard
from blocks.kit import Rendered, escape
from bot.choices import Choices
from bot.config import Config
from bot.domain import SERVICE_PRINCIPALS, AssumableRoleRequest, RoleRequest, request_from_json, to_pretty_json
from bot.domain.change import edit_plan, role_changes
from bot.domain.drift import RoleState, restore_plan
from bot.domain.last_use import LastUse
from bot.domain.retire import RoleToRetire
from bot.lifecycle import DECISION_KINDS, EventKind, Person, RequestKind, Sentence, approved_by
from bot.store import DriftReport, DriftState, Event, RequestRecord, Store


def form_values(request: RoleRequest) -> dict[str, Any]:
    """A request's fields as its form shows them (tags as ``key=value`` lines, documents as JSON)."""
    values = request.model_dump(mode="json", exclude={"managed_policy_pins", "partition", "justification"})
    values["tags"] = "\n".join(f"{tag['key']}={tag['value']}" for tag in values.get("tags") or [])
    return values


def stamp(at: float) -> str:
    """A moment as people read it in every time zone: ``2026-12-01 10:00 UTC``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_mention(user_id: str) -> str:
    """A person as Slack shows them: ``<@U…>`` (``blocks`` escapes everything but well-formed mentions)."""
    return f"<@{user_id}>"


def slack_text(sentence: Sentence | str) -> str:
    """A sentence for Slack, its people as mentions."""
    return sentence.render(slack_mention) if isinstance(sentence, Sentence) else sentence


ESCAPED_WHEN_SHOWN = re.compile(r"[\x7f-\xa0\xad]|[^\x00-\xff]")
"""Characters shown as ``\\uXXXX`` escapes. In Latin-1 (all AWS takes in policy text): those that show as
nothing or as a line break — C1 controls (U+0085 is a "next line"), the no-break space, the soft hyphen.
Beyond it (tags take any letter, separator or number): everything, because Unicode has blank letters
(U+3164), spaces of every width, letters that look like quotes (U+02BA ʺ) or like Latin ones (Cyrillic а).
Shown raw, a value could pass for more JSON lines, or two different values look the same."""


def json_escape(char: str) -> str:
    """``char`` as JSON writes it escaped: one ``\\uXXXX``, or a surrogate pair beyond U+FFFF."""
    utf16 = char.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(utf16[i : i + 2], 'big'):04x}" for i in range(0, len(utf16), 2))


def shown_text(text: str) -> str:
    """Text as approvers read it: the characters above as ``\\uXXXX`` escapes (used on JSON, where they can only
    be inside strings, so it is the same JSON, unambiguous)."""
    return ESCAPED_WHEN_SHOWN.sub(lambda found: json_escape(found.group()), text)


def shown_json(document: dict[str, Any]) -> str:
    """A document as approvers read it: indented JSON with the characters above as ``\\uXXXX`` escapes (they
    can only be inside strings, so it is the same JSON, unambiguous)."""
    return shown_text(to_pretty_json(document))


SHOWN_APART = ("RoleName", "AssumeRolePolicyDocument")
"""Parameters of a request's first AWS call the approval message shows elsewhere (its name field, the trust policy)."""


def role_settings(request: RoleRequest) -> str | None:
    """What the role's first AWS call (CreateRole, CreateServiceLinkedRole) sets besides its name and trust:
    path, description, session duration, boundary and tags, read off the plan the executor runs.

    JSON, so a description's line breaks or a tag value can't pass for another setting; tags as
    ``{key: value}`` (keys are unique). The bot's provenance tags are added at creation.
    """
    params = {key: value for key, value in request.plan()[0].params.items() if key not in SHOWN_APART}
    if "Tags" in params:
        params["Tags"] = {tag["Key"]: tag["Value"] for tag in params["Tags"]}
    return shown_json(params) if params else None


class Presenter:
    """Renders requests and refusals for Slack (``approvers_for``: who may approve a request now)."""

    def __init__(
        self,
        *,
        store: Store,
        config: Config,
        choices: Choices,
        approvers_for: Callable[[RequestRecord], frozenset[str]],
        sandbox: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.choices = choices
        self.approvers_for = approvers_for
        self.sandbox = sandbox

    def card(self, record: RequestRecord) -> RequestCard:
        """Everything ``blocks/`` needs to show a request, from the store."""
        request = record.request
        events = self.store.events(record.id)
        approvers = self.approvers_for(record)
        decision = next((e for e in reversed(events) if e.kind in DECISION_KINDS), None)
        if record.kind == RequestKind.EXTEND and record.subject is not None:
            days, was, to = record.subject["days"], record.subject["from"], record.subject["to"]
            summary = (
                f"Keep the role {record.role_name} {days} more day(s): deleted at {stamp(to)} instead of {stamp(was)}."
            )
            plan, justification = [], f"Extend the time-limited role {record.target_id} created."
            inline, trust = None, None
        elif (
            record.kind == RequestKind.EDIT and record.subject is not None and isinstance(request, AssumableRoleRequest)
        ):
            before = request_from_json(record.subject["before"])
            assert isinstance(before, AssumableRoleRequest), "only assumable roles are edited"
            changes = [f"{c.field}: {c.before} → {c.after}" for c in role_changes(before, request)]
            narrows = " It only narrows access." if record.subject.get("narrowing") else ""
            summary = f"Change the role {record.role_name} ({record.target_id}).{narrows}\n" + "\n".join(changes)
            plan, justification = edit_plan(before, request), request.justification
            inline, trust = request.inline_policy, request.trust_policy()
        elif record.kind in (RequestKind.ACCEPT, RequestKind.RESTORE) and record.subject is not None:
            summary, plan, trust, inline = self._drift_action(record)
            justification = (
                f"Drift report {record.subject['report_id']}: the role {record.target_id} created was changed outside "
                "the bot."
            )
        elif record.kind == RequestKind.DELETE and record.subject is not None:
            retiring = RoleToRetire.from_dict(record.subject)
            summary, plan = retiring.summary(), retiring.plan()
            justification = f"Retire the role {record.target_id} created."
            inline, trust = None, None
        else:
            summary, plan, justification = request.summary(), request.plan(), request.justification
            inline = request.inline_policy if isinstance(request, AssumableRoleRequest) else None
            trust = request.trust_policy()
        return RequestCard(
            id=record.id,
            role_type=record.role_type,
            role_name=record.role_name,
            account_id=record.account_id,
            account_label=self._account_label(record.account_id),
            requester=record.requester,
            summary=summary,
            justification=justification,
            status=record.status,
            plan=[step.describe() for step in plan],
            trust_policy_json=shown_json(trust) if trust else None,
            inline_policy_json=shown_json(inline) if inline else None,
            settings_json=role_settings(request) if record.kind == RequestKind.CREATE else None,
            findings=[FindingCard(**finding) for finding in record.findings],
            approvers=sorted(approvers - {record.requester}),  # who can approve it
            approvals=approved_by(((e.actor, e.kind) for e in events), approvers=approvers, requester=record.requester),
            needed=record.required_approvals,
            decided_by=decision.actor if decision else None,
            reason=decision.details.get("reason") if decision else None,
            result=record.result,
            error=record.error,
            created_at=record.created_at,
            sandbox=self.sandbox,
            posted=record.message_ts is not None,
            not_posted=next(
                (e.details["error"] for e in events if e.kind == EventKind.NOT_POSTED and e.details.get("final")), None
            ),
            kind=record.kind.value,
            automatic=bool((record.subject or {}).get("expiry")),
            expires_at=record.expires_at,
        )

    def _account_label(self, account_id: str) -> str:
        """The account as a card names it (request and drift cards alike): its configured name, else "this account"."""
        account = self.config.account(account_id)
        return account.name if account else "this account"

    def role_card(self, made: RequestRecord, use: LastUse | None) -> RequestCard:
        """App Home's card of the role ``made`` created, with its last use as last read (None: not read yet) and its
        open drift report, if any."""
        card = self.card(made)
        drift = self.store.open_drift(made.id)
        if drift is not None:
            what = "deleted outside the bot" if drift.deleted else "changed outside the bot"
            what = "replaced outside the bot" if drift.replaced else what
            card = replace(card, drift=f"{what} ({drift.id})")
        if use is None:
            return card
        return replace(
            card, last_used=LastUseCard(read_at=use.read_at, found=use.found, used_at=use.used_at, region=use.region)
        )

    @staticmethod
    def _drift_action(
        record: RequestRecord,
    ) -> tuple[str, list[Any], dict[str, Any] | None, dict[str, Any] | None]:
        """An accept's or a restore's summary, plan, and the trust and inline policies the role ends up with."""
        subject = record.subject or {}
        approved = RoleState.from_dict(subject["approved"])
        observed = RoleState.from_dict(subject["observed"]) if subject.get("observed") else None
        aspects = ", ".join(d["aspect"] for d in subject.get("differences", []))
        ends: RoleState | None
        if record.kind == RequestKind.RESTORE:
            summary = f"Put the role {record.role_name} back as last approved ({aspects})."
            plan = restore_plan(observed, approved) if observed else []
            ends = approved
        else:
            gone = " (it was deleted: the bot stops reporting it)" if observed is None else ""
            summary = (
                f"Make the role {record.role_name} as it is in AWS now its approved state{gone}; nothing changes in "
                f"AWS. What differs: {aspects}. If AWS changed again meanwhile, nothing is recorded."
            )
            plan, ends = [], observed
        if ends is None:
            return summary, plan, None, None
        return summary, plan, ends.trust_policy, ends.inline_policies or None

    def drift_card(self, report: DriftReport) -> DriftCard:
        """Everything ``blocks.drift`` needs to show a drift report."""
        return DriftCard(
            id=report.id,
            made_id=report.made_id,
            role_name=report.role_name,
            account_id=report.account_id,
            account_label=self._account_label(report.account_id),
            differences=[
                DifferenceCard(shown_text(d["aspect"]), shown_text(d["before"]), shown_text(d["after"]))
                for d in report.differences
            ],
            findings=[FindingCard(**finding) for finding in report.findings],
            risk=report.risk,
            deleted=report.deleted,
            replaced=report.replaced,
            open=report.state == DriftState.OPEN,
            acted_by=report.action_request_id,
            posted=report.message_ts is not None,
            sandbox=self.sandbox,
        )

    def cards(self, records: list[RequestRecord]) -> list[RequestCard]:
        return [self.card(record) for record in records]

    def edit_modal(self, made: RequestRecord, state: RequestRecord) -> dict[str, Any]:
        """The request form filled with ``state`` (the role's approved state) to change the role ``made`` created."""
        return modals.edit_modal(
            state.role_type,
            accounts=self.choices.accounts(),
            service_principals=list(SERVICE_PRINCIPALS),
            values=form_values(state.request),
            made_id=made.id,
        )

    def request_modal(self, role_type: str | None) -> dict[str, Any]:
        """The request form, for ``role_type`` (None: the type select alone)."""
        return modals.request_modal(
            role_type,
            accounts=self.choices.accounts(),
            service_principals=list(SERVICE_PRINCIPALS),
            max_policies=self.config.limits.managed_policies_per_role,
        )

    def request_modal_again(self, submitted: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        """The submitted request form (Slack's view) drawn again with what was typed and ``errors`` under the fields;
        an edit form stays one (its title, button and ``private_metadata``)."""
        role_type = modals.read_request_state(submitted).get("role_type")
        values = (submitted.get("state") or {}).get("values") or {}
        form = modals.with_errors(modals.with_answers(self.request_modal(role_type), values), errors)
        if modals.edited_role_id(submitted) is None:
            return form
        kept = ("title", "submit", "private_metadata")
        return {**form, **{key: submitted[key] for key in kept if key in submitted}}

    @staticmethod
    def checking_modal() -> dict[str, Any]:
        return modals.checking_modal("Request an IAM role", "*Checking your request…* The bot is asking AWS about it.")

    @staticmethod
    def request_sent_modal(record: RequestRecord) -> dict[str, Any]:
        summary = escape(record.request.summary())
        text = f"*Sent for approval: {escape(record.id)}*\n{summary}\nYou get a DM at each step."
        return modals.done_modal("Request an IAM role", text)

    def form_refused(self, errors: dict[str, str], edited: RequestRecord | None = None) -> Rendered:
        """A form's errors for a requester who closed it before they came back (the form can't show them); ``edited``:
        the create request of the role an edit form changes."""
        what, again = "Your role request", "Run /iam-role to request it again."
        if edited is not None:
            what = f"Your change of the role {edited.role_name}"
            again = f"Run /iam-role edit {edited.role_name} {edited.account_id} to change it again."
        return self.refusal(f"{what} was not sent: " + " ".join(errors.values()) + f" {again}")

    def reject_modal(self, record: RequestRecord) -> dict[str, Any]:
        return modals.reject_modal(record.id, record.request.summary())

    def refusal(self, reason: Sentence | str) -> Rendered:
        """Why the bot didn't do something, for the person who asked."""
        named = [part.id for part in reason.parts if isinstance(part, Person)] if isinstance(reason, Sentence) else []
        return messages.refusal(slack_text(reason), mentions=named)

    def request_list(self, records: list[RequestRecord]) -> Rendered:
        return messages.request_list(self.cards(records))

    def status(self, record: RequestRecord, events: list[Event]) -> Rendered:
        """One request and its history."""
        history = [
            (e.at, e.actor, e.kind, str(e.details.get("reason") or e.details.get("error") or "")) for e in events
        ]
        return messages.request_status(self.card(record), history)

    @staticmethod
    def help() -> Rendered:
        return messages.help_message()
