"""Reloading rules while serving: the bundle being served, a watcher on its directory, SIGHUP.

- ``RulesHolder`` checks the rules directory as one bundle (``api.bundle.check_bundle``) and swaps
  the whole bundle in, or nothing; a bad change keeps the previous bundle serving and is
  remembered (with its findings) as the last reload result.
- ``Reloader``: the watcher and SIGHUP only *ask* for a reload; one thread performs them, so a
  signal handler never parses YAML and a burst of file events becomes one reload after it settles.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from watchfiles import Change, DefaultFilter, watch

from rapport.api.bundle import RulesBundle, check_bundle
from rapport.api.clock import Clock
from rapport.api.errors import NotReadyError
from rapport.api.metrics import ServiceMetrics
from rapport.engine.errors import Finding
from rapport.engine.loader import MAX_RULES_BYTES

log = logging.getLogger("rapport.reload")


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of one (re)load: ``version`` is what now serves (ok) or None (rejected)."""

    ok: bool
    at: datetime
    version: str | None
    findings: tuple[Finding, ...] = ()


class RulesHolder:
    """The rules bundle being served, replaced only by a complete, valid one."""

    def __init__(
        self,
        directory: Path,
        *,
        metrics: ServiceMetrics,
        clock: Clock,
        max_bytes: int = MAX_RULES_BYTES,
    ) -> None:
        self.directory = directory
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._bundle: RulesBundle | None = None
        self._last: ReloadResult | None = None
        self._listeners: list[Callable[[RulesBundle], None]] = []

    @property
    def bundle(self) -> RulesBundle | None:
        """The serving bundle, None before the first successful load."""
        return self._bundle

    @property
    def last_reload(self) -> ReloadResult | None:
        return self._last

    def current(self) -> RulesBundle:
        """The serving bundle; NotReadyError before the first successful load."""
        bundle = self._bundle
        if bundle is None:
            raise NotReadyError(f"no valid rules loaded from {self.directory} yet")
        return bundle

    def on_change(self, listener: Callable[[RulesBundle], None]) -> None:
        """Call ``listener`` after every successful swap (e.g. to re-score, to reschedule)."""
        self._listeners.append(listener)

    def reload(self) -> ReloadResult:
        """Check the whole directory; swap it in when it has no finding at all.

        Reloads are serialised: a watcher event, a SIGHUP and ``POST /-/reload`` arriving together
        each see a complete directory check, and the last one to finish decides what serves.
        Listeners run after the swap, outside the lock.
        """
        with self._lock:
            bundle, findings = check_bundle(self.directory, max_bytes=self._max_bytes)
            at = self._clock()
            self._metrics.rules_reload_time.set(at.timestamp())
            if bundle is None:
                return self._reject(at, findings)
            self._bundle = bundle
            self._last = ReloadResult(True, at, bundle.version)
            self._metrics.rules_reload_ok.set(1)
            self._metrics.set_rules_version(bundle.version)
            log.info("rules %s loaded from %s", bundle.version, self.directory)
        for listener in self._listeners:
            listener(bundle)
        return self._last

    def _reject(self, at: datetime, findings: list[Finding]) -> ReloadResult:
        self._last = ReloadResult(False, at, None, tuple(findings))
        self._metrics.rules_reload_ok.set(0)
        log.error(
            "rules in %s rejected; still serving %s:\n%s",
            self.directory,
            self._bundle.version if self._bundle else "nothing",
            "\n".join(str(f) for f in findings),
        )
        return self._last


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
