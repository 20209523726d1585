"""Commits a created role's code to a git repository, with the git command line (and removes it when the
role is deleted).

Every attempt starts from a fresh shallow clone of the branch in a temporary directory, writes (or
removes) the role's one file, commits and pushes: a failed attempt leaves nothing behind, so trying again (the
bot does, on housekeeping) is always safe, and an unchanged (or already absent) file makes no commit. Each git command
has a timeout and git never prompts (``GIT_TERMINAL_PROMPT=0``, ssh in batch mode): a hung or
password-protected remote fails the attempt instead of holding a worker. Credentials written into
the repository URL are masked in every message.

The git CLI rather than a Python git library: it is what the admin already configured (ssh keys,
credential helpers), and it is the reference implementation of the protocol.
"""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.config import GitExport

USER_INFO = re.compile(r"(?<=://)[^/@\s]+@")
AUTHOR = ("iam-role-bot", "iam-role-bot@users.noreply.localhost")
PUSH_ATTEMPTS = 3
"""A push refused because another commit landed first is tried again from a fresh clone."""
OVERTAKEN = ("(fetch first)", "(non-fast-forward)")
"""How git push says the branch moved on meanwhile."""
GIT_SAYS = re.compile(r"^(fatal:|error:| ! )")


class GitExportError(Exception):
    """The role's code could not be committed or pushed; ``message`` says why (credentials masked)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Committed:
    """Where the role's file is, and the commit (None: the file was already exactly this)."""

    path: str
    commit: str | None


def masked(text: str) -> str:
    return USER_INFO.sub("***@", text)


class GitRepository:
    """The ``[export]`` repository of the policy file."""

    def __init__(self, settings: GitExport) -> None:
        if not settings.repository:
            raise ValueError("no [export] repository is configured")
        self.settings = settings
        self.repository: str = settings.repository

    def path_for(self, *, account_id: str, role_name: str, request_id: str) -> str:
        """The role's file in the repository (the template was checked to stay inside it)."""
        path = self.settings.path_template.format(account_id=account_id, role_name=role_name, request_id=request_id)
        parts = path.split("/")
        if path.startswith("/") or any(part in ("", ".", "..", ".git") for part in parts):
            # Role names may be ".." (IAM allows dots): such a name must not walk out of the repository.
            raise GitExportError(f"The export path {path!r} would leave the repository; the role was not committed.")
        return path

    def commit(self, path: str, content: str | None, message: str) -> Committed:
        """Write ``content`` at ``path`` on the branch (None: remove the file), commit with ``message`` and push."""
        attempts = 0
        while True:
            attempts += 1
            with tempfile.TemporaryDirectory(prefix="iam-role-bot-export-") as workdir:
                clone = Path(workdir) / "repo"
                self._clone(clone)
                target = clone / path
                if content is None:
                    if not target.exists():
                        return Committed(path, None)
                    self._git(clone, "rm", "-q", "--", path)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content, encoding="utf-8")
                    self._git(clone, "add", "--", path)
                if not self._git(clone, "status", "--porcelain", "--", path).strip():
                    return Committed(path, None)
                self._git(clone, "commit", "-q", "-m", message, "--", path)
                pushed = self._run(clone, "push", "-q", "origin", f"HEAD:refs/heads/{self.settings.branch}")
                if pushed.returncode == 0:
                    return Committed(path, self._git(clone, "rev-parse", "HEAD").strip())
                if attempts == PUSH_ATTEMPTS or not any(reason in pushed.stderr for reason in OVERTAKEN):
                    raise self._failed("push", pushed)

    def _clone(self, clone: Path) -> None:
        branch = self.settings.branch
        heads = self._git(clone.parent, "ls-remote", "--heads", "--", self.repository, f"refs/heads/{branch}")
        if heads.strip():
            self._git(clone.parent, "clone", "-q", "--depth", "1", "--branch", branch, "--", self.repository, "repo")
            return
        # A new branch starts empty, whatever the repository's other branches hold.
        self._git(clone.parent, "init", "-q", "repo")
        self._git(clone, "remote", "add", "origin", self.repository)
        self._git(clone, "checkout", "-q", "--orphan", branch)

    def _git(self, cwd: Path, *args: str) -> str:
        done = self._run(cwd, *args)
        if done.returncode != 0:
            raise self._failed(args[0], done)
        return done.stdout

    def _run(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        name, email = AUTHOR
        command = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false", *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
        try:
            return subprocess.run(
                command,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.settings.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitExportError(
                f"git {args[0]} did not finish within {self.settings.timeout_seconds:g} s; the bot will try again."
            ) from None
        except OSError as error:
            raise GitExportError(f"git could not be run ({type(error).__name__}); is git installed?") from None

    @staticmethod
    def _failed(what: str, done: subprocess.CompletedProcess[str]) -> GitExportError:
        """The error with the line where git names the cause (not its hints), credentials masked."""
        lines = (done.stderr or done.stdout).strip().splitlines()
        cause = next((line for line in lines if GIT_SAYS.match(line)), lines[-1] if lines else "no output")
        said = masked(cause.strip())
        return GitExportError(f"git {what} failed (exit {done.returncode}): {said}")
