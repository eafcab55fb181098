"""Real ``faust worker`` processes, started and stopped by pid (never by name)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent


class FaustWorker:
    """One ``faust -A app worker`` subprocess with RENDEZVOUS_* settings.

    ``settings`` are given by field name (``role="fast"``) and become environment variables.
    """

    def __init__(self, settings: dict, log_dir: Path, name: str | None = None,
                 loglevel: str = "info", app_module: str = "app") -> None:
        self.settings = settings
        self.app_module = app_module  # another module only to inject a fault into the worker
        self.name = name or f"{settings.get('env', 'prod')}-{settings.get('role', 'serving')}"
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.loglevel = loglevel
        self.proc: subprocess.Popen | None = None

    @property
    def web_port(self) -> int:
        return int(self.settings["web_port"])

    def environ(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENDEZVOUS_")}
        for key, value in self.settings.items():
            env[f"RENDEZVOUS_{key.upper()}"] = str(value)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> "FaustWorker":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A restarted worker appends to the same log: readiness is judged from here on, not
        # by the "Ready" line of the process it replaces.
        self._log_start = log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", self.app_module, "worker", "-l", self.loglevel,
             "--without-web" if self.settings.get("web_port") is None else "--web-port",
             *([] if self.settings.get("web_port") is None else [str(self.web_port)])],
            cwd=REPO, env=self.environ(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Wait until the worker has joined its group and recovered its tables."""
        return self.wait_for(b"[^Worker]: Ready", timeout)

    def wait_for(self, line: bytes, timeout: float = 60.0) -> float:
        """Wait until this process (not one it replaced) logs ``line``; return seconds taken."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}); "
                                   f"log: {self.log_path}\n{self.tail()}")
            if line in self.log_path.read_bytes()[self._log_start:]:
                return time.monotonic() - began
            time.sleep(0.2)
        raise TimeoutError(f"worker {self.name} logged no {line!r} in {timeout}s\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stats(self) -> dict:
        """The worker's exact ledger (GET /stats/)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/stats/", timeout=5) as r:
            return orjson.loads(r.read())

    def metrics_text(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM), SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def kill(self) -> None:
        """kill -9, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
