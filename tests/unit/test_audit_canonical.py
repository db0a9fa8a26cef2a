"""RFC 8785 canonical JSON as the audit chain and approvals rely on it.

Published vectors (RFC 8785 section 3.2.2 and 3.2.3, Appendix B number
serialisation) must come out byte for byte; formatting never changes a hash;
any change to a value always does.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aos_common.canonical import args_hash, canonical_json
from aos_common.errors import InvalidArgument
from audit_svc.chain import Actor, entry_hash, genesis_hash, new_event

# RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialisation.
NUMBER_VECTORS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]

# Literal inputs the RFC and the cyberphone test suite use.
LITERAL_NUMBERS = [
    ("1e21", "1e+21"),
    ("1E30", "1e+30"),
    ("1e+30", "1e+30"),
    ("1e-7", "1e-7"),
    ("-0.0", "0"),
    ("4.50", "4.5"),
    ("2e-3", "0.002"),
    ("0.000001", "0.000001"),
    ("0.000000000000000000000000001", "1e-27"),
    ("333333333.33333329", "333333333.3333333"),
    ("100", "100"),
]


@pytest.mark.parametrize(("bits", "expected"), NUMBER_VECTORS)
def test_number_serialisation_vectors(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == expected.encode()


@pytest.mark.parametrize(("literal", "expected"), LITERAL_NUMBERS)
def test_number_literals(literal: str, expected: str) -> None:
    assert canonical_json(json.loads(literal)) == expected.encode()


def test_rfc_8785_primitive_example() -> None:
    source = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


def test_rfc_8785_key_sorting_by_utf16_code_units() -> None:
    source = r"""{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"""
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20, {"nested": [1, 2**63]}])
def test_integers_beyond_double_precision_are_refused(value: object) -> None:
    with pytest.raises(InvalidArgument, match="2\\^53"):
        canonical_json(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"x": float("-inf")}])
def test_non_finite_numbers_are_refused(value: object) -> None:
    with pytest.raises(InvalidArgument):
        canonical_json(value)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=6)

SESSION = "3f2b8c1e-4d5a-4e6f-8a7b-9c0d1e2f3a4b"
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _chain_hash(payload_json: str) -> bytes:
    event = new_event(SESSION, "SYSCALL_ALLOWED", Actor("policy", "op", "j"), payload_json, NOW)
    return entry_hash(genesis_hash(SESSION), 1, event.record)


@given(json_objects, st.randoms(use_true_random=False), st.sampled_from([None, 0, 2, "\t"]))
def test_key_order_and_whitespace_never_change_a_hash(args: dict, rng, indent) -> None:
    keys = list(args)
    rng.shuffle(keys)
    reordered_text = json.dumps({k: args[k] for k in keys}, indent=indent, separators=None)
    assert args_hash(json.loads(reordered_text)) == args_hash(args)
    assert _chain_hash(reordered_text) == _chain_hash(json.dumps(args))


@given(json_objects, st.data())
def test_any_one_field_change_changes_the_hash(args: dict, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(args)))
    replacement = data.draw(json_values)
    assume(canonical_json(replacement) != canonical_json(args[key]))  # 1 and 1.0 are the same JSON value
    changed = {**args, key: replacement}
    assert args_hash(changed) != args_hash(args)
    assert _chain_hash(json.dumps(changed)) != _chain_hash(json.dumps(args))
