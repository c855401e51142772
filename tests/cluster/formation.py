"""A real pg_auto_failover formation on loopback: a monitor and PostgreSQL 15 nodes, each on
its own port and data directory, managed by ``pg_autoctl`` -- the failover is its, not ours.

PostgreSQL refuses to run as root, so every ``pg_autoctl`` runs as the ``postgres`` user, with
its configuration kept under the formation's directory (``XDG_*``), so formations never share
state. Each keeper is started in a process group of its own: killing the group is a crash of
that machine (keeper and postmaster at once). The monitor's health checks are tightened so a
dead primary is noticed in a few seconds rather than the production default's twenty or so.

Waiting is on the monitor's own ``state`` notifications (the channel ``pg_autoctl`` listens
on), not on a timer.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
PG_AUTOCTL = shutil.which("pg_autoctl") or "/usr/bin/pg_autoctl"
USER = "postgres"
DATABASE = "ledger"

# Health checks every second; a node failing them for two is unhealthy (defaults: 5 s, 20 s).
MONITOR_SETTINGS = {
    "health_check_period": 1000,
    "health_check_timeout": 1000,
    "health_check_max_retries": 1,
    "health_check_retry_delay": 500,
    "node_considered_unhealthy_timeout": 2000,
    "primary_demote_timeout": 5000,
    "startup_grace_period": 2000,
}


def available() -> str | None:
    """Why a formation cannot be built here (None if it can)."""
    if not Path(PG_AUTOCTL).exists():
        return "pg_autoctl is not installed (Debian: pg-auto-failover-cli)"
    if not (BIN / "postgres").exists():
        return f"PostgreSQL 15 binaries not found in {BIN}"
    if not Path("/usr/lib/postgresql/15/lib/pgautofailover.so").exists():
        return "the pgautofailover extension is not installed (postgresql-15-auto-failover)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER} user to run PostgreSQL as"
    return None


@dataclass
class Node:
    name: str
    port: int
    pgdata: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"


@dataclass
class Formation:
    root: Path
    base_port: int
    nodes: list[Node] = field(default_factory=list)
    monitor: Node | None = None

    # -- the URLs a deployment is configured with (docs/scale-out.md) ---------------------
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def write_url(self) -> str:
        return f"postgresql://postgres@{self.hosts()}/{DATABASE}?target_session_attrs=read-write"

    def read_url(self) -> str:
        return (
            f"postgresql://postgres@{self.hosts()}/{DATABASE}?target_session_attrs=prefer-standby"
        )

    @property
    def monitor_url(self) -> str:
        assert self.monitor is not None
        return f"postgresql://postgres@127.0.0.1:{self.monitor.port}/pg_auto_failover"

    # -- building -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": str(self.root),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "share"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "PG_AUTOCTL_DEBUG": "",
        }

    def _spawn(self, node: Node, *args: str) -> None:
        node.log = self.root / f"{node.name}.log"
        out = node.log.open("ab")
        node.process = subprocess.Popen(
            [
                "runuser",
                "-u",
                USER,
                "--",
                "env",
                *(f"{k}={v}" for k, v in self._env().items()),
                PG_AUTOCTL,
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killing it is a crash of this machine
        )

    def start(self, standbys: int = 1) -> Formation:
        try:
            return self._start(standbys)
        except Exception as exc:
            raise RuntimeError(f"the formation did not start: {exc}\n{self.logs()}") from exc

    def logs(self, lines: int = 30) -> str:
        """The last lines each pg_autoctl printed (for a failure's report)."""
        out = []
        for node in [*([self.monitor] if self.monitor else []), *self.nodes]:
            if node.log is not None and node.log.exists():
                tail = node.log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"---- {node.name} ----\n" + "\n".join(tail))
        return "\n".join(out)

    def _start(self, standbys: int) -> Formation:
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("config", "share", "run"):
            (self.root / sub).mkdir(exist_ok=True)
        shutil.chown(self.root, USER)
        for sub in ("config", "share", "run"):
            shutil.chown(self.root / sub, USER)
        self.monitor = Node("monitor", self.base_port, self.root / "monitor")
        self._spawn(
            self.monitor,
            "create",
            "monitor",
            "--pgdata",
            str(self.monitor.pgdata),
            "--pgport",
            str(self.monitor.port),
            "--hostname",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
            "--run",
        )
        self._retry(self._tune_monitor)
        for i in range(1 + standbys):
            node = Node(f"node{i + 1}", self.base_port + 1 + i, self.root / f"node{i + 1}")
            self.nodes.append(node)
            self._spawn(
                node,
                "create",
                "postgres",
                "--pgdata",
                str(node.pgdata),
                "--pgport",
                str(node.port),
                "--hostname",
                "127.0.0.1",
                "--name",
                node.name,
                "--dbname",
                DATABASE,
                "--auth",
                "trust",
                "--no-ssl",
                "--pg-hba-lan",
                "--monitor",
                self.monitor_url.replace("postgres@", "autoctl_node@") + "?sslmode=disable",
                "--run",
            )
            want = ["single"] if i == 0 else ["primary"] + ["secondary"] * i
            # A standby's pg_basebackup asks for a spread checkpoint (a minute and more on an
            # idle server); an immediate one on the primary completes it.
            tick = None if i == 0 else (lambda: self._checkpoint(self.nodes[0]))
            self.wait_for(lambda s, want=want: sorted(s.values()) == sorted(want), 180, tick)
        return self

    def _tune_monitor(self) -> None:
        with psycopg.connect(self.monitor_url, autocommit=True, connect_timeout=2) as conn:
            # the extension is made last, once the monitor's server has its final settings
            conn.execute("SELECT 'pgautofailover'::regnamespace")
            for name, value in MONITOR_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET pgautofailover.{name} = {int(value)}")
            conn.execute("SELECT pg_reload_conf()")

    @staticmethod
    def _retry(step: Callable[[], None], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:  # a server being made by pg_autoctl: nothing to listen to until it is up
            try:
                return step()
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- observing ------------------------------------------------------------------------
    def states(self) -> dict[str, str]:
        """Each node's state as the monitor reports it, when reported and assigned agree
        (a node in transition shows ``reported->assigned``)."""
        with psycopg.connect(self.monitor_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node "
                "ORDER BY nodeid"
            ).fetchall()
        return {name: r if r == g else f"{r}->{g}" for name, r, g in rows}

    def _checkpoint(self, node: Node) -> None:
        try:
            with psycopg.connect(node.url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.OperationalError:
            pass  # not up yet

    def wait_for(
        self,
        predicate: Callable[[dict[str, str]], bool],
        timeout: float = 60,
        tick: Callable[[], None] | None = None,
    ) -> dict[str, str]:
        """Until ``predicate(states)`` holds, woken by the monitor's ``state`` notifications
        (``tick`` runs at each look)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.monitor_url, autocommit=True) as conn:
            conn.execute("LISTEN state")
            while True:
                if tick is not None:
                    tick()
                states = self.states()
                if predicate(states):
                    return states
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"formation never reached the state wanted: {states}")
                for _ in conn.notifies(timeout=min(remaining, 1.0), stop_after=1):
                    pass

    def primary(self) -> Node:
        states = self.states()
        (name,) = [n for n, s in states.items() if s in ("primary", "wait_primary", "single")]
        return next(n for n in self.nodes if n.name == name)

    def standbys(self) -> list[Node]:
        states = self.states()
        return [n for n in self.nodes if states.get(n.name) == "secondary"]

    # -- failures ---------------------------------------------------------------------------
    def crash(self, node: Node) -> None:
        """Keeper and postmaster killed at once, as if the machine lost power."""
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()
        _kill_postmaster(node.pgdata)

    def restart(self, node: Node) -> None:
        """The crashed machine back: its keeper rejoins (as a standby, rewound if need be)."""
        self._spawn(node, "run", "--pgdata", str(node.pgdata))

    def switchover(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                USER,
                "--",
                "env",
                *(f"{k}={v}" for k, v in self._env().items()),
                PG_AUTOCTL,
                "perform",
                "switchover",
                "--pgdata",
                str(self.nodes[0].pgdata),
                "--wait",
                "60",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self) -> None:
        for node in [*self.nodes, *([self.monitor] if self.monitor else [])]:
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()
            _kill_postmaster(node.pgdata)


def _kill_postmaster(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
