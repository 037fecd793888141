"""Whether the system runs by itself: the rules behind `remediate status`, free of Prefect.

Reading the Prefect API is ``remediation_flows/stack/status.py``'s part; here are the rules it applies (when a
scheduled deployment counts as late, which server log lines count as errors in the last hour),
the outbox backlog and the wording, all testable with an injected ``now``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from remediation_flows.core.statuses import OutboxStatus
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import OutboxMessage

ERROR_WINDOW = dt.timedelta(hours=1)
#: Enough for an hour of a Prefect server's log at its default level (warnings and errors).
LOG_TAIL_BYTES = 2_000_000

# Prefect's console format is "HH:MM:SS.mmm | LEVEL   | logger - message"; the embedded stack adds
# the date (remediation_flows/stack/embedded.py). Uvicorn's own lines are "ERROR:    message", with
# no time at all.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DATED = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:[.,]\d+)? \| (?P<level>[A-Z]+)\s*\|"
)
_TIMED = re.compile(r"^(?P<time>\d{2}:\d{2}:\d{2})(?:[.,]\d+)? \| (?P<level>[A-Z]+)\s*\|")
_UVICORN = re.compile(r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):\s")
_TRACEBACK = "Traceback (most recent call last):"
_ERROR_LEVELS = {"ERROR", "CRITICAL"}


def log_level(line: str) -> str | None:
    """The level of a Prefect or uvicorn log record's first line, or None for any other line."""
    clean = _ANSI.sub("", line.rstrip("\n"))
    match = _DATED.match(clean) or _TIMED.match(clean) or _UVICORN.match(clean)
    return match["level"] if match else None


def is_error_line(line: str) -> bool:
    """Whether ``line`` opens an ERROR or CRITICAL record or a traceback: what an operator must read."""
    return log_level(line) in _ERROR_LEVELS or _ANSI.sub("", line).lstrip().startswith(_TRACEBACK)


@dataclass(frozen=True)
class LogScan:
    """Errors the Prefect server logged within ``window`` before the scan."""

    errors: int
    latest: str | None
    window: dt.timedelta = ERROR_WINDOW


def scan_server_log(
    lines: Sequence[str],
    *,
    last_write: dt.datetime,
    now: dt.datetime,
    window: dt.timedelta = ERROR_WINDOW,
    zone: dt.tzinfo | None = None,
) -> LogScan:
    """Count the errors among a server log's ``lines`` that were written within ``window`` of ``now``.

    An error is a record at level ERROR or CRITICAL, or a traceback that no such record introduced;
    a traceback under an error record is that same error, counted once.

    Each line's time, in ``zone`` (the server's local time; default this machine's):

    - a line with a date and time has it;
    - a line with only a time of day (Prefect's default format) is dated from the end of the file
      backwards: the last write (the file's mtime, ``last_write``) is the newest possible moment,
      and each line is the latest moment at that time of day not after the line that follows it.
      This holds as long as consecutive lines are less than a day apart;
    - a line with no time (a traceback's lines, uvicorn's ``ERROR:`` lines) takes the time of the
      next line that has one, or ``last_write``: the latest it can have been written. An error is
      then reported rather than missed, at worst for an hour after the next line.
    """
    zone = zone or dt.datetime.now().astimezone().tzinfo
    clean = [_ANSI.sub("", line.rstrip("\n")) for line in lines]
    parsed: list[tuple[str | None, dt.datetime | None, dt.time | None]] = []  # level, full stamp, time
    for line in clean:
        if match := _DATED.match(line):
            dated = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(tzinfo=zone)
            parsed.append((match["level"], dated, None))
        elif match := _TIMED.match(line):
            parsed.append((match["level"], None, dt.time.fromisoformat(match["time"])))
        elif match := _UVICORN.match(line):
            parsed.append((match["level"], None, None))
        else:
            parsed.append((None, None, None))

    times: list[dt.datetime] = [last_write] * len(clean)
    later = last_write
    for index in range(len(clean) - 1, -1, -1):
        _, stamp, time_of_day = parsed[index]
        if stamp is None and time_of_day is not None:
            stamp = dt.datetime.combine(later.astimezone(zone).date(), time_of_day, tzinfo=zone)
            # The mtime has a second's grain at worst; a time of day later than that is yesterday's.
            if stamp > later + dt.timedelta(seconds=1):
                stamp -= dt.timedelta(days=1)
        if stamp is not None:
            later = stamp
        times[index] = later

    since = now - window
    errors = 0
    latest = None
    in_error = False
    for line, (level, _, _), at in zip(clean, parsed, times, strict=True):
        if level is not None:
            in_error = level in _ERROR_LEVELS
            found = in_error
        elif line.lstrip().startswith(_TRACEBACK):
            found = not in_error
            in_error = True
        else:
            found = False
        if found and at > since:
            errors += 1
            latest = line.strip()[:160]
    return LogScan(errors=errors, latest=latest, window=window)


def read_log_tail(path: Path, max_bytes: int = LOG_TAIL_BYTES) -> tuple[list[str], dt.datetime] | None:
    """The last lines of a log file (at most ``max_bytes``) and its last write; None if there is none."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - max_bytes))
            data = file.read()
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is cut
    return lines, modified


def missed_two_intervals(
    *,
    interval: dt.timedelta,
    last_started: dt.datetime | None,
    scheduled_since: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Whether a scheduled deployment has missed two of its intervals.

    ``last_started`` is when its last scheduled run that completed (or still runs) started;
    ``scheduled_since`` when its schedule was (re)created, i.e. the runner that serves it started.
    One late or failed run is not yet a problem; two in a row are. A schedule younger than two
    intervals has not had its chance yet.
    """
    reference = max(scheduled_since, last_started) if last_started else scheduled_since
    return now - reference > 2 * interval


@dataclass(frozen=True)
class Backlog:
    """The outbox as the dispatcher should keep it: little pending, nothing waiting long."""

    pending: int
    oldest_pending_at: dt.datetime | None
    failed: int


def outbox_backlog(store: CaseStore) -> Backlog:
    """Pending and failed emails in the case store, and since when the oldest pending one waits."""
    with store.reading() as session:
        pending, oldest = session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING
            )
        ).one()
        failed = session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.FAILED))
    return Backlog(pending=pending, oldest_pending_at=oldest, failed=failed or 0)


def age(delta: dt.timedelta) -> str:
    """A duration as a person says it: '45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass
class DeploymentStatus:
    """A scheduled deployment as the status sees it."""

    name: str
    found: bool = True
    paused: bool = False
    interval: dt.timedelta | None = None
    scheduled_since: dt.datetime | None = None
    last_state: str | None = None
    last_at: dt.datetime | None = None  # when the last run ended, or started if it still runs
    last_scheduled_start: dt.datetime | None = None

    def describe(self, now: dt.datetime) -> str:
        """'escalation-sweep: Completed 3 min ago (every 15 min)'."""
        if not self.found:
            return f"{self.name}: not deployed"
        if self.last_state is None:
            last = "has not run yet"
        elif self.last_at is None:
            last = self.last_state
        elif self.last_state == "Running":
            last = f"Running for {age(now - self.last_at)}"
        else:
            last = f"{self.last_state} {age(now - self.last_at)} ago"
        every = f"every {age(self.interval)}" if self.interval else "no schedule"
        return f"{self.name}: {last} ({every}{', paused' if self.paused else ''})"

    def problem(self, now: dt.datetime) -> str | None:
        """What is wrong with this deployment, in one line; None if nothing."""
        if not self.found:
            return f"{self.name}: not deployed on the Prefect server; are `remediate up`'s runners running?"
        if self.interval is None or self.scheduled_since is None:
            return None
        if self.paused:
            return f"{self.name} is paused, so its schedule does not run: resume it in the Prefect UI"
        if not missed_two_intervals(
            interval=self.interval,
            last_started=self.last_scheduled_start,
            scheduled_since=self.scheduled_since,
            now=now,
        ):
            return None
        if self.last_scheduled_start:
            since = f"its last completed scheduled run started {age(now - self.last_scheduled_start)} ago"
        else:
            waited = age(now - self.scheduled_since)
            since = f"no scheduled run has completed in the {waited} since its schedule began"
        return (
            f"{self.name} has missed two runs: {since}, and it runs every {age(self.interval)}; "
            "is its runner (remediate up's, or a worker) up, and do its runs fail?"
        )


@dataclass
class StackStatus:
    """Everything `remediate status` reports, and what of it is a problem."""

    now: dt.datetime
    api_url: str
    store_url: str
    deployments: list[DeploymentStatus]
    backlog: Backlog
    suspended: int
    mail_limit: dt.timedelta
    log: LogScan | None = None
    log_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per thing that is wrong; empty when the system runs by itself."""
        found = [problem for d in self.deployments if (problem := d.problem(self.now))]
        oldest = self.backlog.oldest_pending_at
        if oldest is not None and self.now - oldest > self.mail_limit:
            found.append(
                f"the oldest pending email has waited {age(self.now - oldest)}, longer than "
                f"{age(self.mail_limit)}: see `remediate outbox --status pending`"
            )
        if self.log is not None and self.log.errors:
            found.append(
                f"the Prefect server logged {self.log.errors} error(s) in the last {age(self.log.window)} "
                f"(see {self.log_path}); the latest: {self.log.latest}"
            )
        return found

    def _outbox(self) -> str:
        oldest = self.backlog.oldest_pending_at
        waited = f", oldest {age(self.now - oldest)}" if oldest is not None else ""
        return f"{self.backlog.pending} pending{waited}, {self.backlog.failed} failed"

    def _errors(self) -> str:
        if self.log is None:
            return "not known (no server log)"
        return f"{self.log.errors} in the last {age(self.log.window)}"

    def report(self) -> list[str]:
        """The full report, one fact per line."""
        lines = [f"Prefect API:  {self.api_url}", f"case store:   {self.store_url}"]
        lines += [f"  {deployment.describe(self.now)}" for deployment in self.deployments]
        lines.append(f"outbox:       {self._outbox()}")
        lines.append(f"suspended case-lifecycle runs (waiting for someone): {self.suspended}")
        lines.append(f"server errors: {self._errors()}" + (f" ({self.log_path})" if self.log_path else ""))
        lines += self.notes
        return lines

    def one_line(self) -> str:
        """The line `remediate up` prints every few minutes."""
        runs = "; ".join(deployment.describe(self.now) for deployment in self.deployments)
        problems = self.problems()
        verdict = f"PROBLEMS: {' | '.join(problems)}" if problems else "ok"
        return (
            f"[status {self.now.astimezone():%H:%M}] {runs}; outbox {self._outbox()}; "
            f"{self.suspended} suspended; server errors {self._errors()}; {verdict}"
        )
