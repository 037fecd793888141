"""Erasing children's identities kept past their programme's retention period (daily)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from remediation_flows.core.safeguarding.retention import erase_expired_identities as erase
from remediation_flows.flows.common import case_store

#: Who the audit trail names for a scheduled erasure.
SCHEDULED_ERASER = "erase-expired-identities (scheduled)"


@flow(
    name="erase-expired-identities",
    description="Erase each identity kept past its programme's retention period, unless on legal hold.",
)
async def erase_expired_identities(batch_size: int = 200) -> list[str]:
    """Returns the references of the cases whose identity was erased (pseudonymous, never a name)."""
    logger = get_run_logger()
    store = await case_store()
    erased: list[str] = []
    # Each batch is its own transaction: a run that dies keeps what it erased, the next run goes on.
    for batch in erase(store, SCHEDULED_ERASER, batch_size=batch_size):
        erased += [erasure.case_reference for erasure in batch]
    logger.info("%d identit(ies) erased: %s", len(erased), ", ".join(erased) or "none")
    return erased
