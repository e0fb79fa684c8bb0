"""YAML reading: plain core-schema data, 1-based positions of every key and item, and findings."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rapport.engine import yamlsource
from rapport.engine.errors import Finding
from rapport.engine.yamlsource import MAX_DEPTH, MAX_NODES, MAX_VALUES, format_key, parse_yaml

DOC = """\
version: 1
components:
  responsiveness:
    signal: response_time
    curve:
      bands:
        - {max: 4, points: 100}
        - min: 4
          points: 0
  satisfaction: {signal: survey}
"""


@pytest.mark.parametrize(
    ("loc", "position"),
    [
        pytest.param((), (1, 1), id="the empty path is the start of the document"),
        pytest.param(("version",), (1, 1), id="a top-level key is located at the key"),
        pytest.param(("components", "responsiveness"), (3, 3), id="a nested key"),
        pytest.param(
            ("components", "responsiveness", "curve", "bands", 0), (7, 11), id="a flow item"
        ),
        pytest.param(
            ("components", "responsiveness", "curve", "bands", 0, "points"),
            (7, 20),
            id="a key inside a flow mapping",
        ),
        pytest.param(
            ("components", "responsiveness", "curve", "bands", 1), (8, 11), id="a block item"
        ),
        pytest.param(
            ("components", "responsiveness", "curve", "bands", 1, "points"),
            (9, 11),
            id="a key on the second line of a block item",
        ),
        pytest.param(("components", "satisfaction", "signal"), (10, 18), id="a flow key"),
        pytest.param(
            ("components", "responsiveness", "weight"),
            (3, 3),
            id="a missing key falls back to its parent",
        ),
        pytest.param(
            ("components", "responsiveness", "curve", "bands", 5, "min"),
            (6, 7),
            id="an index past the end falls back to the list",
        ),
        pytest.param(("nowhere", "at", "all"), (1, 1), id="an unknown top key is the document"),
    ],
)
def test_locate_finds_the_key_or_its_deepest_ancestor(
    loc: tuple[str | int, ...], position: tuple[int, int]
) -> None:
    parsed = parse_yaml(DOC, "sc.yaml")
    assert parsed.findings == ()
    assert parsed.locator.locate(loc) == position


def test_parse_builds_plain_data() -> None:
    parsed = parse_yaml(DOC, "sc.yaml")
    assert parsed.data == {
        "version": 1,
        "components": {
            "responsiveness": {
                "signal": "response_time",
                "curve": {"bands": [{"max": 4, "points": 100}, {"min": 4, "points": 0}]},
            },
            "satisfaction": {"signal": "survey"},
        },
    }


def test_exists_tells_written_keys_from_absent_ones() -> None:
    locator = parse_yaml(DOC, "sc.yaml").locator
    assert locator.exists(("components", "satisfaction", "signal"))
    assert not locator.exists(("components", "satisfaction", "weight"))
    assert not locator.exists(("version", 0))


def test_comments_before_the_document_shift_the_root_position() -> None:
    parsed = parse_yaml("# a comment\n\nversion: 1\n", "sc.yaml")
    assert parsed.locator.locate(()) == (3, 1)
    assert parsed.locator.locate(("version",)) == (3, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("NO", "NO", id="a country code stays text (no YAML 1.1 booleans)"),
        pytest.param("yes", "yes", id="yes stays text"),
        pytest.param("true", True, id="true is a boolean"),
        pytest.param("False", False, id="False is a boolean"),
        pytest.param("~", None, id="tilde is null"),
        pytest.param("null", None, id="null is null"),
        pytest.param("", None, id="an empty value is null"),
        pytest.param("42", 42, id="an integer"),
        pytest.param("-7", -7, id="a negative integer"),
        pytest.param("012", 12, id="a leading zero is decimal, not octal"),
        pytest.param("0x1F", 31, id="hexadecimal"),
        pytest.param("0o17", 15, id="octal with 0o"),
        pytest.param("1_000", "1_000", id="underscores make text"),
        pytest.param("2.5", 2.5, id="a float"),
        pytest.param("1e3", 1000.0, id="exponent notation"),
        pytest.param(".inf", math.inf, id="infinity"),
        pytest.param("-.inf", -math.inf, id="negative infinity"),
        pytest.param("2024-01-31", "2024-01-31", id="a date stays text for pydantic"),
        pytest.param("1:20", "1:20", id="no sexagesimal numbers"),
        pytest.param('"12"', "12", id="a quoted number is text"),
        pytest.param("!!str 12", "12", id="an explicit str tag"),
        pytest.param('!!int "12"', 12, id="an explicit int tag on quoted digits"),
        pytest.param("!!float 3", 3.0, id="an explicit float tag"),
    ],
)
def test_scalars_follow_the_yaml_core_schema(text: str, value: Any) -> None:
    parsed = parse_yaml(f"v: {text}\n", "x.yaml")
    assert parsed.findings == ()
    assert parsed.data == {"v": value}
    assert type(parsed.data["v"]) is type(value)


def test_nan_is_read_as_a_float_nan() -> None:
    value = parse_yaml("v: .nan\n", "x.yaml").data["v"]
    assert isinstance(value, float)
    assert math.isnan(value)


def test_duplicate_key_is_a_finding_and_the_first_value_wins() -> None:
    text = "version: 1\ncomponents:\n  a: 1\n  b: 2\n  a: 3\n"
    parsed = parse_yaml(text, "sc.yaml")
    assert parsed.findings == (
        Finding("sc.yaml", 5, 3, "components.a", "duplicate key 'a'", "first at line 3"),
    )
    assert parsed.data == {"version": 1, "components": {"a": 1, "b": 2}}
    assert parsed.readable
    assert parsed.locator.locate(("components", "a")) == (3, 3)


def test_duplicate_key_inside_a_list_item_names_the_item() -> None:
    parsed = parse_yaml("grades:\n  - {name: a, min: 0, name: b}\n", "sc.yaml")
    assert [str(f) for f in parsed.findings] == [
        "sc.yaml:2:23: grades[0].name: duplicate key 'name' (first at line 2)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a: [1, 2\n",
            "x.yaml:2:1: <root>: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence started at line 1)",
            id="an unclosed flow list",
        ),
        pytest.param(
            "a: b: c\n",
            "x.yaml:1:5: <root>: invalid YAML: mapping values are not allowed here",
            id="a colon inside a plain value",
        ),
        pytest.param(
            "a: 1\n\tb: 2\n",
            "x.yaml:2:1: <root>: invalid YAML: found character '\\t' that cannot start any token",
            id="a tab used for indentation",
        ),
        pytest.param(
            "a: 1\n---\nb: 2\n",
            "x.yaml:2:1: <root>: invalid YAML: expected a single document in the stream, "
            "but found another document",
            id="two documents in one file",
        ),
        pytest.param(
            "a: 1\nb: \x07\n",
            "x.yaml:2:4: <root>: invalid YAML: character U+0007 is not allowed",
            id="a control character",
        ),
        pytest.param(
            "a: &x [*x]\n",
            "x.yaml:1:4: <root>: an alias refers to itself",
            id="a recursive alias",
        ),
        pytest.param(
            "[" * 1000 + "]" * 1000,
            f"x.yaml:1:{MAX_DEPTH + 1}: <root>: the YAML is nested too deeply "
            f"(at most {MAX_DEPTH} levels of lists and mappings)",
            id="absurd nesting is refused where it passes the limit",
        ),
    ],
)
def test_unreadable_yaml_is_one_finding_at_the_reported_mark(text: str, expected: str) -> None:
    parsed = parse_yaml(text, "x.yaml")
    assert not parsed.readable
    assert parsed.data is None
    assert [str(f) for f in parsed.findings] == [expected]


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        pytest.param(
            "v: !!python/object/apply:os.system ['touch {marker}']\n",
            "!!python/object/apply:os.system",
            id="a python object constructor",
        ),
        pytest.param("v: !!python/name:os.system\n", "!!python/name:os.system", id="a python name"),
        pytest.param("v: !!binary aGVsbG8=\n", "!!binary", id="binary data"),
        pytest.param("v: !!timestamp 2024-01-01\n", "!!timestamp", id="an explicit timestamp"),
        pytest.param("v: !!set {{a, b}}\n", "!!set", id="a set"),
        pytest.param("v: !custom thing\n", "!custom", id="a local tag"),
    ],
)
def test_tags_outside_the_core_schema_are_findings_and_nothing_runs(
    text: str, tag: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    parsed = parse_yaml(text.format(marker=marker), "x.yaml")
    assert [(f.line, f.column, f.key, f.message) for f in parsed.findings] == [
        (1, 4, "v", f"tag {tag!r} is not allowed")
    ]
    assert parsed.unreadable_values == frozenset({"v"})
    assert not marker.exists()


def test_an_explicit_int_tag_on_text_is_a_finding() -> None:
    parsed = parse_yaml("v: !!int abc\n", "x.yaml")
    assert [str(f) for f in parsed.findings] == ["x.yaml:1:4: v: 'abc' is not a valid int"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("<<: {a: 1}\nb: 2\n", "YAML merge keys (<<) are not supported", id="merge"),
        pytest.param(
            "? [a, b]\n: 1\n", "a key must be a plain value, not a list or mapping", id="a list key"
        ),
    ],
)
def test_unsupported_keys_are_findings_and_are_left_out(text: str, message: str) -> None:
    parsed = parse_yaml(text, "x.yaml")
    assert [f.message for f in parsed.findings] == [message]
    assert parsed.readable
    assert "<<" not in parsed.data


def test_aliases_are_expanded_and_point_at_the_anchored_text() -> None:
    text = "base: &base {channel: email}\nwhere: *base\n"
    parsed = parse_yaml(text, "x.yaml")
    assert parsed.data == {"base": {"channel": "email"}, "where": {"channel": "email"}}
    assert parsed.locator.locate(("where", "channel")) == (1, 14)


def test_exploding_aliases_are_refused_before_they_are_built() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    parsed = parse_yaml("\n".join(lines) + "\n", "x.yaml")
    assert not parsed.readable
    assert [f.message for f in parsed.findings] == [
        f"the file expands to more than {MAX_VALUES} values through aliases"
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("v: [" + ", ".join(["0"] * MAX_NODES) + "]\n", id="a long flat list"),
        pytest.param(
            "".join(f"k{i}: {{a: 1, b: 2}}\n" for i in range(MAX_NODES // 3 + 1)),
            id="many small mappings",
        ),
    ],
)
def test_a_node_heavy_file_is_refused_without_blaming_aliases(text: str) -> None:
    parsed = parse_yaml(text, "x.yaml")
    assert not parsed.readable
    assert [(f.key, f.message) for f in parsed.findings] == [
        ("", f"the file holds more than {MAX_NODES} YAML values")
    ]
    assert "alias" not in str(parsed.findings[0])


def test_nesting_just_inside_the_limit_is_read() -> None:
    parsed = parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x.yaml")
    assert parsed.readable
    assert parsed.findings == ()


def test_an_integer_of_more_digits_than_python_converts_is_a_finding() -> None:
    digits = sys.get_int_max_str_digits() + 700
    parsed = parse_yaml(f"version: 1\nsize: {'7' * digits}\n", "x.yaml")
    assert parsed.readable
    assert [str(f) for f in parsed.findings] == [
        f"x.yaml:2:7: size: a whole number of {digits} digits is too long "
        f"(at most {sys.get_int_max_str_digits()} digits)"
    ]
    assert parsed.unreadable_values == frozenset({"size"})


def test_an_empty_file_is_readable_and_holds_nothing() -> None:
    parsed = parse_yaml("# only a comment\n", "x.yaml")
    assert parsed.readable
    assert parsed.data is None
    assert parsed.findings == ()
    assert parsed.locator.locate(("version",)) == (1, 1)


@pytest.mark.parametrize(
    ("loc", "key"),
    [
        pytest.param((), "", id="the root has an empty key"),
        pytest.param(("version",), "version", id="one key"),
        pytest.param(
            ("components", "resp", "curve"), "components.resp.curve", id="keys are dotted"
        ),
        pytest.param(("grades", 1, "min"), "grades[1].min", id="indexes are bracketed"),
        pytest.param(("points", 0, 1), "points[0][1]", id="nested indexes"),
    ],
)
def test_format_key(loc: tuple[str | int, ...], key: str) -> None:
    assert format_key(loc) == key


# --- the fast path: libyaml's parser under the same composer ------------------------------------

_ROOT = Path(__file__).resolve().parents[2]
_RULES_FILES = sorted(
    [*(_ROOT / "rules").rglob("*.yaml"), *(_ROOT / "tests" / "rules").rglob("*.yaml")]
)


def _shape(node: Any) -> Any:
    """Tag, position, style and value of every node: what parse_yaml reads of the composition."""
    marks = (node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return (*marks, node.style, node.value)
    if isinstance(node, yaml.SequenceNode):
        return (*marks, [_shape(item) for item in node.value])
    return (*marks, [(_shape(k), _shape(v)) for k, v in node.value])


@pytest.mark.parametrize(
    "path", _RULES_FILES, ids=lambda p: f"{p.name} composes the same through libyaml"
)
def test_libyaml_composes_every_rules_file_exactly_as_pyyaml_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        pure = yamlsource._compose_with(yamlsource._CoreLoader, text)
    except (yaml.YAMLError, RecursionError):
        return  # a file that does not parse is always diagnosed by the pure-Python loader
    except Exception as error:  # the limits: the same refusal either way
        with pytest.raises(type(error)):
            yamlsource._compose_with(yamlsource._FastLoader, text)
        return
    fast = yamlsource._compose_with(yamlsource._FastLoader, text)
    assert fast[1] == pure[1]
    assert (fast[0] is None and pure[0] is None) or _shape(fast[0]) == _shape(pure[0])


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    assert yamlsource.CParser is not None  # PyPI's PyYAML wheels are built with libyaml


def test_a_syntax_error_is_reported_in_pyyamls_words_whatever_parsed_first() -> None:
    parsed = parse_yaml("a: [1, 2\nb: 3\n", "x.yaml")
    assert not parsed.readable
    (finding,) = parsed.findings
    assert "while parsing a flow sequence" in finding.message or "expected ','" in finding.message
