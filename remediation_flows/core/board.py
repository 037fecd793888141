"""The overdue board: open milestones past due or due within a week, soonest first.

A milestone on hold stays on the board, marked with its hold; its lateness is what it was
when the hold began, because its clock has stopped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.holds import active_holds, hold_label
from remediation_flows.core.ladder import Calendars
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store.repository import programme_versions
from remediation_flows.core.store.schema import Case, Milestone

BOARD_HORIZON = dt.timedelta(days=7)


@dataclass(frozen=True)
class BoardRow:
    due_at: dt.datetime
    due_local: str
    enterprise_id: str
    site_id: str
    reference: str
    milestone: str
    working_days_overdue: int
    escalation_level: str
    #: "" when the clock runs; else since when and why it waits, e.g. "since 2026-12-03: guardian away".
    on_hold: str = ""


@dataclass(frozen=True)
class MilestoneClock:
    """Where a milestone's clock stands at an instant, as the board and the inboxes show it."""

    due_local: str
    working_days_late: int
    escalation_level: str
    time_zone: str


def milestone_clock(calendars: Calendars, milestone: Milestone, as_of: dt.datetime) -> MilestoneClock:
    """The milestone's due date in site time, working days late at ``as_of`` and escalation level."""
    programme = calendars.programmes[milestone.config_sha256]
    calendar = calendars.of(milestone.config_sha256, milestone.site_id)
    ladder = programme.step(milestone.kind).ladder
    level = ladder[milestone.escalation_level].name if 0 <= milestone.escalation_level < len(ladder) else "-"
    # A held clock stopped when the hold began: lateness is reckoned up to then.
    clock_at = min(milestone.held_since, as_of) if milestone.held_since else as_of
    late = calendar.working_days_late(milestone.due_at, clock_at) if milestone.due_at <= clock_at else 0
    zone = calendar.site.time_zone
    return MilestoneClock(format_instant(milestone.due_at, zone), late, level, zone)


def overdue_board(
    session: Session, as_of: dt.datetime, horizon: dt.timedelta = BOARD_HORIZON
) -> list[BoardRow]:
    """Every open milestone due before ``as_of + horizon``, sorted by due date."""
    calendars = Calendars(programme_versions(session))
    rows = session.execute(
        select(Milestone, Case.reference)
        .outerjoin(Case, Case.id == Milestone.case_id)
        .where(Milestone.status == MilestoneStatus.OPEN, Milestone.due_at <= as_of + horizon)
        .order_by(Milestone.due_at, Milestone.id)
    ).all()
    holds = active_holds(session, [milestone.id for milestone, _ in rows])
    board = []
    for milestone, reference in rows:
        clock = milestone_clock(calendars, milestone, as_of)
        board.append(
            BoardRow(
                due_at=milestone.due_at,
                due_local=clock.due_local,
                enterprise_id=milestone.enterprise_id,
                site_id=milestone.site_id,
                reference=reference or milestone.key.split("/")[0],
                milestone=milestone.kind,
                working_days_overdue=clock.working_days_late,
                escalation_level=clock.escalation_level,
                on_hold=hold_label(holds.get(milestone.id), clock.time_zone),
            )
        )
    return board


BOARD_COLUMNS = (
    "due (site time)",
    "enterprise",
    "site",
    "case",
    "milestone",
    "working days overdue",
    "escalation",
    "on hold",
)


def board_table(rows: list[BoardRow]) -> list[tuple[str, ...]]:
    """The board as rows of text, in :data:`BOARD_COLUMNS` order."""
    return [
        (
            r.due_local,
            r.enterprise_id,
            r.site_id,
            r.reference,
            r.milestone,
            str(r.working_days_overdue),
            r.escalation_level,
            r.on_hold or "-",
        )
        for r in rows
    ]
