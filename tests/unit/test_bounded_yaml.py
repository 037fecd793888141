"""The bounded YAML reader builds exactly what PyYAML's safe loader builds (dates left as text)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from remediation_flows.core.config.bounded_yaml import _StringDatesLoader, load_bounded

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

DOCUMENTS = [
    "a: 1\nb: [1.5, -2, 0x1f, .inf, true, False, ~, null, '', '3', \"x\"]\nc: 2026-03-01\n",
    "defaults: &d {country: BD, closure_days: [a, b]}\nsite: {<<: *d, name: x, country: VN}\n",
    "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*a, *b], w: 0}\nd: {<<: *a, <<: *b}\n",
    "x: &s hello\ny: *s\nz: [*s, *s]\n? [complex, key]\n: no\n".replace("? [complex, key]\n: no\n", ""),
    "1: one\n2.5: two\ntrue: three\nnull: four\n'=': five\n",
    "= : v\nlist: [=]\n",
    "odd: !!set {a, b}\n",
    "odd: !!binary aGVsbG8=\n",
    "plain: !!str 123\nnum: !!int '7'\n",
    "just a string\n",
    "",
    "- a\n- [b, {c: d}]\n",
    "x: <<\n",
]


def reference(text: str):
    return yaml.load(text, Loader=_StringDatesLoader)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_same_values_as_pyyaml(text):
    """The same values, or the same error where PyYAML refuses the document."""
    try:
        expected = reference(text)
    except yaml.YAMLError as error:
        with pytest.raises(type(error), match=str(error.problem)):
            load_bounded(text)
    else:
        assert load_bounded(text) == expected


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_reads_as_pyyaml_reads_it(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert load_bounded(text) == reference(text)


def test_an_alias_is_the_same_object_as_pyyaml_makes_it():
    document = load_bounded("a: &x [1, 2]\nb: *x\n")
    assert document["a"] is document["b"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("? [a]\n: 1\n", "unhashable"),
        ("a: {<<: [1, 2]}\n", "for merging"),
        ("a: &x 1\nb: &x 2\n", "duplicate anchor"),
        ("a: *nowhere\n", "undefined alias"),
        ("a: &x [*x]\n", "contains it"),
        ("a: 1\n---\nb: 2\n", "single document"),
    ],
)
def test_a_broken_document_is_refused_with_a_yaml_error(text, problem):
    with pytest.raises(yaml.YAMLError, match=problem):
        load_bounded(text)
