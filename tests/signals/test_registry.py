"""clients.yaml loading (the whole rules directory is checked in tests/api/test_bundle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport.engine.errors import RulesError
from rapport.signals.model import Client, Owner
from rapport.signals.registry import check_clients_text, load_clients_file

GOOD = Path(__file__).parents[1] / "rules" / "good"


def _problems(text: str) -> list[str]:
    clients, findings = check_clients_text(text, "clients.yaml")
    assert clients is None
    return [str(f).removeprefix("clients.yaml:") for f in findings]


def test_load_clients_file_reads_every_client() -> None:
    clients = load_clients_file(GOOD / "clients.yaml")
    assert clients == [
        Client(
            id="acme",
            name="Acme Corp",
            segment="enterprise",
            owner=Owner(name="Maya Lindqvist", email="maya@example.com", locale="en"),
            attrs={"region": "emea", "seats": 120},
        ),
        Client(id="globex", name="Globex"),
        Client(
            id="initech.eu",
            name="Initech Europe",
            owner=Owner(name="王芳", email="wang.fang@example.com", locale="zh-CN"),
        ),
    ]


def test_a_registry_without_clients_is_empty() -> None:
    assert check_clients_text("version: 1\n", "clients.yaml") == ([], [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "clients: []\n",
            ["1:1: version: missing (start the file with `version: 1`)"],
            id="a registry without version should fail",
        ),
        pytest.param(
            "version: 1\nclients:\n  - {id: acme, name: Acme}\n  - {id: globex, name: Globex}\n"
            "  - {id: acme, name: Acme again}\n",
            [
                "5:6: clients[2].id: duplicate client id 'acme' (first at line 3; every client "
                "needs its own id)"
            ],
            id="a repeated client id should point at the first",
        ),
        pytest.param(
            "version: 1\nclients:\n  - id: acme\n    name: Acme\n"
            "    owner: {name: Maya, email: maya-at-example.com}\n",
            [
                "5:25: clients[0].owner.email: 'maya-at-example.com' is not a valid email address "
                "(e.g. pm@example.com)"
            ],
            id="a bad owner email should be located at the email",
        ),
        pytest.param(
            "version: 1\nclients:\n  - {id: acme corp, name: Acme, segmnt: enterprise}\n",
            [
                "3:6: clients[0].id: ' ' may not be in a client id (up to 64 letters or digits "
                "of any script (上海云帆, müller-gmbh), '.', '_' or '-', starting with a letter or "
                "digit, in Unicode NFC form) (got 'acme corp')",
                "3:33: clients[0].segmnt: unknown key 'segmnt' (did you mean 'segment'?)",
            ],
            id="every shape problem of a client should be reported",
        ),
        pytest.param(
            "version: 1\nclients:\n  - {id: acme}\n",
            ["3:5: clients[0].name: required key missing"],
            id="a client without a name should fail",
        ),
        pytest.param(
            "version: 1\nclient:\n  - {id: acme, name: Acme}\n",
            ["2:1: client: unknown key 'client' (did you mean 'clients'?)"],
            id="a misspelt clients key should suggest clients",
        ),
        pytest.param(
            "version: 1\nclients:\n  - {id: acme, name: Acme, timezone: Asia/Shangai}\n",
            [
                "3:28: clients[0].timezone: unknown time zone"
                " (use an IANA name such as Europe/Berlin, Asia/Shanghai or UTC)"
                " (got 'Asia/Shangai')"
            ],
            id="an unknown time zone should be located at the zone",
        ),
    ],
)
def test_clients_file_problems_are_findings(text: str, expected: list[str]) -> None:
    assert _problems(text) == expected


def test_load_clients_file_raises_every_finding(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text("version: 1\nclients:\n  - {id: a, name: A}\n  - {id: a, name: B}\n")
    with pytest.raises(RulesError) as caught:
        load_clients_file(path)
    assert [(f.path, f.line, f.key) for f in caught.value.findings] == [
        (str(path), 4, "clients[1].id")
    ]


def test_load_clients_file_of_a_missing_file_is_a_finding(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_clients_file(tmp_path / "clients.yaml")
    assert [f.message for f in caught.value.findings] == ["file not found"]


def test_a_clients_time_zone_is_read_and_defaults_to_utc() -> None:
    text = (
        "version: 1\nclients:\n"
        "  - {id: a, name: A, timezone: Asia/Shanghai}\n  - {id: b, name: B}\n"
    )
    clients, findings = check_clients_text(text, "clients.yaml")
    assert findings == []
    assert clients is not None
    assert [c.zone.key for c in clients] == ["Asia/Shanghai", "UTC"]
