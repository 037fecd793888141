"""A real Prefect server, every deployment served from a real runner, PostgreSQL and an aiosmtpd sink."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from remediation_flows.core.store import CaseStore, upgrade_schema
from remediation_flows.core.store.schema import Case
from tests.conftest import (
    EXAMPLES,
    PREFECT_HOME,
    PREFECT_PORT,
    RecordingHandler,
    free_port,
    fresh_postgres_database,
    fresh_prefect_postgres_database,
    recording_smtp_server,
)
from tests.prefect_log import server_log_errors

BIN = Path(sys.executable).parent
API = os.environ["PREFECT_API_URL"]
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(url: str, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


SERVER_LOG = Path(PREFECT_HOME) / "server.log"
#: Where the served flows' task emails link to; tests/integration/test_task_links_flow.py serves it.
TASK_PAGE_PORT = free_port()


@pytest.fixture(autouse=True)
def no_errors_in_the_prefect_server_log() -> Iterator[None]:
    """Fail the test during which the test Prefect server logged an error or a traceback."""
    offset = SERVER_LOG.stat().st_size if SERVER_LOG.exists() else 0
    yield
    errors = server_log_errors(SERVER_LOG, offset)
    assert not errors, "the Prefect server logged errors:\n" + "\n".join(errors[:20])


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 with a PostgreSQL database of its own; yields that database's URL.

    PostgreSQL, not SQLite: on a busy two-core machine a Prefect server on SQLite logs "database is
    locked" at ERROR level (its clients retry), which would trip the guard above for no fault of ours.
    The embedded default's SQLite server is tried as a user runs it, by test_running_product.py.
    """
    log = Path(PREFECT_HOME) / "server.log"
    with fresh_prefect_postgres_database("prefect_it") as database_url:
        with log.open("w") as out:
            process = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(PREFECT_PORT)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ
                | {"PREFECT_API_DATABASE_CONNECTION_URL": database_url.replace("+psycopg", "+asyncpg")},
            )
        try:
            _wait_for(f"http://127.0.0.1:{PREFECT_PORT}/api/health", 120, process, log)
            yield database_url
        finally:
            _stop(process)
    # Errors logged after the last test, while the server wound down its services, count too.
    errors = server_log_errors(log)
    assert not errors, "the Prefect server logged errors:\n" + "\n".join(errors[:20])


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[tuple[RecordingHandler, int]]:
    """One SMTP server that every integration test's mail reaches."""
    with recording_smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def integration_database() -> Iterator[str]:
    with fresh_postgres_database("remediation_it") as url:
        yield url


@dataclass
class Deployed:
    store: CaseStore
    mail: RecordingHandler
    #: The Prefect server's database (PostgreSQL), for scans of everything Prefect holds.
    prefect_db: str
    serve_log: Path

    def newest_case(self) -> str:
        with self.store.transaction() as session:
            return session.scalars(select(Case.reference).order_by(Case.id.desc()).limit(1)).one()


def save_blocks(database_url: str, smtp_port: int) -> None:
    from remediation_flows.blocks import CaseStoreConnection, EnterpriseProgramme, MailTransport
    from remediation_flows.core.config.loader import parse_yaml

    CaseStoreConnection(url=database_url).save("default", overwrite=True)
    MailTransport(host="127.0.0.1", port=smtp_port, security="none", sender="remediation@ngo.example").save(
        "default", overwrite=True
    )
    for path in sorted(EXAMPLES.glob("*.yaml")):
        document = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        EnterpriseProgramme(programme=document).save(document["enterprise"]["id"], overwrite=True)


@pytest.fixture(scope="session")
def deployed(prefect_server: str, integration_database: str, mail_sink) -> Iterator[Deployed]:
    """Blocks saved and every deployment served by `python -m remediation_flows.stack.serve`, as up does."""
    handler, smtp_port = mail_sink
    upgrade_schema(integration_database)
    save_blocks(integration_database, smtp_port)
    log = Path(PREFECT_HOME) / "serve.log"
    env = os.environ | {
        "REMEDIATION_SWEEP_SECONDS": "0",
        "REMEDIATION_RECOVERY_SECONDS": "0",
        "REMEDIATION_DISPATCH_SECONDS": "0",
        "REMEDIATION_REPORTS_DIR": str(Path(PREFECT_HOME) / "reports"),
        "REMEDIATION_TASK_PAGE_URL": f"http://127.0.0.1:{TASK_PAGE_PORT}",
    }
    env.pop("REMEDIATION_DATABASE_URL", None)  # the flows find the store through its block
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "remediation_flows.stack.serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        asyncio.run(_wait_for_deployments(10, process, log))
        store = CaseStore(integration_database)
        yield Deployed(store=store, mail=handler, prefect_db=prefect_server, serve_log=log)
        store.dispose()
    finally:
        _stop(process)


async def _wait_for_deployments(count: int, process: subprocess.Popen, log: Path) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.time() + 90
    async with get_client() as client:
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"remediation_flows.stack.serve exited:\n{log.read_text()[-3000:]}")
            if (
                len(await client.read_deployments()) >= count
                and "Your deployments are being served" in log.read_text()
            ):
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"deployments were not served in time:\n{log.read_text()[-3000:]}")


# --- driving runs through the Prefect API ---------------------------------------------------------


async def run_deployment_and_wait(name: str, parameters: dict[str, Any], timeout: float = 120) -> Any:
    """Run a deployment and wait for it to end; returns the final flow run."""
    from prefect.deployments import arun_deployment

    run = await arun_deployment(
        name, parameters=parameters, timeout=timeout, as_subflow=False, poll_interval=0.25
    )
    assert run.state is not None and run.state.is_final(), f"{name} did not finish: {run.state}"
    return run


async def run_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    await asyncio.sleep(1.0)  # logs reach the API in batches
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


async def run_act_and_wait(name: str, parameters: dict[str, Any], reason: str, timeout: float = 120) -> Any:
    """Run an act's deployment, give its reason in the Resume dialog as a person does, wait for its end."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    from remediation_flows.stack.answering import RunAnswerer

    run = await arun_deployment(name, parameters=parameters, timeout=0, as_subflow=False)
    await RunAnswerer(run.id).answer("Why this", {"reason": reason}, timeout=timeout)
    deadline = time.time() + timeout
    async with get_client() as client:
        while time.time() < deadline:
            run = await client.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return run
            await asyncio.sleep(0.2)
    raise AssertionError(f"{name} did not finish within {timeout:.0f} s: {run.state}")
