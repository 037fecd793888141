"""The escalation sweep on SQLite and PostgreSQL: each level once, concurrency, crashes, extensions."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from remediation_flows.core import escalation
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.escalation import sweep
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import AuditEvent, Milestone, MilestoneEscalation, OutboxMessage

NOTIFIED_AT = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)


def setup_cases(store, programme, count: int = 1, step: str = "follow_up_visit") -> list[str]:
    """Open ``count`` cases, each with one open milestone of ``step`` started at NOTIFIED_AT."""
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="setup")
    keys = []
    with store.transaction() as session:
        for _ in range(count):
            case = repo.open_case(
                session,
                programme,
                site_id="dhaka-knit-01",
                notified_at=NOTIFIED_AT,
                source="audit",
                actor="pm",
                case_manager="an.nguyen@ngo.example",
            )
            due_at = repo.reckon_step(programme, "dhaka-knit-01", step, NOTIFIED_AT).due_at
            milestone, _ = repo.add_milestone(
                session,
                programme,
                key=f"{case.reference}/r1/{step}",
                site_id="dhaka-knit-01",
                step=step,
                title=step,
                due_at=due_at,
                actor="flow",
                case=case,
            )
            keys.append(milestone.key)
    return keys


def counts(store) -> tuple[int, int]:
    """How many ladder levels have fired (emailed or passed in the same sweep), and how many emails."""
    with store.transaction() as session:
        return (
            sum(len(firing.levels) for firing in session.scalars(select(MilestoneEscalation))),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
        )


def levels_fired(session) -> list[tuple[str, bool]]:
    """Every level fired, in the order the sweeps fired them, each with whether it was emailed."""
    firings = session.scalars(select(MilestoneEscalation).order_by(MilestoneEscalation.id))
    return [level for firing in firings for level in firing.levels]


def test_ladder_fires_each_level_once_with_mail_to_the_right_roles(store, garment_brand):
    [key] = setup_cases(store, garment_brand)
    calendar = SiteCalendar(garment_brand.site("dhaka-knit-01"))
    with store.transaction() as session:
        due_at = repo.get_milestone(session, key).due_at
    # Five working days from Tue 1 Dec at a six-day factory: due at the close of Mon 7 Dec, Dhaka time.
    assert due_at.astimezone(calendar.zone).isoformat() == "2026-12-07T23:59:59+06:00"
    reminder_at = calendar.shift_working_days(due_at, -2)  # Sunday 6, then Saturday 5 December
    assert reminder_at.date() == dt.date(2026, 12, 5)

    assert sweep(store, now=reminder_at - dt.timedelta(seconds=1)).escalations == []
    first = sweep(store, now=reminder_at)
    assert [(e.level_name, e.stage) for e in first.escalations] == [("reminder", "reminder")]
    assert sweep(store, now=reminder_at).escalations == []  # nothing twice

    with store.transaction() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
        # The case's assigned case manager stands in for the role; the Dhaka site's own focal point is
        # told, and the Viet Nam site's is not (issue 13: per-site contacts).
        assert message.recipients == [
            "an.nguyen@ngo.example",
            "compliance@northwind-apparel.example",
        ]
        assert message.subject.startswith("[CL-2026-")
        # The due date as the English locale writes it (CLDR puts a narrow no-break space before PM).
        assert "Reminder: Follow-up visit is due Dec 7, 2026, 11:59\u202fPM" in message.subject

    # Eight working days late: due, program-manager and director have all come; only the top one mails.
    late = calendar.shift_working_days(due_at, 8)
    result = sweep(store, now=late)
    assert [(e.level_name, e.working_days_late) for e in result.escalations] == [("director", 8)]
    with store.transaction() as session:
        assert levels_fired(session) == [
            ("reminder", True),
            ("due", False),
            ("program-manager", False),
            ("director", True),
        ]
        # One row per firing: the second sweep's three levels are one row, emailed at the top.
        assert session.scalar(select(func.count()).select_from(MilestoneEscalation)) == 2
        director_mail = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
        assert director_mail.recipients == ["director@ngo.example"]
        assert "Overdue by 8 working day(s)" in director_mail.subject
        milestone = repo.get_milestone(session, key)
        assert milestone.escalation_level == 3 and milestone.next_escalation_at is None
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "milestone_escalated")).all()
        assert [a.details["levels"] for a in audit] == [["reminder"], ["due", "program-manager", "director"]]
    assert sweep(store, now=late + dt.timedelta(days=30)).escalations == []
    assert counts(store) == (4, 2)


def test_done_milestone_does_not_escalate(store, garment_brand):
    [key] = setup_cases(store, garment_brand)
    with store.transaction() as session:
        repo.complete_milestone(session, repo.get_milestone(session, key), actor="cm")
    assert sweep(store, now=NOTIFIED_AT + dt.timedelta(days=60)).escalations == []


def test_extension_restarts_the_ladder_from_the_new_date(store, garment_brand):
    [key] = setup_cases(store, garment_brand)
    with store.transaction() as session:
        due_at = repo.get_milestone(session, key).due_at
    sweep(store, now=due_at + dt.timedelta(hours=1))
    assert counts(store) == (2, 1)  # reminder recorded, due notified
    new_due = due_at + dt.timedelta(days=14)
    with store.transaction() as session:
        repo.extend_deadline(
            session,
            garment_brand,
            repo.get_milestone(session, key),
            new_due,
            actor="pm",
            reason="school holiday",
        )
    assert sweep(store, now=due_at + dt.timedelta(days=2)).escalations == []
    restarted = sweep(store, now=new_due + dt.timedelta(hours=1))
    assert [e.level_name for e in restarted.escalations] == ["due"]
    assert counts(store) == (4, 2)


def test_crash_mid_sweep_loses_nothing_and_duplicates_nothing(store, garment_brand, monkeypatch):
    setup_cases(store, garment_brand, count=5)
    as_of = NOTIFIED_AT + dt.timedelta(days=40)
    real_mail = escalation.escalation_mail
    calls = {"n": 0}

    def failing_mail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("process killed")
        return real_mail(*args, **kwargs)

    monkeypatch.setattr(escalation, "escalation_mail", failing_mail)
    with pytest.raises(RuntimeError):
        sweep(store, now=as_of, batch_size=2)
    assert counts(store) == (8, 2)  # the first batch committed whole; the second rolled back whole
    monkeypatch.setattr(escalation, "escalation_mail", real_mail)
    assert len(sweep(store, now=as_of, batch_size=2).escalations) == 3
    assert counts(store) == (20, 5)
    assert sweep(store, now=as_of).escalations == []


def test_a_batch_whose_writes_fail_is_rolled_back_whole_and_no_later_batch_is_written(
    store, garment_brand, monkeypatch
):
    # A failure in a batch's bulk writes (not in working it out) loses that batch whole and stops the
    # sweep: the next sweep finds its milestones still due.
    setup_cases(store, garment_brand, count=5)
    as_of = NOTIFIED_AT + dt.timedelta(days=40)
    real_insert = escalation.insert_rows
    outbox_inserts = {"n": 0}

    def failing_insert(session, table, rows):
        if table is escalation.OutboxMessage:
            outbox_inserts["n"] += 1
            if outbox_inserts["n"] == 2:
                raise RuntimeError("the database went away")
        return real_insert(session, table, rows)

    monkeypatch.setattr(escalation, "insert_rows", failing_insert)
    with pytest.raises(RuntimeError, match="went away"):
        sweep(store, now=as_of, batch_size=2)
    assert counts(store) == (8, 2)  # the first batch whole; nothing of the second nor the third
    assert outbox_inserts["n"] == 2
    monkeypatch.setattr(escalation, "insert_rows", real_insert)
    assert len(sweep(store, now=as_of, batch_size=2).escalations) == 3
    assert counts(store) == (20, 5)


# SQLite has one writer at a time: its batches go one after the other.
@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_on_postgresql_the_next_batch_is_worked_out_while_the_last_is_written(
    store, garment_brand, monkeypatch
):
    # Working a batch out is Python's work and writing it the database's: on PostgreSQL they overlap.
    # The first batch's write waits until the second batch has taken its rows; one after the other,
    # that never happens. Each batch still commits whole, and each level fires once.
    assert store.engine.dialect.name == "postgresql"
    setup_cases(store, garment_brand, count=5)
    as_of = NOTIFIED_AT + dt.timedelta(days=40)
    real_batch, real_write = escalation._sweep_batch, escalation._BatchWrites.write
    second_batch_taken = threading.Event()
    overlapped = []
    batches = {"n": 0}

    def counting_batch(*args, **kwargs):
        fetched, writes = real_batch(*args, **kwargs)
        batches["n"] += 1
        if batches["n"] == 2:
            second_batch_taken.set()
        return fetched, writes

    def waiting_write(self, session):
        if not overlapped:
            overlapped.append(second_batch_taken.wait(timeout=10))
        real_write(self, session)

    monkeypatch.setattr(escalation, "_sweep_batch", counting_batch)
    monkeypatch.setattr(escalation._BatchWrites, "write", waiting_write)
    result = sweep(store, now=as_of, batch_size=2)
    assert overlapped == [True]
    assert len(result.escalations) == 5
    assert counts(store) == (20, 5)
    assert sweep(store, now=as_of, batch_size=2).escalations == []


def test_two_sweeps_at_once_send_each_level_exactly_once(store, garment_brand):
    setup_cases(store, garment_brand, count=40)
    as_of = NOTIFIED_AT + dt.timedelta(days=40)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(sweep(store, now=as_of, batch_size=5))
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(r.escalations) for r in results) == 40
    assert counts(store) == (160, 40)
    with store.transaction() as session:
        levels = session.scalar(
            select(func.count(func.distinct(Milestone.id))).where(Milestone.escalation_level == 3)
        )
        assert levels == 40


def test_overdue_board_sorted_with_working_days_late_and_level(store, garment_brand, capsys):
    keys = setup_cases(store, garment_brand, count=2, step="follow_up_visit")
    [assessment_key] = setup_cases(store, garment_brand, count=1, step="on_site_assessment")
    [far_key] = setup_cases(store, garment_brand, count=1, step="school_reintegration")
    with store.transaction() as session:
        due = repo.get_milestone(session, keys[0]).due_at  # close of Mon 7 Dec, Dhaka
        repo.complete_milestone(session, repo.get_milestone(session, keys[1]), actor="cm")
    as_of = dt.datetime(2026, 12, 10, 6, 0, tzinfo=dt.UTC)  # Thu 10 Dec, noon in Dhaka
    sweep(store, now=as_of)
    from remediation_flows.core.board import overdue_board

    with store.transaction() as session:
        rows = overdue_board(session, as_of)
    assert [(r.milestone, r.working_days_overdue, r.escalation_level) for r in rows] == [
        ("on_site_assessment", 6, "director"),  # due Fri 4 Dec 10:00 Dhaka; 5, 6, 7, 8, 9, 10 Dec worked
        # 8, 9 and 10 Dec have begun; the program manager's level fires at the close of the 10th.
        ("follow_up_visit", 3, "due"),
    ]
    assert rows[1].due_at == due
    assert far_key not in {r.reference for r in rows} and assessment_key.startswith(rows[0].reference)

    from remediation_flows.cli import main

    assert (
        main(["overdue", "--as-of", as_of.isoformat(), "--url", store.engine.url.render_as_string(False)])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["due", "(site", "time)"]
    assert "on_site_assessment" in out[2] and "follow_up_visit" in out[3] and len(out) == 4


def milestone_state(store) -> list[tuple]:
    with store.transaction() as session:
        return session.execute(
            select(Milestone.key, Milestone.escalation_level, Milestone.next_escalation_at).order_by(
                Milestone.id
            )
        ).all()


def test_a_sweep_ahead_of_the_present_is_a_preview_that_writes_nothing(store, garment_brand):
    setup_cases(store, garment_brand, count=3)
    before = milestone_state(store)
    with store.transaction() as session:
        audit_rows = session.scalar(select(func.count()).select_from(AuditEvent))
    present = NOTIFIED_AT  # the clock: nothing is due yet
    ahead = NOTIFIED_AT + dt.timedelta(days=40)

    previewed = sweep(store, ahead, now=present, batch_size=2)  # paged, to cross batch boundaries
    assert previewed.preview
    assert [e.level_name for e in previewed.escalations] == ["director"] * 3
    assert previewed.escalations[0].recipients == ("director@ngo.example",)
    assert counts(store) == (0, 0)
    assert milestone_state(store) == before
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows

    # The same instant, once it is the present, writes.
    written = sweep(store, ahead, now=ahead)
    assert not written.preview and len(written.escalations) == 3
    assert counts(store) == (12, 3)


def test_a_programme_version_registered_after_the_sweep_began_still_escalates(
    store, garment_brand, monkeypatch
):
    [key] = setup_cases(store, garment_brand)
    # As if the sweep had read the versions before this one was registered.
    monkeypatch.setattr(escalation, "programme_versions", lambda session: {})
    repo._VERSIONS.clear()
    result = sweep(store, now=NOTIFIED_AT + dt.timedelta(days=40))
    assert [e.milestone_key for e in result.escalations] == [key] and result.skipped == []


def test_a_milestone_the_sweep_cannot_place_is_reported_once_and_retried(store, garment_brand):
    [key] = setup_cases(store, garment_brand)
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        milestone.site_id = "closed-site"  # no such site in its programme version
        next_at = milestone.next_escalation_at
    as_of = NOTIFIED_AT + dt.timedelta(days=40)

    first = sweep(store, now=as_of)
    assert first.escalations == [] and len(first.skipped) == 1
    assert key in first.skipped[0] and "closed-site" in first.skipped[0]
    second = sweep(store, now=as_of + dt.timedelta(minutes=15))
    assert len(second.skipped) == 1  # tried again, not dropped
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        assert milestone.next_escalation_at == next_at and milestone.escalation_level == -1
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == escalation.UNPLACEABLE_ACTION)
        ).all()
        assert [a.entity_id for a in audit] == [str(milestone.id)]  # once, not once per sweep
        [alert] = session.scalars(select(OutboxMessage)).all()
        assert alert.kind == "escalation_unplaceable" and alert.recipients == ["li.wen@ngo.example"]
        assert key in alert.subject
        milestone.site_id = "dhaka-knit-01"  # the programme is put right
    fixed = sweep(store, now=as_of + dt.timedelta(minutes=30))
    assert [e.milestone_key for e in fixed.escalations] == [key]


def ladder_position(store, key: str) -> tuple[int, dt.datetime | None]:
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        return milestone.escalation_level, milestone.next_escalation_at


def set_ladder_position(store, key: str, position: tuple[int, dt.datetime | None]) -> None:
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        milestone.escalation_level, milestone.next_escalation_at = position


def test_a_stale_sweep_cannot_resend_a_level(store, garment_brand):
    """Two sweeps: one read the milestone before the other advanced it. The unique key stops the stale one."""
    [key] = setup_cases(store, garment_brand)
    calendar = SiteCalendar(garment_brand.site("dhaka-knit-01"))
    with store.transaction() as session:
        due_at = repo.get_milestone(session, key).due_at
    as_read_by_the_stale_sweep = ladder_position(store, key)
    assert as_read_by_the_stale_sweep[0] == -1
    sweep(store, now=due_at + dt.timedelta(hours=1))
    assert counts(store) == (2, 1)  # reminder recorded, due recorded and sent
    advanced = ladder_position(store, key)
    assert advanced[0] == 1

    # The stale sweep acts on what it read: no level fired yet. An hour later it would record
    # reminder and due again, and mail due's people a second time.
    set_ladder_position(store, key, as_read_by_the_stale_sweep)
    with pytest.raises(IntegrityError):
        sweep(store, now=due_at + dt.timedelta(hours=2))
    assert counts(store) == (2, 1)  # the whole batch rolled back: nothing recorded or sent twice
    with store.transaction() as session:
        assert levels_fired(session) == [("reminder", False), ("due", True)]
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "milestone_escalated")
            )
            == 1
        )

    # The sweep that reads the milestone as it is fires only what has not fired.
    set_ladder_position(store, key, advanced)
    late = calendar.shift_working_days(due_at, 8)
    assert [e.level_name for e in sweep(store, now=late).escalations] == ["director"]
    assert counts(store) == (4, 2)


def test_the_store_refuses_a_level_recorded_twice_for_one_due_date(store, garment_brand):
    [key] = setup_cases(store, garment_brand)
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        row = {
            "milestone_id": milestone.id,
            "level_index": 1,
            "level_name": "due",
            "due_at": milestone.due_at,
        }
        session.add(MilestoneEscalation(**row, fired_at=milestone.due_at))
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(MilestoneEscalation(**row, fired_at=milestone.due_at + dt.timedelta(minutes=15)))
    # After an extension the same level fires again: the due date is part of the key.
    with store.transaction() as session:
        session.add(
            MilestoneEscalation(
                **(row | {"due_at": row["due_at"] + dt.timedelta(days=7)}), fired_at=row["due_at"]
            )
        )
    assert counts(store) == (2, 0)


def test_the_case_artifact_names_the_level_reached(store, garment_brand):
    from remediation_flows.core import casework as cw
    from remediation_flows.flows.remediation.artifacts import case_markdown

    [key] = setup_cases(store, garment_brand)
    reference = key.split("/")[0]
    row = next(
        line
        for line in case_markdown(cw.case_view(store, reference)).splitlines()
        if "| case manager |" in line
    )
    assert "| none yet |" in row
    with store.transaction() as session:
        due_at = repo.get_milestone(session, key).due_at
    sweep(store, now=SiteCalendar(garment_brand.site("dhaka-knit-01")).shift_working_days(due_at, 8))
    markdown = case_markdown(cw.case_view(store, reference))
    # It said "none" after the director had been emailed.
    assert "| director, 4 of 4 |" in markdown, markdown


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0016_folds_the_passed_levels_into_the_emailed_row_and_back(
    backend, garment_brand, tmp_path
):
    """Ladder history written before 0016 (a row per level) reads the same after it (a row per firing)."""
    from alembic import command

    from remediation_flows.core.store import CaseStore
    from remediation_flows.core.store.database import alembic_config
    from tests.conftest import migrated_database

    with migrated_database(backend, tmp_path) as url:
        store = CaseStore(url)
        try:
            [key] = setup_cases(store, garment_brand)
            calendar = SiteCalendar(garment_brand.site("dhaka-knit-01"))
            with store.transaction() as session:
                due_at = repo.get_milestone(session, key).due_at
            sweep(store, now=calendar.shift_working_days(due_at, -2))  # the reminder alone
            sweep(store, now=calendar.shift_working_days(due_at, 8))  # due and program-manager passed
            with store.transaction() as session:
                before = levels_fired(session)
        finally:
            store.dispose()
        assert before == [("reminder", True), ("due", False), ("program-manager", False), ("director", True)]

        command.downgrade(alembic_config(url), "0015")
        store = CaseStore(url)
        try:
            with store.engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "SELECT level_index, level_name, notified FROM milestone_escalations ORDER BY level_index"
                ).all()
        finally:
            store.dispose()
        assert [(index, name, bool(notified)) for index, name, notified in rows] == [
            (0, "reminder", True),
            (1, "due", False),
            (2, "program-manager", False),
            (3, "director", True),
        ]

        command.upgrade(alembic_config(url), "head")
        store = CaseStore(url)
        try:
            with store.transaction() as session:
                assert levels_fired(session) == before
                assert session.scalar(select(func.count()).select_from(MilestoneEscalation)) == 2
            # The ladder goes on from where it was: nothing fires twice.
            assert sweep(store, now=calendar.shift_working_days(due_at, 9)).escalations == []
        finally:
            store.dispose()
