"""Recovery: every case in progress has a lifecycle run waiting for it (and every open site
reassessment its run).

A case can be left without one: imported from a spreadsheet, opened by a run that died
before starting its lifecycle, or whose lifecycle run crashed. This flow finds such cases in
the store and starts their lifecycle again; the run picks up where the store says the case is.
It also resumes a run left waiting on an answer the task page already applied.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core import casework as cw
from remediation_flows.flows.common import case_store
from remediation_flows.flows.due_diligence.reassessment import start_reassessments
from remediation_flows.flows.remediation.runs import (
    cases_with_a_live_lifecycle,
    redeliver_applied_answers,
    start_lifecycle,
)


@flow(
    name="recover-case-lifecycles",
    description="Start a lifecycle run for every case in progress that has none.",
)
async def recover_case_lifecycles(
    grace_minutes: Annotated[
        int, Field(ge=0, le=1440, title="Leave cases opened in the last N minutes alone")
    ] = 10,
) -> list[str]:
    """Returns the references whose lifecycle was started again."""
    logger = get_run_logger()
    store = await case_store()
    now = dt.datetime.now(dt.UTC)
    # A case opened a moment ago may still be about to get its run from open-a-case.
    in_progress = cw.open_case_rounds(store, opened_before=now - dt.timedelta(minutes=grace_minutes))
    live = await cases_with_a_live_lifecycle()
    recovered = []
    for reference, round_number in in_progress:
        if reference in live:
            continue
        await start_lifecycle(reference, round_number, recovery=f"recovered-{now:%Y%m%dT%H%M%S}")
        recovered.append(reference)
    logger.info(
        "%d case(s) in progress, %d with a live lifecycle, %d recovered: %s",
        len(in_progress),
        len(in_progress) - len(recovered),
        len(recovered),
        ", ".join(recovered) or "none",
    )
    # A run still waiting on an answer the task page applied (Prefect was unreachable, or the page
    # stopped, between its commit and the resume) is resumed with it.
    redelivered = await redeliver_applied_answers(store)
    if redelivered:
        logger.info("%d waiting run(s) given the answer the task page applied", len(redelivered))
    # An open site reassessment whose run was never started (opened by a follow-up visit, or by
    # a run that died first) gets it here; one already started is not started twice.
    reassessments = await start_reassessments(store)
    if reassessments:
        logger.info("%d open site reassessment(s) given their run", len(reassessments))
    return recovered
