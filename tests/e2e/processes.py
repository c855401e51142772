"""Run the real ``ledger`` command in a subprocess, with a clean environment of our choosing."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

LEDGER = str(Path(sys.executable).with_name("ledger"))


def clean_env(**variables: str) -> dict[str, str]:
    """The parent's environment minus every LEDGER_* variable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(variables)
    return env


def run_ledger(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LEDGER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ledger serve`` on a free port; ``start`` returns once uvicorn reports it is listening."""

    def __init__(self, env: dict[str, str], *args: str, executable: str = LEDGER) -> None:
        self.args = args
        self.executable = executable
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._printed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        self.process = subprocess.Popen(
            [self.executable, "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise TimeoutError("server did not start:\n" + "".join(self.output)) from None
            if line is None:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            if "Uvicorn running on" in line:
                return self

    def wait_for(self, text: str, timeout: float = 30, count: int = 1) -> None:
        """Until the server has printed ``count`` lines containing ``text`` (since its start)."""
        with self._printed:
            found = self._printed.wait_for(
                lambda: sum(text in line for line in self.output) >= count, timeout=timeout
            )
        assert found, f"server never printed {text!r}:\n" + "".join(self.output)

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._printed:
                self.output.append(line)
                self._printed.notify_all()
            self._lines.put(line)
        self._lines.put(None)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process manager would; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
