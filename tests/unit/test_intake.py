"""Importing existing cases from CSV and XLSX: every bad row named, all or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from remediation_flows.cli import main
from remediation_flows.core.config import Role, load_programme_file
from remediation_flows.core.intake import IntakeInvalid, import_cases
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    Assessment,
    AuditEvent,
    Case,
    ChildPersonalData,
    Milestone,
    OutboxMessage,
    Reintegration,
)
from tests.conftest import EXAMPLES, years_before

HEADER = (
    "legacy_reference,enterprise_id,site_id,notified_on,source,state,outcome,age_years,assessed_on,"
    "effective_on,visits_done,full_name,birth_date"
)
GOOD = [
    "OLD-1,northwind-apparel,dhaka-knit-01,2026-03-02,audit,monitoring,child_labourer,13,2026-03-04,"
    "2026-04-01,2,Rina Akter,2013-01-09",
    "OLD-2,campos-del-pacifico,sinaloa-culiacan,2026-10-01,grievance_channel,remediation_plan,child_labourer,12,2026-10-03,,,,",
    "OLD-3,northwind-apparel,hcmc-sew-02,2026-11-20,brand,on_site_assessment,,,,,,,",
]


def write_csv(tmp_path, lines):
    path = tmp_path / "cases.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def run_import(store, path, capsys):
    configs = [
        "--config",
        str(EXAMPLES / "garment_brand.yaml"),
        "--config",
        str(EXAMPLES / "mexican_agro_exporter.yaml"),
    ]
    status = main(
        ["cases", "import", str(path), "--imported-by", "pm@ngo.example", "--url", store.url, *configs]
    )
    return status, capsys.readouterr()


def test_good_rows_are_imported_with_their_stage_milestones_and_audit(store, tmp_path, capsys):
    status, out = run_import(store, write_csv(tmp_path, GOOD), capsys)
    assert status == 0, out.err
    assert "imported 3 case(s)" in out.out
    with store.transaction() as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert [(c.legacy_reference, c.state) for c in cases] == [
            ("OLD-1", "monitoring"),
            ("OLD-2", "remediation_plan"),
            ("OLD-3", "on_site_assessment"),
        ]
        keys = sorted(session.scalars(select(Milestone.key)).all())
        assert keys == sorted(
            [
                f"{cases[0].reference}/r1/follow_up_visit/3",
                f"{cases[1].reference}/r1/remediation_plan",
                f"{cases[2].reference}/r1/on_site_assessment",
            ]
        )
        assert session.get(ChildPersonalData, cases[0].id).birth_date == dt.date(2013, 1, 9)
        imported = session.scalars(select(AuditEvent).where(AuditEvent.action == "case_imported")).all()
        assert len(imported) == 3 and all("row" in a.actor for a in imported)
    # The same sheet again: refused, nothing added.
    status, out = run_import(store, write_csv(tmp_path, GOOD), capsys)
    assert status == 2 and "row 2: legacy_reference: 'OLD-1' was imported before" in out.err


def test_every_bad_row_is_named_and_nothing_is_imported(store, tmp_path, capsys):
    bad = [
        GOOD[0],
        "OLD-4,northwind-apparel,dhaka-knit-01,2026-13-40,audit,monitoring,child_labourer,13,2026-03-04,2026-04-01,,,",
        "OLD-5,no-such-brand,x,2026-03-02,audit,on_site_assessment,,,,,,,",
        "OLD-6,northwind-apparel,dhaka-knit-01,2026-03-02,rumour,on_site_assessment,,,,,,,",
        "OLD-7,northwind-apparel,dhaka-knit-01,2026-03-02,audit,monitoring,child_labourer,13,2026-03-04,,,,",
        "OLD-8,northwind-apparel,dhaka-knit-01,2026-03-02,audit,remediation_plan,young_worker,12,2026-03-04,,,,",
        "OLD-1,northwind-apparel,dhaka-knit-01,2026-03-02,audit,on_site_assessment,,,,,,,",
    ]
    status, out = run_import(store, write_csv(tmp_path, bad), capsys)
    assert status == 2
    lines = out.err.splitlines()
    path = tmp_path / "cases.csv"
    assert f"{path}: row 3: notified_on: '2026-13-40' is not a calendar date" in lines
    assert any(
        line.startswith(f"{path}: row 4: enterprise_id: enterprise 'no-such-brand' is not registered")
        for line in lines
    )
    assert any(line.startswith(f"{path}: row 5: source: 'rumour' is not one of") for line in lines)
    assert f"{path}: row 6: effective_on: 'effective_on' is a required property (rule: required)" in lines
    assert any(line.startswith(f"{path}: row 7: outcome: young_worker does not fit age 12") for line in lines)
    assert f"{path}: row 8: legacy_reference: 'OLD-1' already appears in row 2" in lines
    assert lines[-1] == "remediate: 6 problem(s); nothing was imported"
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_xlsx_is_read_like_csv(store, tmp_path, capsys):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(
        [
            "OLD-9",
            "campos-del-pacifico",
            "michoacan-uruapan",
            dt.date(2026, 9, 1),
            "audit",
            "school_reintegration",
            "child_labourer",
            13,
            dt.date(2026, 9, 3),
        ]
    )
    path = tmp_path / "cases.xlsx"
    book.save(path)
    status, out = run_import(store, path, capsys)
    assert status == 0, out.err
    with store.transaction() as session:
        assert session.scalars(select(Case.state)).all() == ["school_reintegration"]


def register_examples(store) -> None:
    with store.transaction() as session:
        for name in ("garment_brand.yaml", "mexican_agro_exporter.yaml"):
            repo.register_programme(session, load_programme_file(EXAMPLES / name), actor="pm@ngo.example")


def imported(store) -> dict[str, int]:
    """How many rows of each kind an import writes; all zero when nothing was imported."""
    with store.transaction() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table))
            for table in (Case, Milestone, ChildPersonalData, OutboxMessage, Assessment, Reintegration)
        } | {
            "case_imported": session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case_imported")
            )
        }


def test_a_row_that_fails_while_being_written_leaves_nothing_imported(store, tmp_path, monkeypatch):
    """Every row passes the checks; the third fails while being written: the first two must go too.

    The import writes in bulk, table by table: by the time the third row's milestone fails,
    every case, assessment and identity row is already in the transaction.
    """
    from remediation_flows.core import intake

    register_examples(store)
    nothing = imported(store)
    assert set(nothing.values()) == {0}
    real_planned_milestone = intake._planned_milestone
    calls = {"n": 0}

    def fails_on_the_third_row(plan):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OperationalError("INSERT INTO milestones", {}, Exception("disk I/O error"))
        return real_planned_milestone(plan)

    monkeypatch.setattr(intake, "_planned_milestone", fails_on_the_third_row)
    with pytest.raises(OperationalError):
        import_cases(store, write_csv(tmp_path, GOOD), "pm@ngo.example")
    assert calls["n"] == 3  # the first two rows' milestones were planned before the third failed
    assert imported(store) == nothing

    # Nothing half-imported stands in the way: the same sheet imports whole once the fault is gone.
    monkeypatch.setattr(intake, "_planned_milestone", real_planned_milestone)
    assert len(import_cases(store, write_csv(tmp_path, GOOD), "pm@ngo.example")) == 3
    assert imported(store)["case_imported"] == 3


def test_a_date_after_today_is_refused_whatever_today_is(store, tmp_path, today):
    register_examples(store)
    tomorrow = today + dt.timedelta(days=1)
    rows = [
        f"OLD-20,northwind-apparel,dhaka-knit-01,{today},audit,on_site_assessment,,,,,,,",
        f"OLD-21,northwind-apparel,dhaka-knit-01,{tomorrow},audit,on_site_assessment,,,,,,,",
        f"OLD-22,campos-del-pacifico,sinaloa-culiacan,{today},audit,remediation_plan,child_labourer,12,"
        f"{tomorrow},,,Ana,{years_before(today, 12)}",
    ]
    path = write_csv(tmp_path, rows)
    with pytest.raises(IntakeInvalid) as refused:
        import_cases(store, path, "pm@ngo.example", today=today)
    assert [str(problem) for problem in refused.value.problems] == [
        f"{path}: row 3: notified_on: {tomorrow} is in the future",
        f"{path}: row 4: assessed_on: {tomorrow} is in the future",
    ]
    # The same sheet a day later is in the past: imported whole.
    assert len(import_cases(store, path, "pm@ngo.example", today=tomorrow)) == 3


def test_the_intake_schema_lists_exactly_the_case_sources():
    import json

    from remediation_flows.core.case_sources import CaseSource
    from remediation_flows.core.resources import schemas_dir

    schema = json.loads((schemas_dir() / "case_intake.schema.json").read_text(encoding="utf-8"))
    listed = schema["properties"]["source"]["enum"]
    assert sorted(listed) == sorted(source.value for source in CaseSource)


def test_an_imported_monitoring_case_tells_its_case_manager_as_a_scheduled_visit_does(
    store, tmp_path, capsys
):
    """The import writes the visit's task email in bulk; it must be the email enqueue_task_mail writes."""
    from remediation_flows.core.mail.i18n import words
    from remediation_flows.core.mail.render import task_mail

    status, out = run_import(store, write_csv(tmp_path, GOOD), capsys)
    assert status == 0, out.err
    garment = load_programme_file(EXAMPLES / "garment_brand.yaml")
    with store.transaction() as session:
        [mail] = session.scalars(select(OutboxMessage)).all()
        milestone = session.get(Milestone, mail.milestone_id)
        case = session.get(Case, mail.case_id)
        assert milestone.kind == "follow_up_visit" and case.legacy_reference == "OLD-1"
        assert mail.recipients == garment.emails_for([Role.CASE_MANAGER], "dhaka-knit-01")
        expected = task_mail(
            garment,
            reference=case.reference,
            site_id="dhaka-knit-01",
            step="follow_up_visit",
            instructions=words(garment.language)["instr.follow_up_visit"].format(number=3),
            due_at=milestone.due_at,
            contact_role=Role.CASE_MANAGER,
            calendar_uid=f"{milestone.key}@remediation-flows",
        )
        assert (mail.subject, mail.body_text, mail.body_html) == (
            expected.subject,
            expected.text,
            expected.html,
        )
        assert f"UID:{milestone.key}@remediation-flows" in mail.calendar_ics
        assert (mail.kind, mail.status, mail.attempts, mail.enterprise_id) == (
            "task",
            "pending",
            0,
            "northwind-apparel",
        )


def test_a_bad_row_deep_in_a_large_sheet_is_named_and_nothing_is_written(store, tmp_path):
    """40,000 good rows and one bad one at the end: the bad row is named by its number, and the
    rows before it (read, checked and ready for the bulk write) are not written."""
    register_examples(store)
    nothing = imported(store)
    good = GOOD[2].replace("OLD-3", "OLD-{n}")
    lines = [good.format(n=number) for number in range(2, 40_000)]
    lines.append(good.format(n=40_000).replace("2026-11-20", "2026-11-31"))  # no such day
    path = write_csv(tmp_path, lines)
    with pytest.raises(IntakeInvalid) as refused:
        import_cases(store, path, "pm@ngo.example")
    [problem] = refused.value.problems
    assert problem.row == 40_000 and problem.column == "notified_on"
    assert imported(store) == nothing
