"""Settings: the stages' policies and the general settings, layered file < environment < flags.

Owns: the ``Settings`` model (the general settings, the feed list, and one section per stage,
each of which *is* that stage's policy from ``ingestor.policies``: ``settings.fetch`` is the
``FetchPolicy`` the fetcher gets), loading it with pydantic-settings from
``config/ingestor.toml`` (or ``--config PATH``), ``INGESTOR_<SETTING>`` environment variables and
flags, and turning any bad value, unknown key or unknown variable into a one-line
``ConfigError`` that names the setting and where its value came from.

Does not: reach into stages. Only ``cli`` and ``daemon`` load settings (``Settings()`` alone is
the defaults: the file and the environment are read by ``load_settings`` only); the pipeline
hands each stage its section, so pure stages never read configuration.

Names: the file groups settings in TOML tables; a key ``timeout_s`` in table ``[fetch]`` is the
setting ``fetch_timeout_s`` (``settings.fetch.timeout_s``), the variable
``INGESTOR_FETCH_TIMEOUT_S`` and the flag name ``fetch_timeout_s``. Top-level keys keep their
name (``database_url`` / ``INGESTOR_DATABASE_URL``). ``INGESTOR_CONFIG`` names the file and is
not a setting; any other ``INGESTOR_*`` variable must name one. List settings take
comma-separated values in the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ingestor.errors import ConfigError
from ingestor.policies import (
    ClusterPolicy,
    DaemonPolicy,
    FetchPolicy,
    FingerprintPolicy,
    ParsePolicy,
    SchedulePolicy,
    ServePolicy,
    StorePolicy,
    WebhookPolicy,
    Words,
)

__all__ = [
    "CONFIG_VARIABLE",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "FeedList",
    "Settings",
    "feed_location",
    "load_settings",
    "setting_names",
]

ENV_PREFIX = "INGESTOR_"
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
"""Names the settings file; the one ``INGESTOR_*`` variable that is not a setting."""
DEFAULT_CONFIG = Path("config/ingestor.toml")
"""Looked for in the working directory when neither ``--config`` nor ``INGESTOR_CONFIG`` is set."""


class FeedList(BaseModel):
    """The configured feeds (``feeds``): added to the store at start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    urls: Words = ()
    file: Path | None = None
    """A file with one feed URL (or operator-named local path) a line; ``#`` starts a comment."""


class Settings(BaseSettings):
    """Every setting. ``config/ingestor.toml`` documents each one with its default."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    data_dir: Path = Path("data")
    database_url: str = ""
    """SQLAlchemy-style URL; empty means ``sqlite:///<data_dir>/ingestor.db``."""
    index_url: str = ""
    """Shared LSH index for several daemons (``redis://host:6379/0``); empty keeps the index in
    memory, rebuilt from the store at start-up."""
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    feeds: FeedList = FeedList()
    schedule: SchedulePolicy = SchedulePolicy()
    fetch: FetchPolicy = FetchPolicy()
    parse: ParsePolicy = ParsePolicy()
    fingerprint: FingerprintPolicy = FingerprintPolicy()
    """Changing any of these makes stored signatures stale."""
    cluster: ClusterPolicy = ClusterPolicy()
    store: StorePolicy = StorePolicy()
    daemon: DaemonPolicy = DaemonPolicy()
    serve: ServePolicy = ServePolicy()
    webhooks: WebhookPolicy = WebhookPolicy()

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("expected an SQLAlchemy URL such as sqlite:///data/ingestor.db")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (the keyword arguments), then the environment, then the file: only while
        ``load_settings`` runs. Otherwise ``Settings(...)`` is its arguments over defaults."""
        layers = _LOADING.get()
        if layers is None:
            return (init_settings,)
        return (
            init_settings,
            _Layer(settings_cls, layers.environment),
            _Layer(settings_cls, layers.file),
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ingestor.db'}"

    def feed_urls(self) -> list[str]:
        """Configured feeds: the inline list, then the feeds file's lines, without duplicates."""
        urls = [feed_location(u, Path.cwd()) for u in self.feeds.urls]
        if self.feeds.file is not None:
            try:
                lines = self.feeds.file.read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise ConfigError(f"feeds_file: cannot read {self.feeds.file}: {e.strerror}") from e
            base = self.feeds.file.resolve().parent
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if line:
                    urls.append(feed_location(line, base))
        return list(dict.fromkeys(urls))


# -- names ---------------------------------------------------------------------------------------
def _sections() -> dict[str, type[BaseModel]]:
    out = {}
    for name, info in Settings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = info.annotation
    return out


_SECTIONS = _sections()
_PATHS: dict[str, tuple[str, ...]] = {
    name: (name,) for name in Settings.model_fields if name not in _SECTIONS
} | {
    f"{section}_{key}": (section, key)
    for section, model in _SECTIONS.items()
    for key in model.model_fields
}
"""Every setting's flat name (``fetch_timeout_s``) -> where it lives (``fetch``, ``timeout_s``)."""
_PATH_SETTINGS = frozenset({"data_dir", "feeds_file"})
_RETIRED = {
    "cluster_rewrite_threshold": "cluster.join_probability",
    "cluster_time_penalty": "cluster.join_probability",
    "cluster_merge_threshold": "cluster.merge_probability",
}
"""Settings of earlier versions -> what replaced them (the cosine thresholds became the learned
verification score's probabilities: ``docs/design.md`` §3)."""


def _unknown(name: str) -> str:
    """Why ``name`` is not a setting, in one line."""
    replaced = _RETIRED.get(name)
    if replaced is not None:
        return f"setting {name!r} was replaced by {replaced} (see docs/design.md §3)"
    return f"unknown setting {name!r}"


def setting_names() -> list[str]:
    """Every setting's flat name, in the order ``Settings`` declares them."""
    return list(_PATHS)


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat names to the nested layout ``Settings`` validates. A name that is no setting is
    kept where its prefix puts it, so validation names it as an unknown setting."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        path = _PATHS.get(name)
        if path is None:
            section, _, key = name.partition("_")
            path = (section, key) if section in _SECTIONS and key else (name,)
        if len(path) == 1:
            out[path[0]] = value
        else:
            out.setdefault(path[0], {})[path[1]] = value
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


# -- the layers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Values:
    """One layer's values in the nested layout, and where each came from (flat name -> origin)."""

    values: dict[str, Any]
    origins: dict[str, str]


@dataclass(frozen=True)
class _Layers:
    environment: _Values
    file: _Values


_LOADING: ContextVar[_Layers | None] = ContextVar("ingestor_settings_layers", default=None)


class _Layer(PydanticBaseSettingsSource):
    """One layer, read before validation, as a pydantic-settings source."""

    def __init__(self, settings_cls: type[BaseSettings], layer: _Values) -> None:
        super().__init__(settings_cls)
        self._values = layer.values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._values


def _file_layer(path: Path) -> _Values:
    """The settings in a TOML file. Relative paths in it are relative to the file, so the daemon
    starts from anywhere."""
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and key in _SECTIONS:
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict):
                    raise ConfigError(f"{path}: [{key}.{sub}] is nested too deeply")
                flat[f"{key}_{sub}"] = subvalue
        else:
            flat[key] = value
    unknown = [name for name in flat if name not in _PATHS]
    if unknown:
        raise ConfigError(f"{path}: {_unknown(unknown[0])}")
    base = path.resolve().parent
    for name in _PATH_SETTINGS & set(flat):
        if isinstance(flat[name], str) and not Path(flat[name]).is_absolute():
            flat[name] = str((base / flat[name]).resolve())
    if isinstance(flat.get("feeds_urls"), list):
        flat["feeds_urls"] = [
            feed_location(u, base) if isinstance(u, str) else u for u in flat["feeds_urls"]
        ]
    return _Values(_nest(flat), dict.fromkeys(flat, str(path)))


def _environment_layer(environ: Mapping[str, str]) -> _Values:
    """The ``INGESTOR_<SETTING>`` variables; any other ``INGESTOR_*`` one (but
    ``INGESTOR_CONFIG``) is refused, as an unknown key in the file is."""
    flat: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for variable, raw in sorted(environ.items()):
        if not variable.upper().startswith(ENV_PREFIX) or variable.upper() == CONFIG_VARIABLE:
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in _PATHS:
            raise ConfigError(f"{variable}: {_unknown(name)}")
        flat[name] = raw
        origins[name] = variable
    return _Values(_nest(flat), origins)


def _describe(error: ValidationError, origins: Mapping[str, str]) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    if len(location) > 1 and location[0] in _SECTIONS and not location[1].isdigit():
        name = f"{location[0]}_{location[1]}"
    else:
        name = location[0] if location else "settings"
    origin = origins.get(name) or next(
        (where for key, where in origins.items() if key.startswith(f"{name}_")), ""
    )
    where = f" (from {origin})" if origin else ""
    return f"setting {name}{where}: {first['msg']}"


@contextmanager
def _loading(layers: _Layers) -> Iterator[None]:
    token = _LOADING.set(layers)
    try:
        yield
    finally:
        _LOADING.reset(token)


def load_settings(
    config_path: Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the file, then the environment, then flags (later wins); flags are keyed
    by flat setting name (``fetch_timeout_s``), and a flag given as ``None`` sets nothing.

    The file is ``config_path``, else ``$INGESTOR_CONFIG``, else ``config/ingestor.toml`` when it
    exists in the working directory; none at all is fine (defaults). Raises ``ConfigError`` with
    one line naming the bad setting and where its value came from.
    """
    env = os.environ if environ is None else environ
    explicit = config_path is not None or CONFIG_VARIABLE in env
    path = config_path or Path(env.get(CONFIG_VARIABLE, "") or DEFAULT_CONFIG)
    if path.exists():
        file = _file_layer(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    else:
        file = _Values({}, {})
    environment = _environment_layer(env)
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    origins = file.origins | environment.origins
    origins |= {key: "--" + key.replace("_", "-") for key in given}
    try:
        with _loading(_Layers(environment, file)):
            return Settings(**_nest(given))
    except ValidationError as e:
        raise ConfigError(_describe(e, origins)) from e
