"""The JSON codec: round trips, clear refusals, and no pickle anywhere."""

from __future__ import annotations

import datetime
import decimal
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachelab.codec import CodecError, dumps, loads

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(JSON)
def test_round_trip(value):
    assert loads(dumps(value)) == value


@pytest.mark.parametrize("value, words", [
    ({"a": {1, 2}}, r"\$\.a: builtins\.set is not a JSON type"),
    ([1, datetime.date(2024, 1, 1)], r"\$\[1\]: datetime\.date.*isoformat"),
    (decimal.Decimal("1.5"), "decimal.Decimal"),
    (b"bytes", "builtins.bytes"),
    ({"x": math.nan}, "nan"),
    ({1: "int key"}, "JSON keys must be str"),
    (object(), "builtins.object"),
])
def test_unserialisable_values_name_the_type_and_place(value, words):
    with pytest.raises(CodecError, match=words):
        dumps(value)


def test_huge_values_are_refused_with_advice():
    with pytest.raises(CodecError, match="over the .*limit.*split"):
        dumps("x" * 2_000, max_bytes=1_000)
    assert len(dumps("x" * 2_000, max_bytes=None)) == 2_002


@pytest.mark.parametrize("data", [b"\x80\x04\x95pickle", b"{not json", None])
def test_bad_bytes_are_a_clear_error(data):
    with pytest.raises(CodecError):
        loads(data)


def test_no_pickle_anywhere():
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*root.glob("cachelab/**/*.py"), *root.glob("notebooks/*.ipynb"),
                 *root.glob("benchmarks/*.py"), *root.glob("solutions/*.py")]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"\b(import\s+(c?pickle|dill|marshal)|from\s+(c?pickle|dill)\s+import|"
                     r"pickle\.loads?)\b", text):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
