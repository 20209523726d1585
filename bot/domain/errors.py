"""Validation errors as the requester should read them: one sentence per field."""

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

FIELD_LABELS = {
    "role_type": "Role type",
    "account_id": "Target account",
    "justification": "Justification",
    "role_name": "Role name",
    "path": "Path",
    "description": "Description",
    "max_session_duration": "Maximum session duration",
    "expires_after_days": "Expires after",
    "managed_policy_arns": "Managed policies",
    "inline_policy": "Inline policy",
    "permissions_boundary_arn": "Permissions boundary",
    "tags": "Tags",
    "trusted_account_ids": "Trusted accounts",
    "trusted_principal_arns": "Trusted principals",
    "external_id": "External ID",
    "require_mfa": "Require MFA",
    "service_principal": "AWS service",
    "more_service_principals": "More AWS services",
    "restrict_source_account": "Restrict to this account",
    "source_arn": "Source ARN",
    "aws_service_name": "AWS service",
    "custom_suffix": "Custom suffix",
    "provider_arn": "SAML provider",
    "audience": "SAML audiences",
    "allow_session_tags": "Session tags",
    "allow_source_identity": "Source identity",
    "provider": "OIDC provider",
    "audiences": "Audiences",
    "subjects": "Subjects",
    "github_repo": "GitHub repository",
    "github_ref_type": "GitHub ref type",
    "github_ref": "Branch, tag or environment",
    "cognito_amr": "Cognito identities",
    "allow_high_risk": "Allow high risk",
    "trust_policy_document": "Trust policy",
    "partition": "Partition",
}

GENERIC_MESSAGES = {
    "int_parsing": "{label} must be a whole number.",
    "int_type": "{label} must be a whole number.",
    "int_from_float": "{label} must be a whole number.",
    "bool_parsing": "{label} must be yes or no.",
    "bool_type": "{label} must be yes or no.",
    "string_type": "{label} must be text.",
    "list_type": "{label} must be a list.",
    "dict_type": "{label} must be a JSON object.",
    "literal_error": "{label} must be one of the listed choices.",
    "union_tag_invalid": "Role type must be one of user, service, service-linked, saml, oidc, custom.",
    "union_tag_not_found": "Choose a role type.",
    "model_attributes_type": "The request must be a set of fields.",
    "model_type": "The request must be a set of fields.",
}


class RequestInvalid(ValueError):
    """A request that AWS (or the bot) would refuse; ``errors`` maps each field to a sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def locate(error: ErrorDetails) -> tuple[str, tuple[int | str, ...]]:
    """The request field an error is about, and where inside that field (e.g. ``(0, "key")`` of tags).

    A cross-field rule names its field in the context; otherwise it is the first field name in the
    location (after the role-type tag), or the unknown key itself for a field the request can't have.
    """
    context = error.get("ctx") or {}
    if "field" in context:
        return str(context["field"]), ()
    location = tuple(error["loc"])
    for index, part in enumerate(location):
        if isinstance(part, str) and part in FIELD_LABELS:
            return part, location[index + 1 :]
    if error["type"] == "extra_forbidden" and location:
        return str(location[-1]), ()
    return "role_type", ()


def item_label(label: str, inside: tuple[int | str, ...]) -> str:
    """``Tags (item 2, key)`` for a part of a list field; the label itself for the whole field."""
    parts = [f"item {part + 1}" if isinstance(part, int) else str(part) for part in inside]
    return f"{label} ({', '.join(parts)})" if parts else label


def message_of(error: ErrorDetails, field: str, inside: tuple[int | str, ...], role_type: str | None) -> str:
    """One sentence for the requester about ``error`` on ``field``."""
    if error["type"] == "request_rule":
        return str(error["msg"])
    label = FIELD_LABELS.get(field, field)
    if error["type"] == "extra_forbidden":
        if inside:
            return f"{item_label(label, inside[:-1])} has an unknown part “{inside[-1]}”."
        if role_type == "service-linked":
            return (
                f"A service-linked role's trust and permissions are defined by the AWS service; "
                f"you can't set {label.lower()}."
            )
        return f"{label} is not a field of a {role_type or 'role'} request."
    label = item_label(label, inside)
    absent = error["type"] == "missing" or (error["type"].endswith("_type") and error.get("input") is None)
    if absent and field != "role_type":
        return f"{label} is required."
    if error["type"] in ("model_type", "model_attributes_type") and field == "tags":
        return f"{label} must be a key and a value, e.g. team=data."
    template = GENERIC_MESSAGES.get(error["type"])
    return template.format(label=label) if template else f"{label}: {error['msg']}."


def request_invalid(exc: ValidationError, data: Any) -> RequestInvalid:
    """Turn pydantic's errors into one sentence per field (the first error of each field)."""
    role_type = data.get("role_type") if isinstance(data, dict) else None
    role_type = role_type if isinstance(role_type, str) else None
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field, inside = locate(error)
        errors.setdefault(field, message_of(error, field, inside, role_type))
    return RequestInvalid(errors)
