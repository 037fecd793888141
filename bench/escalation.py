"""Escalation and dispatch benchmark (issue 4).

Builds a store with 100,000 open cases and 1,000,000 open milestones, 1 % of
them overdue, on PostgreSQL and on SQLite, and measures in one run:

  (a) one sweep that finds and escalates the overdue milestones,
  (b) the bare indexed SQL query that selects the same rows, and the ratio a/b,
  (c) a second sweep with nothing new to do,
  (d) dispatch of 5,000 outbox messages to a local aiosmtpd server, against a
      bare aiosmtplib loop sending the same messages over one connection.

Usage: python bench/escalation.py [--cases N] [--per-case M] [--messages K]
                                 [--only {all,mail}] [--mail-store {sqlite,postgresql}]
``--only mail`` skips the store build and runs (d) alone, on the store named by
``--mail-store`` (SQLite by default, as in the full run).
The last line is key=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiosmtplib
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediation_flows.core.config import load_programme_file  # noqa: E402
from remediation_flows.core.escalation import sweep  # noqa: E402
from remediation_flows.core.ladder import Calendars, next_escalation_at  # noqa: E402
from remediation_flows.core.mail.outbox import dispatch  # noqa: E402
from remediation_flows.core.mail.transport import Security, SmtpSettings, compose  # noqa: E402
from remediation_flows.core.store import CaseStore, upgrade_schema  # noqa: E402
from remediation_flows.core.store import repository as repo  # noqa: E402
from remediation_flows.core.store.schema import Milestone, OutboxMessage  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "REMEDIATION_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
AS_OF = dt.datetime(2027, 6, 1, 6, 0, tzinfo=dt.UTC)
STEPS = ("follow_up_visit", "school_reintegration", "remediation_plan", "closure")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def build_store(store: CaseStore, cases: int, per_case: int) -> int:
    """Fill the store; returns how many milestones are overdue at AS_OF."""
    programmes = [load_programme_file(ROOT / "examples" / name) for name in ("garment_brand.yaml",)]
    with store.transaction() as session:
        for programme in programmes:
            repo.register_programme(session, programme, actor="bench")
    programme = programmes[0]
    calendars = Calendars({programme.fingerprint: programme})
    sites = list(programme.sites)
    sha = programme.fingerprint
    overdue_due = AS_OF - dt.timedelta(days=12)
    future_due = AS_OF + dt.timedelta(days=60)
    next_at: dict[tuple[str, str, dt.datetime], dt.datetime | None] = {}

    def first_level(site: str, step: str, due: dt.datetime) -> dt.datetime | None:
        key = (site, step, due)
        if key not in next_at:
            next_at[key] = next_escalation_at(
                programme, calendars.of(programme.fingerprint, site), step, due, -1
            )
        return next_at[key]

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    case_rows, milestone_rows, overdue = [], [], 0
    total = cases * per_case
    for case_number in range(1, cases + 1):
        site = sites[case_number % len(sites)]
        reference = f"CL-2027-{case_number:06d}"
        case_rows.append(
            (
                case_number,
                reference,
                programme.enterprise_id,
                site,
                "monitoring",
                "audit",
                (AS_OF - dt.timedelta(days=200)).replace(tzinfo=None),
                1,
                sha,
                1,
                now,
                now,
            )
        )
        for index in range(per_case):
            number = (case_number - 1) * per_case + index
            is_overdue = number % 100 == 0  # 1 %
            overdue += is_overdue
            step = STEPS[index % len(STEPS)]
            due = overdue_due if is_overdue else future_due
            first = first_level(site, step, due)
            milestone_rows.append(
                (
                    number + 1,
                    f"{reference}/r1/{step}/{index}",
                    programme.enterprise_id,
                    site,
                    case_number,
                    step,
                    step,
                    sha,
                    "case_manager",
                    "open",
                    due.replace(tzinfo=None),
                    -1,
                    first.replace(tzinfo=None) if first else None,
                    now,
                )
            )
    progress(f"generated {cases:,} cases and {total:,} milestones ({overdue:,} overdue); loading")
    case_columns = (
        "id, reference, enterprise_id, site_id, state, source, notified_at, children_count, "
        "config_sha256, round, created_at, updated_at"
    )
    milestone_columns = (
        "id, key, enterprise_id, site_id, case_id, kind, title, config_sha256, owner_role, status, due_at, "
        "escalation_level, next_escalation_at, created_at"
    )
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store.engine.dialect.name == "postgresql":
            for table, columns, rows in (
                ("cases", case_columns, case_rows),
                ("milestones", milestone_columns, milestone_rows),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.execute("ANALYZE")
        else:
            for table, columns, rows in (
                ("cases", case_columns, case_rows),
                ("milestones", milestone_columns, milestone_rows),
            ):
                marks = ", ".join("?" * len(rows[0]))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return overdue


def bare_query_seconds(store: CaseStore) -> tuple[float, int]:
    """The indexed query alone: the overdue rows the sweep must act on, fetched to the client."""
    query = (
        select(Milestone.id, Milestone.key, Milestone.due_at, Milestone.escalation_level)
        .where(Milestone.status == "open", Milestone.next_escalation_at <= AS_OF)
        .order_by(Milestone.next_escalation_at)
    )
    best, count = float("inf"), 0
    for _ in range(3):
        with store.engine.connect() as connection:
            started = time.perf_counter()
            count = len(connection.execute(query).all())
            best = min(best, time.perf_counter() - started)
    return best, count


def measure_store(name: str, url: str, cases: int, per_case: int) -> dict[str, float]:
    upgrade_schema(url)
    store = CaseStore(url)
    started = time.perf_counter()
    overdue = build_store(store, cases, per_case)
    progress(f"{name}: store built in {time.perf_counter() - started:.1f} s")
    bare, selected = bare_query_seconds(store)
    assert selected == overdue, (selected, overdue)
    started = time.perf_counter()
    result = sweep(store, now=AS_OF)
    swept = time.perf_counter() - started
    assert len(result.escalations) == overdue, (len(result.escalations), overdue)
    started = time.perf_counter()
    idle = sweep(store, now=AS_OF)
    idle_seconds = time.perf_counter() - started
    assert idle.escalations == []
    progress(
        f"{name}: (a) sweep escalated {overdue:,} in {swept:.3f} s; (b) bare query {bare:.4f} s; "
        f"a/b = {swept / bare:.1f}; (c) idle sweep {idle_seconds:.4f} s"
    )
    store.dispose()
    return {"sweep": swept, "bare": bare, "idle": idle_seconds, "ratio": swept / bare}


def start_sink(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("aiosmtpd did not start")


def measure_mail(url: str, messages: int) -> dict[str, float]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = start_sink(port)
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="bench@ngo.example", security=Security.NONE)
    try:
        upgrade_schema(url)
        store = CaseStore(url)
        with store.transaction() as session:
            for index in range(messages):
                repo.enqueue_mail(
                    session,
                    kind="task",
                    recipients=["compliance@brand.example"],
                    subject=f"[CL-2027-{index:06d}] Task: follow-up visit",
                    body_text="Please act.\n" * 20,
                    body_html="<p>Please act.</p>" * 20,
                )
        with store.transaction() as session:
            rows = list(session.scalars(select(OutboxMessage)))

        async def bare_loop() -> float:
            # The same messages composed by the same function and sent over one connection,
            # with none of the outbox's bookkeeping: what sending alone costs.
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
            started = time.perf_counter()
            await client.connect()
            for row in rows:
                await client.send_message(compose(row, settings.sender))
            await client.quit()
            return time.perf_counter() - started

        bare = asyncio.run(bare_loop())
        started = time.perf_counter()
        result = asyncio.run(dispatch(store, settings, batch_size=500))
        dispatched = time.perf_counter() - started
        assert result.sent == messages, result
        store.dispose()
    finally:
        sink.terminate()
        sink.wait()
    progress(
        f"mail: dispatched {messages:,} in {dispatched:.2f} s ({messages / dispatched:.0f}/s); "
        f"bare aiosmtplib loop {bare:.2f} s ({messages / bare:.0f}/s); ratio {dispatched / bare:.2f}"
    )
    return {"per_s": messages / dispatched, "ratio": dispatched / bare}


def measure_mail_on(kind: str, messages: int) -> dict[str, float]:
    """(d) alone, on a fresh SQLite file or a fresh PostgreSQL database."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return measure_mail(f"sqlite:///{folder}/mail.db", messages)
    name = f"remediation_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return measure_mail(f"{POSTGRES_SERVER}/{name}", messages)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--per-case", type=int, default=10)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--only", choices=["all", "mail"], default="all")
    parser.add_argument("--mail-store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.only == "mail":
        mail = measure_mail_on(args.mail_store, args.messages)
        print(f"mail_store={args.mail_store} mail_per_s={mail['per_s']:.0f} mail_ratio={mail['ratio']:.2f}")
        return

    name = f"remediation_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        pg = measure_store("postgresql", f"{POSTGRES_SERVER}/{name}", args.cases, args.per_case)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    with tempfile.TemporaryDirectory() as folder:
        lite = measure_store("sqlite", f"sqlite:///{folder}/bench.db", args.cases, args.per_case)
        mail = measure_mail(f"sqlite:///{folder}/mail.db", args.messages)
    print(
        f"sweep_pg_s={pg['sweep']:.3f} idle_pg_s={pg['idle']:.4f} ratio_pg={pg['ratio']:.1f} "
        f"bare_pg_s={pg['bare']:.4f} sweep_sqlite_s={lite['sweep']:.3f} idle_sqlite_s={lite['idle']:.4f} "
        f"ratio_sqlite={lite['ratio']:.1f} mail_per_s={mail['per_s']:.0f} mail_ratio={mail['ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
