"""Shared fixtures: the example programmes and a migrated case store on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from remediation_flows.core.config import Programme, load_programme_file
from remediation_flows.core.store import CaseStore, upgrade_schema
from remediation_flows.core.store.schema import Base
from tests.durations import longest_first, read_durations


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Prefect reads its settings when it is first imported, so the test Prefect server's address and a
# private PREFECT_HOME are fixed here, before any test module imports prefect
# (nothing imported above this point imports it). The server itself
# starts only when an integration test asks for it (tests/integration/conftest.py).
PREFECT_PORT = _free_port()
PREFECT_HOME = tempfile.mkdtemp(prefix="remediation-prefect-")
# The test Prefect server's database, logs and reports go when the session ends.
atexit.register(shutil.rmtree, PREFECT_HOME, ignore_errors=True)
os.environ.update(
    {
        "PREFECT_HOME": PREFECT_HOME,
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
POSTGRES_SERVER_URL = os.environ.get(
    "REMEDIATION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many workers `-n auto` (in pyproject's addopts) starts: two for whole folders, none for files.

    The README's command runs every test, most of whose time is integration tests waiting on flow runs
    (the runner's poll, a flow process's start, a person's answer through the API): two workers, each
    with its own Prefect server, runner, store and ports (chosen above, per process), overlap those
    waits. A run of a few named files is not worth a worker's start; `-n 2` or `-n 0` decides outright.
    """
    paths = [str(arg).split("::")[0] for arg in config.args]
    if paths and all(path.endswith(".py") for path in paths):
        return 0
    return min(2, os.cpu_count() or 1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist's workers, the longest tests first within each worker's share (tests/durations.py)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        durations = read_durations()
        items[:] = longest_first(items, [item.nodeid for item in items], durations, int(workers))


_RECORDED: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each test's setup, call and teardown, for REMEDIATION_RECORD_DURATIONS."""
    _RECORDED[report.nodeid] = _RECORDED.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the run's durations where REMEDIATION_RECORD_DURATIONS says (the controller's only)."""
    target = os.environ.get("REMEDIATION_RECORD_DURATIONS")
    if target and not os.environ.get("PYTEST_XDIST_WORKER") and _RECORDED:
        recorded = {test: round(seconds, 2) for test, seconds in sorted(_RECORDED.items())}
        Path(target).write_text(json.dumps(recorded, indent=0) + "\n", encoding="utf-8")


@pytest.fixture
def today() -> dt.date:
    """The day a test takes as today. Tests derive every date from it (a child's birth date, a visit),
    never from a literal year, so that they take the same path in any year they run."""
    return dt.date.today()


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier; 29 February becomes the 28th in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@pytest.fixture(scope="session")
def garment_brand() -> Programme:
    return load_programme_file(EXAMPLES / "garment_brand.yaml")


@pytest.fixture(scope="session")
def agro_exporter() -> Programme:
    return load_programme_file(EXAMPLES / "mexican_agro_exporter.yaml")


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """A new case store on ``backend`` ("sqlite", a file in ``folder``, or "postgresql"), migrated to
    the newest revision, for a test that moves it between revisions; yields its URL."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'cases.db'}"
        upgrade_schema(url)
        yield url
        return
    with fresh_postgres_database("remediation_migration") as url:
        upgrade_schema(url)
        yield url


@contextmanager
def fresh_postgres_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on the local server, empty or a copy of ``template``; dropped on exit.
    Yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{POSTGRES_SERVER_URL}/postgres", isolation_level="AUTOCOMMIT")
    copied = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    try:
        yield f"{POSTGRES_SERVER_URL}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_prefect_postgres_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database for a Prefect server, its schema already migrated; dropped on exit.

    A copy (``CREATE DATABASE ... TEMPLATE``, a fraction of a second) of a database that this Prefect
    version's migrations built once on this PostgreSQL server: migrating a new database cost each
    Prefect server the tests start about 3 s idle, 5 s loaded. Yields its URL.
    """
    with fresh_postgres_database(prefix, template=_migrated_prefect_template()) as url:
        yield url


def _migrated_prefect_template() -> str:
    """The name of the migrated Prefect database that fresh ones copy, built if this server lacks it.

    Named by Prefect's version, so that an upgrade builds a new one. It is built under another name
    and renamed when complete, under a lock that the other xdist worker waits on, so a half-migrated
    template is never copied.
    """
    version = importlib.metadata.version("prefect").replace(".", "_")
    template = f"prefect_template_{version}"
    admin = create_engine(f"{POSTGRES_SERVER_URL}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": template})
            exists = connection.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": template}
            )
            if not exists:
                building = f"{template}_building"
                connection.execute(text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{building}"'))
                url = f"{POSTGRES_SERVER_URL}/{building}".replace("+psycopg", "+asyncpg")
                upgraded = subprocess.run(
                    [str(Path(sys.executable).parent / "prefect"), "server", "database", "upgrade", "-y"],
                    env=os.environ | {"PREFECT_API_DATABASE_CONNECTION_URL": url},
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
                connection.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{template}"'))
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": template})
    finally:
        admin.dispose()
    return template


@contextmanager
def recording_smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    """A real aiosmtpd server on 127.0.0.1 that records what it receives; yields (handler, port)."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_database("remediation_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'cases.db'}"


_MIGRATED: set[str] = set()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[CaseStore]:
    """A migrated, empty case store; the same test runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_database_url" if request.param == "sqlite" else "postgres_database_url"
    url = request.getfixturevalue(fixture)
    if url not in _MIGRATED:
        upgrade_schema(url)
        _MIGRATED.add(url)
    case_store = CaseStore(url)
    _empty(case_store)
    try:
        yield case_store
    finally:
        case_store.dispose()


def _empty(case_store: CaseStore) -> None:
    with case_store.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


class RecordingHandler:
    """An aiosmtpd handler that keeps every message and refuses addresses starting with 'refuse'.

    ``rcpt_replies`` scripts the replies to RCPT for an address, one per try (e.g. a greylisting
    ``451`` once, then the usual answer); ``delay`` makes DATA slow. A message is recorded when its
    data has arrived, before the delay and the reply, as a server that keeps it would.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        scripted = self.rcpt_replies.get(address)
        if scripted:
            reply = scripted.pop(0)
            if not reply.startswith("250"):
                return reply
        elif address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def parsed(self) -> list:
        import email
        import email.policy

        return [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in self.messages]

    def received(self) -> list[tuple[str, list[str]]]:
        """(Message-ID, envelope recipients) of every message received so far, in order."""
        import email
        import email.policy

        snapshot = list(self.messages)  # the server's thread may append meanwhile
        return [
            (email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"], rcpt_tos)
            for _, rcpt_tos, raw in snapshot
        ]


def free_port() -> int:
    return _free_port()


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    """A real aiosmtpd server on 127.0.0.1, recording what it receives."""
    with recording_smtp_server() as server:
        yield server
