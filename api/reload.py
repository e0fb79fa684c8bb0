"""Reloading rules while serving: a watcher on the rules directory and a SIGHUP handler.

Both only *ask* for a reload; one ``Reloader`` thread performs them, so a signal handler never
parses YAML and a burst of file events becomes one reload after the burst settles.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from watchfiles import Change, DefaultFilter, watch

log = logging.getLogger("rapport.reload")


class _RulesFilter(DefaultFilter):
    """YAML files only; editors' swap and backup files, .git and caches are ignored."""

    def __call__(self, change: Change, path: str) -> bool:
        return path.endswith((".yaml", ".yml")) and super().__call__(change, path)


class Reloader:
    """Runs ``reload`` in a thread of its own whenever ``trigger`` is called or, when
    ``directory`` is given, whenever a YAML file under it changes."""

    def __init__(
        self,
        reload: Callable[[], object],
        directory: Path | None = None,
        *,
        debounce_ms: int = 300,
    ) -> None:
        self._reload = reload
        self._directory = directory
        self._debounce_ms = debounce_ms
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._watching = threading.Event()
        self._threads: list[threading.Thread] = []

    def trigger(self) -> None:
        """Ask for a reload (safe from a signal handler: it only sets an event)."""
        self._wanted.set()

    def start(self, ready_timeout: float = 10.0) -> None:
        """Start the threads; with a directory, return once it is being watched (a change made
        right after ``start`` returns is seen)."""
        self._spawn(self._reload_loop, "rapport-rules-reload")
        if self._directory is not None:
            self._spawn(self._watch_loop, "rapport-rules-watch")
            if not self._watching.wait(ready_timeout):
                log.warning("the rules watcher is slow to start; changes may be missed until then")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wanted.set()  # wake the reload loop so it sees the stop
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _reload_loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                self._reload()
            except Exception:  # a reload bug must not end reloading for good
                log.exception("rules reload failed")

    def _watch_loop(self) -> None:
        assert self._directory is not None
        try:
            for changes in watch(
                self._directory,
                watch_filter=_RulesFilter(),
                debounce=self._debounce_ms,
                stop_event=self._stop,
                raise_interrupt=False,
                # An empty yield every 200 ms tells us the watch is in place (see start).
                rust_timeout=200,
                yield_on_timeout=True,
            ):
                self._watching.set()
                if changes:
                    log.info("rules changed: %s", ", ".join(sorted(p for _, p in changes)))
                    self.trigger()
        except Exception:
            log.exception("watching %s stopped; use SIGHUP or POST /-/reload", self._directory)
        finally:
            self._watching.set()  # never leave start() waiting on a watcher that died


def install_sighup(reloader: Reloader) -> bool:
    """Reload on SIGHUP. Only the main thread may install handlers: False when called elsewhere
    (e.g. a test server running in a thread) or on a platform without SIGHUP."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return False

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reloader.trigger()

    signal.signal(signal.SIGHUP, on_hup)
    return True
