"""What operators see over HTTP: ``/metrics`` in Prometheus's format counting what the bot did, and
``/readyz`` failing while the database (here PostgreSQL) can't be reached and recovering after."""

import urllib.error
import urllib.request
from collections.abc import Callable

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, click, request_role
from tests.postgres import Cluster


def get(stack: BotStack, path: str) -> tuple[int, str]:
    url = stack.url.replace("/slack/events", path)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_status_approvals_and_provisioning(stack: BotStack) -> None:
    status, before_text = get(stack, "/metrics")
    assert status == 200
    before = samples(before_text)
    request_id = request_role(stack, "user", {"role_name": "measured"})
    click(stack, APPROVER, "approve", request_id)

    after = samples(get(stack, "/metrics")[1])
    assert after[("iam_role_bot_requests", (("status", "created"),))] == 1
    assert after[("iam_role_bot_requests", (("status", "submitted"),))] == 0
    approved = ("iam_role_bot_approvals_total", (("outcome", "approved"),))
    assert after[approved] == before.get(approved, 0) + 1
    created = ("iam_role_bot_provisioning_seconds_count", (("outcome", "created"),))
    assert after[created] == before.get(created, 0) + 1


def test_readyz_fails_while_the_database_is_unreachable(make_stack: Callable[..., BotStack], postgres: Cluster) -> None:
    url = postgres.new_database()
    stack = make_stack(database_url=SecretStr(url))
    assert get(stack, "/readyz") == (200, "ready")
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        status, body = get(stack, "/readyz")
        assert (status, body) == (503, "not ready: the database is unreachable")
        assert get(stack, "/healthz") == (200, "ok")  # alive: a restart would not help
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert get(stack, "/readyz") == (200, "ready")
