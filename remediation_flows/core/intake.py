"""Bringing existing cases in from a spreadsheet (CSV or XLSX): every row checked, then all or nothing.

Each row follows schemas/case_intake.schema.json. Rows are numbered as a
spreadsheet numbers them (the header is row 1). An imported case enters the
store in the state the row gives, audited as imported, with the milestone its
stage is waiting on; a child's name and birth date, if the sheet has them, go
to the child's own table only, and never into an error message.

A sheet is bounded before it is read: at most :data:`MAX_ROWS` rows of
:data:`MAX_COLUMNS` columns, a CSV of at most :data:`MAX_CSV_BYTES`, an XLSX
that unpacks to at most :data:`MAX_XLSX_UNPACKED_BYTES` (a few KB of XLSX can
unpack to hundreds of MB). The rows are written in bulk, a statement per
table rather than per row, in one transaction: the same rows the per-case acts
write (:mod:`remediation_flows.core.casework`), thousands of times fewer round trips.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core import casework as cw
from remediation_flows.core.case_states import ENDED_STATES, CaseState
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.loader import schema_errors, schema_message
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.escalation import by_language, resolve_recipients
from remediation_flows.core.ladder import next_escalation_at
from remediation_flows.core.mail.i18n import step_title, text
from remediation_flows.core.mail.render import task_mail
from remediation_flows.core.statuses import MilestoneStatus, OutboxStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.bulk import insert_rows, update_rows
from remediation_flows.core.store.repository import MESSAGE_ID_DOMAIN, CaseStore
from remediation_flows.core.store.schema import (
    Assessment,
    AuditEvent,
    Case,
    ChildPersonalData,
    Milestone,
    OutboxMessage,
    Reintegration,
    utcnow,
)
from remediation_flows.core.untrusted_input import UnreadableInput, decode_utf8, excerpt, shorten_message

INTAKE_SCHEMA = "case_intake.schema.json"
INTEGER_COLUMNS = ("age_years", "visits_done")
ACTOR_PREFIX = "import"
#: Columns whose values are a child's identity: an error names the column, never the value.
IDENTITY_COLUMNS = frozenset({"full_name", "birth_date"})
#: Rows a sheet may have, header included; a bigger migration is split into several sheets.
MAX_ROWS = 50_001
#: Columns a sheet may have; the intake schema has 13.
MAX_COLUMNS = 32
MAX_CSV_BYTES = 32 * 1024 * 1024
MAX_XLSX_UNPACKED_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class RowProblem:
    source: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        column, message = shorten_message(self.column, 60), shorten_message(self.message)
        return f"{self.source}: row {self.row}: {column}: {message}"


class IntakeInvalid(RemediationError):
    """Rows break rules; nothing was imported. ``problems`` lists every one."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The sheet's rows as (row number, {column: value}), empty cells left out.

    A sheet past the bounds (rows, columns, bytes), not UTF-8 or not a spreadsheet at all is
    refused with one :class:`IntakeInvalid` problem naming the file, before any row is checked.
    """
    source = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            records = _xlsx_records(path)
        elif suffix == ".csv":
            records = _csv_records(path)
        else:
            raise _file_problem(source, 0, "expected a .csv or .xlsx file")
    except OSError as error:
        raise _file_problem(source, 0, f"cannot read file: {error.strerror}") from None
    except UnreadableInput as error:
        raise _file_problem(source, 0, error.reason) from None
    result = []
    for index, record in records:
        cleaned = {}
        for key, value in record.items():
            if key is None or value is None or (isinstance(value, str) and not value.strip()):
                continue
            if isinstance(value, dt.datetime):
                value = value.date()
            cleaned[key.strip()] = value.isoformat() if isinstance(value, dt.date) else value
        if cleaned:
            result.append((index, cleaned))
    return result


def _file_problem(source: str, row: int, message: str) -> IntakeInvalid:
    return IntakeInvalid([RowProblem(source, row, "file", message)])


def _too_many_rows(source: str) -> IntakeInvalid:
    return _file_problem(
        source, MAX_ROWS + 1, f"more than {MAX_ROWS - 1:,} rows below the header; split the sheet"
    )


def _checked_header(source: str, header: Sequence[object]) -> list[str]:
    names = [str(cell).strip() if cell is not None else "" for cell in header]
    while names and not names[-1]:
        names.pop()
    if len(names) > MAX_COLUMNS:
        raise _file_problem(
            source, 1, f"{len(names)} columns; at most {MAX_COLUMNS} are read (the intake has 13)"
        )
    return names


def _csv_records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    source = str(path)
    with path.open("rb") as handle:
        data = handle.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise _file_problem(source, 0, f"larger than {MAX_CSV_BYTES:,} bytes; split the sheet")
    reader = csv.reader(io.StringIO(decode_utf8(data, source), newline=""))
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        header = _checked_header(source, next(reader, []))
        for number, values in enumerate(reader, start=2):
            if number > MAX_ROWS:
                raise _too_many_rows(source)
            records.append((number, dict(zip(header, values, strict=False))))
    except csv.Error as error:
        raise _file_problem(source, reader.line_num, f"not readable as CSV: {error}") from None
    return records


def _xlsx_records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            # The sizes a zip declares are the most its reader will inflate, so they bound it.
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile:
        raise _file_problem(source, 0, "not an XLSX workbook (not a zip archive)") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise _file_problem(
            source,
            0,
            f"unpacks to {unpacked:,} bytes, more than {MAX_XLSX_UNPACKED_BYTES:,}; split the sheet",
        )
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook: one line says so
        raise _file_problem(source, 0, f"not a readable XLSX workbook: {excerpt(str(error))}") from None
    try:
        sheet = book.worksheets[0]
        declared = sheet.max_row  # from the sheet's <dimension>, when it has one: refused unread
        if declared is not None and declared > MAX_ROWS:
            raise _too_many_rows(source)
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        header = _checked_header(source, next(rows, ()))
        records: list[tuple[int, dict[str, Any]]] = []
        for number, values in enumerate(rows, start=2):
            if number > MAX_ROWS:
                raise _too_many_rows(source)
            records.append((number, dict(zip(header, values, strict=False))))
        return records
    finally:
        book.close()


def _integral(value: object) -> TypeGuard[float | str]:
    """A whole number as a spreadsheet stores it (7.0), or a string of digits."""
    whole_number = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    return whole_number or digits


def _coerce(row: dict[str, Any]) -> dict[str, Any]:
    coerced = {key: value.strip() if isinstance(value, str) else value for key, value in row.items()}
    for column in INTEGER_COLUMNS:
        value = coerced.get(column)
        if _integral(value):
            coerced[column] = int(value)
    return coerced


def _column_of(error: Any) -> str:
    if error.path:
        return str(error.path[0])
    match = re.match(r"'([^']+)' is a required property", error.message)
    if match:
        return match.group(1)
    match = re.search(r"\('([^']+)' was unexpected\)", error.message)
    return match.group(1) if match else "row"


def check_rows(
    rows: list[tuple[int, dict[str, Any]]],
    programmes: dict[str, Programme],
    source: str,
    store_legacy: set[tuple[str, str]],
    today: dt.date | None = None,
) -> list[RowProblem]:
    """Every problem of every row: the schema, then what a schema cannot say.

    ``today`` (default: the clock's) is the last day a date in a row may fall on.
    """
    problems: list[RowProblem] = []
    seen_legacy: dict[tuple[str, str], int] = {}
    today = today or dt.date.today()
    for number, raw in rows:
        row = _coerce(raw)
        errors = sorted(schema_errors(row, INTAKE_SCHEMA), key=lambda e: _column_of(e))
        for error in errors:
            column = _column_of(error)
            message = schema_message(error, withheld=column in IDENTITY_COLUMNS)
            problems.append(RowProblem(source, number, column, f"{message} (rule: {error.validator})"))
        if errors:
            continue
        programme = programmes.get(row["enterprise_id"])
        if programme is None:
            known = ", ".join(sorted(programmes)) or "none"
            problems.append(
                RowProblem(
                    source,
                    number,
                    "enterprise_id",
                    f"enterprise {excerpt(row['enterprise_id'])} is not registered (known: {known})",
                )
            )
            continue
        if row["site_id"] not in programme.sites:
            problems.append(
                RowProblem(
                    source,
                    number,
                    "site_id",
                    f"{programme.enterprise_id} has no site {excerpt(row['site_id'])}",
                )
            )
            continue
        dates = {}
        for column in ("notified_on", "assessed_on", "effective_on", "birth_date"):
            if column in row:
                try:
                    dates[column] = dt.date.fromisoformat(row[column])
                except ValueError:
                    shown = "the value" if column in IDENTITY_COLUMNS else excerpt(row[column])
                    problems.append(RowProblem(source, number, column, f"{shown} is not a calendar date"))
                    continue
                if dates[column] > today:
                    shown = "the date" if column in IDENTITY_COLUMNS else str(dates[column])
                    problems.append(RowProblem(source, number, column, f"{shown} is in the future"))
        if "assessed_on" in dates and dates["assessed_on"] < dates.get("notified_on", dates["assessed_on"]):
            problems.append(RowProblem(source, number, "assessed_on", "is before notified_on"))
        if (
            "effective_on" in dates
            and "assessed_on" in dates
            and dates["effective_on"] < dates["assessed_on"]
        ):
            problems.append(RowProblem(source, number, "effective_on", "is before assessed_on"))
        if "outcome" in row:
            minimum = programme.minimum_age_for(programme.site(row["site_id"]).country)
            young = row["outcome"] == "young_worker"
            if young != (row["age_years"] >= minimum):
                problems.append(
                    RowProblem(
                        source,
                        number,
                        "outcome",
                        f"{row['outcome']} does not fit age {row['age_years']} "
                        f"(minimum working age {minimum})",
                    )
                )
            if row["state"] == "school_reintegration" and young:
                problems.append(
                    RowProblem(source, number, "state", "a young worker gets young_worker_protection")
                )
            if row["state"] == "young_worker_protection" and not young:
                problems.append(
                    RowProblem(source, number, "state", "only a young worker gets young_worker_protection")
                )
        if "legacy_reference" in row:
            key = (row["enterprise_id"], str(row["legacy_reference"]))
            if key in seen_legacy:
                problems.append(
                    RowProblem(
                        source,
                        number,
                        "legacy_reference",
                        f"{excerpt(key[1])} already appears in row {seen_legacy[key]}",
                    )
                )
            elif key in store_legacy:
                problems.append(
                    RowProblem(source, number, "legacy_reference", f"{excerpt(key[1])} was imported before")
                )
            seen_legacy.setdefault(key, number)
    return problems


def import_cases(
    store: CaseStore,
    path: Path,
    actor: str,
    *,
    register: Sequence[Programme] = (),
    today: dt.date | None = None,
) -> list[str]:
    """Read the sheet, check every row, then import them all in one transaction; the new references."""
    return import_rows(store, read_rows(path), path, actor, register=register, today=today)


def import_rows(
    store: CaseStore,
    rows: list[tuple[int, dict[str, Any]]],
    path: Path,
    actor: str,
    *,
    register: Sequence[Programme] = (),
    today: dt.date | None = None,
) -> list[str]:
    """Register ``register``, check every row and import them all, in one transaction.

    A bad row raises :class:`IntakeInvalid` listing every problem, and nothing stays written:
    not the rows, nor the programmes registered for them.
    """
    if not rows:
        raise IntakeInvalid([RowProblem(str(path), 1, "file", "no rows to import")])
    with store.transaction() as session:
        for programme in register:
            repo.register_programme(session, programme, actor=actor)
        programmes = repo.registered_programmes(session)
        legacy = {
            (enterprise, reference)
            for enterprise, reference in session.execute(
                select(Case.enterprise_id, Case.legacy_reference).where(Case.legacy_reference.is_not(None))
            )
        }
        problems = check_rows(rows, programmes, str(path), legacy, today)
        if problems:
            raise IntakeInvalid(problems)
        return _write_rows(session, programmes, rows, path.name, actor)


def _start_of(calendar: SiteCalendar, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=calendar.zone)


@dataclass
class _Planned:
    """One checked row, with what the import writes for it and, once inserted, its case's id."""

    number: int
    row: dict[str, Any]
    programme: Programme
    calendar: SiteCalendar
    notified_at: dt.datetime
    actor: str
    #: Due dates and first ladder instants by programme, site, step and start, shared by every row
    #: of the sheet: rows share a few dates, and each is a walk over the site's working days.
    clocks: dict[tuple[Any, ...], tuple[dt.datetime, dt.datetime | None]]
    case_id: int = 0
    reference: str = ""
    milestone: dict[str, Any] | None = None


def _write_rows(
    session: Session,
    programmes: dict[str, Programme],
    rows: list[tuple[int, dict[str, Any]]],
    file_name: str,
    actor: str,
) -> list[str]:
    """Write the checked rows: cases, then what hangs on them, one bulk statement per table.

    The rows are those the per-case acts write (``repo.open_case``, ``record_child_identity``,
    ``cw.schedule_step`` and ``cw.schedule_visit``), audit rows in the same order per case.
    """
    now = utcnow()
    calendars: dict[tuple[str, str], SiteCalendar] = {}
    planned = []
    clocks: dict[tuple[Any, ...], tuple[dt.datetime, dt.datetime | None]] = {}
    for number, raw in rows:
        row = _coerce(raw)
        programme = programmes[row["enterprise_id"]]
        site_key = (programme.fingerprint, row["site_id"])
        calendar = calendars.get(site_key)
        if calendar is None:
            calendar = calendars[site_key] = SiteCalendar(programme.site(row["site_id"]))
        notified_at = _start_of(calendar, dt.date.fromisoformat(row["notified_on"]))
        planned.append(
            _Planned(
                number, row, programme, calendar, notified_at, f"{actor} ({file_name} row {number})", clocks
            )
        )

    # Ids are read back by a placeholder reference rather than with INSERT ... RETURNING:
    # SQLAlchemy keeps RETURNING rows in parameter order on SQLite by inserting a row or two at
    # a time and splicing each result into the last, which grows with the square of the rows.
    batch = f"pending-{uuid.uuid4().hex[:12]}-"
    insert_rows(
        session, Case, [_case_row(plan, f"{batch}{index}", now) for index, plan in enumerate(planned)]
    )
    inserted = session.execute(select(Case.reference, Case.id).where(Case.reference.startswith(batch)))
    case_ids = {reference: case_id for reference, case_id in inserted}
    for index, plan in enumerate(planned):
        plan.case_id = case_ids[f"{batch}{index}"]
        plan.reference = f"CL-{plan.notified_at.astimezone(dt.UTC).year}-{plan.case_id:06d}"
    update_rows(session, Case, "id", [{"id": plan.case_id, "reference": plan.reference} for plan in planned])

    assessments = [_assessment_row(plan) for plan in planned if "assessed_on" in plan.row]
    if assessments:
        insert_rows(session, Assessment, assessments)
    reintegrations = [_reintegration_row(plan, now) for plan in planned if "effective_on" in plan.row]
    if reintegrations:
        insert_rows(session, Reintegration, reintegrations)
    identities = [_identity_row(plan, now) for plan in planned if "full_name" in plan.row]
    if identities:
        insert_rows(session, ChildPersonalData, identities)

    milestones = [milestone for plan in planned if (milestone := _planned_milestone(plan)) is not None]
    if milestones:
        for milestone in milestones:
            milestone["created_at"] = now
        insert_rows(session, Milestone, milestones)
        by_key = {milestone["key"]: milestone for milestone in milestones}
        first, last = min(case_ids.values()), max(case_ids.values())
        for key, milestone_id in session.execute(
            select(Milestone.key, Milestone.id).where(Milestone.case_id.between(first, last))
        ):
            if key in by_key:  # the range may hold other imports' cases too
                by_key[key]["id"] = milestone_id
    insert_rows(session, AuditEvent, [event for plan in planned for event in _audit_rows(plan, now)])
    mail = _TaskMails(now)
    for plan in planned:
        if plan.milestone is not None and plan.milestone["kind"] == "follow_up_visit":
            mail.tell_case_manager(plan)
    insert_rows(session, OutboxMessage, mail.rows)
    return [plan.reference for plan in planned]


def _case_row(plan: _Planned, placeholder: str, now: dt.datetime) -> dict[str, Any]:
    row = plan.row
    return {
        "reference": placeholder,  # replaced once the id is known
        "enterprise_id": plan.programme.enterprise_id,
        "site_id": row["site_id"],
        "state": row["state"],
        "case_manager": row.get("case_manager"),
        "source": row["source"],
        "notified_at": plan.notified_at,
        "children_count": 1,
        "suspected_age": row.get("age_years"),
        "outcome": row.get("outcome"),
        "config_sha256": plan.programme.fingerprint,
        "legacy_reference": str(row["legacy_reference"]) if "legacy_reference" in row else None,
        "round": 1,
        "created_at": now,
        "updated_at": now,
        # An imported closed case's retention counts from its import: its real end is not known.
        "ended_at": now if row["state"] in ENDED_STATES else None,
    }


def _assessment_row(plan: _Planned) -> dict[str, Any]:
    return {
        "case_id": plan.case_id,
        "round": 1,
        "age_years": plan.row["age_years"],
        "age_verification": "imported",
        "outcome": plan.row["outcome"],
        "removed_from_work": True,
        "safe_place": True,
        "child_consent": True,
        "guardian_consent": True,
        "assessed_by": plan.actor,
        "assessed_at": _start_of(plan.calendar, dt.date.fromisoformat(plan.row["assessed_on"])),
    }


def _reintegration_row(plan: _Planned, now: dt.datetime) -> dict[str, Any]:
    young = plan.row.get("outcome") == "young_worker"
    return {
        "case_id": plan.case_id,
        "round": 1,
        "kind": "young_worker_protection" if young else "school_reintegration",
        "effective_on": dt.date.fromisoformat(plan.row["effective_on"]),
        "recorded_by": plan.actor,
        "recorded_at": now,
    }


def _identity_row(plan: _Planned, now: dt.datetime) -> dict[str, Any]:
    birth_date = plan.row.get("birth_date")
    return {
        "case_id": plan.case_id,
        "full_name": plan.row["full_name"].strip(),
        "birth_date": dt.date.fromisoformat(birth_date) if birth_date else None,
        "recorded_by": plan.actor,
        "recorded_at": now,
    }


def _planned_milestone(plan: _Planned) -> dict[str, Any] | None:
    """The milestone the case's stage waits on (None for a closed case), kept as ``plan.milestone``."""
    state = CaseState(plan.row["state"])
    programme, row = plan.programme, plan.row
    number: int | None = None
    if state is CaseState.CLOSED:
        return None
    if state is CaseState.MONITORING:
        step = "follow_up_visit"
        number = row.get("visits_done", 0) + 1
        planned_day = cw.visit_start(programme, dt.date.fromisoformat(row["effective_on"]), number)
        start = dt.datetime.combine(planned_day, dt.time(0, 0), tzinfo=plan.calendar.zone)
    else:
        step = state.value if state.value in programme.remediation_steps else "school_reintegration"
        if state is CaseState.ON_SITE_ASSESSMENT:
            start = plan.notified_at
        else:
            day = dt.date.fromisoformat(row.get("assessed_on", row["notified_on"]))
            start = _start_of(plan.calendar, day)
    rule = programme.step(step)
    clock_key = (programme.fingerprint, row["site_id"], step, start)
    if clock_key not in plan.clocks:
        due = plan.calendar.due(start, rule.deadline).due_at
        plan.clocks[clock_key] = (due, next_escalation_at(programme, plan.calendar, step, due, -1))
    due_at, first_level_at = plan.clocks[clock_key]
    suffix = f"/{number}" if number is not None else ""
    plan.milestone = {
        "key": f"{plan.reference}/r1/{step}{suffix}",
        "enterprise_id": programme.enterprise_id,
        "site_id": row["site_id"],
        "case_id": plan.case_id,
        "kind": step,
        "title": step_title("en", step) + (f" {number}" if number is not None else ""),
        "config_sha256": programme.fingerprint,
        "owner_role": str(rule.owner),
        "status": MilestoneStatus.OPEN,
        "due_at": due_at,
        "escalation_level": -1,
        "next_escalation_at": first_level_at,
    }
    return plan.milestone


def _audit_rows(plan: _Planned, now: dt.datetime) -> list[dict[str, Any]]:
    """The case's audit rows in the order the per-case acts write them."""

    def event(action: str, **fields: Any) -> dict[str, Any]:
        return {
            "actor": plan.actor,
            "action": action,
            "entity": "case",
            "entity_id": plan.reference,
            "case_id": plan.case_id,
            "reason": None,
            "details": {},
            "at": now,
        } | fields

    row = plan.row
    events = [
        event(
            "case_opened",
            details={
                "enterprise": plan.programme.enterprise_id,
                "site": row["site_id"],
                "source": row["source"],
            },
        ),
        event(
            "case_imported",
            reason="brought in from an earlier system",
            details={
                "state": row["state"],
                "legacy_reference": str(row["legacy_reference"]) if "legacy_reference" in row else None,
            },
        ),
    ]
    if "full_name" in row:
        events.append(event("child_identity_recorded"))
    if plan.milestone is not None:
        milestone = plan.milestone
        events.append(
            event(
                "milestone_created",
                entity="milestone",
                entity_id=str(milestone["id"]),
                details={
                    "key": milestone["key"],
                    "kind": milestone["kind"],
                    "due_at": milestone["due_at"].isoformat(),
                },
            )
        )
    return events


class _TaskMails:
    """The follow-up visits' task emails, as ``cw.schedule_visit`` sends them, as outbox rows.

    The same rows ``enqueue_task_mail`` adds one by one (no task links: an import issues none),
    gathered for one bulk insert; whom each reaches is worked out once per programme, site and
    case manager.
    """

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.rows: list[dict[str, Any]] = []
        self._readers: dict[tuple[str, str, str | None], dict[str, list[str]]] = {}

    def tell_case_manager(self, plan: _Planned) -> None:
        assert plan.milestone is not None
        programme, milestone = plan.programme, plan.milestone
        case_manager = plan.row.get("case_manager")
        key = (programme.fingerprint, milestone["site_id"], case_manager)
        if key not in self._readers:
            recipients = resolve_recipients(
                programme, [Role.CASE_MANAGER], case_manager, milestone["site_id"]
            )
            self._readers[key] = by_language(programme, recipients, milestone["site_id"])
        number = plan.row.get("visits_done", 0) + 1
        instructions = text("instr.follow_up_visit", number=number)
        for language, readers in self._readers[key].items():
            mail = task_mail(
                programme,
                reference=plan.reference,
                site_id=milestone["site_id"],
                step=milestone["kind"],
                instructions=instructions,
                due_at=milestone["due_at"],
                contact_role=Role.CASE_MANAGER,
                calendar_uid=f"{milestone['key']}@remediation-flows",
                language=language,
            )
            self.rows.append(
                {
                    "message_id": f"<{uuid.uuid4()}@{MESSAGE_ID_DOMAIN}>",
                    "kind": "task",
                    "enterprise_id": milestone["enterprise_id"],
                    "case_id": plan.case_id,
                    "milestone_id": milestone["id"],
                    "recipients": readers,
                    **mail.outbox_fields(),
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": self.now,
                    "created_at": self.now,
                }
            )
