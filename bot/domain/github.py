"""GitHub Actions OIDC subjects: which ones pin an owner or a repository, whatever the subject template.

GitHub's default subject is ``repo:ORG/REPO:<context>``; an organisation or repository can customise it to
other claims joined by colons, e.g. ``repository_owner_id:1234:repository_id:5678:environment:prod`` or
``job_workflow_ref:ORG/REPO/.github/workflows/deploy.yml@refs/heads/main``
(https://docs.github.com/en/actions/security-for-github-actions/security-guides/about-security-hardening-with-openid-connect#customizing-the-subject-claims-for-an-organization-or-repository).
GitHub's issuer serves every customer, so a subject that doesn't name one owner or repository lets strangers in.
"""

import re

WILDCARDS = ("*", "?")
PINNING_CLAIMS = re.compile(
    r"(?:^|:)(?:"
    r"repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?=:|$)"
    r"|repository:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?=:|$)"
    r"|repository_id:[0-9]+(?=:|$)"
    r"|repository_owner_id:[0-9]+(?=:|$)"
    r"|job_workflow_ref:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/"
    r")"
)
"""Claims that name one repository (by name or id) or one owner by id; ids are never reused, names can be."""


def has_wildcard(text: str) -> bool:
    return any(wildcard in text for wildcard in WILDCARDS)


def pins_owner_or_repository(subject: str) -> bool:
    """Whether every subject ``subject`` matches names one repository, or one owner by id.

    The pinning claim must come before any wildcard: ``*:repository_id:1`` could match a claim of a
    stranger's token whose value merely ends that way.
    """
    return any(not has_wildcard(subject[: match.end()]) for match in PINNING_CLAIMS.finditer(subject))
