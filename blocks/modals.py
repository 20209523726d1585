"""The request form (one set of fields per role type) and the rejection form, and reading them back.

Every input's ``block_id`` and ``action_id`` is the request model's field name, so a validation
error maps 1:1 onto ``response_action: errors``, options loads route by action_id, and Slack keeps
what was typed when the bot re-renders the form for another role type.
"""

import json
from dataclasses import dataclass
from typing import Any

from blocks import ids
from blocks.kit import (
    MODAL_TITLE_MAX,
    OPTION_TEXT_MAX,
    PLACEHOLDER_MAX,
    SECTION_TEXT_MAX,
    STATIC_OPTIONS_MAX,
    TEXT_INPUT_MAX,
    Block,
    context,
    escape,
    fit,
    option,
    plain,
    section,
)
from bot.domain.errors import FIELD_LABELS
from bot.domain.fields import NAME_CHARS_SENTENCE
from bot.domain.models import EXPIRY_DAYS, SAML_AUDIENCE, STS_AUDIENCE, RoleType
from bot.domain.services import SERVICE_TRUSTS
from bot.domain.webidentity import COGNITO_AMR_CHOICES, WEB_IDENTITY_PROVIDERS


@dataclass(frozen=True)
class RoleTypeChoice:
    """A role type as offered in the form: its ``/iam-role TYPE`` word, label and one-line description."""

    value: str
    label: str
    description: str


ROLE_TYPE_CHOICES: tuple[RoleTypeChoice, ...] = (
    RoleTypeChoice(RoleType.USER, "IAM users (this or another account)", "People or roles in an account you trust"),
    RoleTypeChoice(RoleType.SERVICE, "An AWS service (EC2, Lambda, …)", "A service acts on your behalf"),
    RoleTypeChoice(RoleType.SERVICE_LINKED, "Service-linked role", "Predefined by an AWS service for its own use"),
    RoleTypeChoice(RoleType.SAML, "Federated users via SAML 2.0", "Sign-in through your identity provider (Okta, …)"),
    RoleTypeChoice(RoleType.OIDC, "Web identity / OIDC (e.g. GitHub Actions)", "CI jobs or apps with OIDC tokens"),
    RoleTypeChoice(RoleType.CUSTOM, "Custom trust policy", "Write the trust policy yourself"),
)
"""The six role types of the AWS guide, in its own terms."""

CHOICES_BY_VALUE = {choice.value: choice for choice in ROLE_TYPE_CHOICES}

SESSION_HOURS = (1, 2, 4, 8, 12)
GITHUB_REF_TYPES = (
    ("branch", "Branch"),
    ("tag", "Tag"),
    ("environment", "Environment"),
    ("pull_request", "Pull request"),
)
INLINE_POLICY_EXAMPLE = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
    '"Resource": "arn:aws:s3:::my-bucket/*"}]}'
)
TRUST_POLICY_EXAMPLE = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}'
)


def role_type_label(role_type: str) -> str:
    """The form's label for a role type (the type word itself if unknown)."""
    choice = CHOICES_BY_VALUE.get(role_type)
    return choice.label if choice else role_type


# --- inputs --------------------------------------------------------------------------------------


def field_input(
    field: str, element: Block, *, optional: bool = False, hint: str | None = None, dispatch: bool = False
) -> Block:
    """An input block for a request field: block_id = action_id = the field, labelled as errors name it."""
    block: Block = {
        "type": "input",
        "block_id": field,
        "label": plain(FIELD_LABELS[field]),
        "element": {**element, "action_id": field},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    if dispatch:
        block["dispatch_action"] = True
    return block


def text_element(*, multiline: bool = False, max_length: int | None = None, placeholder: str | None = None) -> Block:
    element: Block = {"type": "plain_text_input", "multiline": multiline}
    if max_length:
        element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = plain(placeholder, PLACEHOLDER_MAX)
    return element


def select_element(options: list[dict[str, Any]], *, initial: dict[str, Any] | None = None) -> Block:
    """A static select; more than 100 options are split into groups of 100 (Slack's limit per list)."""
    element: Block = {"type": "static_select", "placeholder": plain("Choose…")}
    size = STATIC_OPTIONS_MAX
    if len(options) <= size:
        element["options"] = options
    else:
        element["option_groups"] = [
            {"label": plain(f"{start + 1}–{min(start + size, len(options))}"), "options": options[start : start + size]}
            for start in range(0, len(options), size)
        ]
    if initial:
        element["initial_option"] = initial
    return element


def external_element(
    *, placeholder: str, min_query_length: int = 0, multi: bool = False, max_selected_items: int | None = None
) -> Block:
    """A select whose options the bot's options handler loads (routed by action_id = field)."""
    element: Block = {
        "type": "multi_external_select" if multi else "external_select",
        "placeholder": plain(placeholder, PLACEHOLDER_MAX),
        "min_query_length": min_query_length,
    }
    if max_selected_items is not None:
        # https://docs.slack.dev/reference/block-kit/block-elements/multi-select-menu-element (max_selected_items)
        element["max_selected_items"] = max_selected_items
    return element


def flag_element(text: str, description: str | None = None) -> Block:
    """One checkbox; read back as a bool."""
    return {"type": "checkboxes", "options": [option(text, "true", description)]}


# --- the request form ------------------------------------------------------------------------------


def account_label(account_id: str, label: str) -> str:
    """``Name (123456789012)`` within an option's 75 characters: a long name is cut, never the account id."""
    suffix = f" ({account_id})"
    name = label.removesuffix(suffix)
    if len(name) + len(suffix) > OPTION_TEXT_MAX:
        name = name[: OPTION_TEXT_MAX - len(suffix) - 1].rstrip() + "…"
    return name + suffix


def account_element(accounts: list[tuple[str, str]]) -> Block:
    """The target accounts, the only one preselected; every label ends with the account id."""
    options = [option(account_label(account_id, label), account_id) for account_id, label in accounts]
    return select_element(options, initial=options[0] if len(options) == 1 else None)


def session_element() -> Block:
    options = [option(f"{hours} hour{'s' if hours > 1 else ''}", str(hours * 3600)) for hours in SESSION_HOURS]
    return select_element(options, initial=options[0])


def service_hint(service_principals: list[tuple[str, str]]) -> str:
    examples = ", ".join(principal for principal, _ in service_principals[:3]) or "ec2.amazonaws.com"
    return f"Type to search, e.g. {examples}. Any *.amazonaws.com service principal works."


def source_keys_hint() -> str:
    """Which services send the confused-deputy keys (a role demanding them from others can't be assumed)."""
    senders = ", ".join(service.label for service in SERVICE_TRUSTS if service.sends_source_keys)
    return f"Only for services that send aws:SourceAccount: {senders}. EC2 and Lambda don't."


def field_blocks(
    accounts: list[tuple[str, str]], service_principals: list[tuple[str, str]], *, max_policies: int | None = None
) -> dict[str, Block]:
    """Every form field's input block, by request field name; ``max_policies``: the account's managed policy quota."""
    services = service_hint(service_principals)
    web_identities = ", ".join(provider.label for provider in WEB_IDENTITY_PROVIDERS.values())
    return {
        ids.ACCOUNT: field_input(
            ids.ACCOUNT, account_element(accounts), hint="The AWS account the role will be created in."
        ),
        "justification": field_input(
            "justification",
            text_element(multiline=True, max_length=2000),
            hint="Why is this role needed? The approver reads this.",
        ),
        "role_name": field_input(
            "role_name",
            text_element(max_length=64, placeholder="e.g. payments-api-reader"),
            hint=f"Up to 64 characters: {NAME_CHARS_SENTENCE} (no spaces).",
        ),
        "path": field_input(
            "path",
            text_element(max_length=512, placeholder="/"),
            hint="Groups roles in the ARN, e.g. /team/app/. Leave empty for /.",
            optional=True,
        ),
        "description": field_input(
            "description",
            text_element(multiline=True, max_length=1000),
            hint="Shown in the AWS console next to the role.",
            optional=True,
        ),
        "max_session_duration": field_input(
            "max_session_duration",
            session_element(),
            hint="How long one sign-in to the role lasts. Role chaining (one role assuming another) caps a "
            "session at one hour, whatever is chosen here.",
            optional=True,
        ),
        "expires_after_days": field_input(
            "expires_after_days",
            select_element([option(f"{days} day{'s' if days > 1 else ''}", str(days)) for days in EXPIRY_DAYS]),
            hint="The bot deletes the role this long after creating it (you are reminded first and can extend it). "
            "Leave empty to keep it.",
            optional=True,
        ),
        ids.MANAGED_POLICIES: field_input(
            ids.MANAGED_POLICIES,
            external_element(
                placeholder="Search policies", min_query_length=2, multi=True, max_selected_items=max_policies
            ),
            hint="Choose the account first, then type at least 2 characters to search AWS managed and its policies.",
            optional=True,
        ),
        "inline_policy": field_input(
            "inline_policy",
            text_element(multiline=True, max_length=TEXT_INPUT_MAX, placeholder=INLINE_POLICY_EXAMPLE),
            hint="A JSON policy document for permissions only this role needs.",
            optional=True,
        ),
        "permissions_boundary_arn": field_input(
            "permissions_boundary_arn",
            text_element(placeholder="arn:aws:iam::111122223333:policy/boundary"),
            hint="A managed policy that caps what the role can ever do.",
            optional=True,
        ),
        "tags": field_input(
            "tags", text_element(multiline=True), hint="One key=value per line, e.g. team=payments", optional=True
        ),
        "trusted_account_ids": field_input(
            "trusted_account_ids",
            text_element(placeholder="111122223333, 444455556666"),
            hint="12-digit account IDs, comma-separated; empty = this account",
            optional=True,
        ),
        "trusted_principal_arns": field_input(
            "trusted_principal_arns",
            text_element(multiline=True, placeholder="arn:aws:iam::111122223333:role/deployer"),
            hint="Only these roles or users, one ARN per line, instead of a whole account.",
            optional=True,
        ),
        "external_id": field_input(
            "external_id",
            text_element(max_length=1224),
            hint="For a third party: the ID they gave you, so nobody else can use them to reach this role.",
            optional=True,
        ),
        "require_mfa": field_input("require_mfa", flag_element("Require MFA to assume this role"), optional=True),
        ids.SERVICE: field_input(ids.SERVICE, external_element(placeholder="Choose a service"), hint=services),
        "more_service_principals": field_input(
            "more_service_principals",
            text_element(multiline=True, placeholder="states.amazonaws.com"),
            hint="Other services the same role trusts, one per line.",
            optional=True,
        ),
        "restrict_source_account": field_input(
            "restrict_source_account",
            flag_element("Only when acting for this account (aws:SourceAccount)", "Guards against confused deputies"),
            hint=source_keys_hint(),
            optional=True,
        ),
        "source_arn": field_input(
            "source_arn",
            text_element(placeholder="arn:aws:sns:us-east-1:111122223333:my-topic"),
            hint="Only when the service acts for this resource (aws:SourceArn).",
            optional=True,
        ),
        ids.LINKED_SERVICE: field_input(
            ids.LINKED_SERVICE,
            external_element(placeholder="Choose a service"),
            hint="Type to search services that use service-linked roles, e.g. autoscaling.amazonaws.com, "
            "elasticbeanstalk.amazonaws.com.",
        ),
        "custom_suffix": field_input(
            "custom_suffix",
            text_element(max_length=64),
            hint="Appended to the role's name; some services don't accept one.",
            optional=True,
        ),
        ids.SAML_PROVIDER: field_input(
            ids.SAML_PROVIDER,
            external_element(placeholder="Choose a SAML provider"),
            hint="The SAML providers of the target account (choose the account first).",
        ),
        "audience": field_input(
            "audience",
            text_element(multiline=True, placeholder=SAML_AUDIENCE),
            hint="SAML:aud, one per line: the sign-in endpoint your IdP posts to, global or regional "
            "(e.g. https://eu-west-1.signin.aws.amazon.com/saml). Empty = the global one of the bot's partition.",
            optional=True,
        ),
        "allow_session_tags": field_input(
            "allow_session_tags",
            flag_element("The IdP passes session tags (sts:TagSession)"),
            hint="Needed when the IdP sends PrincipalTag attributes, or sign-in fails.",
            optional=True,
        ),
        "allow_source_identity": field_input(
            "allow_source_identity",
            flag_element("The IdP sets a source identity (sts:SetSourceIdentity)"),
            hint="Needed when the IdP sends the SourceIdentity attribute, or sign-in fails.",
            optional=True,
        ),
        ids.OIDC_PROVIDER: field_input(
            ids.OIDC_PROVIDER,
            external_element(placeholder="GitHub Actions"),
            hint=f"Leave empty for GitHub Actions. Also offered: {web_identities} (no IAM provider needed).",
            optional=True,
        ),
        "github_repo": field_input(
            "github_repo",
            text_element(placeholder="ORG/REPO"),
            hint="The repository the workflow runs in.",
            optional=True,
        ),
        "github_ref_type": field_input(
            "github_ref_type",
            select_element([option(label, value) for value, label in GITHUB_REF_TYPES]),
            hint="Empty = any workflow of the repository.",
            optional=True,
        ),
        "github_ref": field_input("github_ref", text_element(placeholder="main, v1.2.3 or prod"), optional=True),
        "subjects": field_input(
            "subjects",
            text_element(multiline=True, placeholder="repo:ORG/REPO:ref:refs/heads/main"),
            hint="One sub per line; * and ? match patterns.",
            optional=True,
        ),
        "audiences": field_input(
            "audiences",
            text_element(placeholder=STS_AUDIENCE),
            hint="For a Cognito identity pool: the pool id; for Amazon, Facebook or Google: your app id.",
            optional=True,
        ),
        "cognito_amr": field_input(
            "cognito_amr",
            select_element([option(choice.capitalize(), choice) for choice in COGNITO_AMR_CHOICES]),
            hint="Cognito identity pools only: which identities may assume the role. Empty = authenticated.",
            optional=True,
        ),
        "allow_high_risk": field_input(
            "allow_high_risk", flag_element("Allow high risk (no or wildcard subject)"), optional=True
        ),
        "trust_policy_document": field_input(
            "trust_policy_document",
            text_element(multiline=True, max_length=TEXT_INPUT_MAX, placeholder=TRUST_POLICY_EXAMPLE),
            hint="A JSON trust policy: who may assume the role, and on which conditions.",
        ),
    }


FLAG_FIELDS = frozenset(
    {"require_mfa", "restrict_source_account", "allow_high_risk", "allow_session_tags", "allow_source_identity"}
)
"""Fields shown as one checkbox and read back as a bool."""

TRUST_FIELDS: dict[str, tuple[str, ...]] = {
    RoleType.USER: ("trusted_account_ids", "trusted_principal_arns", "external_id", "require_mfa"),
    RoleType.SERVICE: ("service_principal", "more_service_principals", "restrict_source_account", "source_arn"),
    RoleType.SAML: ("provider_arn", "audience", "allow_session_tags", "allow_source_identity"),
    RoleType.OIDC: (
        "provider",
        "github_repo",
        "github_ref_type",
        "github_ref",
        "subjects",
        "audiences",
        "cognito_amr",
        "allow_high_risk",
    ),
    RoleType.CUSTOM: ("trust_policy_document",),
}
PERMISSION_FIELDS = ("managed_policy_arns", "inline_policy", "permissions_boundary_arn")
SETTING_FIELDS = ("max_session_duration", "expires_after_days", "path", "description", "tags")
SERVICE_LINKED_FIELDS = ("account_id", "aws_service_name", "custom_suffix", "description", "justification")


def type_fields(role_type: str) -> tuple[str, ...]:
    """A role type's form fields in order: where and who, trust, permissions, settings, then why.

    The form holds only input blocks, so every block id is a field name.
    """
    if role_type == RoleType.SERVICE_LINKED:
        return SERVICE_LINKED_FIELDS
    return ("account_id", "role_name", *TRUST_FIELDS[role_type], *PERMISSION_FIELDS, *SETTING_FIELDS, "justification")


def request_modal(
    role_type: str | None,
    *,
    accounts: list[tuple[str, str]],
    service_principals: list[tuple[str, str]],
    private_metadata: str = "",
    max_policies: int | None = None,
) -> dict[str, Any]:
    """The request form; without a (known) ``role_type`` only the type select and a short intro.

    ``accounts`` are (account id, label); ``service_principals`` (principal, label) give the service hint;
    ``max_policies`` caps the managed policy select at the account's quota.
    Choosing a type dispatches a ``role_type`` block action so the bot can re-render the form.
    """
    options = [option(choice.label, choice.value) for choice in ROLE_TYPE_CHOICES]
    chosen = CHOICES_BY_VALUE.get(role_type or "")
    initial = next((opt for opt in options if chosen and opt["value"] == chosen.value), None)
    hint = f"{chosen.description}." if chosen else "Who or what will use the role? The form then asks what it needs."
    type_select = field_input(ids.ROLE_TYPE, select_element(options, initial=initial), hint=hint, dispatch=True)
    if chosen is None:
        types = "\n".join(f"• *{choice.label}* — {choice.description}" for choice in ROLE_TYPE_CHOICES)
        intro = "Request an AWS IAM role. An approver reviews it before the bot creates it; you get a DM at each step."
        body = [section(intro), type_select, context(types)]
    else:
        fields = field_blocks(accounts, service_principals, max_policies=max_policies)
        body = [type_select, *(fields[name] for name in type_fields(chosen.value))]
    return {
        "type": "modal",
        "callback_id": ids.REQUEST_CALLBACK_ID,
        "title": plain("Request an IAM role"),
        "submit": plain("Submit request"),
        "close": plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": body,
    }


# --- after a submission ------------------------------------------------------------------------------

ANSWER_KEYS = {"value": "initial_value", "selected_option": "initial_option", "selected_options": "initial_options"}
"""An input's ``state.values`` key and the element field that shows it again
(https://docs.slack.dev/reference/block-kit/block-elements/: ``initial_value``, ``initial_option(s)``)."""


def checking_modal(title: str, text: str) -> dict[str, Any]:
    """What a submitted form shows while the bot asks AWS about it: no inputs and no submit button, so the
    user can't change it meanwhile (the bot replaces it with ``views.update`` once the checks are done)."""
    return {
        "type": "modal",
        "callback_id": ids.CHECKING_CALLBACK_ID,
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain("Close"),
        "blocks": [section(fit(text, SECTION_TEXT_MAX)), context("This takes a few seconds.")],
    }


def done_modal(title: str, text: str) -> dict[str, Any]:
    """A form's outcome, shown in place of its "checking" view."""
    return {
        "type": "modal",
        "callback_id": ids.FORM_DONE_CALLBACK_ID,
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain("Done"),
        "blocks": [section(fit(text, SECTION_TEXT_MAX))],
    }


def with_answers(modal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The form again holding what was typed (Slack's ``view.state.values``) as its inputs' initial values.

    Needed when the form comes back through ``views.update`` after a view without inputs: Slack keeps typed
    values only across an update whose inputs keep their ids (https://docs.slack.dev/reference/methods/views.update,
    "Preserving input entry").
    """
    blocks = []
    for block in modal["blocks"]:
        element = block.get("element")
        answer = (values.get(block.get("block_id", "")) or {}).get((element or {}).get("action_id", ""))
        if block.get("type") == "input" and element and answer:
            shown = {ANSWER_KEYS[key]: given for key, given in answer.items() if key in ANSWER_KEYS and given}
            block = {**block, "element": {**element, **shown}}
        blocks.append(block)
    return {**modal, "blocks": blocks}


def with_errors(modal: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The form with each field's error in a context block right under it; an error on a field the form
    doesn't show goes under the role type.

    ``views.update`` can't mark an input as failing: ``response_action: errors`` exists only as the answer to a
    ``view_submission`` (https://docs.slack.dev/surfaces/modals), and the checks that found these ran after it.
    """
    shown = {block.get("block_id") for block in modal["blocks"] if block.get("type") == "input"}
    under: dict[str, list[str]] = {}
    for field, message in errors.items():
        under.setdefault(field if field in shown else ids.ROLE_TYPE, []).append(message)
    blocks = []
    for block in modal["blocks"]:
        blocks.append(block)
        messages = under.get(block.get("block_id", ""))
        if block.get("type") == "input" and messages:
            text = fit(" ".join(messages), SECTION_TEXT_MAX - len(":warning: "))
            blocks.append(
                {**context(f":warning: {escape(text)}"), "block_id": f"{ids.FIELD_ERROR_PREFIX}{block['block_id']}"}
            )
    return {**modal, "blocks": blocks}


# --- reading a submission -----------------------------------------------------------------------


def state_value(state: dict[str, Any]) -> Any:
    """One action's value in Slack's wire format: text, a selected value, or a list of selected values."""
    if "selected_options" in state:
        return [chosen["value"] for chosen in state["selected_options"] or []]
    if "selected_option" in state:
        return (state["selected_option"] or {}).get("value")
    value = state.get("value")
    return value.strip() if isinstance(value, str) else value


def read_request_state(view: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as request data: ``role_type`` always (None if not chosen), flags as bools.

    Empty inputs are left out so the model's defaults apply.
    """
    data: dict[str, Any] = {"role_type": None}
    values = (view.get("state") or {}).get("values") or {}
    for block_id, block_actions in values.items():
        for state in block_actions.values():
            value = state_value(state)
            if block_id in FLAG_FIELDS:
                data[block_id] = bool(value)
            elif value not in (None, "", []):
                data[block_id] = value
    return data


# --- rejecting ----------------------------------------------------------------------------------


def reject_modal(request_id: str, summary: str) -> dict[str, Any]:
    """Asks an approver why; ``private_metadata`` carries the request id."""
    prefix = f"Rejecting *{escape(request_id)}*: "
    return {
        "type": "modal",
        "callback_id": ids.REJECT_CALLBACK_ID,
        "title": plain("Reject request"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "private_metadata": request_id,
        "blocks": [
            section(prefix + fit(summary, SECTION_TEXT_MAX - len(prefix))),
            {
                "type": "input",
                "block_id": ids.REASON,
                "label": plain("Reason"),
                "element": {**text_element(multiline=True, max_length=TEXT_INPUT_MAX), "action_id": ids.REASON},
                "hint": plain("The requester reads this: say what to change to get it approved."),
            },
        ],
    }


def read_reject_reason(view: dict[str, Any]) -> str | None:
    """The reason typed in the rejection form, or None if it is empty."""
    values = (view.get("state") or {}).get("values") or {}
    reason = state_value(values.get(ids.REASON, {}).get(ids.REASON, {}))
    return reason or None


# --- editing: the form prefilled ------------------------------------------------------------------


EDIT_PREFIX = "edit:"
"""``private_metadata`` of an edit form: this, then the id of the request that created the role."""


def edit_modal(
    role_type: str,
    *,
    accounts: list[tuple[str, str]],
    service_principals: list[tuple[str, str]],
    values: dict[str, Any],
    made_id: str,
) -> dict[str, Any]:
    """The request form for ``role_type``, filled with the role's approved state, submitting a change."""
    modal = request_modal(role_type, accounts=accounts, service_principals=service_principals)
    return {**prefilled(modal, values), **edit_frame(made_id)}


def edit_frame(made_id: str) -> dict[str, Any]:
    """What makes a request form an edit of the role ``made_id`` created: its title, button and metadata."""
    return {
        "title": plain("Edit an IAM role"),
        "submit": plain("Submit change"),
        "private_metadata": EDIT_PREFIX + made_id,
    }


def edited_role_id(view: dict[str, Any]) -> str | None:
    """The id of the request whose role an edit form changes (None: a request for a new role)."""
    metadata = view.get("private_metadata") or ""
    return metadata.removeprefix(EDIT_PREFIX) if metadata.startswith(EDIT_PREFIX) else None


def prefilled(modal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The form with each field showing ``values[field]``: text as typed, a select's value, a multi
    select's values (shown as they are), a flag as checked or not."""
    blocks = []
    for block in modal["blocks"]:
        field = block.get("block_id")
        if block.get("type") == "input" and field in values and field != ids.ROLE_TYPE:
            block = {**block, "element": with_initial(block["element"], values[field])}
        blocks.append(block)
    return {**modal, "blocks": blocks}


def with_initial(element: Block, value: Any) -> Block:
    kind = element["type"]
    if kind == "plain_text_input":
        if isinstance(value, dict):
            value = json.dumps(value, indent=2)
        elif isinstance(value, list):
            value = "\n".join(map(str, value))
        return {**element, "initial_value": str(value)} if value not in (None, "") else element
    if kind == "checkboxes":
        return {**element, "initial_options": element["options"]} if value else element
    if kind == "static_select":
        options = element.get("options") or [o for group in element.get("option_groups", []) for o in group["options"]]
        chosen = next((o for o in options if o["value"] == str(value)), None)
        return {**element, "initial_option": chosen} if chosen else element
    if kind == "external_select":
        return {**element, "initial_option": option(str(value), str(value))} if value else element
    if kind == "multi_external_select":
        return {**element, "initial_options": [option(str(item), str(item)) for item in value]} if value else element
    return element
