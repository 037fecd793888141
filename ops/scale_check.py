"""Run by tests/integration/test_scale_out.py inside the environment of a second Prefect server.

    python ops/scale_check.py seed URL N     open N cases whose 72-hour assessment is long overdue
    python ops/scale_check.py blocks URL PORT save the case-store and mail-transport blocks and programmes
    python ops/scale_check.py race            run two sweeps at once (now), then two dispatchers at once

Prints one JSON line with what it did.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seed(url: str, count: int) -> dict:
    from remediation_flows.core import casework as cw
    from remediation_flows.core.config import load_programme_file

    programme = load_programme_file(ROOT / "examples" / "garment_brand.yaml")
    from remediation_flows.core.store import CaseStore

    store = CaseStore(url)
    notified = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    references = [
        cw.open_case(
            store,
            programme,
            cw.Notification("northwind-apparel", "dhaka-knit-01", notified, cw.Source.AUDIT),
            actor="scale check",
        ).reference
        for _ in range(count)
    ]
    return {"opened": len(references)}


def blocks(url: str, smtp_port: int) -> dict:
    from remediation_flows.blocks import CaseStoreConnection, EnterpriseProgramme, MailTransport
    from remediation_flows.core.config import load_programme_file

    CaseStoreConnection(url=url).save("default", overwrite=True)
    MailTransport(host="127.0.0.1", port=smtp_port, security="none", sender="remediation@ngo.example").save(
        "default", overwrite=True
    )
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        programme = load_programme_file(path)
        EnterpriseProgramme(programme=programme.document).save(programme.enterprise_id, overwrite=True)
    return {"blocks": "saved"}


async def race() -> dict:
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    async def run(name: str, parameters: dict):
        return await arun_deployment(
            name, parameters=parameters, timeout=300, as_subflow=False, poll_interval=1
        )

    sweeps = await asyncio.gather(*(run("escalation-sweep/escalation-sweep", {}) for _ in range(2)))
    dispatchers = await asyncio.gather(*(run("outbox-dispatcher/outbox-dispatcher", {}) for _ in range(2)))
    runs = [*sweeps, *dispatchers]
    async with get_client() as client:
        details = []
        for flow_run in runs:
            fresh = await client.read_flow_run(flow_run.id)
            logs = await client.read_logs()
            details.append(
                {
                    "state": fresh.state.type.value,
                    "pool": fresh.work_pool_name,
                    "pid": fresh.infrastructure_pid,
                }
            )
    # A run that failed says why in the assertion's message, not only in a worker's log.
    errors = [log.message[-1500:] for log in logs if log.level >= 40]
    return {"runs": details, "log_lines": len(logs), "errors": errors[:4]}


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "seed":
        result = seed(sys.argv[2], int(sys.argv[3]))
    elif command == "blocks":
        result = blocks(sys.argv[2], int(sys.argv[3]))
    else:
        result = asyncio.run(race())
    print(json.dumps(result))
