"""The list endpoint's ``segment`` and ``grade`` filters: an unknown value is a 422 naming the
valid ones, never an empty list that reads as "no such clients"."""

from __future__ import annotations

import pytest
from live_api import LiveServer


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        pytest.param("grade=at-risk",
                     "unknown grade 'at-risk'; valid: healthy, watch, at_risk, insufficient_data",
                     id="a grade spelled with a hyphen is refused with the scorecard's grades"),
        pytest.param("segment=enterprize", "unknown segment 'enterprize'; valid: enterprise, smb",
                     id="a misspelled segment is refused with the known segments"),
    ],
)  # fmt: skip
def test_an_unknown_filter_value_is_a_422_naming_the_valid_ones(
    shared_world: LiveServer, query: str, reason: str
) -> None:
    answer = shared_world.call("GET", f"/api/v1/clients?{query}", token="read-token")
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == reason


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("grade=healthy", id="a grade of the scorecard is a valid filter"),
        pytest.param("grade=insufficient_data", id="insufficient data is a valid filter"),
        pytest.param("segment=smb", id="a segment a registered client has is a valid filter"),
    ],
)
def test_a_known_filter_value_is_answered(shared_world: LiveServer, query: str) -> None:
    answer = shared_world.call("GET", f"/api/v1/clients?{query}", token="read-token")
    assert answer.status_code == 200, answer.text
