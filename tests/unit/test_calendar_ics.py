"""The .ics entries, read back with a real iCalendar parser: due instant, summary, UID, method, validity."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.mail.calendar import calendar_entry
from remediation_flows.core.store.schema import Milestone, OutboxMessage

ACTOR = "lucia.fernandez@centro-mx.example"
CHILD = {"full_name": "Guadalupe Ramírez Soto", "school": "Escuela Primaria Benito Juárez"}


def parse(ics: str) -> tuple[icalendar.Calendar, icalendar.Event]:
    """The calendar and its one event, after checking the text is well-formed iCalendar (RFC 5545)."""
    assert ics.endswith("\r\n")
    lines = ics[: -len("\r\n")].split("\r\n")
    assert all("\n" not in line and "\r" not in line for line in lines), "bare line breaks"
    # Content lines are folded at 75 octets, not characters: a multi-byte summary must still fit.
    assert max(len(line.encode("utf-8")) for line in lines) <= 75
    calendar = icalendar.Calendar.from_ical(ics)
    calendar.validate()  # VERSION, PRODID and at least one component
    assert calendar.errors == []
    [event] = calendar.walk("VEVENT")
    assert event.errors == []
    for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
        assert required in event, required
    assert event.decoded("DTSTAMP").utcoffset() == dt.timedelta(0)
    return calendar, event


def test_an_entry_reads_back_as_written_whatever_its_characters():
    due = dt.datetime(2026, 12, 7, 23, 59, 59, tzinfo=ZoneInfo("Asia/Dhaka"))
    summary = "CL-2026-000123: 现场评估, 跟进探访; 补救计划 " * 3  # long and multi-byte: folded lines
    description = "Line one; with, commas\nline two \\ a backslash"
    calendar, event = parse(
        calendar_entry(
            uid="CL-2026-000123/r1/x@remediation-flows",
            summary=summary,
            description=description,
            due_at=due,
            sequence=2,
        )
    )
    assert str(calendar["METHOD"]) == "PUBLISH" and str(calendar["VERSION"]) == "2.0"
    assert str(event["UID"]) == "CL-2026-000123/r1/x@remediation-flows"
    assert str(event["SUMMARY"]) == summary and str(event["DESCRIPTION"]) == description
    assert event.decoded("SEQUENCE") == 2
    # The event ends at the due instant, written in UTC, and lasts 30 minutes.
    end, start = event.decoded("DTEND"), event.decoded("DTSTART")
    assert end.utcoffset() == dt.timedelta(0) and end == due
    assert end.isoformat() == "2026-12-07T17:59:59+00:00"
    assert end - start == dt.timedelta(minutes=30)
    [alarm] = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == -dt.timedelta(days=1)


def _notify(store, programme) -> str:
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id="sinaloa-culiacan",
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.GRIEVANCE_CHANNEL,
        suspected_age=13,
    )
    return cw.open_case(store, programme, notification, actor=ACTOR).reference


def _calendar_mails(store) -> list[tuple[OutboxMessage, Milestone]]:
    with store.transaction() as session:
        rows = session.execute(
            select(OutboxMessage, Milestone)
            .join(Milestone, Milestone.id == OutboxMessage.milestone_id)
            .where(OutboxMessage.calendar_ics.is_not(None))
            .order_by(OutboxMessage.id)
        ).all()
        session.expunge_all()
        return [(message, milestone) for message, milestone in rows]


def test_task_entries_end_at_the_milestones_due_instant_and_name_the_case_only(store, agro_exporter):
    reference = _notify(store, agro_exporter)
    today = dt.date.today()
    cw.identify_child(
        store, reference, actor=ACTOR, birth_date=today - dt.timedelta(days=13 * 365 + 100), **CHILD
    )
    _assess(store, reference, 13, cw.AgeVerification.SCHOOL_RECORDS)
    mails = _calendar_mails(store)
    assert {milestone.kind for _, milestone in mails} == {"on_site_assessment", "remediation_plan"}
    for message, milestone in mails:
        calendar, event = parse(message.calendar_ics)
        assert str(calendar["METHOD"]) == "PUBLISH"
        # iCalendar carries whole seconds; the entry may not show the deadline any later than it is.
        due = milestone.due_at.astimezone(dt.UTC).replace(microsecond=0)
        assert event.decoded("DTEND") == due and event.decoded("DTEND").utcoffset() == dt.timedelta(0)
        summary = str(event["SUMMARY"])
        assert summary.startswith(f"{reference}: ")
        for text in (summary, str(event["DESCRIPTION"]), message.calendar_ics):
            for secret in (*CHILD.values(), "Guadalupe", "Ramírez"):
                assert secret not in text


def test_the_uid_is_one_per_milestone_and_an_extension_updates_the_same_entry(store, agro_exporter):
    reference = _notify(store, agro_exporter)
    first = _calendar_mails(store)
    # The focal point's task and the case manager's task are the same deadline: one calendar entry.
    assert len(first) == 2
    uids = {str(parse(message.calendar_ics)[1]["UID"]) for message, _ in first}
    [milestone] = {m.key: m for _, m in first}.values()
    assert uids == {f"{milestone.key}@remediation-flows"}
    assert all(parse(message.calendar_ics)[1].decoded("SEQUENCE") == 0 for message, _ in first)

    view = cw.grant_extension(store, reference, "on_site_assessment", ACTOR, "road closed", working_days=2)
    [extension] = [(m, ms) for m, ms in _calendar_mails(store) if m.kind == "extension"]
    _, event = parse(extension[0].calendar_ics)
    assert str(event["UID"]) == f"{milestone.key}@remediation-flows"
    assert event.decoded("SEQUENCE") == 1  # a later version of the same entry replaces it
    new_due = view.milestone("on_site_assessment").due_at
    assert new_due > milestone.due_at
    assert event.decoded("DTEND") == new_due.astimezone(dt.UTC).replace(microsecond=0)

    # Another milestone of the case gets an entry of its own.
    _assess(store, reference, 14, cw.AgeVerification.BIRTH_CERTIFICATE)
    plan_uids = {
        str(parse(message.calendar_ics)[1]["UID"])
        for message, m in _calendar_mails(store)
        if m.kind == "remediation_plan"
    }
    assert plan_uids == {f"{reference}/r1/remediation_plan@remediation-flows"}


def _assess(store, reference: str, age: int, verification: cw.AgeVerification) -> None:
    """A child labourer's on-site assessment, removed from work with consent: the plan's task follows."""
    cw.record_assessment(
        store,
        reference,
        cw.AssessmentReport(
            age_years=age,
            age_verification=verification,
            outcome=cw.AssessmentOutcome.CHILD_LABOURER,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=ACTOR,
    )
