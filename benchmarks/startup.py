"""``make bench``: how long ``rapport`` makes a user wait, measured as whole processes.

The median wall time of ``rapport --help`` and ``rapport rules check rules`` (after one warm-up
run, so the figures are of a warm disk cache, as on a user's second call) is printed against its
target and merged into ``benchmarks/results.json`` under ``startup``; other keys are kept.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
RAPPORT = Path(sys.executable).with_name("rapport")

# name -> (arguments, target seconds): the figures of issue 13.
COMMANDS = {
    "help": (["--help"], 0.3),
    "rules_check": (["rules", "check", "rules"], 0.6),
}


def median_process_seconds(args: list[str], repeat: int) -> float:
    """Median wall time of ``rapport ARGS`` run ``repeat`` times, each a fresh process."""
    command = [str(RAPPORT), *args]
    subprocess.run(command, check=True, capture_output=True, cwd=HERE.parent)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=HERE.parent)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (>= 5)")
    args = parser.parse_args()
    repeat = max(5, args.repeat)
    figures: dict[str, float] = {}
    print(f"start-up, median of {repeat} whole-process runs:")
    for name, (argv, target) in COMMANDS.items():
        seconds = median_process_seconds(argv, repeat)
        figures[f"{name}_s"] = seconds
        verdict = "ok" if seconds <= target else "OVER TARGET"
        print(f"  rapport {' '.join(argv):<22} {seconds:6.3f} s  (target {target} s: {verdict})")
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["startup"] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": repeat,
        **figures,
        "targets_s": {f"{name}_s": target for name, (_, target) in COMMANDS.items()},
    }
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
