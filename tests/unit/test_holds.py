"""Clocks that can wait: a held milestone is not escalated; released, its deadline moves by the time held."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from remediation_flows.cli import HOLD_REASONS, main
from remediation_flows.core import casework as cw
from remediation_flows.core.board import overdue_board
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.escalation import sweep
from remediation_flows.core.holds import HoldReason, hold_history, hold_milestone, release_milestone
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import AuditEvent, Milestone, MilestoneEscalation, OutboxMessage
from tests.unit.test_escalation import setup_cases

DHAKA = ZoneInfo("Asia/Dhaka")
NOTE = "waiting for Rahima's mother to come back from Chittagong"  # a name: must stay in the store


def dhaka(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, 0, tzinfo=DHAKA)


def milestone_row(store, key: str) -> Milestone:
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        session.expunge(milestone)
        return milestone


def fired_levels(store, key: str) -> list[str]:
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        return list(
            session.scalars(
                select(MilestoneEscalation.level_name)
                .where(MilestoneEscalation.milestone_id == milestone.id)
                .order_by(MilestoneEscalation.id)
            )
        )


def audit_of(store, action: str) -> list[AuditEvent]:
    with store.transaction() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def test_a_held_milestone_is_not_escalated_and_resumes_its_remaining_working_days(store, garment_brand):
    # Follow-up visit: 5 working days from Tue 1 Dec at a Saturday-to-Thursday factory in Dhaka,
    # due at the close of Mon 7 Dec (see test_escalation).
    [key] = setup_cases(store, garment_brand, step="follow_up_visit")
    reference = key.split("/")[0]
    assert milestone_row(store, key).due_at == dt.datetime(2026, 12, 7, 23, 59, 59, tzinfo=DHAKA)

    view = hold_milestone(
        store,
        reference,
        "follow_up_visit",
        actor="li.wen@ngo.example",
        reason="guardian_away",
        note=NOTE,
        at=dhaka(3),
    )
    assert view.is_active and view.reason is HoldReason.GUARDIAN_AWAY
    held = milestone_row(store, key)
    assert held.held_since == dhaka(3) and held.next_escalation_at is None

    # Long past the old deadline and every ladder level: nothing fires while held.
    late = sweep(store, now=dhaka(20))
    assert late.escalations == [] and fired_levels(store, key) == []
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        [row] = overdue_board(session, dhaka(9).astimezone(dt.UTC))
    # The board shows the hold, and no lateness: the clock stopped before the deadline came.
    assert (row.on_hold, row.working_days_overdue) == ("since 2026-12-03: guardian away", 0)
    [case_milestone] = cw.case_view(store, reference).open_milestones
    assert case_milestone.on_hold == "since 2026-12-03: guardian away"

    # Released on Wed 9 Dec: Sat 5, Sun 6, Mon 7, Tue 8 and Wed 9 were held (Friday is the day off),
    # so the deadline moves 5 working days, from Mon 7 to Sun 13 Dec (Fri 11 off). Put the other
    # way: 3 working days remained at the hold (Sat 5, Sun 6, Mon 7); after Wed 9 they are Thu 10,
    # Sat 12, Sun 13.
    released = release_milestone(store, reference, "follow_up_visit", actor="li.wen@ngo.example", at=dhaka(9))
    assert released.held_for == "5 working days"
    after = milestone_row(store, key)
    assert after.due_at == dt.datetime(2026, 12, 13, 23, 59, 59, tzinfo=DHAKA)
    assert after.held_since is None
    # The ladder resumes from the new deadline: the reminder two working days before (Thu 10).
    assert after.next_escalation_at == dt.datetime(2026, 12, 10, 23, 59, 59, tzinfo=DHAKA)
    assert sweep(store, now=dhaka(10, 12)).escalations == []
    assert [e.level_name for e in sweep(store, now=dhaka(11)).escalations] == ["reminder"]

    [hold_audit] = audit_of(store, "milestone_held")
    [release_audit] = audit_of(store, "milestone_released")
    assert (hold_audit.actor, hold_audit.at, hold_audit.reason) == (
        "li.wen@ngo.example",
        dhaka(3),
        "guardian away",
    )
    assert (release_audit.actor, release_audit.at) == ("li.wen@ngo.example", dhaka(9))
    assert release_audit.details["from"] == dt.datetime(2026, 12, 7, 17, 59, 59, tzinfo=dt.UTC).isoformat()
    assert release_audit.details["to"] == dt.datetime(2026, 12, 13, 17, 59, 59, tzinfo=dt.UTC).isoformat()
    assert release_audit.details["held_for"] == "5 working days"

    # The enterprise hears of the new deadline as of an extension, with the reason's words only.
    with store.transaction() as session:
        [moved] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "extension")).all()
        assert "compliance@northwind-apparel.example" in moved.recipients
        assert "guardian away" in moved.body_text and "Dec 13, 2026" in moved.body_text  # English locale
        # The free-text note stays in the hold's own row: in no audit row, email or board.
        assert NOTE not in moved.body_text + (moved.body_html or "") + (moved.calendar_ics or "")
        for event in session.scalars(select(AuditEvent)):
            assert "Rahima" not in f"{event.reason} {event.details}"
    [history] = hold_history(store, reference)
    assert (history.released_at, history.due_at) == (dhaka(9), after.due_at)


def test_the_ladder_resumes_where_it_stood_and_fires_no_level_twice(store, garment_brand):
    [key] = setup_cases(store, garment_brand, step="follow_up_visit")
    reference = key.split("/")[0]
    assert [e.level_name for e in sweep(store, now=dhaka(6)).escalations] == ["reminder"]
    hold_milestone(
        store, reference, "follow_up_visit", actor="pm", reason="labour_office_not_answered", at=dhaka(6)
    )
    release_milestone(store, reference, "follow_up_visit", actor="pm", at=dhaka(8))  # Mon 7, Tue 8 held
    assert milestone_row(store, key).due_at == dt.datetime(2026, 12, 9, 23, 59, 59, tzinfo=DHAKA)
    # The reminder for the new date would be Mon 7, already past; it is not sent again. Next: due.
    assert sweep(store, now=dhaka(9, 12)).escalations == []
    assert [e.level_name for e in sweep(store, now=dhaka(10, 1)).escalations] == ["due"]
    assert fired_levels(store, key) == ["reminder", "due"]


def test_a_hold_on_an_hours_deadline_moves_it_by_the_elapsed_time(store, garment_brand):
    [key] = setup_cases(store, garment_brand, step="on_site_assessment")
    reference = key.split("/")[0]
    before = milestone_row(store, key).due_at  # 72 hours after notification
    start = dt.datetime(2026, 12, 2, 4, 0, tzinfo=dt.UTC)
    hold_milestone(store, reference, "on_site_assessment", actor="pm", reason="site_closed", at=start)
    view = release_milestone(
        store, reference, "on_site_assessment", actor="pm", at=start + dt.timedelta(hours=10, minutes=30)
    )
    assert view.held_for == "10.5 hours"
    assert milestone_row(store, key).due_at == before + dt.timedelta(hours=10, minutes=30)


def test_a_hold_placed_and_lifted_the_same_day_moves_nothing_and_sends_nothing(store, garment_brand):
    [key] = setup_cases(store, garment_brand, step="follow_up_visit")
    reference = key.split("/")[0]
    before = milestone_row(store, key).due_at
    hold_milestone(
        store, reference, "follow_up_visit", actor="pm", reason="school_term_not_started", at=dhaka(3, 9)
    )
    release_milestone(store, reference, "follow_up_visit", actor="pm", at=dhaka(3, 17))
    assert milestone_row(store, key).due_at == before
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_refusals_name_the_problem_and_change_nothing(store, garment_brand):
    [key] = setup_cases(store, garment_brand, step="follow_up_visit")
    reference = key.split("/")[0]
    with store.transaction() as session:
        audit_before = session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(InvalidInput, match="is not on hold"):
        release_milestone(store, reference, "follow_up_visit", actor="pm", at=dhaka(3))
    with pytest.raises(InvalidInput, match="hold reason 'bored' is not one of: school_term_not_started"):
        hold_milestone(store, reference, "follow_up_visit", actor="pm", reason="bored")
    with pytest.raises(InvalidInput, match="reason 'other' needs a note"):
        hold_milestone(store, reference, "follow_up_visit", actor="pm", reason="other")
    with pytest.raises(NotFound, match=r"no open 'closure' milestone \(open: follow_up_visit\)"):
        hold_milestone(store, reference, "closure", actor="pm", reason="guardian_away")
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    assert milestone_row(store, key).held_since is None

    hold_milestone(store, reference, "follow_up_visit", actor="pm", reason="guardian_away", at=dhaka(3))
    with pytest.raises(InvalidInput, match="is already on hold since"):
        hold_milestone(store, reference, "follow_up_visit", actor="pm", reason="site_closed", at=dhaka(4))
    with pytest.raises(InvalidInput, match="cannot end .* before it began"):
        release_milestone(store, reference, "follow_up_visit", actor="pm", at=dhaka(2))
    # An extension on a held milestone would be undone by the release: it is refused.
    with pytest.raises(InvalidInput, match="is on hold since .*release it before extending"):
        cw.grant_extension(store, reference, "follow_up_visit", "pm", "more time", working_days=2)
    assert len(audit_of(store, "milestone_held")) == 1 and audit_of(store, "deadline_extended") == []


def test_the_command_line_holds_and_releases(store, garment_brand, capsys):
    [key] = setup_cases(store, garment_brand, step="follow_up_visit")
    reference = key.split("/")[0]
    url = store.engine.url.render_as_string(False)
    hold = ["milestone", "hold", reference, "follow_up_visit", "--by", "li.wen@ngo.example", "--url", url]
    assert main([*hold, "--reason", "other"]) == 2
    assert "reason 'other' needs a note" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main([*hold, "--reason", "holiday"])
    assert refused.value.code == 2  # argparse names the choices
    assert main([*hold, "--reason", "school_term_not_started"]) == 0
    assert f"{key}: on hold since" in capsys.readouterr().out
    assert milestone_row(store, key).held_since is not None
    release = [
        "milestone",
        "release",
        reference,
        "follow_up_visit",
        "--by",
        "li.wen@ngo.example",
        "--url",
        url,
    ]
    assert main(release) == 0
    assert "released after 0 working days" in capsys.readouterr().out
    assert main(release) == 2
    assert "is not on hold" in capsys.readouterr().err


def test_the_command_line_offers_every_hold_reason():
    assert tuple(reason.value for reason in HoldReason) == HOLD_REASONS
