"""How long a person who answers on the task page waits for the case to move (issue 15).

On a fresh PostgreSQL database (or SQLite with --sqlite), each of ``--cases`` Dhaka cases is brought to
its plan's last approval (the supervisor's given by staff), and the enterprise focal point answers the
link in their email on the task page, served by uvicorn over real HTTP as a browser reaches it. The
figure runs from sending the POST until another connection reads the case in its next state
(school reintegration); the page applies the answer within the request, so it is the request's own
time. The floor is the same decision applied by the core act alone on an identical case (no link, no
page, no HTTP): the least any route could take. No Prefect server runs: the page finds no waiting run
to resume, which it does after its response anyway.

Before this change the store moved only when the resumed flow run applied the answer: the time
from Submit to the run's next suspension, which tests/integration/test_task_links_flow.py prints
(about 16 s on these machines under load).

Usage: python bench/task_page_answer.py [--cases 9] [--sqlite]
The last line is key=value pairs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from remediation_flows.core import casework as cw  # noqa: E402
from remediation_flows.core.approvals import Decider  # noqa: E402
from remediation_flows.core.config import load_programme_file  # noqa: E402
from remediation_flows.core.store import CaseStore, upgrade_schema  # noqa: E402
from remediation_flows.core.store import repository as repo  # noqa: E402
from remediation_flows.core.store.schema import OutboxMessage  # noqa: E402
from remediation_flows.task_page.app import TaskPage, create_app  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "REMEDIATION_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
CASE_MANAGER = "rahim.uddin@ngo.example"
SUPERVISOR = "chen.jing@ngo.example"
FOCAL_POINT = "compliance@northwind-apparel.example"
LINK = re.compile(r"https?://[^/\s]+(/tasks/(CL-\d{4}-\d{6})/remediation_plan/[A-Za-z0-9_-]+)")
NEXT_STATE = "school_reintegration"


def case_awaiting_the_focal_point(store: CaseStore, programme) -> str:
    """A Dhaka case assessed, its plan proposed and approved by the supervisor: the focal point's turn."""
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id="dhaka-knit-01",
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, programme, notification, actor=CASE_MANAGER).reference
    cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=13,
            age_verification=cw.AgeVerification.SCHOOL_RECORDS,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=CASE_MANAGER,
    )
    cw.propose_plan(
        store,
        reference,
        cw.PlanProposal(cw.Pathway.SCHOOLING, Decimal("8000"), "BDT", Decimal("1500"), cw.Payer.SUPPLIER),
        CASE_MANAGER,
    )
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    return reference


def focal_point_link(store: CaseStore, reference: str) -> str:
    """The path of the focal point's plan-approval link, from their email in the outbox."""
    with store.reading() as session:
        for message in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())):
            match = LINK.search(message.body_text)
            if match and match.group(2) == reference and message.recipients == [FOCAL_POINT]:
                return match.group(1)
    raise LookupError(f"no plan-approval link to {FOCAL_POINT} for {reference}")


def state_of(store: CaseStore, reference: str) -> str:
    with store.reading() as session:
        return repo.get_case(session, reference).state


@contextmanager
def served(store: CaseStore) -> Iterator[str]:
    """The task page on a free port, as `remediate up` serves it; no Prefect run to resume."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    page = TaskPage(store, find_runs=lambda reference: [], resume_backoff=(0.0,))
    server = uvicorn.Server(
        uvicorn.Config(create_app(page), host="127.0.0.1", port=port, access_log=False, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the task page did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def answer_by_link(base: str, store: CaseStore, reference: str) -> tuple[float, float]:
    """(seconds until the store shows the next step, seconds of the POST) for the focal point's answer."""
    path = focal_point_link(store, reference)
    with httpx.Client(base_url=base, timeout=60) as browser:
        form = browser.get(path)
        form.raise_for_status()
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf is not None, "the page has no anti-forgery token"
        started = time.perf_counter()
        response = browser.post(path, data={"csrf": csrf.group(1), "approved": "true"})
        posted = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{reference}: the page answered {response.status_code}")
        while state_of(store, reference) != NEXT_STATE:
            if time.perf_counter() - started > 120:
                raise TimeoutError(f"{reference}: the store did not show {NEXT_STATE}")
            time.sleep(0.01)
        return time.perf_counter() - started, posted


def core_alone(store: CaseStore, reference: str) -> float:
    """Seconds of the same decision applied by the core act alone, until the store shows it."""
    started = time.perf_counter()
    cw.decide_plan(
        store,
        reference,
        "enterprise_focal_point",
        True,
        FOCAL_POINT,
        decider=Decider(person=FOCAL_POINT, verified=True),
    )
    assert state_of(store, reference) == NEXT_STATE
    return time.perf_counter() - started


def measure(url: str, cases: int) -> tuple[list[float], list[float], list[float]]:
    upgrade_schema(url)
    store = CaseStore(url)
    programme = load_programme_file(ROOT / "examples" / "garment_brand.yaml")
    with store.transaction() as session:
        repo.register_programme(session, programme, actor=CASE_MANAGER)
    page_figures, post_figures, floor_figures = [], [], []
    with served(store) as base:
        # One case each way first, not counted: the first request imports and connects.
        answer_by_link(base, store, case_awaiting_the_focal_point(store, programme))
        core_alone(store, case_awaiting_the_focal_point(store, programme))
        for _ in range(cases):
            to_store, posted = answer_by_link(base, store, case_awaiting_the_focal_point(store, programme))
            page_figures.append(to_store)
            post_figures.append(posted)
            floor_figures.append(core_alone(store, case_awaiting_the_focal_point(store, programme)))
    store.dispose()
    return page_figures, post_figures, floor_figures


def main() -> None:
    # No Prefect runs here, so every answer's resume finds no run and says so: not this bench's figure.
    logging.getLogger("remediation_flows.task_page.app").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=9)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite store instead of PostgreSQL")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    if args.sqlite:
        database = "sqlite"
        with tempfile.TemporaryDirectory() as folder:
            page_figures, post_figures, floor_figures = measure(f"sqlite:///{folder}/page.db", args.cases)
    else:
        database = "postgresql"
        name = f"bench_page_{uuid.uuid4().hex[:8]}"
        admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            page_figures, post_figures, floor_figures = measure(f"{POSTGRES_SERVER}/{name}", args.cases)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
    load_end = os.getloadavg()[0]
    figure = statistics.median(page_figures)
    posted = statistics.median(post_figures)
    floor = statistics.median(floor_figures)
    print(f"load average: {load_start:.2f} at the start, {load_end:.2f} at the end")
    print(f"store: {database}; {args.cases} cases each way, medians")
    print(f"{'what':<52}{'ms':>9}")
    print(f"{'task page: POST until the store shows the next step':<52}{figure * 1000:>9.1f}")
    print(f"{'task page: the POST itself':<52}{posted * 1000:>9.1f}")
    print(f"{'floor: the core act alone (no link, page or HTTP)':<52}{floor * 1000:>9.1f}")
    print(f"ratio (task page / floor): {figure / floor:.2f}")
    print(
        f"store={database} cases={args.cases} page_to_store_ms={figure * 1000:.1f} "
        f"post_ms={posted * 1000:.1f} floor_ms={floor * 1000:.1f} ratio={figure / floor:.2f} "
        f"page_min_ms={min(page_figures) * 1000:.1f} page_max_ms={max(page_figures) * 1000:.1f} "
        f"load_start={load_start:.2f} load_end={load_end:.2f}"
    )


if __name__ == "__main__":
    main()
