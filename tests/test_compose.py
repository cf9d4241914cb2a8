"""The deployment files: docker-compose.yml and the Dockerfile it builds, read as data.

No container runs here. The compose file is parsed with PyYAML, its ``${VAR:-default}``
references expanded as Compose would with an empty environment, and checked for what running
several daemons needs: PostgreSQL and Redis with health checks and named volumes, daemons that
start only once both are healthy, ports on loopback only, and ``INGESTOR_*`` variables that name
real settings and load (with the mounted configuration file) into valid ``Settings``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ingestor.config import ENV_PREFIX, Settings, load_settings

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extras")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$`` as Compose does with no variables set."""
    if isinstance(value, str):

        def expand(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            return match.group("default") or ""

        return _VARIABLE.sub(expand, value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return interpolate(document)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, written as a mapping or as a list of ``KEY=VALUE``."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(source, target, mode)`` of each volume, short syntax or long."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *rest = volume.split(":")
            out.append((source, target, rest[0] if rest else "rw"))
        else:
            mode = "ro" if volume.get("read_only") else "rw"
            out.append((volume.get("source", ""), volume["target"], mode))
    return out


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a path inside the container comes from on the host, through a bind mount."""
    inside = PurePosixPath(container_path)
    for source, target, _mode in mounts(service):
        if source.startswith((".", "/")) and inside.is_relative_to(target):
            return (ROOT / source / inside.relative_to(target)).resolve()
    return None


def test_compose_runs_postgres_redis_and_two_daemons(services: dict[str, dict[str, Any]]) -> None:
    """The compose file has exactly PostgreSQL 16, Redis 7, the daemon, built from the
    Dockerfile here, with two daemon replicas, and the web server."""
    assert set(services) == {"postgres", "redis", "ingestor", "web"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    daemon = services["ingestor"]
    build = daemon["build"]
    assert (build if isinstance(build, str) else build.get("context", ".")) == "."
    assert daemon["deploy"]["replicas"] == 2
    assert daemon["command"] == ["ingestor", "run"]


def test_every_service_has_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    """Every service restarts after a crash (the daemons rely on it: a daemon that dies is
    simply started again, and its feed leases expire)."""
    for name, service in services.items():
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, name


def test_health_checks_gate_the_daemons(services: dict[str, dict[str, Any]]) -> None:
    """PostgreSQL is checked with pg_isready and Redis with `redis-cli ping`, and the daemons
    wait for both to be healthy, not merely started."""
    checks = {
        name: " ".join(services[name]["healthcheck"]["test"]) for name in ("postgres", "redis")
    }
    assert "pg_isready" in checks["postgres"]
    assert "redis-cli ping" in checks["redis"]
    depends = services["ingestor"]["depends_on"]
    assert isinstance(depends, dict), "depends_on needs the long form to carry a condition"
    assert {name: spec["condition"] for name, spec in depends.items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }


def test_data_lives_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """PostgreSQL's data directory and Redis's append-only file live in named volumes the file
    declares, and Redis runs with appendonly so the shared index survives its restarts."""
    declared = set(compose.get("volumes") or {})
    wanted = {"postgres": "/var/lib/postgresql/data", "redis": "/data"}
    for name, target in wanted.items():
        sources = [source for source, tgt, _mode in mounts(services[name]) if tgt == target]
        assert len(sources) == 1, name
        assert sources[0] in declared, f"{name}: {sources[0]} is not a declared named volume"
    command = services["redis"]["command"]
    words = command if isinstance(command, list) else command.split()
    assert words[words.index("--appendonly") + 1] == "yes"


def test_published_ports_bind_to_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    """Whatever a service publishes, it publishes on 127.0.0.1, and the daemons publish
    nothing."""
    assert not services["ingestor"].get("ports")
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
                assert str(port).count(":") == 2, (name, port)


def test_configuration_is_mounted_read_only(services: dict[str, dict[str, Any]]) -> None:
    """The daemons read ./config, mounted read-only, and INGESTOR_CONFIG names the settings file
    in that mount, which exists on the host."""
    daemon = services["ingestor"]
    assert ("./config", "/etc/ingestor", "ro") in mounts(daemon)
    config = environment(daemon)["INGESTOR_CONFIG"]
    assert config == "/etc/ingestor/ingestor.toml"
    assert host_path(daemon, config) == ROOT / "config" / "ingestor.toml"


def test_environment_names_real_settings_and_parses(services: dict[str, dict[str, Any]]) -> None:
    """Every INGESTOR_* variable the daemons get names a setting, and together with the mounted
    configuration file they load into Settings: PostgreSQL through psycopg, the Redis index,
    JSON logs."""
    daemon = services["ingestor"]
    env = environment(daemon)
    names = {key[len(ENV_PREFIX) :].lower() for key in env if key.startswith(ENV_PREFIX)}
    unknown = sorted(names - set(Settings.model_fields) - {"config"})
    assert not unknown, f"not settings: {unknown}"
    config = host_path(daemon, env["INGESTOR_CONFIG"])
    assert config is not None
    settings = load_settings(None, environ={**env, "INGESTOR_CONFIG": str(config)})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in settings.database_url
    assert settings.index_url == "redis://redis:6379/0"
    assert settings.log_format == "json"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _extras_needed(settings: Settings) -> set[str]:
    needed = set()
    if settings.database_url.startswith(("postgres://", "postgresql")):
        needed.add("postgres")
    if settings.index_url.startswith(("redis://", "rediss://", "unix://")):
        needed.add("redis")
    return needed


def test_dockerfile_installs_the_extras_the_urls_need(services: dict[str, dict[str, Any]]) -> None:
    """The image is python:3.11-slim, pip-installs the project with every extra the compose
    URLs need (extras pyproject.toml defines), runs as a non-root user and starts `ingestor
    run`."""
    steps = _dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    installs = [rest for keyword, rest in steps if keyword == "RUN" and "pip install" in rest]
    assert installs, "no pip install step"
    extras: set[str] = set()
    for command in installs:
        for group in re.findall(r"\.\[([a-z0-9_,\- ]+)\]", command):
            extras.update(part.strip() for part in group.split(","))
    env = environment(services["ingestor"])
    settings = load_settings(None, environ={k: v for k, v in env.items() if k != "INGESTOR_CONFIG"})
    needed = _extras_needed(settings)
    assert needed == {"postgres", "redis"}
    assert needed <= extras
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert extras <= set(defined["project"]["optional-dependencies"])
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    cmd = [rest for keyword, rest in steps if keyword == "CMD"]
    assert cmd[-1] == '["ingestor", "run"]'


def test_build_context_leaves_out_local_state() -> None:
    """The build context excludes the virtualenv, git history and local databases."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "data"} <= ignored


def test_the_web_service_serves_the_store_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    """The web service runs `ingestor serve` from the same image over the daemons' database,
    listening on every interface inside its container and published on the host's loopback
    port 8080 only; its settings load."""
    web = services["web"]
    assert web["image"] == services["ingestor"]["image"]
    assert web["command"][:2] == ["ingestor", "serve"]
    port = web["command"][web["command"].index("--port") + 1]
    assert web["ports"] == [f"127.0.0.1:8080:{port}"]
    assert ("./config", "/etc/ingestor", "ro") in mounts(web)
    env = environment(web)
    assert (
        env["INGESTOR_DATABASE_URL"] == environment(services["ingestor"])["INGESTOR_DATABASE_URL"]
    )
    config = host_path(web, env["INGESTOR_CONFIG"])
    assert config is not None
    settings = load_settings(None, environ={**env, "INGESTOR_CONFIG": str(config)})
    assert settings.serve.host == "127.0.0.1"  # the file's default; the command asks for more
    assert "healthz" in " ".join(web["healthcheck"]["test"])
