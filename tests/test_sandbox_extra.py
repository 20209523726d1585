"""The sandbox (moto, the fake Slack) is an optional extra: production code runs and imports without it.

Each check runs in a fresh interpreter where ``moto`` (and for the import check ``bot.sandbox``) is
made unimportable by a ``None`` entry in ``sys.modules``, which is how Python marks a module that
``import`` must refuse (https://docs.python.org/3/reference/import.html#the-module-cache).
"""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_MOTO = "import sys; sys.modules['moto'] = None; "


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def production_modules() -> list[str]:
    """Every module of the ``bot`` package outside ``bot.sandbox`` (``bot.__main__`` runs the CLI)."""
    return [
        module.name
        for module in pkgutil.walk_packages(bot.__path__, "bot.")
        if not module.name.startswith("bot.sandbox") and module.name != "bot.__main__"
    ]


def test_production_modules_import_without_moto_or_the_sandbox() -> None:
    modules = production_modules()
    assert {"bot.cli", "bot.runtime", "bot.app", "bot.http", "bot.executor"} <= set(modules)
    code = (
        WITHOUT_MOTO
        + "sys.modules['bot.sandbox'] = None; import importlib; "
        + "; ".join(f"importlib.import_module({name!r})" for name in modules)
        + "; import blocks.modals, blocks.home, blocks.messages"
        + "; print([name for name in sys.modules if name.startswith(('moto', 'bot.sandbox')) and sys.modules[name]])"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["demo"], ["serve", "--sandbox"]])
def test_the_sandbox_without_its_extra_says_how_to_install_it(argv: list[str]) -> None:
    result = run_python(WITHOUT_MOTO + f"from bot.cli import main; sys.exit(main({argv!r}))")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "pip install 'iam-role-bot[sandbox]'" in lines[0]
