"""Killing the sender between the SMTP server's accept and marking sent: after a restart, at most
one message is sent twice and none is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import T0, Clock, notice
from smtp_server import Recorder, start_server

from rapport.api.notify.wiring import notification_service
from rapport.api.settings import Settings
from rapport.signals import outbox
from rapport.signals.store import Store

SENDER = textwrap.dedent("""
    import sys
    from datetime import datetime
    from rapport.api.notify.wiring import notification_service
    from rapport.api.settings import Settings
    from rapport.signals.store import Store
    url, smtp, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
    with Store.open(url) as store:
        settings = Settings(smtp_url=smtp, rules_dir="rules")
        notification_service(settings, store, clock=lambda: now).deliver_due(now)
""")


def test_a_sender_killed_after_the_servers_accept_resends_at_most_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/rapport.db"
    recorder = Recorder()
    controller = start_server(recorder)
    smtp = f"smtp://127.0.0.1:{recorder.port}"
    try:
        with Store.open(url) as store:
            service = notification_service(Settings(smtp_url=smtp), store, clock=Clock())
            assert service.enqueue([notice(f"n{i}") for i in range(5)]) == 5
        child = subprocess.Popen([sys.executable, "-c", SENDER, url, smtp, T0.isoformat()])
        # The third message is accepted, then the sender dies before reading the 250 reply.
        recorder.on_accept = lambda: (len(recorder.messages) == 3
                                      and os.kill(child.pid, signal.SIGKILL))  # fmt: skip
        assert child.wait(timeout=60) == -signal.SIGKILL
        recorder.on_accept = None
        assert len(recorder.messages) == 3
        with Store.open(url) as store:  # the restart
            assert outbox.counts(store)["sent"] == 2
            service = notification_service(Settings(smtp_url=smtp), store, clock=Clock())
            assert service.deliver_due(T0).sent == 3
            assert outbox.counts(store) == {"pending": 0, "sent": 5, "failed": 0}
            assert service.deliver_due(T0).sent == 0
    finally:
        controller.stop()
    keys = [m["X-Rapport-Key"] for m in recorder.parsed()]
    assert len(keys) == 6 and len(set(keys)) == 5  # every message, one of them twice
