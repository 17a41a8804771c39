"""Scenario YAML: random fields and types, syntax errors, binary content and huge files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.helpers import accepted, assert_clear_error
from worldsim.env.scenarios import MAX_SCENARIO_BYTES, Scenario, load_scenario

VALID = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "envs" / "night_rain_curve.yaml").read_text()
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, sub in node.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            out += _paths(sub, (*prefix, i))
    return out


PATHS = _paths(VALID)


def _load(path: Path, group: str = "scenario") -> None:
    try:
        scenario = load_scenario(path)
    except Exception as exc:
        assert_clear_error(group, exc, str(path), "scenario")
        return
    assert isinstance(scenario, Scenario) and scenario.horizon >= 1
    accepted(group)


@settings(max_examples=120)
@given(where=st.sampled_from(PATHS), value=TREES)
def test_one_field_replaced_by_anything(tmp_path_factory, where: tuple, value: object) -> None:
    data = copy.deepcopy(VALID)
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path_factory.mktemp("scn") / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    _load(path)


@settings(max_examples=60)
@given(data=TREES)
def test_any_document(tmp_path_factory, data: object) -> None:
    path = tmp_path_factory.mktemp("scn") / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    _load(path)


@settings(max_examples=60)
@given(text=st.text(max_size=200))
def test_any_text(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("scn") / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(path)


@settings(max_examples=30)
@given(blob=st.binary(min_size=1, max_size=300))
def test_binary_content(tmp_path_factory, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("scn") / "s.yaml"
    path.write_bytes(blob)
    _load(path)


def test_syntax_errors_and_huge_files_are_refused_quickly(tmp_path: Path) -> None:
    for i, text in enumerate(["horizon: [1, 2", "a: b: c", "\t- x", "{{{", "&a [*a]"]):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(text)
        _load(path)
    huge = tmp_path / "huge.yaml"
    huge.write_text("horizon: 5\n" + "# padding\n" * (MAX_SCENARIO_BYTES // 10 + 1))
    with pytest.raises(Exception) as info:
        load_scenario(huge)
    assert_clear_error("scenario", info.value, f"more than the {MAX_SCENARIO_BYTES}")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 5000 + "]" * 5000)
    _load(deep)
