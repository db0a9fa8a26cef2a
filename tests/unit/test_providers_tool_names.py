"""Dotted tool names survive the trip through provider wires, and ambiguous ones are refused."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel_svc.providers.tool_names import decode_tool_name, encode_tool_name

WIRE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.mark.parametrize(
    ("name", "wire"),
    [("fs.read_file", "fs__read_file"), ("agents.spawn", "agents__spawn"), ("kb.query-v2", "kb__query-v2")],
)
def test_round_trip(name, wire):
    assert encode_tool_name(name) == wire
    assert decode_tool_name(wire) == name


@pytest.mark.parametrize(
    "name", ["", "fs..read", ".fs", "fs.", "fs__read", "fs._read", "fs_.read", "fs.read file", "fs/read", "x" * 65]
)
def test_names_that_cannot_round_trip_are_refused(name):
    with pytest.raises(ValueError, match="tool name"):
        encode_tool_name(name)


_part = st.from_regex(r"[a-z0-9-]+(_[a-z0-9-]+)*", fullmatch=True)


@given(st.lists(_part, min_size=1, max_size=4))
def test_every_accepted_name_is_wire_legal_and_decodes_to_itself(parts):
    name = ".".join(parts)
    try:
        wire = encode_tool_name(name)
    except ValueError:
        assert len("__".join(parts)) > 64
        return
    assert WIRE.fullmatch(wire)
    assert decode_tool_name(wire) == name
