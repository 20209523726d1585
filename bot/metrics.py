"""What operators scrape at ``GET /metrics`` (Prometheus text format), through prometheus_client.

prometheus_client is the Prometheus project's own Python client (https://prometheus.github.io/client_python/):
counters and histograms safe across threads, and the exposition format done for us. Metrics live in
the process's default registry (with its process_* metrics); each replica is scraped on its own, and
Prometheus sums them. Requests by status come from the shared database at scrape time, so every
replica reports the same numbers for them (query them with ``max``, not ``sum``).
"""

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from bot.lifecycle import Status

REQUESTS = Gauge(
    "iam_role_bot_requests", "Requests in the database, by status (the same on every replica).", ["status"]
)
APPROVALS = Counter(
    "iam_role_bot_approvals_total",
    "Approval votes recorded; outcome=approved for the vote that completed one.",
    ["outcome"],
)
PROVISIONING = Histogram(
    "iam_role_bot_provisioning_seconds",
    "How long carrying out a request in AWS took, by outcome (created, failed).",
    ["outcome"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
SLACK_ERRORS = Counter(
    "iam_role_bot_slack_errors_total", "Slack Web API calls that failed, by Slack's error.", ["error"]
)
AWS_ERRORS = Counter(
    "iam_role_bot_aws_errors_total", "Provisioning failures, by AWS's error code (or the step refused).", ["code"]
)
OPTIONS_LOAD = Histogram(
    "iam_role_bot_options_load_seconds",
    "How long answering a select's options load took (Slack waits at most 3 s), by select.",
    ["select"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3),
)
DRIFT_OPEN = Gauge(
    "iam_role_bot_drift_reports_open",
    "Roles the bot made found changed (or deleted) outside it and not settled yet (the same on every replica).",
)
NOTICES = Counter(
    "iam_role_bot_notices_total",
    "Outcomes announced in Slack through the outbox, by what became of each send: sent, retry (Slack failed; sent "
    "again later), given_up (failed too often), superseded (the request moved on before it was said), overtaken (this "
    "replica was too slow and another took the rest over).",
    ["result"],
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(count: Callable[[Status], int] | None = None, drift_open: Callable[[], int] | None = None) -> bytes:
    """Every metric in Prometheus's text format; ``count(status)`` fills in requests by status and ``drift_open()``
    the open drift reports, when given."""
    if count is not None:
        for status in Status:
            REQUESTS.labels(status=status.value).set(count(status))
    if drift_open is not None:
        DRIFT_OPEN.set(drift_open())
    return generate_latest()
