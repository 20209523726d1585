"""``python -m moto.server`` for the tests (``tests.e2e.moto_server`` starts it as ``python -m tests.moto_server``),
with two of its per-call costs paid once per process; what it serves is unchanged.

- Its managed policies' JSON is parsed once, and an account gets one IAM backend, not one per partition
  (``lighten_moto``).
- Each request's host is looked up among moto's service names, which ``moto.backends.list_of_moto_modules`` finds
  by listing moto's package directory (~200 ``isdir`` calls per request, a tenth of the server's CPU in the tests);
  the directory does not change while the server runs, so it is listed once.
"""

import sys
from collections.abc import Iterable

from moto import backends
from moto.server import main

from bot.sandbox.aws import lighten_moto

MOTO_MODULES = frozenset(backends.list_of_moto_modules())


def listed_once() -> Iterable[str]:
    """What ``list_of_moto_modules`` lists, from the one listing made at import."""
    return MOTO_MODULES


if __name__ == "__main__":
    lighten_moto()
    backends.list_of_moto_modules = listed_once
    main(sys.argv[1:])
