"""Reading a Prefect server's log for what went wrong: the guard every server started by the tests passes."""

from __future__ import annotations

import re
from pathlib import Path

# Prefect's own ERROR/CRITICAL lines, uvicorn's, and any traceback. A broken scheduler (Prefect 3.8.8
# on SQLAlchemy 2.1) wrote exactly such lines every minute while every test passed.
SERVER_ERROR = re.compile(
    r"\|\s*(ERROR|CRITICAL)\s*\||^(ERROR|CRITICAL):|Traceback \(most recent call last\)"
)


def server_log_errors(log: Path, offset: int = 0) -> list[str]:
    """The error lines a Prefect server wrote to ``log`` after byte ``offset``."""
    if not log.exists():
        return []
    with log.open("rb") as stream:
        stream.seek(offset)
        text = stream.read().decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if SERVER_ERROR.search(line)]
