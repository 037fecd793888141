"""What one step of one case costs, beside how many other cases are open (issue 15).

A lifecycle step's own work in the core: read the case's view, apply the act (here the on-site
assessment), read the view again, and render the case's markdown artifact (what the flow publishes
to Prefect at each step: its size is what a step adds to Prefect's database). Measured on a store
holding 20, 500 and 2,000 other open cases, on SQLite and on PostgreSQL, with the SQL statements
counted; each figure is the median of the steps of 15 fresh cases. The step's cost must not grow
with the number of other open cases: the ratio column compares each size to the 20-case store.

Usage: python bench/step_cost.py [--sizes 20,500,2000] [--steps 15]
The last line is key=value pairs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediation_flows.core import casework as cw  # noqa: E402
from remediation_flows.core.config import load_programme_file  # noqa: E402
from remediation_flows.core.store import CaseStore, upgrade_schema  # noqa: E402
from remediation_flows.core.store import repository as repo  # noqa: E402
from remediation_flows.flows.remediation.artifacts import case_markdown  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "REMEDIATION_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
ACTOR = "rahim.uddin@ngo.example"


def open_cases(store: CaseStore, programme, count: int) -> list[str]:
    """Open ``count`` cases at the programme's first site, 50 to a notification."""
    site = next(iter(programme.sites))
    references: list[str] = []
    while len(references) < count:
        children = min(50, count - len(references))
        notification = cw.Notification(
            enterprise_id=programme.enterprise_id,
            site_id=site,
            notified_at=dt.datetime.now(dt.UTC),
            source=cw.Source.AUDIT,
            suspected_age=13,
            children_count=children,
        )
        views = cw.open_notification(store, programme, notification, ACTOR, key=uuid.uuid4().hex)
        references += [view.reference for view in views]
    return references


def one_step(store: CaseStore, reference: str, statements: list[int]) -> tuple[float, int, int]:
    """(seconds, SQL statements, artifact bytes) of one assessment step of ``reference``."""
    statements[0] = 0
    start = time.perf_counter()
    cw.case_view(store, reference)
    view = cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=13,
            age_verification=cw.AgeVerification.BIRTH_CERTIFICATE,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        ACTOR,
    )
    artifact = case_markdown(cw.case_view(store, view.reference))
    return time.perf_counter() - start, statements[0], len(artifact.encode())


def measure(url: str, sizes: list[int], steps: int) -> dict[int, tuple[float, int, int]]:
    upgrade_schema(url)
    store = CaseStore(url)
    statements = [0]
    event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.__setitem__(0, statements[0] + 1)
    )
    programme = load_programme_file(ROOT / "examples" / "garment_brand.yaml")
    with store.transaction() as session:
        repo.register_programme(session, programme, actor=ACTOR)
    results: dict[int, tuple[float, int, int]] = {}
    opened = 0
    for size in sizes:
        open_cases(store, programme, size - opened)
        opened = size
        fresh = open_cases(store, programme, steps)
        runs = [one_step(store, reference, statements) for reference in fresh]
        opened += steps
        results[size] = (
            statistics.median(r[0] for r in runs),
            int(statistics.median(r[1] for r in runs)),
            int(statistics.median(r[2] for r in runs)),
        )
    store.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,500,2000")
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load_start = os.getloadavg()[0]
    figures: dict[str, dict[int, tuple[float, int, int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        figures["sqlite"] = measure(f"sqlite:///{folder}/step.db", sizes, args.steps)
    name = f"bench_step_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        figures["postgresql"] = measure(f"{POSTGRES_SERVER}/{name}", sizes, args.steps)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
    load_end = os.getloadavg()[0]
    print(f"load average: {load_start:.2f} at the start, {load_end:.2f} at the end")
    print(f"{'store':<11}{'open cases':>11}{'step ms':>10}{'ratio':>8}{'SQL':>6}{'artifact B':>12}")
    pairs = []
    for store_name, by_size in figures.items():
        floor = by_size[sizes[0]][0]
        for size, (seconds, queries, artifact) in by_size.items():
            ratio = seconds / floor
            print(f"{store_name:<11}{size:>11}{seconds * 1000:>10.1f}{ratio:>8.2f}{queries:>6}{artifact:>12}")
            pairs += [
                f"{store_name}_{size}_ms={seconds * 1000:.1f}",
                f"{store_name}_{size}_sql={queries}",
                f"{store_name}_{size}_artifact_bytes={artifact}",
            ]
    print(" ".join([*pairs, f"load_start={load_start:.2f}", f"load_end={load_end:.2f}"]))


if __name__ == "__main__":
    main()
