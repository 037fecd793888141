"""The rules of `remediate status`: late schedules, server log errors, the outbox backlog, the wording."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from remediation_flows.cli import main
from remediation_flows.core.status import (
    Backlog,
    DeploymentStatus,
    LogScan,
    StackStatus,
    age,
    missed_two_intervals,
    outbox_backlog,
    read_log_tail,
    scan_server_log,
)
from remediation_flows.core.store import upgrade_schema
from remediation_flows.core.store.schema import OutboxMessage

NOW = dt.datetime(2026, 11, 25, 0, 20, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
QUARTER = dt.timedelta(minutes=15)


# --- missed two intervals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_started", "scheduled_since", "late"),
    [
        (None, NOW - 29 * MINUTE, False),  # up less than two intervals: not late yet
        (None, NOW - 31 * MINUTE, True),  # up longer, and no scheduled run has worked
        (NOW - 29 * MINUTE, NOW - 5 * 60 * MINUTE, False),  # one run missed is not yet a problem
        (NOW - 31 * MINUTE, NOW - 5 * 60 * MINUTE, True),  # two missed
        (NOW - 30 * MINUTE, NOW - 5 * 60 * MINUTE, False),  # exactly two intervals: on the edge, not late
        # A run from before the runner restarted: the schedule's start counts.
        (NOW - 3 * 60 * MINUTE, NOW - 10 * MINUTE, False),
        (NOW - 3 * 60 * MINUTE, NOW - 40 * MINUTE, True),
    ],
)
def test_a_schedule_is_late_after_two_missed_intervals(last_started, scheduled_since, late):
    assert (
        missed_two_intervals(
            interval=QUARTER, last_started=last_started, scheduled_since=scheduled_since, now=NOW
        )
        is late
    )


def test_a_late_deployment_says_what_is_wrong_and_a_paused_one_too():
    sweep = DeploymentStatus(
        name="escalation-sweep",
        interval=QUARTER,
        scheduled_since=NOW - 60 * MINUTE,
        last_state="Failed",
        last_at=NOW - 2 * MINUTE,
        last_scheduled_start=NOW - 45 * MINUTE,
    )
    problem = sweep.problem(NOW)
    assert problem.startswith("escalation-sweep has missed two runs") and "45 min ago" in problem
    assert sweep.describe(NOW) == "escalation-sweep: Failed 2 min ago (every 15 min)"
    sweep.last_scheduled_start = NOW - 10 * MINUTE
    assert sweep.problem(NOW) is None
    sweep.paused = True
    assert "paused" in sweep.problem(NOW)
    assert "not deployed" in DeploymentStatus(name="outbox-dispatcher", found=False).problem(NOW)
    # No schedule (the integration tests run them on demand): nothing can be late.
    assert DeploymentStatus(name="escalation-sweep").problem(NOW) is None


# --- the server log -----------------------------------------------------------------------------------


def scan(text: str, *, last_write: dt.datetime = NOW, now: dt.datetime = NOW) -> LogScan:
    return scan_server_log(text.splitlines(), last_write=last_write, now=now, zone=dt.UTC)


def test_dated_lines_count_errors_of_the_last_hour_once_each():
    log = """\
2026-11-24 22:00:00.000 | ERROR   | prefect.server.services.scheduler - too old
2026-11-24 23:30:00.000 | WARNING | prefect.server - a warning is not an error
2026-11-24 23:40:00.000 | ERROR   | prefect.server.services.scheduler - Unexpected error in: scheduler
Traceback (most recent call last):
  File "scheduler.py", line 1, in run
sqlalchemy.exc.OperationalError: database is locked
2026-11-25 00:10:00.000 | INFO    | prefect.server - ERROR in a message at INFO is not one
2026-11-25 00:15:00.000 | CRITICAL | prefect.server - the newest
"""
    result = scan(log)
    assert result.errors == 2
    assert result.latest.endswith("the newest")


def test_time_only_lines_are_dated_back_from_the_last_write_across_midnight():
    # Prefect's default format: no date. The file was last written at 00:12 on the 25th.
    log = """\
10:10:00.000 | ERROR   | prefect.server - yesterday morning: 14 hours old, not 1
18:00:00.000 | INFO    | prefect.server - so the line above is not from today
23:50:00.000 | ERROR   | prefect.server - 30 minutes before now, across midnight
00:12:00.000 | INFO    | prefect.server - the last line
"""
    result = scan(log, last_write=NOW - 8 * MINUTE)
    assert result.errors == 1
    assert "across midnight" in result.latest

    # The same error 23 h 40 min before the last write is yesterday's, though its time of day is near.
    old = "00:30:00.000 | ERROR   | prefect.server - 23 h 40 min old\n00:10:00.000 | INFO    | later\n"
    assert scan(old, last_write=NOW - 10 * MINUTE).errors == 0


def test_undated_errors_take_the_time_of_the_next_dated_line_or_the_last_write():
    uvicorn = """\
2026-11-24 20:00:00.000 | INFO    | prefect.server - started
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "uvicorn/protocols/http/httptools_impl.py", line 1, in run_asgi
RuntimeError: boom
"""
    # At the end of a file last written five minutes ago: the error is at most five minutes old.
    assert scan(uvicorn, last_write=NOW - 5 * MINUTE).errors == 1
    # Followed by a line of two hours ago, it is older than that.
    followed = uvicorn + "2026-11-24 22:20:00.000 | INFO    | prefect.server - later\n"
    assert scan(followed, last_write=NOW - 5 * MINUTE).errors == 0
    # A file last written two hours ago holds no error of the last hour.
    assert scan(uvicorn, last_write=NOW - 120 * MINUTE).errors == 0


def test_a_traceback_without_an_error_record_is_an_error():
    log = (
        "2026-11-25 00:05:00.000 | WARNING | prefect.server - retrying\n"
        "Traceback (most recent call last):\n"
        "ValueError: x\n"
        "During handling of the above exception, another exception occurred:\n"
        "Traceback (most recent call last):\n"
        "KeyError: y\n"
    )
    assert scan(log).errors == 1


def test_read_log_tail_drops_the_cut_line_and_gives_the_last_write(tmp_path):
    path = tmp_path / "prefect-server.log"
    path.write_text("first line that will be cut\nsecond\nthird\n")
    lines, last_write = read_log_tail(path, max_bytes=10)  # "ond\nthird\n"
    assert lines == ["third"]
    assert abs(last_write.timestamp() - os.stat(path).st_mtime) < 1e-3
    assert read_log_tail(tmp_path / "absent.log") is None


# --- the outbox and the whole report --------------------------------------------------------------------


def test_outbox_backlog_counts_pending_and_failed_and_finds_the_oldest(store):
    with store.transaction() as session:
        for number, (status, created) in enumerate(
            [("pending", NOW - 50 * MINUTE), ("pending", NOW - 5 * MINUTE), ("failed", NOW), ("sent", NOW)]
        ):
            session.add(
                OutboxMessage(
                    message_id=f"<{number}@ngo.example>",
                    kind="task",
                    recipients=["a@b.example"],
                    subject="s",
                    body_text="-",
                    status=status,
                    created_at=created,
                )
            )
    backlog = outbox_backlog(store)
    assert (backlog.pending, backlog.failed) == (2, 1)
    assert backlog.oldest_pending_at == NOW - 50 * MINUTE


def status(**changes) -> StackStatus:
    sweep = DeploymentStatus(
        name="escalation-sweep",
        interval=QUARTER,
        scheduled_since=NOW - 120 * MINUTE,
        last_state="Completed",
        last_at=NOW - 3 * MINUTE,
        last_scheduled_start=NOW - 4 * MINUTE,
    )
    values = {
        "now": NOW,
        "api_url": "http://127.0.0.1:4200/api",
        "store_url": "sqlite:///var/remediation.db",
        "deployments": [sweep],
        "backlog": Backlog(pending=1, oldest_pending_at=NOW - 10 * MINUTE, failed=0),
        "suspended": 3,
        "mail_limit": 30 * MINUTE,
        "log": LogScan(errors=0, latest=None),
    }
    return StackStatus(**(values | changes))


def test_a_stack_that_runs_by_itself_has_no_problem_and_one_status_line():
    healthy = status()
    assert healthy.problems() == []
    line = healthy.one_line()
    assert "\n" not in line and line.endswith("; ok")
    assert "escalation-sweep: Completed 3 min ago (every 15 min)" in line
    assert "outbox 1 pending, oldest 10 min, 0 failed" in line and "3 suspended" in line


def test_mail_waiting_too_long_and_server_errors_are_problems():
    late_mail = status(backlog=Backlog(pending=4, oldest_pending_at=NOW - 31 * MINUTE, failed=2))
    (problem,) = late_mail.problems()
    assert "oldest pending email has waited 31 min" in problem
    errors = status(log=LogScan(errors=2, latest="00:10:00.000 | ERROR | boom"))
    (problem,) = errors.problems()
    assert "logged 2 error(s) in the last 60 min" in problem and "boom" in problem
    assert "PROBLEMS" in errors.one_line()


def test_age_reads_as_a_person_says_it():
    assert [age(dt.timedelta(seconds=s)) for s in (45, 600, 3 * 3600 + 300, 7200, 50 * 3600)] == [
        "45 s",
        "10 min",
        "3 h 5 min",
        "2 h",
        "2 d 2 h",
    ]


# --- the command --------------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.delenv("REMEDIATION_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_status_without_a_stack_is_one_line_and_exit_2(workdir, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["status"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no stack runs from var" in line and "remediate up" in line
    assert list(workdir.iterdir()) == []


def test_status_of_a_stack_that_does_not_answer_is_exit_2(workdir, capsys):
    upgrade_schema(f"sqlite:///{workdir / 'var' / 'remediation.db'}")
    dead = "http://127.0.0.1:9/api"  # the discard port: nothing answers there
    (workdir / "var" / "stack.json").write_text(
        json.dumps({"api_url": dead, "case_store_url": f"sqlite:///{workdir / 'var' / 'remediation.db'}"})
    )
    assert main(["status"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert dead in line and "does not answer" in line


def test_up_refuses_a_status_interval_that_is_not_a_number(workdir, monkeypatch, capsys):
    monkeypatch.setenv("REMEDIATION_STATUS_MINUTES", "often")
    assert main(["up", "--api-port", "9", "--smtp-port", "9"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "REMEDIATION_STATUS_MINUTES" in line and "often" in line
    assert list(workdir.iterdir()) == []
