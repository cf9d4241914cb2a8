"""Typed, validated settings, layered file < environment < command-line flags.

Owns: the ``Settings`` model (every setting, its type, default and bounds), loading it from
``config/ingestor.toml`` (or ``--config PATH``), ``INGESTOR_<SETTING>`` environment variables and
flags, and turning any bad value into a one-line ``ConfigError`` that names the setting.

Does not: reach into stages. Only ``cli`` and ``daemon`` load settings; ``pipeline`` turns them
into the small policy values each stage takes, so pure stages never read configuration.

The file groups settings in TOML tables for reading; a key ``timeout_s`` in table ``[fetch]`` is
the setting ``fetch_timeout_s`` and the variable ``INGESTOR_FETCH_TIMEOUT_S``. Top-level keys
keep their name (``database_url`` / ``INGESTOR_DATABASE_URL``).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingestor.errors import ConfigError

__all__ = ["DEFAULT_CONFIG", "ENV_PREFIX", "Settings", "feed_location", "load_settings"]

ENV_PREFIX = "INGESTOR_"
DEFAULT_CONFIG = Path("config/ingestor.toml")
"""Looked for in the working directory when neither ``--config`` nor ``INGESTOR_CONFIG`` is set."""

MiB = 1024 * 1024


class Settings(BaseModel):
    """Every setting. ``config/ingestor.toml`` documents each one with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- general ----------------------------------------------------------------------------
    data_dir: Path = Path("data")
    database_url: str = ""
    """SQLAlchemy-style URL; empty means ``sqlite:///<data_dir>/ingestor.db``."""
    index_url: str = ""
    """Shared LSH index for several daemons (``redis://host:6379/0``); empty keeps the index in
    memory, rebuilt from the store at start-up."""
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # -- feeds ------------------------------------------------------------------------------
    feeds_urls: tuple[str, ...] = ()
    feeds_file: Path | None = None
    """A file with one feed URL (or operator-named local path) a line; ``#`` starts a comment."""

    # -- schedule ---------------------------------------------------------------------------
    schedule_interval_s: int = Field(1800, ge=1)
    schedule_min_interval_s: int = Field(300, ge=1)
    schedule_max_interval_s: int = Field(86400, ge=1)
    schedule_jitter: float = Field(0.1, ge=0.0, le=0.5)
    schedule_backoff_base_s: int = Field(300, ge=1)
    schedule_backoff_max_s: int = Field(86400, ge=1)
    schedule_park_after_errors: int = Field(10, ge=1)

    # -- fetch ------------------------------------------------------------------------------
    fetch_timeout_s: float = Field(30.0, gt=0, le=600)
    fetch_connect_timeout_s: float = Field(10.0, gt=0, le=600)
    fetch_max_body_bytes: int = Field(15 * MiB, ge=1024)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_user_agent: str = "ingestor/0.1 (news feed deduplication; +https://example.org/ingestor)"
    fetch_allow_networks: tuple[str, ...] = ()
    """CIDR blocks that may be fetched even though private/loopback (operators' internal feeds)."""
    fetch_workers: int = Field(16, ge=1, le=256)
    fetch_per_host: int = Field(2, ge=1, le=64)
    fetch_article_below_words: int = Field(150, ge=0, le=100_000)
    """A new entry of an http(s) feed whose text is shorter than this many words is a summary:
    its linked page is fetched and its main text stored instead. 0: never."""
    fetch_article_max_per_poll: int = Field(20, ge=0, le=500)
    """Article pages fetched for one poll of one feed at most (the rest keep their summary)."""

    # -- parse ------------------------------------------------------------------------------
    parse_time_budget_s: float = Field(5.0, gt=0, le=120)
    parse_max_entries: int = Field(500, ge=1)

    # -- fingerprint (changing any of these makes stored signatures stale) ------------------
    fingerprint_shingle_size: int = Field(5, ge=2, le=12)
    fingerprint_shingle_perm: int = Field(64, ge=16, le=1024)
    fingerprint_num_perm: int = Field(128, ge=16, le=1024)
    fingerprint_key_terms: int = Field(48, ge=4, le=1000)
    fingerprint_max_terms: int = Field(200, ge=10, le=5000)
    fingerprint_name_boost: float = Field(3.0, ge=1.0, le=20.0)
    fingerprint_title_boost: float = Field(2.0, ge=0.0, le=20.0)
    fingerprint_short_text: int = Field(50, ge=0, le=10000)

    # -- cluster ----------------------------------------------------------------------------
    cluster_rewrite_threshold: float = Field(0.35, gt=0.0, le=1.0)
    cluster_copy_threshold: float = Field(0.5, gt=0.0, le=1.0)
    cluster_candidate_threshold: float = Field(0.1, gt=0.0, lt=1.0)
    cluster_window_hours: float = Field(72.0, gt=0.0, le=24 * 365)
    cluster_time_penalty: float = Field(0.1, ge=0.0, le=1.0)
    cluster_prior_docs: int = Field(2000, ge=0)
    cluster_max_candidates: int = Field(12, ge=1, le=1000)
    cluster_redundant_copy: float = Field(0.8, gt=0.0, le=1.0)
    cluster_merge_threshold: float = Field(0.55, ge=0.0, le=1.0)
    cluster_canonical: Literal["agency", "earliest", "complete", "priority"] = "agency"
    cluster_source_priority: tuple[str, ...] = ()

    # -- store ------------------------------------------------------------------------------
    store_max_revisions: int = Field(5, ge=0)
    store_auto_migrate: bool = True
    """Migrate an out-of-date schema at start-up; when false the daemon refuses to start."""

    # -- daemon -----------------------------------------------------------------------------
    daemon_tick_s: int = Field(60, ge=1)
    daemon_batch: int = Field(200, ge=1)
    """At most this many due feeds per tick."""
    daemon_lease_s: int = Field(600, ge=10)
    """How long a daemon holds a claimed feed; longer than a poll can take (fetch deadline plus
    parse budget plus the write), so no other daemon polls it meanwhile."""

    @field_validator("fetch_allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as e:
                raise ValueError(f"{item!r} is not a CIDR network") from e
        return value

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("expected an SQLAlchemy URL such as sqlite:///data/ingestor.db")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ingestor.db'}"

    def feed_urls(self) -> list[str]:
        """Configured feeds: the inline list, then the feeds file's lines, without duplicates."""
        urls = [feed_location(u, Path.cwd()) for u in self.feeds_urls]
        if self.feeds_file is not None:
            try:
                lines = self.feeds_file.read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise ConfigError(f"feeds_file: cannot read {self.feeds_file}: {e.strerror}") from e
            base = self.feeds_file.resolve().parent
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if line:
                    urls.append(feed_location(line, base))
        return list(dict.fromkeys(urls))


_FIELDS = frozenset(Settings.model_fields)
_LIST_FIELDS = frozenset({"feeds_urls", "fetch_allow_networks", "cluster_source_priority"})
_PATH_FIELDS = frozenset({"data_dir", "feeds_file"})


def _flatten(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict):
                    raise ConfigError(f"{path}: [{key}.{sub}] is nested too deeply")
                out[f"{key}_{sub}"] = subvalue
        else:
            out[key] = value
    unknown = sorted(set(out) - _FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    # Relative paths in a file are relative to that file, so the daemon starts from anywhere.
    base = path.resolve().parent
    for name in _PATH_FIELDS & set(out):
        if isinstance(out[name], str) and not Path(out[name]).is_absolute():
            out[name] = str((base / out[name]).resolve())
    if isinstance(out.get("feeds_urls"), list):
        out["feeds_urls"] = [
            feed_location(u, base) if isinstance(u, str) else u for u in out["feeds_urls"]
        ]
    return out


def feed_location(value: str, base: Path) -> str:
    """A configured feed: an http(s) URL as written, or a local feed file as a ``file:`` URI,
    relative paths taken from ``base`` (the directory of the file that names it). Local files
    are only ever read because the operator's own configuration names them."""
    value = value.strip()
    if "://" in value or value.startswith("file:"):
        return value
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve().as_uri()


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in _FIELDS:
            continue
        if name in _LIST_FIELDS:
            out[name] = tuple(part.strip() for part in raw.split(",") if part.strip())
        else:
            out[name] = raw
    return out


def _describe(error: ValidationError, origins: Mapping[str, str]) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    origin = origins.get(name, "")
    where = f" (from {origin})" if origin else ""
    return f"setting {name}{where}: {first['msg']}"


def load_settings(
    config_path: Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the file, then the environment, then flags (later wins).

    The file is ``config_path``, else ``$INGESTOR_CONFIG``, else ``config/ingestor.toml`` when it
    exists in the working directory; none at all is fine (defaults). Raises ``ConfigError`` with
    one line naming the bad setting and where its value came from.
    """
    env = os.environ if environ is None else environ
    explicit = config_path is not None or f"{ENV_PREFIX}CONFIG" in env
    path = config_path or Path(env.get(f"{ENV_PREFIX}CONFIG", "") or DEFAULT_CONFIG)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if path.exists():
        try:
            with path.open("rb") as fh:
                table = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
        file_values = _flatten(table, path)
        values.update(file_values)
        origins.update(dict.fromkeys(file_values, str(path)))
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    env_values = _from_env(env)
    values.update(env_values)
    origins.update({k: f"{ENV_PREFIX}{k.upper()}" for k in env_values})
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = value
            origins[key] = "--" + key.replace("_", "-")
    try:
        return Settings(**values)
    except ValidationError as e:
        raise ConfigError(_describe(e, origins)) from e
