"""A burst on the embedded stack: many cases opened at once, then all of them overdue at one sweep.

Starts the embedded default (`LocalStack`, as `remediate up` does) in a throwaway home with the sweep
every 30 s and the dispatcher every 15 s, opens N cases at once through the Prefect REST API (in
notifications of up to 50 children, notified four days ago so that every 72-hour assessment is
already overdue), then presses nothing and waits until the stack has settled: every case in the
store with exactly one lifecycle run waiting, and every task and escalation email at the sink.

It reports what a person would see go wrong: 503 answers, cases lost, lifecycles missing or doubled,
emails delivered twice, dispatcher runs per sweep, and error lines in the server's and the runner's
logs; and how long the stack took to settle.

Usage: python bench/burst.py [--cases 300] [--timeout-minutes 30]
The last line is key=value pairs.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediation_flows.core.mail.sink import read_sink  # noqa: E402
from tests.prefect_log import server_log_errors  # noqa: E402


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """The stack's REST API; counts the 503s it is answered and retries them as Prefect's client does."""

    def __init__(self, url: str, auth_string: str) -> None:
        user, _, password = auth_string.partition(":")
        self.client = httpx.Client(base_url=url, timeout=60, auth=(user, password))
        self.unavailable = 0
        self.timeouts = 0

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(8):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                # A server too busy to answer within the client's timeout: counted, and asked again.
                self.timeouts += 1
                continue
            if response.status_code != 503:
                response.raise_for_status()
                return response
            self.unavailable += 1
            time.sleep(min(2**attempt * 0.5, 10))
        raise RuntimeError(f"{method} {path}: no answer after 8 tries")

    def runs(self, flow_name: str) -> list[dict]:
        found, offset = [], 0
        while True:
            page = self.call(
                "POST",
                "/flow_runs/filter",
                json={"flows": {"name": {"any_": [flow_name]}}, "limit": 200, "offset": offset},
            ).json()
            found += page
            if len(page) < 200:
                return found
            offset += 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--timeout-minutes", type=float, default=30)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="remediation-burst-"))
    os.environ.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "REMEDIATION_SWEEP_SECONDS": "30",
            "REMEDIATION_DISPATCH_SECONDS": "15",
            "REMEDIATION_STATUS_MINUTES": "0",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "10",
        }
    )
    from remediation_flows.stack.embedded import LocalStack

    with LocalStack(
        home, api_port=free_port(), smtp_port=free_port(), progress=progress, task_port=free_port()
    ) as stack:
        api = Api(stack.api_url, os.environ["PREFECT_API_AUTH_STRING"])
        deployment = api.call("GET", "/deployments/name/open-a-case/open-a-case").json()
        notified_at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=4)).isoformat()
        started = time.monotonic()
        notifications = []
        remaining = args.cases
        while remaining:
            children = min(50, remaining)
            remaining -= children
            notifications.append(children)
            api.call(
                "POST",
                f"/deployments/{deployment['id']}/create_flow_run",
                json={
                    "parameters": {
                        "notification": {
                            "enterprise_id": "northwind-apparel",
                            "site_id": "dhaka-knit-01",
                            "notified_at": notified_at,
                            "source": "audit",
                            "children_count": children,
                            "reported_by": "li.wen@ngo.example",
                        }
                    }
                },
            )
        progress(f"{len(notifications)} notifications of {notifications} children asked for")

        database = home / "remediation.db"
        marks: dict[str, float] = {}
        deadline = started + args.timeout_minutes * 60
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
                unsent = connection.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()[
                    0
                ]
                outbox = connection.execute("SELECT count(*) FROM outbox").fetchone()[0]
            lifecycles = api.runs("case-lifecycle")
            waiting = sum(run["state_type"] == "PAUSED" for run in lifecycles)
            mail = read_sink(home / "mail")
            kinds = collections.Counter(m.message["X-Remediation-Kind"] for m in mail)
            now = time.monotonic() - started
            if cases >= args.cases:
                marks.setdefault("cases_opened_s", now)
            if waiting >= args.cases:
                marks.setdefault("lifecycles_waiting_s", now)
            if kinds["escalation"] >= args.cases:
                marks.setdefault("escalation_mail_s", now)
            progress(
                f"{now:5.0f}s cases {cases}, lifecycles waiting {waiting}/{len(lifecycles)}, "
                f"outbox {outbox} ({unsent} unsent), at the sink: {dict(kinds)}"
            )
            settled = (
                cases >= args.cases
                and waiting >= args.cases
                and kinds["escalation"] >= args.cases
                and unsent == 0
                and len(mail) == outbox
            )
            if settled:
                marks["settled_s"] = now
                break
            time.sleep(10)

        lifecycles = api.runs("case-lifecycle")
        per_case = collections.Counter(
            tag for run in lifecycles for tag in run["tags"] if tag.startswith("case:")
        )
        dispatchers = api.runs("outbox-dispatcher")
        sweeps = api.runs("escalation-sweep")
        message_ids = collections.Counter(m.message["Message-ID"] for m in read_sink(home / "mail"))
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
            escalated = connection.execute(
                "SELECT count(*) FROM outbox WHERE kind = 'escalation'"
            ).fetchone()[0]
        server_errors = server_log_errors(home / "prefect-server.log")
        runner_errors = [
            line
            for log in ("serve.log", "serve-operations.log")
            for line in server_log_errors(home / log)
            if "Finished in state Suspended" not in line
        ]
        figures = {
            "cases": cases,
            "cases_asked": args.cases,
            "lifecycle_runs": len(lifecycles),
            "cases_with_two_lifecycles": sum(count > 1 for count in per_case.values()),
            "escalation_emails": escalated,
            "emails_at_sink": sum(message_ids.values()),
            "emails_twice": sum(count > 1 for count in message_ids.values()),
            "sweeps": len([r for r in sweeps if r["state_type"] == "COMPLETED"]),
            "dispatcher_runs": len(dispatchers),
            "dispatcher_runs_by_automation": len([r for r in dispatchers if not r["auto_scheduled"]]),
            "api_503": api.unavailable,
            "api_timeouts_60s": api.timeouts,
            "server_error_lines": len(server_errors),
            "runner_error_lines": len(runner_errors),
            **{key: round(value) for key, value in marks.items()},
        }
        for line in (server_errors + runner_errors)[:10]:
            progress(f"error line: {line[:200]}")
        progress(f"home kept at {home}")
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
