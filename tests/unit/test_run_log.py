"""A suspended case run is logged as a wait at INFO, not as Prefect's ERROR; real errors stay errors."""

from __future__ import annotations

import logging

import pytest

from remediation_flows.flows import run_log

# Outside a flow run Prefect's API log handler warns that it has no run to send these records to.
pytestmark = pytest.mark.filterwarnings("ignore:Logger 'prefect.flow_runs' attempted to send logs")


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def flow_run_logger():
    logger = logging.getLogger("prefect.flow_runs")
    recorder = Recorder()
    logger.addHandler(recorder)
    run_log.install()
    run_log.install()  # twice: still one filter
    yield logger, recorder
    logger.removeHandler(recorder)


def test_a_suspended_run_is_logged_as_a_wait(flow_run_logger):
    logger, recorder = flow_run_logger
    # As Prefect 3.8.8's async engine logs it (flow_engine.py: ERROR unless Completed).
    logger.log(logging.ERROR, "Finished in state Suspended('Flow run suspended.', type=PAUSED)")
    (record,) = recorder.records
    assert record.levelno == logging.INFO and record.levelname == "INFO"
    assert record.getMessage().startswith("Waiting for a person's answer")
    assert "Suspended" in record.getMessage()
    assert sum(isinstance(f, run_log.WaitingIsNotAnError) for f in logger.filters) == 1


def test_a_failed_run_is_still_an_error(flow_run_logger):
    logger, recorder = flow_run_logger
    logger.log(logging.ERROR, "Finished in state Failed('Flow run encountered an exception')")
    (record,) = recorder.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Finished in state Failed")
