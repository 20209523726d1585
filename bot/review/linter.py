"""The parliament linter's view of an inline policy, for what it knows better than our own checks.

It knows which actions are writes or can be limited to named resources, and which ones manage
permissions or hand out credentials. What our own checks judge is left out of its findings.
"""

import functools
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bot.domain.policies import as_list
from bot.review.findings import Finding, Severity, listing
from bot.review.permissions import INLINE, Source, reviewed_actions
from bot.review.statements import is_service_wildcard


@dataclass(frozen=True)
class LinterIssue:
    """How one parliament issue code reads as a finding."""

    severity: Severity
    title: str
    explanation: str
    """With ``{details}``: the actions or parliament's own detail, merged over the document."""


LINTER_ISSUES = {
    "RESOURCE_STAR": LinterIssue(
        Severity.WARNING,
        "Changes allowed on every resource",
        '{details} are allowed on every resource ("Resource": "*") though they can be limited to named '
        "resources: the role can change all such resources in the account, not just the ones it needs. "
        "List their ARNs instead.",
    ),
    "PERMISSIONS_MANAGEMENT_ACTIONS": LinterIssue(
        Severity.WARNING,
        "Can change permissions or resource policies",
        "{details} change who may access what (IAM entities, resource policies, grants or shares): the role "
        "could give itself or others access beyond what is reviewed here.",
    ),
    "CREDENTIALS_EXPOSURE": LinterIssue(
        Severity.INFO,
        "Can obtain credentials",
        "{details} return credentials or tokens; whoever holds this role can use them to act as other "
        "identities or to reach other systems.",
    ),
    "UNKNOWN_ACTION": LinterIssue(
        Severity.INFO,
        "Unknown action",
        "{details}: not an action the linter knows. A typo grants nothing (and in a Deny denies nothing); "
        "a new action may just be missing from the linter's list.",
    ),
    "RESOURCE_MISMATCH": LinterIssue(
        Severity.INFO,
        "Resource does not fit the action",
        "{details}; as written, the statement grants nothing for that action.",
    ),
    "BAD_PATTERN_FOR_MFA": LinterIssue(Severity.WARNING, "MFA condition does not enforce MFA", "{details}"),
    "SINGLE_VALUE_CONDITION_TOO_PERMISSIVE": LinterIssue(
        Severity.WARNING,
        "Condition allows more than it seems",
        "A ForAllValues / ForAnyValue operator checks a key that has a single value; such a condition also "
        "matches when the key is missing, so it restricts less than it appears to.",
    ),
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": LinterIssue(
        Severity.WARNING,
        "Can grant itself access through a bucket policy",
        "It may use {details} but not read, write or delete all the objects: it could change the bucket's "
        "policy or ACL to give itself (or anyone) that access.",
    ),
}
LINTER_ISSUES["UNKNOWN_PREFIX"] = LINTER_ISSUES["UNKNOWN_ACTION"]

IGNORED_LINTER_ISSUES = {"NOTRESOURCE_WITH_ALLOW", "PRIVILEGE_ESCALATION", "EXCEPTION"}
"""Covered by our own checks (cloudsplaining's escalation paths include parliament's), or the linter failing."""


ACTION_LIST_ISSUES = {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS", "CREDENTIALS_EXPOSURE"}
"""Issues about a list of actions: no finding when none is left once ours are taken out."""
WRITE_ACCESS_LEVELS = {"Write", "Permissions management", "Tagging"}
BUCKET_ESCALATION_RE = re.compile(r"on (?P<bucket>\S+) due to .* but does allow (?P<action>\S+)")


@functools.cache
def parliament() -> ModuleType:
    """parliament, imported on first use (it loads its IAM data and warns while importing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament as module
    return module


@functools.cache
def privileges() -> dict[str, tuple[str, str]]:
    """``service:action`` in lower case to its spelling and access level (Read, Write, ...) in parliament's data."""
    return {
        f"{service['prefix']}:{privilege['privilege']}".lower(): (
            f"{service['prefix']}:{privilege['privilege']}",
            privilege["access_level"],
        )
        for service in parliament().iam_definition
        for privilege in service["privileges"]
    }


def spelling(action: str) -> str:
    """An action as AWS spells it (parliament reports some in lower case), or as given if unknown."""
    return privileges().get(action.lower(), (action, ""))[0]


def access_level(action: str) -> str:
    """An action's access level (Read, Write, ...), or ``""`` if unknown."""
    return privileges().get(action.lower(), ("", ""))[1]


def linter_input(policy: dict[str, Any]) -> dict[str, Any] | None:
    """The policy as parliament reads it right, or None when nothing is left for it.

    Left out: NotAction statements (parliament reads them as Action), and ``*`` and ``service:*``
    actions, which have findings of their own and which parliament expands slowly (``*``: seconds).
    """
    statements = []
    for statement in as_list(policy["Statement"]):
        actions = [a for a in as_list(statement.get("Action", [])) if a != "*" and not is_service_wildcard(a)]
        if actions:
            statements.append({**statement, "Action": actions})
    return {"Version": policy["Version"], "Statement": statements} if statements else None


def linter_findings(policy: dict[str, Any], source: Source = INLINE) -> list[Finding]:
    """parliament's issues on a permissions document, mapped to findings; none if it fails."""
    document = linter_input(policy)
    if document is None:
        return []
    try:
        issues = (
            parliament()
            .analyze_policy_string(json.dumps(document), include_community_auditors=True, ignore_private_auditors=True)
            .findings
        )
        details = linter_details(issues)
    except Exception:
        return []
    findings = []
    for code, found in details.items():
        meta = parliament().config.get(code, {})
        issue = LINTER_ISSUES.get(code) or LinterIssue(
            Severity.INFO, f"Linter: {meta.get('title', code).strip()}", "{details}"
        )
        explanation = issue.explanation.format(details=listing(found) or meta.get("description") or code)
        if source != INLINE:
            explanation = f"{source.name}: {explanation}"
        findings.append(Finding(issue.severity, issue.title, explanation, source.concerns))
    return findings


def linter_details(issues: list[Any]) -> dict[str, list[str]]:
    """What each reported issue code is about, merged over the document, without what we judge ourselves."""
    details: dict[str, list[str]] = {}

    def spelled(actions: Iterable[str]) -> list[str]:
        return sorted(spelling(a) for a in actions if a.lower() not in reviewed_actions())

    for issue in issues:
        code, detail, location = issue.issue, issue.detail, issue.location
        if code in IGNORED_LINTER_ISSUES:
            continue
        if code in ("PERMISSIONS_MANAGEMENT_ACTIONS", "CREDENTIALS_EXPOSURE"):
            found = spelled(location["actions"])
        elif code == "RESOURCE_STAR":
            found = [a for a in spelled(detail) if access_level(a) in WRITE_ACCESS_LEVELS]
        elif code == "RESOURCE_POLICY_PRIVILEGE_ESCALATION":
            match = BUCKET_ESCALATION_RE.search(str(detail))
            found = [f"{match['action']} on {match['bucket']}" if match else str(detail)]
        elif code == "RESOURCE_MISMATCH":
            found = [f"{d['action']} needs a resource like {d['required_format']}" for d in detail]
        else:
            found = [str(detail)] if detail else []
        if found or code not in ACTION_LIST_ISSUES:
            details.setdefault(code, []).extend(found)
    return details
