"""A case run that waits for a person is not an error: its log says so at INFO, in words.

Prefect 3.8.8's async engine logs the end of every flow run that is not Completed at ERROR level,
so each wait for a person wrote a red "ERROR ... Finished in state Suspended(type=PAUSED)" line to
the run's log in the UI and to the runner's log, where it alarmed program managers and hid real
errors from whoever scans the logs. (Its sync engine logs the same line at INFO.)
"""

from __future__ import annotations

import logging

_SUSPENDED = "Finished in state Suspended"


class WaitingIsNotAnError(logging.Filter):
    """Rewrites Prefect's ERROR "Finished in state Suspended(...)" as an INFO line saying what it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(_SUSPENDED):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"Waiting for a person's answer (the run is suspended, not failed): {record.msg}"
        return True


def install() -> None:
    """Add the filter to Prefect's flow-run logger, once."""
    logger = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, WaitingIsNotAnError) for f in logger.filters):
        logger.addFilter(WaitingIsNotAnError())
