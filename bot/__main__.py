"""``python -m bot``: the same as the ``iam-role-bot`` command."""

import sys

from bot.cli import main

sys.exit(main())
