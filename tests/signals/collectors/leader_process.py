"""A replica for the leader-lock test: runs one collector on schedule while it holds the lock.

    python leader_process.py POSTGRES_URL COLLECTOR_ID DROP_FOLDER RETRY_SECONDS

Prints ``follower`` after its first failed attempt at the lock and ``leader`` once elected (one
line each, flushed), then serves until killed. Its collector runs at once when elected, so the
store's run log shows which replica ran schedules.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from rapport.signals.collectors.config import check_collectors_text
from rapport.signals.collectors.schedule import CollectorService, leader_lock_for
from rapport.signals.store import Store


def main(url: str, collector: str, folder: str, retry: float) -> None:
    text = (
        f"version: 1\ncollectors:\n  {collector}:\n    type: file\n    path: {folder}\n"
        "    kind: response_time\n    schedule: {interval: 1h, jitter: 0}\n"
    )
    config, findings = check_collectors_text(text, str(Path(folder) / "collectors.yaml"))
    if config is None:
        raise SystemExit("\n".join(str(f) for f in findings))
    store = Store.open(url)
    service = CollectorService(store, config, lock=leader_lock_for(store), retry=retry)
    service.start()
    election = service.election
    assert election is not None
    said = ""
    tick = threading.Event()
    while True:
        state = "leader" if election.leader.is_set() else "follower" if election.attempts else ""
        if state and state != said:
            print(state, flush=True)
            said = state
        tick.wait(0.02)  # polling our own state; the test kills this process


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
