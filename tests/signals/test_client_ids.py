"""Client ids of any script (上海云帆): letters and digits as Unicode means them, checked by one
validator (``signals.model.ClientId``), accepted by the registry file and by imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from rapport.signals.importer import import_files
from rapport.signals.model import ClientId
from rapport.signals.registry import load_clients_file
from rapport.signals.store import Store

CLIENT_IDS: TypeAdapter[str] = TypeAdapter(ClientId)
YUNFAN = "上海云帆"


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param(YUNFAN, id="a Chinese name is a client id"),
        pytest.param("müller-gmbh.de_2", id="accented letters with . _ - are a client id"),
        pytest.param("हिन्दी", id="a Devanagari word with its combining vowel signs is a client id"),
        pytest.param("acme", id="an ASCII id stays a client id"),
        pytest.param("x" * 64, id="64 characters are a client id"),
    ],
)
def test_unicode_letters_and_digits_make_a_client_id(client_id: str) -> None:
    assert CLIENT_IDS.validate_python(client_id) == client_id


@pytest.mark.parametrize(
    ("client_id", "problem"),
    [
        pytest.param("上海 云帆", "' ' may not be in a client id", id="a space is refused"),
        pytest.param("acme\x07", "'\\x07' may not be in a client id", id="a control is refused"),
        pytest.param("acme☃", "'☃' may not be in a client id", id="a symbol is refused"),
        pytest.param("a/b", "'/' may not be in a client id", id="a slash is refused"),
        pytest.param("-acme", "starts with a letter or digit", id="a leading dash is refused"),
        pytest.param(
            "\u0301acme", "starts with a letter or digit", id="a combining start is refused"
        ),
        pytest.param("me\u0301xico", "NFC form", id="a decomposed accent is refused"),
        pytest.param("云" * 65, "at most 64 characters", id="65 characters are refused"),
        pytest.param("", "at least 1 character", id="an empty id is refused"),
    ],
)
def test_other_characters_are_refused_with_the_rule(client_id: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CLIENT_IDS.validate_python(client_id)
    assert problem in str(caught.value)


def test_clients_yaml_lists_a_chinese_client_id(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(
        f"version: 1\nclients:\n  - id: {YUNFAN}\n    name: 上海云帆科技\n"
        "    timezone: Asia/Shanghai\n",
        encoding="utf-8",
    )
    (client,) = load_clients_file(path)
    assert client.id == YUNFAN


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param(
            "signals.csv",
            f"event_id,client,kind,ts,value\ne1,{YUNFAN},response_time,2026-06-01T10:00:00Z,3\n",
            id="a CSV row of a Chinese client id imports",
        ),
        pytest.param(
            "signals.jsonl",
            f'{{"event_id":"e1","client":"{YUNFAN}","kind":"response_time",'
            '"ts":"2026-06-01T10:00:00Z","value":3}\n',
            id="a JSON Lines row of a Chinese client id imports",
        ),
    ],
)
def test_signals_of_a_chinese_client_id_import(
    store: Store, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = import_files(store, [path])
    assert report.signals.inserted == 1
    assert report.unregistered == {YUNFAN: 1}
