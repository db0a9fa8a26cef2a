"""Moments as the protos carry them: one conversion for every servicer."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2


def to_timestamp(value: datetime | int | None) -> timestamp_pb2.Timestamp | None:
    """A `Timestamp` for a datetime or Unix seconds; None (the field stays unset) for None."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    if isinstance(value, datetime):
        stamp.FromDatetime(value)
    else:
        stamp.FromSeconds(value)
    return stamp
