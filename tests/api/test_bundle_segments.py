"""The bundle's cross-file check: every segment named in clients.yaml is one the scorecard
defines; an undefined one is a finding at the client's ``segment``, with the closest name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rapport.api.bundle import check_bundle, load_bundle

SHIPPED = Path(__file__).parents[2] / "rules"


def _clients_with(tmp_path: Path, segment: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    clients = rules / "clients.yaml"
    text = clients.read_text()
    # The first client's segment (line 9, column 3 of the shipped file) is enterprise.
    assert text.splitlines()[8] == "  segment: enterprise"
    clients.write_text(text.replace("  segment: enterprise", f"  segment: {segment}", 1))
    return rules


@pytest.mark.parametrize(
    ("segment", "says"),
    [
        pytest.param("enterprize", "did you mean 'enterprise'?",
                     id="a misspelled segment suggests the closest defined name"),
        pytest.param("government",
                     "defined: 'enterprise', 'midmarket', 'smb'; "
                     "or add it under `segments:` in scorecard.yaml",
                     id="a segment like no defined one lists the defined ones"),
    ],
)  # fmt: skip
def test_an_undefined_segment_is_a_finding_at_its_position(
    tmp_path: Path, segment: str, says: str
) -> None:
    rules = _clients_with(tmp_path, segment)
    bundle, findings = check_bundle(rules)
    assert bundle is None
    assert [str(f) for f in findings] == [
        f"{rules}/clients.yaml:9:3: clients[0].segment: segment {segment!r} is not defined in "
        f"scorecard.yaml ({says})"
    ]


def test_every_segment_of_the_shipped_clients_is_defined_by_the_shipped_scorecard() -> None:
    bundle = load_bundle(SHIPPED)
    assert bundle.clients is not None
    named = {c.segment for c in bundle.clients if c.segment is not None}
    assert named == {"enterprise", "midmarket", "smb"}
    assert named <= set(bundle.scorecard.segments)
