"""Field rules for role requests, with AWS's real limits and messages a requester understands.

Each ``check_*`` function returns the normalised value or raises ``PydanticCustomError`` whose
message is a full sentence, ready to show next to the field in the Slack modal.
"""

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from bot.domain.limits import AWS_MAX_TAGS_PER_ROLE, PROVENANCE_TAG_PREFIX

PARTITION = r"aws(?:-cn|-us-gov)?"
ROLE_NAME_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
NAME_CHARS_RE = re.compile(r"[A-Za-z0-9+=,.@_-]+")
PATH_RE = re.compile(r"/(?:[\x21-\x2E\x30-\x7E]+/)*")
ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
POLICY_ARN_RE = re.compile(
    rf"arn:{PARTITION}:iam::(?:aws|[0-9]{{12}}):policy/(?:[\x21-\x7E]+/)?[A-Za-z0-9+=,.@_-]{{1,128}}"
)
PRINCIPAL_ARN_RE = re.compile(
    rf"arn:{PARTITION}:iam::([0-9]{{12}}):(?:root|(?:user|role)/(?:[\x21-\x29\x2B-\x3E\x40-\x7E]+/)?[A-Za-z0-9+=,.@_-]{{1,64}})"
)
"""A user or role ARN; no * or ? in its path, since AWS refuses wildcards inside a principal
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html)."""
SERVICE_PRINCIPAL_RE = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?")
EXTERNAL_ID_RE = re.compile(r"[A-Za-z0-9+=,.@:/_-]{2,1224}")
TAG_PUNCTUATION = set("_.:/=+-@")
NAME_CHARS_SENTENCE = "letters, digits and + = , . @ _ -"


def rule_error(message: str) -> PydanticCustomError:
    """An error whose message is shown to the requester as it is (no context, so never formatted)."""
    return PydanticCustomError("request_rule", message)


def field_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field error to be shown next to ``field`` (see ``bot.domain.errors``).

    The message travels in the context, so braces in what the requester typed are shown as typed.
    """
    return PydanticCustomError("request_rule", "{message}", {"field": field, "message": message})


def blank_to_none(value: Any) -> Any:
    """Treat an empty or whitespace-only text input as not given."""
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


def default_if_blank(default: Any) -> Callable[[Any], Any]:
    """A before-validator giving ``default`` for a missing or blank input, and nothing else.

    Other falsy values (0, False, []) are passed on, so junk is refused rather than replaced.
    """

    def validate(value: Any) -> Any:
        value = blank_to_none(value)
        return default if value is None else value

    return validate


def split_list(value: Any) -> Any:
    """Accept a list, or text with one item per line or separated by commas; blank items are dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,]+", value) if item]
    if isinstance(value, list):
        return [blank_to_none(item) for item in value if blank_to_none(item) is not None]
    return value


def check_role_name(value: str) -> str:
    if len(value) > 64:
        raise rule_error(f"Role name can be at most 64 characters; this one has {len(value)}.")
    if not ROLE_NAME_RE.fullmatch(value):
        raise rule_error(f"Role name may only contain {NAME_CHARS_SENTENCE} (no spaces).")
    return value


def check_path(value: str) -> str:
    if len(value) > 512:
        raise rule_error(f"Path can be at most 512 characters; this one has {len(value)}.")
    if not PATH_RE.fullmatch(value):
        raise rule_error(
            "Path must be / or start and end with / with non-empty segments of printable "
            "characters and no spaces, e.g. /team/app/."
        )
    return value


def check_description(value: str) -> str:
    if len(value) > 1000:
        raise rule_error(f"Description can be at most 1000 characters; this one has {len(value)}.")
    for char in value:
        code = ord(char)
        if not (char in "\t\n\r" or 0x20 <= code <= 0x7E or 0xA1 <= code <= 0xFF):
            raise rule_error(
                f"Description can't contain “{char}” (U+{code:04X}): AWS accepts only Latin-1 "
                "letters, digits, punctuation and spaces there."
            )
    return value


def full_match(pattern: re.Pattern[str], message: str) -> Callable[[str], str]:
    """A check that a value matches ``pattern`` entirely; ``{value}`` in ``message`` names what was typed."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise rule_error(message.replace("{value}", value))
        return value

    return check


check_account_id = full_match(ACCOUNT_ID_RE, "“{value}” is not an AWS account ID: it must be exactly 12 digits.")
check_policy_arn = full_match(
    POLICY_ARN_RE,
    "“{value}” is not a managed policy ARN, e.g. arn:aws:iam::aws:policy/ReadOnlyAccess "
    "or arn:aws:iam::111122223333:policy/my-policy.",
)
check_principal_arn = full_match(
    PRINCIPAL_ARN_RE,
    "“{value}” is not an IAM user or role ARN, e.g. arn:aws:iam::111122223333:role/admin "
    "or arn:aws:iam::111122223333:user/alice.",
)
check_external_id = full_match(
    EXTERNAL_ID_RE, "External ID must be 2 to 1224 characters of letters, digits and + = , . @ : / _ -."
)


def check_service_principal(value: str) -> str:
    value = value.lower()
    if not SERVICE_PRINCIPAL_RE.fullmatch(value) or len(value) > 128:
        raise rule_error(
            f"“{value}” is not an AWS service principal: it must look like "
            "<service>.amazonaws.com, e.g. lambda.amazonaws.com."
        )
    return value


def check_name_chars(value: str, *, label: str, max_length: int) -> str:
    """A name made of IAM's name characters (policy names, custom suffixes)."""
    if not 1 <= len(value) <= max_length:
        raise rule_error(f"{label} must be 1 to {max_length} characters; this one has {len(value)}.")
    if not NAME_CHARS_RE.fullmatch(value):
        raise rule_error(f"{label} may only contain {NAME_CHARS_SENTENCE}.")
    return value


def unique(values: list[str], *, label: str) -> list[str]:
    """Refuse repeated items, which would make AWS calls fail or repeat."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise rule_error(f"{label} lists “{value}” twice.")
        seen.add(value)
    return values


def is_tag_text(text: str) -> bool:
    """AWS's tag character set: letters, separators, numbers and _ . : / = + - @."""
    return all(char in TAG_PUNCTUATION or unicodedata.category(char)[0] in "LZN" for char in text)


class Tag(BaseModel):
    """One role tag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    value: Annotated[str, BeforeValidator(lambda v: "" if v is None else v)] = ""


def aws_tag_to_tag(item: Any) -> Any:
    """Accept a tag as AWS spells it (``{"Key": ..., "Value": ...}``, as in the plan) too."""
    if isinstance(item, dict) and set(item) in ({"Key"}, {"Key", "Value"}):
        return {"key": item["Key"], "value": item.get("Value")}
    return item


def parse_tags(value: Any) -> Any:
    """Accept ``key=value`` lines (as typed in the modal), a mapping, or a list of tags."""
    if value is None:
        return []
    if isinstance(value, list):
        return [aws_tag_to_tag(item) for item in value]
    if isinstance(value, dict):
        return [{"key": key, "value": val} for key, val in value.items()]
    if isinstance(value, str):
        tags = []
        for number, line in enumerate(value.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, val = line.partition("=")
            if not sep:
                raise rule_error(f"Tags line {number} (“{line.strip()}”) must look like key=value.")
            tags.append({"key": key.strip(), "value": val.strip()})
        return tags
    return value


def check_tags(tags: list[Tag], max_tags: int) -> list[Tag]:
    """AWS's tag rules, plus the bot's reserved provenance keys."""
    if len(tags) > max_tags:
        reserved = AWS_MAX_TAGS_PER_ROLE - max_tags
        why = f"AWS allows {AWS_MAX_TAGS_PER_ROLE}" + (f" and the bot adds {reserved} of its own" if reserved else "")
        raise rule_error(f"A role can have at most {max_tags} tags ({why}); this request has {len(tags)}.")
    seen: dict[str, str] = {}
    for tag in tags:
        check_tag(tag)
        folded = tag.key.casefold()
        if folded in seen:
            raise rule_error(f"Tag keys must be unique ignoring case: “{seen[folded]}” and “{tag.key}” clash.")
        seen[folded] = tag.key
    return tags


def check_tag(tag: Tag) -> None:
    if not tag.key:
        raise rule_error("A tag key can't be empty.")
    if len(tag.key) > 128:
        raise rule_error(f"Tag key “{tag.key[:40]}…” can be at most 128 characters; it has {len(tag.key)}.")
    if len(tag.value) > 256:
        raise rule_error(f"The value of tag “{tag.key}” can be at most 256 characters.")
    if tag.key.lower().startswith("aws:"):
        raise rule_error(f"Tag key “{tag.key}” starts with aws:, which AWS reserves for itself.")
    if tag.key.lower().startswith(PROVENANCE_TAG_PREFIX):
        raise rule_error(
            f"Tag key “{tag.key}” starts with {PROVENANCE_TAG_PREFIX}, which the bot reserves for its provenance tags."
        )
    for label, text in (("key", tag.key), ("value", tag.value)):
        if not is_tag_text(text):
            raise rule_error(f"Tag {label} “{text[:40]}” may only contain letters, digits, spaces and _ . : / = + - @.")


RoleName = Annotated[str, BeforeValidator(blank_to_none), AfterValidator(check_role_name)]
RolePath = Annotated[str, BeforeValidator(default_if_blank("/")), AfterValidator(check_path)]
Description = Annotated[str, BeforeValidator(default_if_blank("")), AfterValidator(check_description)]
AccountId = Annotated[str, BeforeValidator(blank_to_none), AfterValidator(check_account_id)]
PolicyArn = Annotated[str, AfterValidator(check_policy_arn)]
PrincipalArn = Annotated[str, AfterValidator(check_principal_arn)]
ServicePrincipal = Annotated[str, BeforeValidator(blank_to_none), AfterValidator(check_service_principal)]
ExternalId = Annotated[str, AfterValidator(check_external_id)]
