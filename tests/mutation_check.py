"""The check behind `make mutation`: run after `mutmut run`, it fails when a mutant of the
decision core survived (or no test reached it) and tests/mutation_survivors.txt does not
say why it is equivalent; a listed mutant that was killed after all is reported, so that
the list can be pruned, but does not fail the check."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

EXPLAINED = Path(__file__).with_name("mutation_survivors.txt")
NOT_KILLED = {"survived", "no tests"}


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    listing = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    status = dict(
        (name.strip(), state.strip())
        for name, _, state in (line.rpartition(": ") for line in listing.splitlines())
        if name.strip()
    )
    checked = {name: state for name, state in status.items() if state != "not checked"}
    counts = Counter(checked.values())
    alive = {name for name, state in checked.items() if state in NOT_KILLED}
    explained = {
        line.split()[0]
        for line in EXPLAINED.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    if not checked:
        print("no mutant was checked: did `mutmut run` fail?")
        return 1
    killed = len(checked) - len(alive)
    print(f"mutants checked: {len(checked)}; killed {killed} ({killed / len(checked):.1%})")
    print("  " + ", ".join(f"{state}: {n}" for state, n in sorted(counts.items())))
    unexplained, stale = sorted(alive - explained), sorted(explained - alive)
    for name in unexplained:
        print(f"survived, not explained in {EXPLAINED.name}: {name}")
    for name in stale:
        print(f"listed in {EXPLAINED.name} but killed this time: {name}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
