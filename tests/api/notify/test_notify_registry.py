"""The notifier registry: the built-ins under their stable names; a duplicate name fails at once."""

from __future__ import annotations

import pytest

from rapport.api.notify.base import (
    REGISTRY,
    BaseNotifier,
    DuplicateNotifierError,
    NotifierConfig,
    notifier_classes,
)


def test_the_built_in_notifiers_are_registered_by_name() -> None:
    assert {"smtp", "eml", "webhook"} <= set(notifier_classes())


def test_a_second_class_with_a_taken_name_fails_with_both_named() -> None:
    notifier_classes()
    with pytest.raises(DuplicateNotifierError, match=r"'smtp' registered twice: by .*SmtpNotifier"):

        class Again(BaseNotifier[NotifierConfig], name="smtp"):
            pass

    assert REGISTRY["smtp"].__name__ == "SmtpNotifier"
