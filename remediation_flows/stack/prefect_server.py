"""The embedded stack's Prefect server: `prefect server start`, with its SQLite writes taken up front.

python -m remediation_flows.stack.prefect_server --host 127.0.0.1 --port 4200

Prefect 3.8.8 begins most of its SQLite transactions DEFERRED: a transaction reads, then writes. When
another connection commits in between (a flow run changing state, a batch of logs, the event
persister), SQLite cannot upgrade the stale read to a write and answers "database is locked" at once,
without waiting out the busy timeout. The server logs each at ERROR, with a traceback, and answers 503;
creating a flow run (every case opened starts one) is such a transaction. Opening 300 cases at once on
the embedded stack gave about 1,800 such errors in the first three minutes. It is Prefect's open issue
#18934 (and the unmerged PR #9594); Prefect already begins its row-locking transactions IMMEDIATE.

This launcher begins every one of Prefect's SQLite transactions IMMEDIATE: a writer waits for the lock
(up to Prefect's 60 s busy timeout) instead of failing. Reads that need no transaction are untouched,
and so is a PostgreSQL server, which locks rows and never needed it. Only the embedded stack starts
its server this way; production runs Prefect on PostgreSQL.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from prefect.server.database.configurations import AioSqliteConfiguration

_prefect_begin_transaction = AioSqliteConfiguration.begin_transaction


@asynccontextmanager
async def _begin_immediate(
    self: AioSqliteConfiguration, session: Any, with_for_update: bool = False
) -> AsyncGenerator[Any, None]:
    # Prefect's own IMMEDIATE path: the one it takes for row locks.
    async with _prefect_begin_transaction(self, session, with_for_update=True) as transaction:
        yield transaction


def take_sqlite_writes_up_front() -> None:
    """Make every SQLite transaction of the Prefect server in this process begin IMMEDIATE."""
    AioSqliteConfiguration.begin_transaction = _begin_immediate  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """Start the Prefect server in this process (one worker: the API, the UI and the services)."""
    take_sqlite_writes_up_front()
    from prefect.cli import app

    # Prefect's command line reads sys.argv.
    sys.argv = ["prefect", "server", "start", *(sys.argv[1:] if argv is None else argv)]
    app()


if __name__ == "__main__":
    main()
