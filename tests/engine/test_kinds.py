"""The engine's table of kinds: every flag and measure it names is one the scorer computes."""

from __future__ import annotations

import numpy as np
import pytest

from rapport.engine.fields import EventView, measures_of
from rapport.engine.frame import Categorical, KindFrame
from rapport.engine.kinds import BUILTIN_KINDS, PLAIN_MEASURES, known_kinds

AT = 10 * 86400.0
DECLARED = [
    pytest.param(kind, name, id=f"{kind} {name} should be computed by engine.fields")
    for kind, spec in BUILTIN_KINDS.items()
    for name in (*spec.flags, *spec.measures)
]


def two_events() -> KindFrame:
    """One closed and one open event, with every built-in attribute set on the first."""
    names = {name for spec in BUILTIN_KINDS.values() for name in spec.attrs}
    attrs = {
        name: Categorical.from_values(["nps" if name == "scale" else "x", None]) for name in names
    }
    return KindFrame(
        np.array([0, 1], dtype=np.int32),
        np.array([86400.0, 2 * 86400.0]),
        np.array([3 * 86400.0, np.nan]),
        np.array([9.0, 3.0]),
        attrs,
    )


@pytest.mark.parametrize(("kind", "name"), DECLARED)
def test_every_declared_flag_and_measure_is_computable(kind: str, name: str) -> None:
    column = EventView(kind, two_events(), None, AT).column(name)
    assert column.shape == (2,)
    if name in BUILTIN_KINDS[kind].flags:
        assert column.dtype == np.bool_


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        pytest.param("milestone", ("late_days", "age_days", "missed", "delivered", "open", "value"),
                     id="a built-in kind measures its own fields and flags"),
        pytest.param("overdue_invoices", (*PLAIN_MEASURES, "value"),
                     id="a custom kind measures its value and age"),
    ],
)  # fmt: skip
def test_measures_come_from_the_table(kind: str, expected: tuple[str, ...]) -> None:
    assert measures_of(kind) == expected


def test_known_kinds_lists_built_in_kinds_then_declared_ones_once() -> None:
    assert known_kinds(["overdue_invoices", "survey"]) == [*BUILTIN_KINDS, "overdue_invoices"]
