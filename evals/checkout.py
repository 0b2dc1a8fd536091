"""Another version of festina beside this one, for benchmarks that compare the two in
one run on one machine (figures from different days or machines do not compare)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHECKOUT_ROOT = Path(__file__).resolve().parents[1]


class CheckoutError(RuntimeError):
    """The version asked for cannot be checked out (no git checkout, unknown ref...)."""


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(CHECKOUT_ROOT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CheckoutError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@contextmanager
def checked_out(ref: str, into: Path) -> Iterator[tuple[str, Path]]:
    """Check `ref` out into `into` (a git worktree of this checkout, removed after);
    yields its name for reports (`ref (short hash)`) and the folder. Its code runs with
    this environment's packages, so compare versions whose dependencies agree."""
    if not (CHECKOUT_ROOT / ".git").exists():
        raise CheckoutError(f"{CHECKOUT_ROOT} is not a git checkout: a baseline needs one")
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    _git("worktree", "add", "--detach", str(into), commit)
    try:
        yield (commit if ref.startswith(commit) else f"{ref} ({commit})"), into
    finally:
        _git("worktree", "remove", "--force", str(into))
