from collections.abc import Sequence
from typing import Any

def count_passing(
    rows: list[Sequence[Any]],
    first_seq: int,
    prev_hash: bytes,
    tag: bytes,
    session_suffix: bytes,
    type_key: bytes,
    type_end: bytes,
) -> int: ...
