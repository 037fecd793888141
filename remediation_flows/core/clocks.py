"""Working-day clocks: when a deadline falls at a given site.

The rules, in the site's own time zone:

* **hours** are elapsed time. Nights, weekends and holidays do not pause them:
  the 72-hour on-site assessment is 72 hours after notification.
* **calendar days** end at the close of the N-th day after the start day
  (23:59:59 local time); the start day itself is not counted.
* **working days** end at the close of the N-th *working* day after the start
  day (23:59:59 local time); the start day is not counted, whatever the hour.

A day is a working day at a site when it is not one of the site's closure days,
not a public holiday of the site's country (and subdivision), and either falls
in the site's working week (by default the country's week, e.g. Sunday-Thursday
in Bangladesh) or is a weekend day that the country declares a working day
(make-up days in China and Viet Nam).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from remediation_flows.core.config.model import Duration, DurationUnit, Site
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.holiday_calendars import country_calendar

END_OF_DAY = dt.time(23, 59, 59)
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Reckoning:
    """A due instant (aware, in the site's zone) and how it was reckoned, line by line."""

    due_at: dt.datetime
    explanation: list[str] = field(default_factory=list)


class SiteCalendar:
    """The working calendar of one site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.zone = ZoneInfo(site.time_zone)
        self._public = country_calendar(site.country, site.subdivision)
        country_week = frozenset(range(7)) - frozenset(self._public.weekend)
        self.working_week = site.working_week if site.working_week is not None else country_week
        self._week_is_own = site.working_week is not None
        self._status: dict[dt.date, tuple[bool, str]] = {}

    def day_status(self, day: dt.date) -> tuple[bool, str]:
        """Whether ``day`` is a working day at the site, and why (for explanations)."""
        status = self._status.get(day)
        if status is None:
            status = self._status[day] = self._reckon_day(day)
        return status

    def _reckon_day(self, day: dt.date) -> tuple[bool, str]:
        for closure in self.site.closures:
            if closure.covers(day):
                return False, f"site closed: {closure.reason}"
        holiday = self._public.get(day)
        if holiday:
            return False, f"public holiday in {self.site.country}: {holiday}"
        if day.weekday() in self.working_week:
            return True, "working day"
        if day in self._public.weekend_workdays:
            return True, f"{_DAY_NAMES[day.weekday()]} declared a working day in {self.site.country}"
        owner = "the site's working week" if self._week_is_own else f"the working week in {self.site.country}"
        return False, f"not in {owner}"

    def is_working_day(self, day: dt.date) -> bool:
        """True when the site works on ``day``."""
        return self.day_status(day)[0]

    def local(self, instant: dt.datetime) -> dt.datetime:
        """``instant`` in the site's zone; a naive instant is taken as site-local time."""
        if instant.tzinfo is None:
            return instant.replace(tzinfo=self.zone)
        return instant.astimezone(self.zone)

    def due(self, start: dt.datetime, duration: Duration) -> Reckoning:
        """When a step of ``duration`` that starts at ``start`` is due, with the reckoning.

        :class:`InvalidInput` when the due instant would fall outside the years 1 to 9999,
        which is all a date can hold.
        """
        try:
            return self._due(start, duration)
        except OverflowError:
            raise InvalidInput(
                f"a deadline of {duration} from {start.isoformat()} falls outside the calendar "
                "(years 1 to 9999)"
            ) from None

    def _due(self, start: dt.datetime, duration: Duration) -> Reckoning:
        start = self.local(start)
        if duration.unit is DurationUnit.HOURS:
            due_at = (start.astimezone(dt.UTC) + dt.timedelta(hours=duration.amount)).astimezone(self.zone)
            return Reckoning(
                due_at,
                [
                    f"{duration} of elapsed time from {start.isoformat()}; "
                    "nights, weekends and holidays do not pause it"
                ],
            )
        if duration.unit is DurationUnit.CALENDAR_DAYS:
            last_day = start.date() + dt.timedelta(days=duration.amount)
            return Reckoning(
                self._end_of(last_day),
                [f"{duration} after {start.date()} (start day not counted), due at the close of {last_day}"],
            )
        explanation = [f"{duration} after {start.date()} (start day not counted) at {self.site.id}"]
        day, counted = start.date(), 0
        while counted < duration.amount:
            day += dt.timedelta(days=1)
            working, reason = self.day_status(day)
            if working:
                counted += 1
                suffix = "" if reason == "working day" else f" ({reason})"
                explanation.append(
                    f"counted {day} {_DAY_NAMES[day.weekday()]}: working day {counted}{suffix}"
                )
            else:
                explanation.append(f"skipped {day} {_DAY_NAMES[day.weekday()]}: {reason}")
        explanation.append(f"due at the close of working day {counted}, {day}")
        return Reckoning(self._end_of(day), explanation)

    def shift_working_days(self, instant: dt.datetime, days: int) -> dt.datetime:
        """``instant`` moved by ``days`` working days (negative: earlier), same local wall time."""
        local = self.local(instant)
        day, step, remaining = local.date(), (1 if days > 0 else -1), abs(days)
        while remaining:
            day += dt.timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return dt.datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=self.zone)

    def working_days_late(self, due_at: dt.datetime, as_of: dt.datetime) -> int:
        """How many working days have begun at the site since ``due_at`` (0 if not yet due)."""
        due_day, today = self.local(due_at).date(), self.local(as_of).date()
        late, day = 0, due_day
        while day < today:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                late += 1
        return late

    def _end_of(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, END_OF_DAY, tzinfo=self.zone)
