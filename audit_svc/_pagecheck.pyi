from collections.abc import Sequence
from typing import Any, TypeVar

# Any list of rows with the five columns (ChainEntry tuples, database records); read only.
_Row = TypeVar("_Row", bound=Sequence[Any])

def count_passing(
    rows: list[_Row],
    first_seq: int,
    prev_hash: bytes,
    tag: bytes,
    session_suffix: bytes,
    type_key: bytes,
    type_end: bytes,
) -> int: ...
