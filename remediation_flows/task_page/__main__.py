"""`python -m remediation_flows.task_page [--port N]`: the task page on 127.0.0.1, behind an HTTPS proxy.

The case store is `REMEDIATION_DATABASE_URL`, else the 'default' case-store-connection block.
Links in emails point at `REMEDIATION_TASK_PAGE_URL`, the address people reach the proxy at.
The limit on attempts per address counts the address the proxy forwards (X-Forwarded-For) only
from a proxy uvicorn trusts: 127.0.0.1 by default, else those in `FORWARDED_ALLOW_IPS`; a proxy on
another host that is not listed there makes every visitor one address, sharing one limit.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from remediation_flows.flows.common import case_store
from remediation_flows.task_page.app import TaskPage, create_app

DEFAULT_PORT = 4300


def main() -> None:
    """Serve the task page until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m remediation_flows.task_page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    page = TaskPage(lambda: asyncio.run(case_store()))
    # No access log: a link's token is in the path, and a log line must never carry a working token.
    uvicorn.run(create_app(page), host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
