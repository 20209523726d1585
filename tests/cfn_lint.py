"""cfn-lint's rules for the tests, loaded once per process."""

import functools

from cfnlint.core import get_rules
from cfnlint.rules import RulesCollection


@functools.cache
def cfn_lint_rules() -> RulesCollection:
    """Handed to each ``cfnlint.api.lint`` call: loading them is ~0.25 s of each call that is given none (cfn-lint's
    command line, too, checks every template it is given with one set)."""
    return get_rules([], [], [])
