"""The one rule every model's times follow: timezone-aware UTC, checked at construction."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["check_utc"]


def check_utc(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")
