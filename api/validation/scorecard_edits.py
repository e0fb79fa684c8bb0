"""Edits of a scorecard's YAML text that keep its comments and layout: a value replaced where it
stands, a component added after the last one. ``--suggest`` proposes its changes through these,
so the proposal reads as a diff of the file the team wrote, not of a re-serialised copy.

Every edit recomposes the text (``yaml.compose``) to find what it changes, so edits chain.
An edit whose target is not where it expects (a flow-style component, a multi-line value) leaves
the text as it is; the caller validates the result, so such an edit is never proposed unseen.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

#: The comment put above a component ``--suggest`` adds.
ADDED_BY = "# proposed by rapport validate --suggest"


def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value under ``key`` of a mapping node (None: not a mapping, or no such key)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def _components(text: str) -> yaml.MappingNode | None:
    found = child(yaml.compose(text), "components")
    return found if isinstance(found, yaml.MappingNode) else None


def _value_spans(text: str, key: str) -> dict[str, tuple[int, int, int]]:
    """Per component, the (0-based line, start column, end column) of its one-line ``key``."""
    spans: dict[str, tuple[int, int, int]] = {}
    components = _components(text)
    if components is None:
        return spans
    for name, node in components.value:
        value = child(node, key)
        if isinstance(value, yaml.ScalarNode) and value.start_mark.line == value.end_mark.line:
            start, end = value.start_mark, value.end_mark
            spans[name.value] = (start.line, start.column, end.column)
    return spans


def with_values(text: str, key: str, values: dict[str, str]) -> str:
    """``text`` with ``components.<id>.<key>`` set to ``values[id]`` (only those lines change)."""
    lines = text.splitlines(keepends=True)
    for cid, (line, start, end) in _value_spans(text, key).items():
        if cid in values:
            row = lines[line]
            lines[line] = f"{row[:start]}{values[cid]}{row[end:]}"
    return "".join(lines)


def with_weights(text: str, weights: dict[str, float]) -> str:
    """``text`` with each listed component's ``weight`` set."""
    return with_values(text, "weight", {cid: f"{w:g}" for cid, w in weights.items()})


def _last_line(node: yaml.Node) -> int:
    """The 0-based line of the last character of ``node`` (block nodes end where the next token
    starts, so read their last child)."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line if end.column > 0 else end.line - 1


def with_component(text: str, cid: str, spec: dict[str, Any], why: str) -> str:
    """``text`` with component ``cid`` (``spec``, written in block style) after the last one,
    under a comment saying ``why``; unchanged when ``components`` is not a block mapping."""
    components = _components(text)
    if components is None or components.flow_style or not components.value:
        return text
    indent = " " * components.value[0][0].start_mark.column
    body = yaml.safe_dump({cid: spec}, sort_keys=False, default_flow_style=None, width=200)
    block = [f"{indent}{ADDED_BY}: {why}\n"]
    block += [f"{indent}{line}\n" for line in body.splitlines()]
    lines = text.splitlines(keepends=True)
    at = _last_line(components) + 1
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    return "".join([*lines[:at], "\n", *block, *lines[at:]])


def unified(before: str, after: str, path: str) -> str:
    """The unified diff from ``before`` to ``after`` (empty when equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
