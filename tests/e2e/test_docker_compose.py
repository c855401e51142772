"""The container files agree with the code: no Docker engine or database is needed to check them.

The image and the compose file can only configure the ledger through LEDGER_* variables that
``ledger.settings`` knows (``Settings.from_env`` refuses any other), can only run commands the
``ledger`` click group has, and must hand ``pip install .`` everything the package build needs.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from ledger.cli import main
from ledger.settings import VARIABLES, Settings
from ledger.store.engine import normalise_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"

PORT = 8000


# --- reading the files -------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, from either of compose's two spellings."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {
        str(k): ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
        for k, v in env.items()
    }


def words(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def instruction(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile() if kw == keyword]


def exec_form(keyword: str) -> list[str]:
    """The last KEYWORD instruction (the one Docker uses), which must be in JSON exec form."""
    found = instruction(keyword)
    assert found, f"the Dockerfile has no {keyword}"
    value = json.loads(found[-1])
    assert isinstance(value, list) and all(isinstance(w, str) for w in value)
    return value


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instruction("ENV"):
        pairs = shlex.split(rest)
        if len(pairs) >= 2 and "=" not in pairs[0]:  # the legacy `ENV NAME value` form
            env[pairs[0]] = " ".join(pairs[1:])
            continue
        for pair in pairs:
            name, sep, value = pair.partition("=")
            assert sep, f"cannot read ENV {rest!r}"
            env[name] = value
    return env


def resolve(group: click.Group, argv: list[str]) -> click.Command:
    """Resolve ``argv`` the way the ``ledger`` executable would, without invoking anything.

    Each word names a subcommand of the group before it (``db upgrade`` style nesting
    included); the words after the first plain command must parse as its options/arguments.
    """
    ctx = group.make_context("ledger", [], resilient_parsing=True)
    command: click.Command = group
    rest = list(argv)
    while isinstance(command, click.Group):
        assert rest, (
            f"{' '.join(argv)!r} stops at the group {command.name!r}, which needs a command"
        )
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, (
            f"{name!r} is not a command of {ctx.command_path!r}; "
            f"it has {sorted(command.list_commands(ctx))}"
        )
        if isinstance(sub, click.Group):  # its subcommand is the next word, parsed next
            ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        else:  # a real command: its options and arguments must parse (nothing is invoked)
            ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
        command = sub
    return command


# --- (a) the compose file --------------------------------------------------------------


def default_services() -> set[str]:
    """What `docker compose up` starts: the services in no profile."""
    return {name for name, svc in compose()["services"].items() if not svc.get("profiles")}


def ledger_services() -> dict[str, dict[str, Any]]:
    """Every service that runs the ledger's image, in any profile."""
    ledger = service("ledger")
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("image") == ledger["image"]
        or svc.get("build", {}).get("dockerfile") == "Dockerfile"
    }


def test_compose_file_defines_the_database_and_the_service_with_a_persistent_volume() -> None:
    spec = compose()
    assert default_services() == {"postgres", "ledger"}
    postgres = service("postgres")
    assert postgres["image"] == "postgres:18"
    assert "pgdata" in (spec.get("volumes") or {})
    # PostgreSQL 18 images keep PGDATA under /var/lib/postgresql/18/docker and refuse to
    # start on a volume mounted at the old /var/lib/postgresql/data.
    assert "pgdata:/var/lib/postgresql" in postgres["volumes"]
    assert environment(postgres) == {
        "POSTGRES_USER": "ledger_owner",
        "POSTGRES_PASSWORD": "ledger_owner",
        "POSTGRES_DB": "ledger",
    }
    check = words(postgres["healthcheck"]["test"])
    assert "pg_isready" in check


def test_service_is_built_here_published_on_8000_and_waits_for_a_healthy_database() -> None:
    ledger = service("ledger")
    build = ledger["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile_name = (
        "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    )
    assert (ROOT / context / dockerfile_name).resolve() == DOCKERFILE
    assert [str(p) for p in ledger["ports"]] == [f"{PORT}:{PORT}"]
    assert ledger["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_service_database_urls_point_at_the_compose_database_as_its_owner() -> None:
    pg_env = environment(service("postgres"))
    env = environment(service("ledger"))
    for name in ("LEDGER_DATABASE_URL", "LEDGER_OWNER_DATABASE_URL"):
        url = make_url(env[name])
        assert url.get_backend_name() == "postgresql"
        assert url.host == "postgres" and (url.port or 5432) == 5432
        assert url.username == pg_env["POSTGRES_USER"]
        assert url.password == pg_env["POSTGRES_PASSWORD"]
        assert url.database == pg_env["POSTGRES_DB"]


# --- (b) configured only through settings the ledger knows ------------------------------


def test_compose_configures_the_service_only_through_known_settings() -> None:
    for name, svc in ledger_services().items():
        env = environment(svc)
        assert env, f"the {name} service has no environment"
        unknown = sorted(set(env) - set(VARIABLES))
        assert not unknown, f"{name}: not in ledger.settings.VARIABLES: {unknown}"
        Settings.from_env(dockerfile_env() | env)  # and with values the settings accept
    # Nothing is interpolated from the host either: what the file says is what runs.
    assert "${" not in COMPOSE.read_text()


def test_image_sets_only_known_settings() -> None:
    env = dockerfile_env()
    assert env == {"LEDGER_HOST": "0.0.0.0", "LEDGER_PORT": str(PORT)}
    unknown = sorted(set(env) - set(VARIABLES))
    assert not unknown, f"not in ledger.settings.VARIABLES: {unknown}"


def test_settings_accept_the_containers_environment_and_act_as_the_restricted_role() -> None:
    # The container sees the image's ENV overlaid by the compose file's environment.
    env = dockerfile_env() | environment(service("ledger"))
    settings = Settings.from_env(env)
    assert not settings.embedded
    assert settings.database_url == settings.owner_database_url
    assert settings.app_role == "ledger_app"
    assert settings.should_migrate_on_start
    assert settings.host == "0.0.0.0" and settings.port == PORT


# --- (c) the command is one the CLI has -------------------------------------------------


def test_compose_command_resolves_to_the_serve_command_of_the_cli() -> None:
    command = resolve(main, words(service("ledger")["command"]))
    assert command is main.commands["serve"]


def test_every_ledger_service_runs_a_command_of_the_cli() -> None:
    for name, svc in ledger_services().items():
        assert resolve(main, words(svc["command"])), name


# --- (c2) the cluster profile: NATS with JetStream and the relay -------------------------


def test_the_cluster_profile_runs_nats_with_jetstream_and_the_relay_into_it() -> None:
    nats, relay = service("nats"), service("relay")
    assert "cluster" in nats["profiles"] and "cluster" in relay["profiles"]
    assert nats["image"] == "nats:2" and "-js" in words(nats["command"])
    store = words(nats["command"])[words(nats["command"]).index("-sd") + 1]
    assert any(str(v).endswith(f":{store}") for v in nats["volumes"]), "JetStream data is lost"
    assert resolve(main, words(relay["command"])) is main.commands["relay"]
    assert relay["image"] == service("ledger")["image"]  # built by the ledger service
    env = environment(relay)
    settings = Settings.from_env(dockerfile_env() | env)
    assert settings.nats_url is not None
    nats_url = make_url(settings.nats_url.replace("nats://", "postgresql://", 1))
    assert (nats_url.host, nats_url.port) == ("nats", 4222)
    database = conninfo_to_dict(env["LEDGER_DATABASE_URL"])
    assert database["host"] == "node1,node2" and settings.app_role == "ledger_app"
    assert database["target_session_attrs"] == "read-write"  # the relay LISTENs on the primary
    assert not settings.should_migrate_on_start  # the ledger service migrates; the relay reads
    assert relay["depends_on"]["ledger-a"]["condition"] == "service_healthy"
    assert relay["healthcheck"] == {"disable": True}  # the image's probe is serve's /health


def test_the_cluster_profile_is_a_pg_auto_failover_formation_with_two_services_on_it() -> None:
    monitor, node1, node2 = service("monitor"), service("node1"), service("node2")
    assert all("cluster" in svc["profiles"] for svc in (monitor, node1, node2))
    assert words(monitor["command"])[:3] == ["pg_autoctl", "create", "monitor"]
    dockerfile = (ROOT / monitor["build"]["context"] / monitor["build"]["dockerfile"]).read_text()
    assert "FROM postgres:15" in dockerfile and "postgresql-15-auto-failover" in dockerfile
    hosts = set()
    for node in (node1, node2):
        command = words(node["command"])
        assert command[:3] == ["pg_autoctl", "create", "postgres"] and "--run" in command
        assert command[command.index("--dbname") + 1] == "ledger"
        assert "@monitor/" in command[command.index("--monitor") + 1]
        assert node["image"] == monitor["image"] and any(
            v.endswith(":/var/lib/postgresql") for v in node["volumes"]
        )
        hosts.add(command[command.index("--hostname") + 1] + ":5432")
    for name in ("ledger-a", "ledger-b"):
        svc = service(name)
        assert "cluster" in svc["profiles"] and svc["image"] == service("ledger")["image"]
        assert resolve(main, words(svc["command"])) is main.commands["serve"]
        env = environment(svc)
        settings = Settings.from_env(dockerfile_env() | env)
        for url, attrs in (
            (settings.database_url, "read-write"),
            (settings.read_database_url, "prefer-standby"),
        ):
            assert url is not None
            params = conninfo_to_dict(url)
            listed = {
                f"{h}:{p}"
                for h, p in zip(params["host"].split(","), params["port"].split(","), strict=True)
            }
            assert listed == hosts, f"{name} must list every node of the formation"
            assert params["target_session_attrs"] == attrs and params["dbname"] == "ledger"
            normalise_url(url)  # and the ledger takes it as written


def test_image_default_command_resolves_to_the_serve_command_of_the_cli() -> None:
    assert exec_form("CMD") == ["serve"]
    assert resolve(main, exec_form("CMD")) is main.commands["serve"]


def test_command_resolution_follows_nested_groups_and_rejects_unknown_words() -> None:
    assert resolve(main, ["db", "upgrade"]) is main.commands["db"].commands["upgrade"]  # type: ignore[attr-defined]
    assert resolve(main, ["serve", "--port", "9000"]) is main.commands["serve"]
    with pytest.raises(AssertionError):
        resolve(main, ["srve"])
    with pytest.raises(AssertionError):
        resolve(main, ["db"])
    with pytest.raises(click.UsageError):
        resolve(main, ["serve", "--no-such-option"])


# --- (d) the entry point is the console script ------------------------------------------


def test_image_entrypoint_is_the_ledger_console_script() -> None:
    assert exec_form("ENTRYPOINT") == ["ledger"]
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert scripts["ledger"] == "ledger.cli:main"
    module, _, attr = scripts["ledger"].partition(":")
    imported = __import__(module, fromlist=[attr])
    assert getattr(imported, attr) is main and isinstance(main, click.Group)


def test_image_runs_as_an_unprivileged_user() -> None:
    users = instruction("USER")
    assert users, "the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_image_listens_publishes_and_probes_the_same_port() -> None:
    from api.app import health

    assert instruction("EXPOSE") == [str(PORT)]
    assert dockerfile_env()["LEDGER_PORT"] == str(PORT)
    (probe,) = instruction("HEALTHCHECK")
    assert "urllib.request" in probe and "/health" in probe
    assert "/health" in health.paths  # the liveness route the probe asks for exists


def test_image_build_context_holds_everything_pip_install_needs() -> None:
    project = tomllib.loads(PYPROJECT.read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied: set[str] = set()
    for rest in instruction("COPY"):
        sources = [w for w in shlex.split(rest) if not w.startswith("--")][:-1]
        copied |= {s.rstrip("/") for s in sources}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    runs = [shlex.split(rest) for rest in instruction("RUN")]
    assert any({"pip", "install", "."} <= set(run) for run in runs), "no `pip install .`"
    patterns = [
        p.strip()
        for p in DOCKERIGNORE.read_text().splitlines()
        if p.strip() and not p.startswith("#") and not p.startswith("!")
    ]
    ignored = {n for n in needed for p in patterns if fnmatch.fnmatch(n, p.removeprefix("**/"))}
    assert not ignored, f".dockerignore drops what the build needs: {sorted(ignored)}"
    assert {".venv", ".git"} <= set(patterns)


# --- (e) the README tells people how to start it ----------------------------------------


def test_readme_tells_how_to_start_the_stack_with_docker_compose() -> None:
    assert README.exists(), "README.md does not exist yet"
    assert "docker compose up" in README.read_text()
