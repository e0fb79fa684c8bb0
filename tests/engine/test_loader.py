"""The rules loader: version first, pydantic errors at the keys the user wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict

from rapport.engine.errors import Finding, RulesError
from rapport.engine.loader import (
    MAX_RULES_BYTES,
    check_model_text,
    load_model_file,
    load_scorecard,
    read_rules_text,
)
from rapport.engine.model import Scorecard
from rapport.engine.validate import Locate

GOOD = Path(__file__).parents[1] / "rules" / "good"

MINIMAL = """\
version: 1
grades:
  - {name: ok, min: 0, color: green}
components:
  responsiveness:
    signal: response_time
    aggregate: mean
    weight: 1
    curve:
      linear: {best: 4, worst: 72}
"""


def _problems(text: str) -> list[str]:
    scorecard, findings = check_model_text(text, "sc.yaml", Scorecard)
    assert scorecard is None
    return [str(f).removeprefix("sc.yaml:") for f in findings]


# --- version -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL.replace("version: 1\n", ""),
            "1:1: version: missing (start the file with `version: 1`)",
            id="a file without version should fail at its first key",
        ),
        pytest.param(
            "",
            "1:1: version: missing (start the file with `version: 1`)",
            id="an empty file should fail for its missing version",
        ),
        pytest.param(
            MINIMAL.replace("version: 1", "version: 2"),
            "1:1: version: unsupported version 2 (supported: 1)",
            id="a file of version 2 should fail",
        ),
        pytest.param(
            MINIMAL.replace("version: 1", 'version: "1"'),
            "1:1: version: unsupported version '1' (supported: 1)",
            id="a quoted version should fail rather than be guessed",
        ),
        pytest.param(
            MINIMAL.replace("version: 1", "version: 0"),
            "1:1: version: unsupported version 0 (supported: 1)",
            id="a file of version 0 should fail",
        ),
        pytest.param(
            MINIMAL.replace("version: 1", "version:"),
            "1:1: version: unsupported version null (supported: 1)",
            id="an empty version should fail",
        ),
        pytest.param(
            MINIMAL.replace("version: 1", "version: true"),
            "1:1: version: unsupported version true (supported: 1)",
            id="a boolean version should fail",
        ),
        pytest.param(
            "- version: 1\n- wieght: 3\n",
            "1:1: <root>: the file holds a list; expected a mapping of keys "
            "(start the file with `version: 1`)",
            id="a list at the top should fail",
        ),
    ],
)
def test_version_is_checked_before_anything_else(text: str, expected: str) -> None:
    # The bad versions come with an unknown key too: it is not reported, the version stops it.
    extra = "" if text.startswith("-") else "wieght: 3\n"
    assert _problems(text + extra) == [expected]


# --- translating pydantic errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "    weight: 1\n",
            "    weight: 1\n    wieght: 2\n",
            "9:5: components.responsiveness.wieght: unknown key 'wieght' (did you mean 'weight'?)",
            id="an unknown key should suggest the closest field",
        ),
        pytest.param(
            "    weight: 1\n",
            "    wieght: 1\n",
            "8:5: components.responsiveness.wieght: unknown key 'wieght' (did you mean 'weight'?)",
            id="a misspelt required key should be one finding, not also a missing key",
        ),
        pytest.param(
            "    weight: 1\n",
            "    weight: 1\n    colour: red\n",
            "9:5: components.responsiveness.colour: unknown key 'colour' (allowed keys: signal, "
            "where, measure, aggregate, window, numerator, min_count, description, weight, "
            "curve, missing)",
            id="an unknown key with no close field should list the allowed keys",
        ),
        pytest.param(
            "    weight: 1\n",
            "",
            "5:3: components.responsiveness.weight: required key missing",
            id="a missing key should be located at its parent",
        ),
        pytest.param(
            "weight: 1",
            'weight: "high"',
            "8:5: components.responsiveness.weight: Input should be a valid number, unable to "
            "parse string as a number (got 'high')",
            id="a type error should keep pydantic's message and show the value",
        ),
        pytest.param(
            "      linear: {best: 4, worst: 72}\n",
            "      linear: {best: 4, worst: 72}\n    missing: {neutrl: 50}\n",
            "11:15: components.responsiveness.missing.neutrl: unknown key 'neutrl' "
            "(did you mean 'neutral'?)",
            id="a union member tag should not appear in the key (missing.Neutral.neutral)",
        ),
        pytest.param(
            "      linear: {best: 4, worst: 72}\n",
            "      linear: {best: 4, worst: 72}\n    missing: {carry: 10}\n",
            "11:15: components.responsiveness.missing.carry: expected a duration such as 30d, "
            "12h or 2w (got 10)",
            id="the union member the user meant should be the one reported",
        ),
        pytest.param(
            "      linear: {best: 4, worst: 72}\n",
            "      linear: {best: 4, worst: 72}\n    missing: always\n",
            "11:5: components.responsiveness.missing: expected 'skip', a mapping with neutral or "
            "a mapping with carry (got 'always')",
            id="a value fitting no union member should list what fits",
        ),
        pytest.param(
            "    aggregate: mean\n",
            "    aggregate: mean\n    where: {channel: {email: true}}\n",
            "8:13: components.responsiveness.where.channel: expected text, true or false, "
            "a number or a list",
            id="a where value of the wrong shape should say which shapes fit",
        ),
        pytest.param(
            "    aggregate: mean\n",
            "    aggregate: mean\n    measure: {frm: severity, map: {sev1: 3}}\n",
            "8:15: components.responsiveness.measure.frm: unknown key 'frm' (did you mean 'from'?)",
            id="an alias should be suggested as the user writes it",
        ),
        pytest.param(
            "linear: {best: 4, worst: 72}",
            "linear: {best: 4, worst: 4}",
            "10:7: components.responsiveness.curve.linear: best and worst must differ",
            id="a model validator message should lose pydantic's 'Value error' prefix",
        ),
        pytest.param(
            "responsiveness:",
            "Responsiveness:",
            "5:3: components.Responsiveness: 'Responsiveness' is not a valid name (use lowercase "
            "letters, digits and _, starting with a letter)",
            id="an invalid dict key should be located at the key, without [key]",
        ),
        pytest.param(
            "  - {name: ok, min: 0, color: green}\n",
            "  - {name: ok, min: 0, color: green}\n  - {name: ok2, min: 5}\n",
            "4:5: grades[1].color: required key missing",
            id="list items should be indexed in the key",
        ),
        pytest.param(
            "grades:\n  - {name: ok, min: 0, color: green}\n",
            "grades: []\n",
            "2:1: grades: needs at least 1 entry",
            id="an empty list that needs entries should say so",
        ),
        pytest.param(
            "linear: {best: 4, worst: 72}",
            "points: [[4, 100, 1], [72, 0]]",
            "10:16: components.responsiveness.curve.points[0]: has 3 entries; at most 2 allowed",
            id="a point with three numbers should be located at the point",
        ),
        pytest.param(
            "version: 1\n",
            "version: 1\nscale: 100\n",
            "2:1: scale: expected a mapping (got 100)",
            id="a number where a mapping belongs should say so",
        ),
    ],
)
def test_pydantic_errors_become_findings_at_the_yaml_keys(
    old: str, new: str, expected: str
) -> None:
    assert old in MINIMAL
    assert _problems(MINIMAL.replace(old, new, 1)) == [expected]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("size must be above 0")
    return value


class _Sized(BaseModel):
    """A model with a validator-wrapped union member, whose loc tag is ``function-after[...]``."""

    model_config = ConfigDict(extra="forbid")

    version: int
    size: Annotated[float, AfterValidator(_positive)] | Literal["auto"]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(
            "-3",
            "2:1: size: size must be above 0 (got -3)",
            id="a function-after tag should be dropped and its member's message kept",
        ),
        pytest.param(
            "huge",
            "2:1: size: expected a number or 'auto' (got 'huge')",
            id="text fitting neither member should list both",
        ),
    ],
)
def test_function_wrapper_tags_are_not_keys(size: str, expected: str) -> None:
    model, findings = check_model_text(f"version: 1\nsize: {size}\n", "m.yaml", _Sized)
    assert model is None
    assert [str(f).removeprefix("m.yaml:") for f in findings] == [expected]


def test_findings_of_yaml_shape_and_duplicates_come_together_sorted() -> None:
    text = MINIMAL.replace("    weight: 1\n", "    weight: x\n    signal: survey\n")
    assert _problems(text) == [
        "8:5: components.responsiveness.weight: Input should be a valid number, unable to parse "
        "string as a number (got 'x')",
        "9:5: components.responsiveness.signal: duplicate key 'signal' (first at line 6)",
    ]


def test_a_disallowed_tag_is_reported_once_not_again_as_a_type_error() -> None:
    text = MINIMAL.replace("weight: 1", "weight: !!binary AAAA")
    assert _problems(text) == [
        "8:13: components.responsiveness.weight: tag '!!binary' is not allowed (rules files hold "
        "only text, numbers, true/false, null, lists and mappings)"
    ]


def test_a_valid_file_gives_the_model_and_no_findings() -> None:
    scorecard, findings = check_model_text(MINIMAL, "sc.yaml", Scorecard)
    assert findings == []
    assert scorecard is not None
    assert list(scorecard.components) == ["responsiveness"]


def test_a_given_meaning_pass_runs_only_on_a_valid_shape() -> None:
    calls: list[str] = []

    def meaning(sc: Scorecard, locate: Locate, path: str) -> list[Finding]:
        calls.append(sc.name)
        line, column = locate(("components", "responsiveness", "aggregate"))
        return [Finding(path, line, column, "components.responsiveness.aggregate", "no means")]

    model, findings = check_model_text(MINIMAL, "sc.yaml", Scorecard, semantic=meaning)
    assert model is None
    assert [str(f) for f in findings] == [
        "sc.yaml:7:5: components.responsiveness.aggregate: no means"
    ]

    check_model_text(
        MINIMAL.replace("weight: 1", "weight: x"), "sc.yaml", Scorecard, semantic=meaning
    )
    assert calls == ["default"]


# --- files and directories ------------------------------------------------------------------------


def test_load_scorecard_raises_every_finding(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.yaml"
    path.write_text(
        MINIMAL.replace("aggregate: mean", "aggregate: avg").replace("weight: 1", "weight: 0")
    )
    with pytest.raises(RulesError) as caught:
        load_scorecard(path)
    assert [(f.line, f.key) for f in caught.value.findings] == [
        (4, "components"),
        (7, "components.responsiveness.aggregate"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "file not found", id="a missing file should be a finding"),
        pytest.param(
            b"version: 1\nname: caf\xe9\n",
            "the file is not UTF-8 text (byte 20 cannot be decoded)",
            id="a Latin-1 file should be a finding",
        ),
    ],
)
def test_unreadable_files_are_findings(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "scorecard.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RulesError) as caught:
        load_model_file(path, Scorecard)
    assert [f.message for f in caught.value.findings] == [message]
    assert caught.value.findings[0].path == str(path)


def test_an_oversized_rules_file_is_one_finding_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.yaml"
    with path.open("wb") as sparse:  # 50 MB on paper, nothing on disk: only the limit is read
        sparse.truncate(50 * 1024 * 1024)
    with pytest.raises(RulesError) as caught:
        load_scorecard(path)
    assert [str(f) for f in caught.value.findings] == [
        f"{path}:1:1: <root>: the file is larger than the limit of {MAX_RULES_BYTES} bytes for "
        "a rules file (split it, or raise RAPPORT_MAX_RULES_BYTES)"
    ]


@pytest.mark.parametrize(
    ("limit", "readable"),
    [
        pytest.param(len(MINIMAL), True, id="a file of exactly the limit is read"),
        pytest.param(len(MINIMAL) - 1, False, id="a file one byte over the limit is refused"),
    ],
)
def test_read_rules_text_takes_its_limit_as_a_parameter(
    tmp_path: Path, limit: int, readable: bool
) -> None:
    path = tmp_path / "scorecard.yaml"
    path.write_text(MINIMAL)
    text, findings = read_rules_text(path, max_bytes=limit)
    assert (text == MINIMAL) is readable
    assert [f.message for f in findings] == (
        [] if readable else [f"the file is larger than the limit of {limit} bytes for a rules file"]
    )


def test_a_byte_order_mark_is_not_part_of_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_model_file(path, Scorecard).components["responsiveness"].weight == 1
