"""`remediate up` started as a person starts it, in a process of its own: for tests of the running stack."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

BIN = Path(sys.executable).parent


@dataclass
class RunningStack:
    home: Path
    api_url: str
    log: Path

    @property
    def auth_string(self) -> str:
        """The stack's ``user:password``, read from its home as every `remediate` command reads it."""
        return (self.home / "prefect-auth").read_text().strip()

    def api(self, authenticated: bool = True) -> httpx.Client:
        """A client of the stack's REST API: with its credentials, or with none (a stranger)."""
        user, _, password = self.auth_string.partition(":")
        return httpx.Client(
            base_url=self.api_url,
            timeout=30,
            auth=(user, password) if authenticated else None,
            # Prefect's server on SQLite answers 503 when its database is momentarily locked; a
            # client retries, as Prefect's own client does (PREFECT_CLIENT_MAX_RETRIES).
            transport=httpx.HTTPTransport(retries=3),
        )

    def newest_case(self) -> str | None:
        database = self.home / "remediation.db"
        if not database.exists():
            return None
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute("SELECT reference FROM cases ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None


def start_remediate_up(home: Path, log: Path, extra_env: dict[str, str]) -> subprocess.Popen:
    """`remediate up --home HOME` on free ports, started as a shell's background job starts it."""
    api_port, smtp_port, task_port = free_port(), free_port(), free_port()
    # Only the stack's own settings: nothing of the test session's Prefect server may leak in.
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "REMEDIATION_"))
    }
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra_env
    with log.open("a") as out:
        return subprocess.Popen(
            [
                str(BIN / "remediate"),
                *("up", "--home", str(home)),
                *("--api-port", str(api_port), "--smtp-port", str(smtp_port), "--task-port", str(task_port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
            start_new_session=True,
            # As a shell's background job (or a supervisor) starts it: with SIGINT ignored, which
            # the stack must still answer.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )


@contextmanager
def remediate_up(home: Path, log: Path, extra_env: dict[str, str]) -> Iterator[RunningStack]:
    """`remediate up --home HOME` on free ports while the block runs; then Ctrl-C, as a person stops it."""
    process = start_remediate_up(home, log, extra_env)
    try:
        deadline = time.time() + 240
        while not (home / "stack.json").exists():
            assert process.poll() is None, f"remediate up exited:\n{log.read_text()[-3000:]}"
            assert time.time() < deadline, f"remediate up did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        state = json.loads((home / "stack.json").read_text())
        yield RunningStack(home=home, api_url=state["api_url"], log=log)
    finally:
        # The stack stops its runners, server and sink in order.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"remediate up did not stop on SIGINT:\n{log.read_text()[-3000:]}") from None
