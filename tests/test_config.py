"""Settings: file < environment < flags, lists from the environment, paths relative to the file
that names them, feeds files, and a bad value always a one-line ``ConfigError`` naming the setting
and where its value came from."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from ingestor.config import DEFAULT_CONFIG, Settings, feed_location, load_settings, setting_names
from ingestor.errors import ConfigError
from ingestor.policies import ClusterPolicy, FetchPolicy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start in an empty directory, so the repository's own configuration is not read."""
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(
    config: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    return load_settings(config, flags=flags, environ=dict(env or {}))


def flat(settings: Settings) -> dict[str, Any]:
    """Every setting by its flat name (``fetch_timeout_s``)."""
    out: dict[str, Any] = {}
    for key, value in settings.model_dump().items():
        if isinstance(value, dict):
            out.update({f"{key}_{sub}": v for sub, v in value.items()})
        else:
            out[key] = value
    return out


# -- layering ----------------------------------------------------------------------------------


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    """Each layer overrides the one before: file, then ``INGESTOR_*``, then flags; a flag given
    as ``None`` (not on the command line) overrides nothing."""
    config = write(tmp_path / "ingestor.toml", "[fetch]\ntimeout_s = 5\nworkers = 3\n")
    env = {"INGESTOR_FETCH_TIMEOUT_S": "7", "INGESTOR_LOG_LEVEL": "debug"}
    assert load(config).fetch.timeout_s == 5.0
    assert load(config, env=env).fetch.timeout_s == 7.0
    layered = load(config, env=env, fetch_timeout_s=9, log_level=None)
    assert layered.fetch.timeout_s == 9.0
    assert layered.fetch.workers == 3  # only in the file
    assert layered.log_level == "debug"  # only in the environment
    assert layered.schedule.interval_s == Settings().schedule.interval_s  # nowhere: default


def test_the_config_file_comes_from_the_argument_then_the_environment_then_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config_path`` wins over ``$INGESTOR_CONFIG``, which wins over ``./config/ingestor.toml``;
    with none of them the defaults hold."""
    assert load(None) == Settings()
    write(tmp_path / DEFAULT_CONFIG, "[daemon]\ntick_s = 11\n")
    named = write(tmp_path / "named.toml", "[daemon]\ntick_s = 22\n")
    given = write(tmp_path / "given.toml", "[daemon]\ntick_s = 33\n")
    assert load(None).daemon.tick_s == 11
    assert load(None, env={"INGESTOR_CONFIG": str(named)}).daemon.tick_s == 22
    assert load(given, env={"INGESTOR_CONFIG": str(named)}).daemon.tick_s == 33


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    """A configuration file named by the argument or ``$INGESTOR_CONFIG`` must exist."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"config file .*nope\.toml does not exist"):
        load(missing)
    with pytest.raises(ConfigError, match="does not exist"):
        load(None, env={"INGESTOR_CONFIG": str(missing)})


def test_list_settings_take_comma_separated_values_from_the_environment(tmp_path: Path) -> None:
    """List settings read from the environment split on commas, blanks trimmed and empty items
    dropped; an empty variable is an empty list."""
    settings = load(
        None,
        env={
            "INGESTOR_CONFIG": str(write(tmp_path / "empty.toml", "")),
            "INGESTOR_FETCH_ALLOW_NETWORKS": " 10.0.0.0/8, 127.0.0.1/32 ,,",
            "INGESTOR_CLUSTER_SOURCE_PRIORITY": "reuters.com,apnews.com",
            "INGESTOR_FEEDS_URLS": "https://a.example/rss, https://b.example/atom",
        },
    )
    assert settings.fetch.allow_networks == (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"))
    assert settings.cluster.source_priority == ("reuters.com", "apnews.com")
    assert settings.feed_urls() == ["https://a.example/rss", "https://b.example/atom"]
    empty = load(None, env={"INGESTOR_FETCH_ALLOW_NETWORKS": ""})
    assert empty.fetch.allow_networks == ()


def test_an_environment_variable_that_names_no_setting_is_refused() -> None:
    """Every ``INGESTOR_*`` variable but ``INGESTOR_CONFIG`` must name a setting: a typo is one
    line naming the variable, as an unknown key in the file is. Variables outside the namespace
    (the test suite's own) are not read."""
    assert load(None, env={"TEST_INGESTOR_POSTGRES_URL": "x"}) == Settings()
    for variable in ("INGESTOR_NOPE", "INGESTOR_FETCH_TIMEOUT", "INGESTOR_FETCH"):
        with pytest.raises(ConfigError) as caught:
            load(None, env={variable: "1"})
        name = variable.removeprefix("INGESTOR_").lower()
        assert str(caught.value) == f"{variable}: unknown setting {name!r}"


def test_settings_alone_are_the_defaults_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only ``load_settings`` reads the file and the environment: ``Settings()`` is the
    defaults, and each section is its stage's policy with that policy's defaults."""
    monkeypatch.setenv("INGESTOR_FETCH_TIMEOUT_S", "7")
    assert Settings().fetch == FetchPolicy()
    assert Settings().cluster == ClusterPolicy()
    assert load_settings(None).fetch.timeout_s == 7.0


def test_a_section_is_validated_as_a_whole() -> None:
    """A policy's own consistency rules hold for settings too: a minimum above the maximum is
    one line naming the section and where the values came from."""
    env = {"INGESTOR_SCHEDULE_MIN_INTERVAL_S": "900", "INGESTOR_SCHEDULE_MAX_INTERVAL_S": "600"}
    with pytest.raises(ConfigError, match=r"^setting schedule \(from INGESTOR_SCHEDULE_"):
        load(None, env=env)


# -- paths and feeds ----------------------------------------------------------------------------


def test_relative_paths_in_a_file_are_relative_to_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data_dir``, ``feeds.file`` and local ``feeds.urls`` in a configuration file are taken
    from the file's directory, wherever the program starts."""
    config = write(
        tmp_path / "etc" / "ingestor.toml",
        'data_dir = "../var/data"\n[feeds]\nfile = "feeds.txt"\nurls = ["local/a.xml"]\n',
    )
    write(tmp_path / "etc" / "feeds.txt", "")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load(config)
    assert settings.data_dir == tmp_path / "var" / "data"
    assert settings.feeds.file == tmp_path / "etc" / "feeds.txt"
    assert settings.feed_urls() == [(tmp_path / "etc" / "local" / "a.xml").as_uri()]
    db = tmp_path / "var" / "data" / "ingestor.db"
    assert settings.effective_database_url == f"sqlite:///{db}"


def test_feeds_file_lines_become_urls_and_file_uris(tmp_path: Path) -> None:
    """A feeds file gives one feed a line: http(s) URLs as written, local paths as ``file:``
    URIs relative to the feeds file; comments, blank lines and repeats are dropped, and the
    inline list comes first."""
    feeds = write(
        tmp_path / "lists" / "feeds.txt",
        "# publishers\n"
        "https://news.example/rss.xml   # main feed\n"
        "\n"
        "   ../feeds/local.xml\n"
        "/abs/path/feed.atom\n"
        "file:///already/a/uri.xml\n"
        "https://news.example/rss.xml\n",
    )
    config = write(
        tmp_path / "ingestor.toml",
        f'[feeds]\nurls = ["https://first.example/feed"]\nfile = "{feeds}"\n',
    )
    assert load(config).feed_urls() == [
        "https://first.example/feed",
        "https://news.example/rss.xml",
        (tmp_path / "feeds" / "local.xml").as_uri(),
        Path("/abs/path/feed.atom").as_uri(),
        "file:///already/a/uri.xml",
    ]


def test_an_unreadable_feeds_file_is_an_error_naming_it(tmp_path: Path) -> None:
    """A feeds file that cannot be read is a ``ConfigError`` naming ``feeds_file``."""
    settings = load(None, feeds_file=tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match=r"^feeds_file: cannot read .*missing\.txt"):
        settings.feed_urls()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://news.example/feed", "https://news.example/feed"),
        ("file:///srv/feed.xml", "file:///srv/feed.xml"),
        ("feeds/a.xml", "file:///base/dir/feeds/a.xml"),
        ("../a.xml", "file:///base/a.xml"),
        ("/srv/feed with space.xml", "file:///srv/feed%20with%20space.xml"),
    ],
)
def test_feed_location_keeps_urls_and_turns_paths_into_file_uris(value: str, expected: str) -> None:
    """``feed_location`` leaves URLs alone and makes paths absolute ``file:`` URIs from the base
    directory."""
    assert feed_location(value, Path("/base/dir")) == expected


def test_the_shipped_config_lists_every_setting_with_its_default() -> None:
    """``config/ingestor.toml`` names every setting, and every value in it is the default (the
    paths aside, which it points at the repository's data and feeds)."""
    path = ROOT / "config" / "ingestor.toml"
    with path.open("rb") as fh:
        table = tomllib.load(fh)
    named = {
        f"{key}_{sub}" if isinstance(value, dict) else key
        for key, value in table.items()
        for sub in (value if isinstance(value, dict) else [None])
    }
    assert named == set(setting_names())
    shipped, defaults = flat(load(path)), flat(Settings())
    differ = {k for k in setting_names() if shipped[k] != defaults[k]}
    assert differ == {"data_dir", "feeds_file"}
    assert shipped["data_dir"] == ROOT / "data"
    assert shipped["feeds_file"] == ROOT / "config" / "feeds.txt"


# -- errors ------------------------------------------------------------------------------------


def test_a_bad_value_names_the_setting_and_where_it_came_from(tmp_path: Path) -> None:
    """A bad value gives one line naming the setting and its origin: the file, the variable or
    the flag."""
    config = write(tmp_path / "ingestor.toml", '[fetch]\ntimeout_s = "soon"\n')
    with pytest.raises(ConfigError) as from_file:
        load(config)
    assert str(from_file.value).startswith(f"setting fetch_timeout_s (from {config}): ")
    with pytest.raises(ConfigError) as from_env:
        load(None, env={"INGESTOR_FETCH_TIMEOUT_S": "abc"})
    assert str(from_env.value).startswith(
        "setting fetch_timeout_s (from INGESTOR_FETCH_TIMEOUT_S): "
    )
    with pytest.raises(ConfigError) as from_flag:
        load(None, fetch_timeout_s=-1)
    assert str(from_flag.value).startswith("setting fetch_timeout_s (from --fetch-timeout-s): ")
    for error in (from_file.value, from_env.value, from_flag.value):
        assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"INGESTOR_FETCH_ALLOW_NETWORKS": "10.0.0.0/8,not-a-net"}, "fetch_allow_networks"),
        ({"INGESTOR_DATABASE_URL": "data/ingestor.db"}, "database_url"),
        ({"INGESTOR_CLUSTER_CANONICAL": "loudest"}, "cluster_canonical"),
        ({"INGESTOR_LOG_FORMAT": "xml"}, "log_format"),
        ({"INGESTOR_FETCH_WORKERS": "0"}, "fetch_workers"),
        ({"INGESTOR_SCHEDULE_JITTER": "0.9"}, "schedule_jitter"),
        ({"INGESTOR_STORE_AUTO_MIGRATE": "perhaps"}, "store_auto_migrate"),
    ],
)
def test_invalid_values_are_refused(env: dict[str, str], setting: str) -> None:
    """Out-of-range numbers, unknown choices, bad CIDRs and database URLs without a scheme are
    refused, naming the setting."""
    with pytest.raises(ConfigError, match=rf"^setting {setting} \(from INGESTOR_"):
        load(None, env=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch]\ntimeout = 3\n", "unknown setting 'fetch_timeout'"),
        ("colour = 'blue'\n", "unknown setting 'colour'"),
        ("[fetch.http]\ntimeout_s = 3\n", "[fetch.http] is nested too deeply"),
        ("[fetch\ntimeout_s = 3\n", "not valid TOML"),
    ],
)
def test_unknown_keys_and_bad_toml_in_a_file_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    """A key that names no setting, a table nested too deeply or invalid TOML is an error
    naming the file."""
    config = write(tmp_path / "ingestor.toml", text)
    with pytest.raises(ConfigError) as caught:
        load(config)
    assert str(caught.value).startswith(f"{config}: ")
    assert message in str(caught.value)


def test_an_unknown_flag_is_refused() -> None:
    """A flag naming no setting is refused rather than silently ignored."""
    with pytest.raises(ConfigError, match=r"^setting fetch_timeout "):
        load(None, fetch_timeout=3)


def test_a_retired_cluster_setting_names_what_replaced_it(tmp_path: Path) -> None:
    """The cosine thresholds of earlier versions are refused in the file and the environment
    with one line naming the probability that replaced each, so an old configuration fails
    loudly and says how to mend it."""
    path = tmp_path / "old.toml"
    path.write_text("[cluster]\nrewrite_threshold = 0.35\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"replaced by cluster\.join_probability"):
        load_settings(path, environ={})
    with pytest.raises(ConfigError, match=r"INGESTOR_CLUSTER_MERGE_THRESHOLD: .*merge_probability"):
        load_settings(None, environ={"INGESTOR_CLUSTER_MERGE_THRESHOLD": "0.5"})
