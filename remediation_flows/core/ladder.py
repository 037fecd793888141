"""Escalation ladders in time: the instant each level of a milestone's ladder fires.

Offsets move the due instant by whole working days of the site, keeping the local
time of day: -2 fires two working days before the deadline, 3 three working days after.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import LadderLevel, Programme


@dataclass(frozen=True)
class LevelTime:
    """One ladder level and the instant it fires for a given due date."""

    index: int
    level: LadderLevel
    fires_at: dt.datetime

    @property
    def stage(self) -> str:
        if self.level.offset_working_days < 0:
            return "reminder"
        return "due" if self.level.offset_working_days == 0 else "overdue"


class Calendars:
    """Site calendars by programme version and site, each built once."""

    def __init__(self, programmes: dict[str, Programme]) -> None:
        #: Programmes by fingerprint (see :func:`remediation_flows.core.store.repository.programme_versions`).
        self.programmes = programmes
        self._calendars: dict[tuple[str, str], SiteCalendar] = {}

    def of(self, config_sha256: str, site_id: str) -> SiteCalendar:
        key = (config_sha256, site_id)
        if key not in self._calendars:
            self._calendars[key] = SiteCalendar(self.programmes[config_sha256].site(site_id))
        return self._calendars[key]


def ladder_schedule(
    programme: Programme, calendar: SiteCalendar, step: str, due_at: dt.datetime
) -> list[LevelTime]:
    """Every level of the step's ladder with the instant it fires, in ladder order."""
    return [
        LevelTime(index, level, calendar.shift_working_days(due_at, level.offset_working_days))
        for index, level in enumerate(programme.step(step).ladder)
    ]


def next_escalation_at(
    programme: Programme, calendar: SiteCalendar, step: str, due_at: dt.datetime, reached: int
) -> dt.datetime | None:
    """When the first level above ``reached`` fires, or None if the ladder is done."""
    for level in ladder_schedule(programme, calendar, step, due_at):
        if level.index > reached:
            return level.fires_at.astimezone(dt.UTC)
    return None
