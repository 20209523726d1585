"""Rows as a bot of an older schema version wrote them, for the tests that migrate or verify such a database."""

from typing import Any

from bot.domain import RoleRequest


def older_request_row(request: RoleRequest, *, status: str, **columns: Any) -> dict[str, Any]:
    """R-1001 by U1 for ``request``, with the columns the first schema version had (later ones, such as version 2's
    ``role_name``, go in ``columns``): every test that writes a database as an older bot did starts from this one row,
    so the tests differ only where they mean to."""
    return {
        "seq": 1001,
        "id": "R-1001",
        "role_type": "user",
        "account_id": request.account_id,
        "requester": "U1",
        "request_json": request.model_dump_json(),
        "status": status,
        "created_at": 1.0,
        "updated_at": 2.0,
        **columns,
    }
