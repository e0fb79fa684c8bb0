"""Fixtures for the notifier tests: a loopback SMTP server, a store, a service on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from smtp_server import Recorder, start_server

from rapport.api.notify.notice import AlertNotice, Links, Recipient
from rapport.api.notify.samples import sample_notice
from rapport.api.notify.service import NotificationService
from rapport.api.notify.wiring import notification_service
from rapport.api.settings import Settings
from rapport.signals.store import Store

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin, 17:00 in Shanghai
MEI = Recipient(name="Mei Chen", email="mei@example.org", locale="en", timezone="Europe/Berlin")
LIN = Recipient(name="林晓", email="lin@example.org", locale="zh-CN", timezone="Asia/Shanghai")


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def notice(
    key: str = "n1", *, to: Recipient = MEI, name: str = "Northwind Logistics"
) -> AlertNotice:
    links = Links(client="http://rapport.example/clients/northwind",
                  explain="http://rapport.example/clients/northwind/explain")  # fmt: skip
    return sample_notice(T0, links, key=key, recipients=(to,), client_name=name)


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    recorder = Recorder()
    controller = start_server(recorder)
    yield recorder
    controller.stop()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/rapport.db") as store:
        yield store


@pytest.fixture
def clock() -> Clock:
    return Clock()


ServiceFactory = Callable[..., NotificationService]


@pytest.fixture
def make_service(
    sqlite_store: Store, smtp: Recorder, clock: Clock, tmp_path: Path
) -> ServiceFactory:
    def make(**settings: object) -> NotificationService:
        values: dict[str, object] = {
            "smtp_url": f"smtp://127.0.0.1:{smtp.port}",
            "rules_dir": tmp_path / "rules",
            "outbox_backoff": 10.0,
            **settings,
        }
        return notification_service(Settings(**values), sqlite_store, clock=clock)  # type: ignore[arg-type]

    return make
