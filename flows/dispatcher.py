"""The outbox dispatcher: sends pending email over one SMTP connection per batch."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from remediation_flows.core.mail.outbox import dispatch
from remediation_flows.flows.common import case_store, mail_settings


@flow(
    name="outbox-dispatcher",
    description="Send what the outbox holds: batches, retries with backoff, never twice.",
)
async def outbox_dispatcher(
    batch_size: Annotated[int, Field(ge=1, le=2000)] = 200,
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5,
) -> dict[str, int]:
    logger = get_run_logger()
    store = await case_store()
    result = await dispatch(store, await mail_settings(), batch_size=batch_size, max_attempts=max_attempts)
    for error in result.errors[:20]:
        logger.warning("not delivered: %s", error)
    logger.info("sent %d, retrying %d, failed %d", result.sent, result.retrying, result.failed)
    return {"sent": result.sent, "retrying": result.retrying, "failed": result.failed}
