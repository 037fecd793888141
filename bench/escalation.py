"""Escalation and dispatch benchmark (issue 4).

Builds a store with 100,000 open cases and 1,000,000 open milestones, 1 % of
them overdue, on PostgreSQL and on SQLite, and measures in one run:

  (a) one sweep that finds and escalates the overdue milestones,
  (b) the bare indexed SQL query that selects the same rows, and the ratio a/b,
  (c) a second sweep with nothing new to do,
  (c') on PostgreSQL, a floor that writes the same rows with COPY in one transaction that
      locks the same milestones, and the ratio a/c' (issue 15: at most 3),
  (d) dispatch of 5,000 outbox messages to a local aiosmtpd server, against a
      bare aiosmtplib loop sending the same messages over one connection.

Usage: python bench/escalation.py [--cases N] [--per-case M] [--messages K]
                                 [--only {all,mail,postgresql}] [--mail-store {sqlite,postgresql}]
``--only mail`` skips the store build and runs (d) alone, on the store named by
``--mail-store`` (SQLite by default, as in the full run); ``--only postgresql`` runs (a)-(c') on
PostgreSQL alone. The mail ratio is throughput, dispatch over the bare loop (issue 15: at least 0.9).
The load average is printed at the start and the end; the last line is key=value pairs.
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
from sqlalchemy import create_engine, select, text, update

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


SWEEP_TABLES = {
    "milestone_escalations": "milestone_id, level_index, level_name, passed_levels, due_at, fired_at",
    "outbox": "message_id, kind, enterprise_id, case_id, milestone_id, recipients, subject, body_text, "
    "body_html, calendar_ics, status, attempts, next_attempt_at, created_at",
    "audit_events": "at, actor, action, entity, entity_id, case_id, reason, details",
}
DUE_ROWS = (
    "SELECT id FROM milestones WHERE status = 'open' AND next_escalation_at <= %s "
    "AND held_since IS NULL ORDER BY next_escalation_at, id FOR UPDATE SKIP LOCKED"
)


class SweepRows:
    """What one sweep wrote, kept as COPY text, so the store can be put back and the rows written again."""

    def __init__(self, store: CaseStore) -> None:
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(
                "SELECT id, escalation_level, next_escalation_at FROM milestones "
                "WHERE status = 'open' AND next_escalation_at <= %s",
                (AS_OF.replace(tzinfo=None),),
            )
            self.before = cursor.fetchall()
        finally:
            raw.close()
        self.written: dict[str, bytes] = {}

    def capture(self, store: CaseStore) -> None:
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for table, columns in SWEEP_TABLES.items():
                where = " WHERE actor = 'escalation sweep'" if table == "audit_events" else ""
                with cursor.copy(
                    f"COPY (SELECT {columns} FROM {table}{where} ORDER BY id) TO STDOUT"
                ) as copy:
                    self.written[table] = b"".join(bytes(chunk) for chunk in copy)
            ids = [row[0] for row in self.before]
            with cursor.copy(
                "COPY (SELECT id, escalation_level, next_escalation_at FROM milestones "
                f"WHERE id IN ({', '.join(map(str, ids))})) TO STDOUT"
            ) as copy:
                self.written["milestones"] = b"".join(bytes(chunk) for chunk in copy)
        finally:
            raw.close()

    def reset(self, store: CaseStore) -> None:
        """Put the store back as it was before the sweep, vacuumed, so each run meets the same tables."""
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("DELETE FROM milestone_escalations")
            cursor.execute("DELETE FROM outbox")
            cursor.execute("DELETE FROM audit_events WHERE actor = 'escalation sweep'")
            ids, levels, nexts = zip(*self.before, strict=True)
            cursor.execute(
                "UPDATE milestones SET escalation_level = v.l, next_escalation_at = v.n "
                "FROM unnest(%s::int[], %s::int[], %s::timestamp[]) AS v(i, l, n) WHERE milestones.id = v.i",
                (list(ids), list(levels), list(nexts)),
            )
            raw.commit()
            raw.driver_connection.autocommit = True
            try:
                cursor.execute("VACUUM ANALYZE milestones, milestone_escalations, outbox, audit_events")
            finally:
                raw.driver_connection.autocommit = False
        finally:
            raw.close()

    def copy_floor(self, store: CaseStore) -> float:
        """The same rows written the fastest way PostgreSQL offers, in one transaction that locks the
        same due milestones first: COPY into each table, and COPY plus one UPDATE for the milestones."""
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            started = time.perf_counter()
            cursor.execute(DUE_ROWS, (AS_OF.replace(tzinfo=None),))
            cursor.fetchall()
            for table, columns in SWEEP_TABLES.items():
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(self.written[table])
            cursor.execute("CREATE TEMP TABLE advanced (id int, l int, n timestamp) ON COMMIT DROP")
            with cursor.copy("COPY advanced FROM STDIN") as copy:
                copy.write(self.written["milestones"])
            cursor.execute(
                "UPDATE milestones SET escalation_level = a.l, next_escalation_at = a.n "
                "FROM advanced a WHERE milestones.id = a.id"
            )
            raw.commit()
            return time.perf_counter() - started
        finally:
            raw.close()


def measure_store(name: str, url: str, cases: int, per_case: int, rounds: int = 3) -> dict[str, float]:
    upgrade_schema(url)
    store = CaseStore(url)
    started = time.perf_counter()
    overdue = build_store(store, cases, per_case)
    progress(f"{name}: store built in {time.perf_counter() - started:.1f} s")
    bare, selected = bare_query_seconds(store)
    assert selected == overdue, (selected, overdue)
    postgresql = store.engine.dialect.name == "postgresql"
    rows = SweepRows(store) if postgresql else None
    sweeps, floors, cpus = [], [], []
    for round_number in range(rounds if postgresql else 1):
        if rows is not None and round_number:
            rows.reset(store)
        started, cpu = time.perf_counter(), time.process_time()
        result = sweep(store, now=AS_OF)
        sweeps.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        assert len(result.escalations) == overdue, (len(result.escalations), overdue)
        if rows is not None:
            if not round_number:
                rows.capture(store)
            rows.reset(store)
            floors.append(rows.copy_floor(store))
        progress(
            f"{name}: round {round_number + 1}: sweep {sweeps[-1]:.3f} s"
            + (f", COPY floor {floors[-1]:.3f} s" if floors else "")
        )
    if rows is not None:
        rows.reset(store)
        sweep(store, now=AS_OF)
    started = time.perf_counter()
    idle = sweep(store, now=AS_OF)
    idle_seconds = time.perf_counter() - started
    assert idle.escalations == []
    swept = min(sweeps)
    floor = min(floors) if floors else float("nan")
    progress(
        f"{name}: (a) sweep escalated {overdue:,} in {swept:.3f} s (best of {len(sweeps)}; "
        f"{min(cpus):.3f} s of CPU in this process, the database's not counted); "
        f"(b) bare query {bare:.4f} s, a/b = {swept / bare:.1f}; "
        + (
            f"(c) COPY of the same rows {floor:.3f} s, a/c = {swept / floor:.2f} (target 3); "
            if floors
            else ""
        )
        + f"(d) idle sweep {idle_seconds:.4f} s"
    )
    store.dispose()
    return {
        "sweep": swept,
        "bare": bare,
        "idle": idle_seconds,
        "ratio": swept / bare,
        "floor": floor,
        "floor_ratio": swept / floor,
        "cpu": min(cpus),
    }


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

        # Three rounds, each the bare loop then the dispatcher, the outbox made pending again between
        # them: the best of each, so that a burst of load from elsewhere counts against neither.
        bares, dispatches = [], []
        for round_number in range(3):
            if round_number:
                with store.transaction() as session:
                    session.execute(
                        update(OutboxMessage).values(
                            status="pending", attempts=0, deliveries=None, sent_at=None, last_error=None
                        )
                    )
            bares.append(asyncio.run(bare_loop()))
            started = time.perf_counter()
            result = asyncio.run(dispatch(store, settings, batch_size=500))
            dispatches.append(time.perf_counter() - started)
            assert result.sent == messages, result
            progress(
                f"mail: round {round_number + 1}: bare loop {bares[-1]:.2f} s, "
                f"dispatch {dispatches[-1]:.2f} s"
            )
        bare, dispatched = min(bares), min(dispatches)
        store.dispose()
    finally:
        sink.terminate()
        sink.wait()
    progress(
        f"mail: dispatched {messages:,} in {dispatched:.2f} s ({messages / dispatched:.0f}/s); "
        f"floor, a bare aiosmtplib loop: {bare:.2f} s ({messages / bare:.0f}/s); "
        f"throughput ratio {bare / dispatched:.2f} (target at least 0.9)"
    )
    return {"per_s": messages / dispatched, "bare_per_s": messages / bare, "ratio": bare / dispatched}


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
    parser.add_argument("--mail-store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--only", choices=["all", "mail", "postgresql"], default="all")
    args = parser.parse_args()
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)

    def load_end() -> str:
        end = os.getloadavg()
        print(f"load average at end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
        return f"load_start={load_start[0]:.2f} load_end={end[0]:.2f}"

    if args.only == "mail":
        mail = measure_mail_on(args.mail_store, args.messages)
        loads = load_end()
        print(
            f"mail_store={args.mail_store} mail_per_s={mail['per_s']:.0f} "
            f"bare_per_s={mail['bare_per_s']:.0f} mail_ratio={mail['ratio']:.2f} {loads}"
        )
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
    pg_figures = (
        f"sweep_pg_s={pg['sweep']:.3f} sweep_pg_cpu_s={pg['cpu']:.3f} copy_floor_pg_s={pg['floor']:.3f} "
        f"floor_ratio_pg={pg['floor_ratio']:.2f} idle_pg_s={pg['idle']:.4f} "
        f"bare_query_pg_s={pg['bare']:.4f} ratio_pg={pg['ratio']:.1f}"
    )
    if args.only == "postgresql":
        print(f"{pg_figures} {load_end()}")
        return
    with tempfile.TemporaryDirectory() as folder:
        lite = measure_store("sqlite", f"sqlite:///{folder}/bench.db", args.cases, args.per_case)
        mail = measure_mail(f"sqlite:///{folder}/mail.db", args.messages)
    loads = load_end()
    print(
        f"{pg_figures} sweep_sqlite_s={lite['sweep']:.3f} idle_sqlite_s={lite['idle']:.4f} "
        f"ratio_sqlite={lite['ratio']:.1f} mail_per_s={mail['per_s']:.0f} "
        f"bare_per_s={mail['bare_per_s']:.0f} mail_ratio={mail['ratio']:.2f} {loads}"
    )


if __name__ == "__main__":
    main()
