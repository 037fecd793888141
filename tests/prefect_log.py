"""Reading a Prefect server's log for what went wrong: the guard every server started by the tests passes.

What counts as an error line is `remediate status`'s own rule (remediation_flows.core.status.is_error_line):
Prefect's ERROR/CRITICAL records, uvicorn's, and any traceback. A broken scheduler (Prefect 3.8.8 on
SQLAlchemy 2.1) wrote exactly such lines every minute while every test passed.
"""

from __future__ import annotations

from pathlib import Path

from remediation_flows.core.status import is_error_line


def server_log_errors(log: Path, offset: int = 0) -> list[str]:
    """The error lines a Prefect server wrote to ``log`` after byte ``offset``."""
    if not log.exists():
        return []
    with log.open("rb") as stream:
        stream.seek(offset)
        text = stream.read().decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if is_error_line(line)]
