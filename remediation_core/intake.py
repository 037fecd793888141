"""Bringing existing cases in from a spreadsheet (CSV or XLSX): every row checked, then all or nothing.

Each row follows schemas/case_intake.schema.json. Rows are numbered as a
spreadsheet numbers them (the header is row 1). An imported case enters the
store in the state the row gives, audited as imported, with the milestone its
stage is waiting on; a child's name and birth date, if the sheet has them, go
to the child's own table only.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from jsonschema import Draft202012Validator
from sqlalchemy import select

from remediation_core import casework as cw
from remediation_core.case_states import CaseState
from remediation_core.clocks import SiteCalendar
from remediation_core.config.loader import load_schema
from remediation_core.config.model import Programme
from remediation_core.errors import RemediationError
from remediation_core.store import repository as repo
from remediation_core.store.repository import CaseStore
from remediation_core.store.schema import Assessment, Case, Reintegration

INTAKE_SCHEMA = "case_intake.schema.json"
INTEGER_COLUMNS = ("age_years", "visits_done")
#: Columns of the child's identity: a problem with one is named, its value never repeated.
IDENTITY_COLUMNS = ("full_name", "birth_date")
ACTOR_PREFIX = "import"


@dataclass(frozen=True)
class RowProblem:
    source: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: row {self.row}: {self.column}: {self.message}"


class IntakeInvalid(RemediationError):
    """Rows break rules; nothing was imported. ``problems`` lists every one."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The sheet's rows as (row number, {column: value}), empty cells left out."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        header = [str(cell).strip() if cell is not None else "" for cell in (rows[0] if rows else [])]
        records = [dict(zip(header, values, strict=False)) for values in rows[1:]]
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = list(csv.DictReader(handle))
    else:
        raise IntakeInvalid([RowProblem(str(path), 0, "file", "expected a .csv or .xlsx file")])
    result = []
    for index, record in enumerate(records, start=2):
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
    validator = Draft202012Validator(load_schema(INTAKE_SCHEMA))
    problems: list[RowProblem] = []
    seen_legacy: dict[tuple[str, str], int] = {}
    today = today or dt.date.today()
    for number, raw in rows:
        row = _coerce(raw)
        errors = sorted(validator.iter_errors(row), key=lambda e: _column_of(e))
        for error in errors:
            column = _column_of(error)
            message = (
                f"does not follow the rule '{error.validator}' (its value is not shown: it is the child's)"
                if column in IDENTITY_COLUMNS
                else f"{error.message} (rule: {error.validator})"
            )
            problems.append(RowProblem(source, number, column, message))
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
                    f"enterprise '{row['enterprise_id']}' is not registered (known: {known})",
                )
            )
            continue
        if row["site_id"] not in programme.sites:
            problems.append(
                RowProblem(
                    source, number, "site_id", f"{programme.enterprise_id} has no site '{row['site_id']}'"
                )
            )
            continue
        dates = {}
        for column in ("notified_on", "assessed_on", "effective_on", "birth_date"):
            if column in row:
                try:
                    dates[column] = dt.date.fromisoformat(row[column])
                except ValueError:
                    shown = "it" if column in IDENTITY_COLUMNS else f"'{row[column]}'"
                    problems.append(RowProblem(source, number, column, f"{shown} is not a calendar date"))
                    continue
                if dates[column] > today:
                    shown = "it" if column in IDENTITY_COLUMNS else str(dates[column])
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
                        f"'{key[1]}' already appears in row {seen_legacy[key]}",
                    )
                )
            elif key in store_legacy:
                problems.append(
                    RowProblem(source, number, "legacy_reference", f"'{key[1]}' was imported before")
                )
            seen_legacy.setdefault(key, number)
    return problems


def import_cases(store: CaseStore, path: Path, actor: str, *, today: dt.date | None = None) -> list[str]:
    """Check every row, then import them all in one transaction; returns the new references."""
    rows = read_rows(path)
    if not rows:
        raise IntakeInvalid([RowProblem(str(path), 1, "file", "no rows to import")])
    with store.transaction() as session:
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
    references = []
    with store.transaction() as session:
        for number, raw in rows:
            row = _coerce(raw)
            references.append(
                _import_row(
                    session, programmes[row["enterprise_id"]], row, f"{actor} ({path.name} row {number})"
                )
            )
    return references


def _start_of(programme: Programme, site_id: str, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=SiteCalendar(programme.site(site_id)).zone)


def _import_row(session: Any, programme: Programme, row: dict[str, Any], actor: str) -> str:
    site_id = row["site_id"]
    notified_at = _start_of(programme, site_id, dt.date.fromisoformat(row["notified_on"]))
    case = repo.open_case(
        session,
        programme,
        site_id=site_id,
        notified_at=notified_at,
        source=row["source"],
        actor=actor,
        suspected_age=row.get("age_years"),
        case_manager=row.get("case_manager"),
    )
    case.legacy_reference = str(row["legacy_reference"]) if "legacy_reference" in row else None
    case.state = row["state"]
    case.outcome = row.get("outcome")
    repo.record_audit(
        session,
        actor=actor,
        action="case_imported",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        reason="brought in from an earlier system",
        details={"state": row["state"], "legacy_reference": case.legacy_reference},
    )
    if "assessed_on" in row:
        assessed = _start_of(programme, site_id, dt.date.fromisoformat(row["assessed_on"]))
        session.add(
            Assessment(
                case_id=case.id,
                round=1,
                age_years=row["age_years"],
                age_verification="imported",
                outcome=row["outcome"],
                removed_from_work=True,
                safe_place=True,
                child_consent=True,
                guardian_consent=True,
                assessed_by=actor,
                assessed_at=assessed,
            )
        )
    if "effective_on" in row:
        session.add(
            Reintegration(
                case_id=case.id,
                round=1,
                kind="young_worker_protection"
                if row.get("outcome") == "young_worker"
                else "school_reintegration",
                effective_on=dt.date.fromisoformat(row["effective_on"]),
                recorded_by=actor,
            )
        )
    if "full_name" in row:
        repo.record_child_identity(
            session,
            case,
            full_name=row["full_name"],
            actor=actor,
            birth_date=dt.date.fromisoformat(row["birth_date"]) if "birth_date" in row else None,
        )
    state = CaseState(row["state"])
    if state is CaseState.CLOSED:
        return case.reference
    if state is CaseState.MONITORING:
        effective = dt.date.fromisoformat(row["effective_on"])
        cw.schedule_visit(session, programme, case, effective, row.get("visits_done", 0) + 1, actor)
        return case.reference
    start = {
        CaseState.ON_SITE_ASSESSMENT: notified_at,
    }.get(state) or _start_of(
        programme, site_id, dt.date.fromisoformat(row.get("assessed_on", row["notified_on"]))
    )
    step = state.value if state.value in programme.remediation_steps else "school_reintegration"
    cw.schedule_step(session, programme, case, step, start, actor)
    return case.reference
