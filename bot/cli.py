"""The ``iam-role-bot`` command: serve, demo, and the admin's view of requests."""

import argparse
import gc
import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Config, ConfigError, load_config
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.runtime import Runtime

HOUSEKEEPING_SECONDS = 300
SANDBOX_MISSING = (
    "iam-role-bot: the sandbox (demo, serve --sandbox) needs moto, which the production package leaves out: "
    "pip install 'iam-role-bot[sandbox]' (in a clone: pip install '.[sandbox]', or ./run demo)"
)


def sandbox_installed() -> bool:
    """Whether the ``sandbox`` extra (moto, the in-memory AWS) is installed; production images leave it out."""
    return importlib.util.find_spec("moto") is not None


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def serve(sandbox: bool) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT."""
    config = load_config()
    settings = config.settings
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
    missing = settings.missing_to_serve()
    if missing:
        raise ConfigError("missing settings: " + ", ".join(missing) + " (see .env.example)")
    runtime = start_bot(config, sandbox)
    from bot.http import make_http_server

    secret = settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret and not settings.slack_app_token else None  # None: /healthz
    server = make_http_server(
        runtime.app,
        host="0.0.0.0",
        port=settings.port,
        signing_secret=signing_secret,
        ready=runtime.store.ping,
        metrics=runtime.metrics,
    )
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        threading.Thread(target=server.serve_forever, daemon=True, name="healthz").start()
        SocketModeHandler(runtime.app, settings.slack_app_token.get_secret_value()).start()
    else:
        logging.getLogger(__name__).info("serving Slack requests on :%d/slack/events", settings.port)
        server.serve_forever()


def start_bot(config: Config, sandbox: bool) -> "Runtime":
    """Build the bot and start its background work, with the garbage collector paused until it is built.

    Start-up makes long-lived objects (modules, AWS service models, Bolt's listeners, the sandbox's
    managed policies): the full collections it triggered walked them all and freed next to nothing
    (~2,800 objects; ~0.07 s of a ~1 s start). ``freeze_startup_objects`` collects once at the end.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        from bot.runtime import build_runtime, freeze_startup_objects

        aws_session = None
        if sandbox:
            from bot.sandbox.aws import start_sandbox_aws

            aws_session = start_sandbox_aws().session
            logging.getLogger(__name__).warning(
                "SANDBOX: roles are created in an in-memory AWS (moto), not a real account"
            )
        runtime = build_runtime(config, aws_session=aws_session, sandbox=sandbox)
        runtime.bot.resume_interrupted()
        start_periodic("housekeeping", HOUSEKEEPING_SECONDS, runtime.bot.housekeeping)
        start_periodic("leases", runtime.workflow.lease_seconds / 3, runtime.bot.keep_leases)
        freeze_startup_objects()
        return runtime
    finally:
        if collecting:
            gc.enable()


def start_periodic(name: str, seconds: float, task: Callable[[], None]) -> None:
    """Run ``task`` every ``seconds`` in the background: housekeeping (reminders, expiry), provisioning leases."""

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                task()
            except Exception:
                logging.getLogger(__name__).exception("%s failed", name)

    stop = threading.Event()
    threading.Thread(target=loop, daemon=True, name=name).start()


def list_requests(status: str | None, limit: int) -> None:
    from bot.database import open_store

    store = open_store(load_config().settings)
    records = store.by_status(status, limit=limit) if status else store.recent(limit=limit)
    for r in records:
        print(
            f"{r.id:8} {r.status:12} {r.role_type:14} {r.account_id} {r.role_name:40} {r.requester:12} "
            f"{stamp(r.created_at)}"
        )
    if not records:
        print("no requests")


def list_roles(account_id: str | None, last_used: bool) -> None:
    """The roles the bot made that exist as far as it knows: where, whose, until when; with ``last_used``, when
    IAM last saw each used (one GetRole per role, with the bot's credentials)."""
    from bot.database import open_store

    config = load_config()
    store = open_store(config.settings)
    read = role_reader(config) if last_used else None
    records = store.live_roles(account_id)
    drifted = {report.made_id: report for report in store.open_drift_reports()}
    for r in records:
        until = stamp(r.expires_at) if r.expires_at else "no expiry"
        line = (
            f"{r.id:8} {r.account_id} {r.role_name:40} {r.requester:12} created {stamp(r.updated_at)}  expires {until}"
        )
        if r.id in drifted:
            report = drifted[r.id]
            line += f"  {'DELETED outside the bot' if report.deleted else 'CHANGED outside the bot'} ({report.id})"
        print(line + (f"  {read(r.account_id, r.role_name)}" if read else ""))
    if not records:
        print("no roles")


def check_drift() -> int:
    """One drift pass now, as housekeeping runs it (new differences are posted to the approvals channel); prints
    what it found per role. Exit 1 when a role is not as approved."""
    from bot.runtime import build_bot

    config = load_config()
    found = build_bot(config).check_drift()
    for item in found:
        print(f"{item.made_id:8} {item.account_id} {item.role_name:40} {item.outcome}")
    if not found:
        print("no roles")
    return 1 if any(item.outcome.startswith(("reported", "still")) for item in found) else 0


def role_reader(config: Config) -> Callable[[str, str], str]:
    """``read(account_id, role_name)``: the role's last use in words, or why it could not be read."""
    from bot.aws import AccountSessions
    from bot.executor import Executor, ProvisioningError

    sessions = AccountSessions(config.policy.executor, config.policy.accounts, region=config.settings.aws_region)
    executor = Executor(sessions)

    def read(account_id: str, role_name: str) -> str:
        try:
            role = executor.read_role(account_id, role_name)
        except ProvisioningError as error:
            return f"last use unknown: {error.message}"
        return role.last_used() if role else "no longer in AWS"

    return read


def show_request(request_id: str) -> int:
    from bot.database import open_store

    store = open_store(load_config().settings)
    record = store.get(request_id.upper())
    if record is None:
        print(f"no request {request_id}", file=sys.stderr)
        return 1
    print(f"{record.id}  {record.status}  requested by {record.requester} at {stamp(record.created_at)}")
    if record.target_id:
        print(
            f"{record.kind} the role {record.role_name} that {record.target_id} created: {json.dumps(record.subject)}"
        )
    else:
        print(record.request.summary())
    if record.result:
        print("result:", json.dumps(record.result))
    if record.error:
        print("error:", record.error)
    if not record.target_id:
        print("plan:")
        for step in record.request.plan():
            print("  " + step.describe())
    print("events:")
    for event in store.events(record.id):
        details = f" {json.dumps(event.details)}" if event.details else ""
        print(f"  {stamp(event.at)} {event.kind:12} {event.actor}{details}")
    return 0


def export_request(request_id: str, format: str) -> int:
    """Print a created or edited role as code (an edit: the role's whole state after it), exactly as its
    request's thread got it; a delete request has none (exit 1)."""
    from bot.database import open_store
    from bot.export import export_role
    from bot.role_code import role_as_code

    store = open_store(load_config().settings)
    record = store.get(request_id.upper())
    if record is None:
        print(f"no request {request_id}", file=sys.stderr)
        return 1
    try:
        role = role_as_code(store, record)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    print(export_role(role, format), end="")
    return 0


def verify_audit() -> int:
    """Check the audit log's hash chain end to end; 0 if it holds, 1 at the first broken link."""
    from bot.database import open_store

    with open_store(load_config().settings) as store:
        broken, count, head = store.verify_audit()
    if broken:
        print(f"audit log BROKEN at {broken} (checked {count} events)", file=sys.stderr)
        return 1
    print(f"audit log intact: {count} events; head hash {head or '(none)'}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="iam-role-bot", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    serve_cmd.add_argument("--sandbox", action="store_true", help="create roles in an in-memory AWS (moto)")
    commands.add_parser("demo", help="walk through requests against an embedded sandbox (no Slack, no AWS)")
    requests = commands.add_parser("requests", help="inspect stored requests").add_subparsers(
        dest="action", required=True
    )
    listing = requests.add_parser("list", help="recent requests")
    listing.add_argument("--status", help="only requests in this status")
    listing.add_argument("--limit", type=int, default=50)
    requests.add_parser("show", help="one request with its events").add_argument("id")
    roles = commands.add_parser("roles", help="the roles the bot made").add_subparsers(dest="action", required=True)
    role_listing = roles.add_parser("list", help="roles that exist, with their expiry")
    role_listing.add_argument("--account", help="only roles in this account")
    role_listing.add_argument("--last-used", action="store_true", help="also read each role's last use from AWS")
    export = requests.add_parser("export", help="a created role as CloudFormation or Terraform (with import blocks)")
    export.add_argument("id")
    export.add_argument("--format", choices=["cloudformation", "terraform"], required=True)
    drift = commands.add_parser("drift", help="roles changed outside the bot").add_subparsers(
        dest="action", required=True
    )
    drift.add_parser("check", help="compare every role the bot made with its approved state now (exit 1: drift)")
    audit = commands.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    audit.add_parser("verify", help="check the event hash chain; report the first broken link (exit 1)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if (args.command == "demo" or (args.command == "serve" and args.sandbox)) and not sandbox_installed():
        print(SANDBOX_MISSING, file=sys.stderr)
        return 2
    configure_logging("INFO")
    try:
        if args.command == "demo":
            from bot.sandbox.demo import run_demo

            logging.getLogger().setLevel(logging.WARNING)
            run_demo()
        elif args.command == "serve":
            serve(args.sandbox)
        elif args.command == "audit":
            return verify_audit()
        elif args.command == "drift":
            return check_drift()
        elif args.command == "roles":
            list_roles(args.account, args.last_used)
        elif args.action == "list":
            list_requests(args.status, args.limit)
        elif args.action == "export":
            return export_request(args.id, args.format)
        else:
            return show_request(args.id)
    except ConfigError as error:
        print(f"iam-role-bot: configuration error:\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
