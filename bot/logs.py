"""Log output that holds up against what it logs: one record per line, bounded, and no secrets at any level.

Logged values come from users (role descriptions, names) and from AWS or Slack, so the formatter
escapes control characters (a raw newline can't start a forged record), caps each message, and
masks Slack tokens, AWS secret keys and session tokens, and the values it is told are secret.
Libraries that log whole bodies or credentials when verbose (botocore logs AssumeRole's answer
at DEBUG, slack_sdk its requests, Bolt the bodies it can't handle) are pinned at a level where
they don't, whatever ``LOG_LEVEL`` says. ``LOG_FORMAT=json`` writes one JSON object per line.

Logging must never fail the code that logs, nor spill tracebacks of its own: a record whose message
can't be made (a library's arguments that don't fit its format, an object whose ``str`` raises, an
odd ``exc_info``) is still written, with what could be read of it; and without a given stream the
handler writes to ``sys.stderr`` as it is when each record is written, not to the one it was when
logging was configured (which may be closed since: a test's captured output, a daemon's redirect).
"""

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Literal, TextIO

LogFormat = Literal["text", "json"]

MAX_MESSAGE_CHARS = 2000
"""A message longer than this is cut (with a note of how much was left out)."""
MAX_EXCEPTION_CHARS = 20000
"""The same for a traceback."""

PINNED_LOGGERS: dict[str, int] = {
    "botocore": logging.WARNING,  # DEBUG: every response body, AssumeRole's SecretAccessKey and SessionToken
    "boto3": logging.WARNING,
    "urllib3": logging.WARNING,  # DEBUG: every URL with its query string
    "s3transfer": logging.WARNING,
    "slack_sdk": logging.WARNING,  # DEBUG: every Web API request's parameters
    "slack_bolt": logging.WARNING,
    "bot.slack": logging.INFO,  # Bolt's app logger; DEBUG: every response body
    "moto": logging.WARNING,  # the sandbox's AWS
    "werkzeug": logging.WARNING,  # moto's server: a line per request
    "waitress": logging.INFO,
    "parliament": logging.WARNING,
}
"""The least a library logs, whatever ``LOG_LEVEL`` says."""

CONTROL_CHARACTERS = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
"""C0 and C1 controls and Unicode's line and paragraph separators, each written as its escape."""

SECRET_PATTERNS = [
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox?-[redacted]"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "xapp-[redacted]"),
    (
        re.compile(r"(SecretAccessKey|SessionToken|secret_access_key|session_token)(\W{1,6})[A-Za-z0-9/+=]{8,}"),
        r"\1\2[redacted]",
    ),
]
"""Slack tokens (https://api.slack.com/authentication/token-types) and AWS temporary credentials by
their names in STS's XML answer, botocore's dicts and boto3's keyword arguments."""


class SafeText:
    """Turns a logged value into safe output: secrets masked, control characters escaped, length capped."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        for pattern, replacement in SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def line(self, text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
        """One line, whatever ``text`` held."""
        return cap(self.redact(text), limit).translate(CONTROL_CHARACTERS)

    def block(self, text: str, limit: int = MAX_EXCEPTION_CHARS) -> str:
        """A traceback: its own lines kept, each indented, so none of them reads as a record of its own."""
        lines = cap(self.redact(text), limit).split("\n")
        return "\n".join("    | " + line.translate(CONTROL_CHARACTERS) for line in lines)


def cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters]"


def message_of(record: logging.LogRecord) -> str:
    """The record's message; one that can't be made (arguments that don't fit the format) is shown as its parts."""
    try:
        return record.getMessage()
    except Exception as error:
        return f"{shown(record.msg)} % {shown(record.args)} (unformattable: {type(error).__name__})"


def shown(value: object) -> str:
    """``repr(value)``, or what it is when even that raises."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} that can't be shown>"


class TextFormatter(logging.Formatter):
    """``2026-11-30 12:00:00,000 WARNING bot.executor: message``, one line per record (tracebacks indented below)."""

    def __init__(self, safe: SafeText) -> None:
        super().__init__()
        self.safe = safe

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {self.safe.line(message_of(record))}"
        extra = details(self, record)
        return text + ("\n" + self.safe.block(extra) if extra else "")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``exception``."""

    def __init__(self, safe: SafeText) -> None:
        super().__init__()
        self.safe = safe

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": cap(self.safe.redact(message_of(record)), MAX_MESSAGE_CHARS),
        }
        extra = details(self, record)
        if extra:
            entry["exception"] = cap(self.safe.redact(extra), MAX_EXCEPTION_CHARS)
        return json.dumps(entry)  # escapes every control character, and non-ASCII as \\u escapes


def details(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's traceback and stack, if any (an ``exc_info`` that isn't an exception's is shown as it is)."""
    parts = []
    if record.exc_info:
        try:
            parts.append(formatter.formatException(record.exc_info))
        except Exception:
            parts.append(f"exc_info: {shown(record.exc_info)}")
    if record.stack_info:
        parts.append(formatter.formatStack(str(record.stack_info)))
    return "\n".join(parts)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes each record to ``sys.stderr`` as it is then (as ``logging.lastResort`` does), so a stream replaced
    and closed after logging was configured is never written to."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "text", *, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record to ``stream`` (stderr) through the safe formatter, replacing the root's handlers.

    ``secrets`` are values never to be written (the Slack tokens and signing secret). Returns the handler.
    """
    safe = SafeText(secrets)
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(JsonFormatter(safe) if log_format == "json" else TextFormatter(safe))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in PINNED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    return handler
