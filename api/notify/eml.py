"""The ``eml`` notifier, the embedded default: each email written as an ``.eml`` file.

With no SMTP server configured, notifications land in ``directory`` (``./data/outbox`` by
default) as RFC 5322 files that any mail program opens. A file is written under a temporary
name and renamed into place, so a reader never sees half a message; its name derives from the
outbox key, so writing a resent duplicate replaces the file instead of adding one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from rapport.api.notify.base import BaseNotifier, DeliveryError, Envelope, NotifierConfig
from rapport.api.notify.render import Composer


class EmlConfig(NotifierConfig):
    """Where the ``.eml`` files go (created when missing)."""

    directory: Path = Path("data/outbox")


class EmlNotifier(BaseNotifier[EmlConfig], name="eml"):
    """Writes each envelope's email to ``<directory>/<date>-<client>-<key hash>.eml``."""

    def __init__(self, config: EmlConfig, composer: Composer) -> None:
        super().__init__(config)
        self._composer = composer

    def path_for(self, envelope: Envelope) -> Path:
        """The file ``envelope`` is (or will be) written to."""
        first = envelope.notices[0]
        stem = "digest" if len(envelope.notices) > 1 else first.client_id
        digest = hashlib.sha256(envelope.key.encode()).hexdigest()[:16]
        return self.config.directory / f"{first.at:%Y%m%dT%H%M%SZ}-{stem}-{digest}.eml"

    def send(self, envelope: Envelope) -> None:
        data = self._composer.compose(envelope).as_bytes()
        target = self.path_for(envelope)
        partial = target.with_suffix(".eml.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        except OSError as error:
            reason = f"cannot write {target}: {error.strerror or error}"
            raise DeliveryError(self.name, reason, transient=True) from None
