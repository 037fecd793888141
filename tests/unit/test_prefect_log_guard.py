"""The guard that fails the suite when a Prefect server started by the tests logs an error."""

from __future__ import annotations

from tests.prefect_log import server_log_errors

BROKEN_SCHEDULER = (
    "10:31:02.118 | ERROR   | prefect.server.services.scheduler - Unexpected error in: "
    'InvalidRequestError("Can\'t evaluate bulk DML statement; please supply a bulk_dml decorated function")'
)


def test_the_guard_sees_a_broken_scheduler_a_traceback_and_uvicorn_errors(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "10:30:00.001 | INFO    | prefect.server - started\n"
        f"{BROKEN_SCHEDULER}\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "ERROR:    Exception in ASGI application\n"
        "10:30:05.000 | WARNING | prefect.server - slow\n"
    )
    assert server_log_errors(log) == [
        BROKEN_SCHEDULER,
        "Traceback (most recent call last):",
        "ERROR:    Exception in ASGI application",
    ]


def test_the_guard_reads_only_what_was_written_after_the_offset(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(f"{BROKEN_SCHEDULER}\n")
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write("10:32:00.000 | INFO    | prefect.server - all well\n")
    assert server_log_errors(log, offset) == []
    assert server_log_errors(tmp_path / "absent.log") == []
