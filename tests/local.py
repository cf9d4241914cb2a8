"""Settings for tests that run everything on this machine: a SQLite file in the test's own
directory, no configuration file or environment, and fetches allowed to the loopback address
the test servers (``tests.faultserver``) listen on. Flags override any of these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingestor.config import Settings, load_settings

__all__ = ["local_settings"]


def local_settings(tmp_path: Path, **flags: Any) -> Settings:
    return load_settings(
        None,
        flags={
            "database_url": f"sqlite:///{tmp_path / 'ingestor.db'}",
            "data_dir": str(tmp_path),
            "fetch_allow_networks": ("127.0.0.1/32",),
            **flags,
        },
        environ={},
    )
