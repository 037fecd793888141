"""The embedded stack's Prefect server on SQLite takes a burst of flow runs without a locked database.

Prefect 3.8.8 on SQLite answers "database is locked" (logged at ERROR, answered 503) when a deferred
transaction, such as creating a flow run, meets a concurrent write. `remediation_flows.stack.prefect_server`
begins those transactions IMMEDIATE. This test starts that server on SQLite, as `remediate up` does, and
creates flow runs from many clients at once while others move runs through their states: with
Prefect's stock `prefect server start` the same burst logged tens of "database is locked" errors here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from remediation_flows.flows.wait_labels import mark_overdue
from tests.integration.conftest import _stop, _wait_for
from tests.prefect_log import server_log_errors

pytestmark = pytest.mark.prefect

CLIENTS = 24
RUNS_PER_CLIENT = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _burst(api: str) -> int:
    """Create and run CLIENTS x RUNS_PER_CLIENT flow runs concurrently; returns the 503s answered."""
    unavailable = 0

    async def call(client: httpx.AsyncClient, path: str, body: dict) -> dict:
        nonlocal unavailable
        for _ in range(20):
            response = await client.post(path, json=body)
            if response.status_code == 503:
                unavailable += 1
                await asyncio.sleep(0.5)
                continue
            response.raise_for_status()
            return response.json()
        raise AssertionError(f"{path}: still 503 after 20 tries")

    async with httpx.AsyncClient(base_url=api, timeout=120) as client:
        flow = await call(client, "/flows/", {"name": "burst"})

        async def one_client(number: int) -> None:
            for run in range(RUNS_PER_CLIENT):
                created = await call(
                    client,
                    "/flow_runs/",
                    {"flow_id": flow["id"], "name": f"c{number}-r{run}", "state": {"type": "SCHEDULED"}},
                )
                for state in ("PENDING", "RUNNING", "COMPLETED"):
                    await call(client, f"/flow_runs/{created['id']}/set_state", {"state": {"type": state}})

        await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))
        counted = await call(client, "/flow_runs/count", {})
    expected = CLIENTS * RUNS_PER_CLIENT
    assert counted == expected, f"{counted} flow runs stored, expected {expected}"
    return unavailable


def test_a_burst_of_flow_runs_locks_nothing(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "server.log"
    env = os.environ | {
        "PREFECT_HOME": str(tmp_path),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remediation_flows.stack.prefect_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health", 120, process, log)
        unavailable = asyncio.run(_burst(f"http://127.0.0.1:{port}/api"))
        # A sweep that escalated 300 cases looks for their waiting runs by tag, in few queries.
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
            marked = asyncio.run(mark_overdue(f"case:CL-2026-{n:06d}" for n in range(1, 301)))
        assert marked == 0
    finally:
        _stop(process)
    errors = server_log_errors(log)
    assert not errors, f"the server logged {len(errors)} error lines:\n" + "\n".join(errors[:10])
    assert unavailable == 0, f"the server answered 503 {unavailable} times"
