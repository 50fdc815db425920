"""The test suite's file order on two workers: xdist's default against heaviest first.

The README's test command runs ``pytest -n 2 --dist loadfile --no-loadscope-reorder`` and
``tests/conftest.py`` sorts the test files heaviest first by the seconds per file recorded in
``tests/durations.json``.  This replays pytest-xdist's ``loadfile`` scheduler (3.x:
``LoadScopeScheduling``: one file per worker to start, then one more whenever a worker has at
most two tests pending; with its default ``--loadscope-reorder`` the files are first sorted by
their number of tests, most first) on those recorded seconds and prints the wall time each
order would take, the ratio against xdist's default order measured in the same run, and the
lower bound (half the worker time, or the longest file).

It is a replay, not a timed run: each file's seconds are spread evenly over its tests (the
durations file keeps totals per file), worker start-up and collection are left out, and files
under a second are not in the file (they count as 0).  Timing both orders for real takes two
full suites (~1 h on 2 cores); the replay shows where the order matters: which files are left
for the end.  The test counts come from ``pytest --collect-only`` (about 20 s).

Measured 2026-12-05 (``python benchmarks/suite_order.py``; durations recorded 2026-12-05 00:08
with the README's command on 2 cores, 2,965 s of worker time in the recorded files): xdist's
default order 1,572 s, collection order without the reorder 1,558 s (0.991x), heaviest first
1,483 s (0.943x), lower bound 1,482 s.  For comparison, the real suite in fresh clones that day
took 29:48 and 35:09 (heaviest first) and 27:00 (xdist's default order, on a faster machine):
the machine's speed moves it more than the order does.

Usage::

    python benchmarks/suite_order.py
    python benchmarks/suite_order.py --workers 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: pytest's ``testpaths`` (pyproject.toml), in the order pytest collects them.
TESTPATHS = ("tests", "bayescale")


def collected_counts() -> Counter:
    """Tests per file, from ``pytest --collect-only -q`` in the repository."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                          "no:randomly"], cwd=ROOT, capture_output=True, text=True, check=True)
    return Counter(line.split("::")[0] for line in out.stdout.splitlines() if "::" in line)


def natural_order(files) -> list[str]:
    """Files in pytest's collection order: by testpath, then by path."""
    def key(f: str) -> tuple:
        top = f.split("/")[0]
        return (TESTPATHS.index(top) if top in TESTPATHS else len(TESTPATHS), f)
    return sorted(files, key=key)


def replay(order: list[str], counts: Counter, seconds: dict, workers: int = 2) -> float:
    """Wall time of xdist's loadscope scheduler handing out ``order``'s files to ``workers``.

    Examples
    --------
    >>> replay(["a", "b", "c"], Counter(a=3, b=3, c=3), {"a": 30, "b": 30, "c": 30})
    60.0
    """
    queue = deque(order)
    pending = [deque() for _ in range(workers)]
    clock = [0.0] * workers

    def assign(w: int) -> None:
        f = queue.popleft()
        n = counts[f]
        pending[w].extend([seconds.get(f, 0.0) / n] * n)

    def reschedule(w: int) -> None:
        if queue and len(pending[w]) <= 2:
            assign(w)

    for w in range(workers):           # one unit each, then at least two where possible
        if queue:
            assign(w)
    for w in range(workers):
        reschedule(w)
    while any(pending):
        w = min((w for w in range(workers) if pending[w]),
                key=lambda w: clock[w] + pending[w][0])
        clock[w] += pending[w].popleft()
        reschedule(w)
    return max(clock)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    seconds = json.loads((ROOT / "tests" / "durations.json").read_text())
    counts = collected_counts()
    natural = natural_order(counts)
    default = sorted(natural, key=lambda f: -counts[f])              # --loadscope-reorder
    heaviest = sorted(natural, key=lambda f: -seconds.get(f, 0.0))   # conftest.py's order
    total = sum(seconds.get(f, 0.0) for f in counts)
    bound = max(total / args.workers, max(seconds.get(f, 0.0) for f in counts))
    base = replay(default, counts, seconds, args.workers)
    print(f"{sum(counts.values())} tests in {len(counts)} files, {total:.0f} s of worker time "
          f"(tests/durations.json), {args.workers} workers")
    print(f"{'order':<44}{'wall s':>8}{'ratio':>8}")
    for name, order in [("xdist default (files by number of tests)", default),
                        ("collection order, no reorder", natural),
                        ("heaviest first (the README's command)", heaviest)]:
        t = replay(order, counts, seconds, args.workers)
        print(f"{name:<44}{t:>8.0f}{t / base:>8.3f}")
    print(f"{'lower bound (worker time / workers)':<44}{bound:>8.0f}{bound / base:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
