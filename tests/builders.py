"""Builders of the pure inputs unit tests compare, shared so each test spells only what it varies."""

from typing import Any

from bot.domain import AssumableRoleRequest, parse_role_request


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    """A policy document (Version 2012-10-17) of these statements."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def lambda_role(**fields: Any) -> AssumableRoleRequest:
    """A Lambda role request as the form's parser makes it: a minimal valid one, ``fields`` added or overridden
    (the edit and narrowing tests compare two of these)."""
    data = {
        "role_type": "service",
        "account_id": "123456789012",
        "role_name": "edited",
        "service_principal": "lambda.amazonaws.com",
        "justification": "testing",
        **fields,
    }
    request = parse_role_request(data)
    assert isinstance(request, AssumableRoleRequest)
    return request
