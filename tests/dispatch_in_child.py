"""Runs the outbox dispatcher in a process of its own, so that a test can kill it mid-batch.

Usage: python -m tests.dispatch_in_child PORT, with the case store in $REMEDIATION_DATABASE_URL
(not on the command line, where ``ps`` would show its password).
"""

from __future__ import annotations

import asyncio
import sys

from remediation_flows.core.mail.outbox import dispatch
from remediation_flows.core.mail.transport import Security, SmtpSettings
from remediation_flows.core.store import CaseStore


def main() -> None:
    port = int(sys.argv[1])
    store = CaseStore()
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender="remediation@ngo.example", security=Security.NONE, timeout=5
    )
    result = asyncio.run(dispatch(store, settings))
    print(result, flush=True)


if __name__ == "__main__":
    main()
