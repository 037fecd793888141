"""`remediate demo` runs in a throwaway stack of its own and never touches a real one.

An earlier demo joined the running stack and swept it 50 days ahead, firing every real case's ladder
early. Here a decoy "real" home sits where that demo looked (``./var``), with a case store holding an
open milestone that a look 50 days ahead would escalate, a stack.json whose server answers, and the
shell's variables pointing at both; the demo must run to its escalation email without changing a byte
of it, and must refuse to run in such a home.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from remediation_flows.core.config import load_programme_file
from remediation_flows.core.mail.sink import read_sink
from remediation_flows.core.store import CaseStore, upgrade_schema
from remediation_flows.core.store import repository as repo
from remediation_flows.stack.embedded import StackPaths
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parents[2]
# The demo starts a Prefect server from scratch and walks a case and a cycle: about 90 s on an idle
# machine, many times that on a busy one.
DEMO_TIMEOUT = 900


def make_real_home(home: Path) -> StackPaths:
    """A home as `remediate up` leaves it: a migrated case store with one case and an open milestone.

    The follow-up visit is due in about a week, so a sweep at the present instant leaves it alone,
    while the old demo's sweep 50 days ahead escalated it to the director.
    """
    paths = StackPaths(home)
    home.mkdir(parents=True)
    (paths.mail_dir / "new").mkdir(parents=True)  # a sink with nothing in it yet
    upgrade_schema(paths.case_store_url)
    programme = load_programme_file(EXAMPLES / "garment_brand.yaml")
    store = CaseStore(paths.case_store_url)
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="setup")
    with store.transaction() as session:
        case = repo.open_case(
            session,
            programme,
            site_id="dhaka-knit-01",
            notified_at=now,
            source="audit",
            actor="setup",
            case_manager="an.nguyen@ngo.example",
        )
        repo.add_milestone(
            session,
            programme,
            key=f"{case.reference}/r1/follow_up_visit/1",
            site_id="dhaka-knit-01",
            step="follow_up_visit",
            title="Follow-up visit 1",
            due_at=repo.reckon_step(programme, "dhaka-knit-01", "follow_up_visit", now).due_at,
            actor="setup",
            case=case,
        )
    store.dispose()
    return paths


def snapshot(home: Path) -> dict[str, object]:
    """Every file under ``home`` with its digest, and the case store's rows that a sweep would write."""
    files = {
        str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file()
    }
    # Immutable: reading the store must not create its -wal and -shm files.
    database = sqlite3.connect(f"{(home / 'remediation.db').resolve().as_uri()}?immutable=1", uri=True)
    try:
        rows = {
            table: database.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("cases", "milestone_escalations", "outbox", "audit_events")
        }
        milestones = database.execute(
            "SELECT key, status, escalation_level, next_escalation_at, due_at FROM milestones ORDER BY id"
        ).fetchall()
    finally:
        database.close()
    return {"files": files, "rows": rows, "milestones": milestones}


def server_errors(log: Path) -> list[str]:
    """The ERROR records of a Prefect server's log, each with its traceback, but for SQLite lock waits.

    On a busy machine the server's own SQLite database can stay locked past its timeout; Prefect logs
    the failed write at ERROR and answers 503, and the client retries. That says the machine was busy,
    not that the demo went wrong; any other error does.
    """
    records = re.split(r"\n(?=\d\d:\d\d:\d\d\.\d+ \| )", log.read_text(errors="replace"))
    locked = "sqlite3.OperationalError: database is locked"
    return [
        record[:3000] for record in records if "| ERROR" in record.split("\n", 1)[0] and locked not in record
    ]


class FakeStack:
    """A server that answers /api/health like a running stack's, named in the home's stack.json.

    It records every request, so a test sees whether the demo talked to it.
    """

    def __init__(self, home: Path) -> None:
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(f"{self.command} {self.path}")
                healthy = self.command == "GET" and self.path == "/api/health"
                self.send_response(200 if healthy else 500)
                self.end_headers()
                self.wfile.write(b"true" if healthy else b"")

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:  # quiet: the test reads `requests`
                pass

        self.requests = requests
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        StackPaths(home).state_file.write_text(json.dumps({"api_url": self.api_url, "pid": os.getpid()}))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stacks() -> Iterator[list[FakeStack]]:
    """Start fake stacks with ``fake_stacks.append(FakeStack(home))``; all are stopped at the end."""
    stacks: list[FakeStack] = []
    yield stacks
    for stack in stacks:
        stack.close()


def remediate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`remediate ARGS` in a process of its own, as a person runs it, with this worktree's code."""
    environment = os.environ | {"PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "remediation_flows.cli", *args],
        cwd=cwd,
        env=environment | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_escalates_in_its_own_stack_and_leaves_a_real_home_untouched(tmp_path, fake_stacks):
    # The decoy sits at ./var, where the old demo looked, with a stack that answers; the shell's
    # variables name its server, Prefect home and case store, as they might for someone running it.
    real = make_real_home(tmp_path / "var")
    live = FakeStack(real.home)
    fake_stacks.append(live)
    before = snapshot(real.home)
    temporary = tmp_path / "tmp"
    temporary.mkdir()

    demo = remediate(
        "demo",
        cwd=tmp_path,
        env={
            "TMPDIR": str(temporary),
            "PREFECT_API_URL": live.api_url,
            "PREFECT_HOME": str(real.prefect_home),
            "REMEDIATION_DATABASE_URL": real.case_store_url,
        },
        timeout=DEMO_TIMEOUT,
    )

    assert demo.returncode == 0, f"stdout:\n{demo.stdout[-4000:]}\nstderr:\n{demo.stderr[-4000:]}"
    [home] = temporary.glob("remediate-demo-*")
    assert f"remediate mail --home {home}" in demo.stdout
    assert "is kept for you to read" in demo.stdout
    assert "fired (reminder), (due), (program-manager), director" in demo.stdout

    # The escalation email reached the demo's own sink: the director, for the slipped visit.
    escalations = [m for m in read_sink(home / "mail") if m.message["Message-ID"].startswith("<escalation-")]
    assert [m.to for m in escalations if "Follow-up visit" in m.subject] == ["director@ngo.example"]
    demo_store = sqlite3.connect(f"{(home / 'remediation.db').resolve().as_uri()}?mode=ro", uri=True)
    try:
        fired = demo_store.execute(
            "SELECT e.passed_levels, e.level_name FROM milestone_escalations e "
            "JOIN milestones m ON m.id = e.milestone_id "
            "WHERE m.kind = 'follow_up_visit' ORDER BY e.level_index"
        ).fetchall()
    finally:
        demo_store.close()
    # One firing: the director emailed, the three levels below passed in the same sweep.
    assert [(json.loads(passed), emailed) for passed, emailed in fired] == [
        (["reminder", "due", "program-manager"], "director")
    ]
    # The demo stopped its stack, and its Prefect server logged no error of ours.
    assert not (home / "stack.json").exists()
    assert server_errors(home / "prefect-server.log") == []

    # The real home: not one byte, row or file changed, and its server was never asked anything.
    assert snapshot(real.home) == before
    assert before["rows"]["milestone_escalations"] == 0 and before["rows"]["outbox"] == 0
    assert live.requests == []


def test_demo_refuses_the_home_of_a_running_stack(tmp_path, fake_stacks):
    home = tmp_path / "live"
    home.mkdir()
    live = FakeStack(home)
    fake_stacks.append(live)

    refused = remediate("demo", "--home", str(home), cwd=tmp_path)

    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"remediate: a stack runs from {home}: the demo never runs in a live stack;")
    assert "without --home" in line
    assert refused.stdout == ""
    assert [path.name for path in home.iterdir()] == ["stack.json"]
    assert live.requests == ["GET /api/health"]  # it asked whether the stack runs, and nothing else


def test_demo_refuses_a_home_with_a_real_case_store(tmp_path):
    real = make_real_home(tmp_path / "var")
    before = snapshot(real.home)

    refused = remediate("demo", "--home", str(real.home), cwd=tmp_path)

    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"remediate: {real.home} holds a case store with 1 case(s):")
    assert refused.stdout == ""
    assert snapshot(real.home) == before
