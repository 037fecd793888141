"""The embedded default: a local Prefect server, a local mail sink, every deployment served.

Everything lives under one folder (default ``./var``) and is kept between runs:

    var/prefect/        PREFECT_HOME and the Prefect server's SQLite database
    var/remediation.db  the case store
    var/mail/           the mail sink, a Maildir a person reads with `remediate mail`
    var/stack.json      where the running stack listens
    var/prefect-auth    the Prefect API's auth string (user:password), readable by its owner only
"""

from __future__ import annotations

import contextlib
import json
import mailbox
import os
import secrets
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from remediation_flows.stack.prefect_database_template import keep_as_template, seed_from_template

# The checkout, or site-packages when installed: where `flows/...py` entrypoints resolve from.
ROOT = Path(__file__).resolve().parents[2]

# The user half of the stack's auth string. Prefect's UI asks for the whole string in one field.
API_USER = "operator"


class StackError(Exception):
    """The local stack cannot start; the message says what to do."""


#: Names the file a runner waits for before it reads the server's blocks (stack/serve.py): the stack
#: starts its runners beside the Prefect server, so that they import while it starts, and makes the
#: file once it has saved the blocks they read (the case store, the programmes of open-a-case's form).
SERVE_AFTER_VARIABLE = "REMEDIATION_SERVE_AFTER"


@dataclass(frozen=True)
class StackPaths:
    home: Path

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def case_store_file(self) -> Path:
        return self.home / "remediation.db"

    @property
    def case_store_url(self) -> str:
        from remediation_flows.core.store.database import home_case_store_url

        # The same rule as the commands' default, so `remediate overdue` next to ./var reads this store.
        return home_case_store_url(self.home)

    @property
    def server_log(self) -> Path:
        return self.home / "prefect-server.log"

    @property
    def serve_log(self) -> Path:
        """The log of the runner of the case flows."""
        return self.home / "serve.log"

    @property
    def operations_log(self) -> Path:
        """The log of the runner of the sweep, the dispatcher and the recovery."""
        return self.home / "serve-operations.log"

    @property
    def runner_logs(self) -> dict[str, Path]:
        """Each runner of the stack (stack/serve.py's argument) and its log."""
        return {"casework": self.serve_log, "operations": self.operations_log}

    @property
    def task_page_log(self) -> Path:
        return self.home / "task-page.log"

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def blocks_saved_file(self) -> Path:
        """Made once this start has saved its blocks: the runners, started before, wait for it."""
        return self.home / "blocks-saved"

    @property
    def auth_file(self) -> Path:
        """The Prefect API's auth string, ``user:password``, readable by its owner only."""
        return self.home / "prefect-auth"


def read_auth_string(paths: StackPaths) -> str | None:
    """The stack's auth string from its home, or None when the home has none yet.

    Raises :class:`StackError` when the file is readable by others (its secret may be known) or is
    not a ``user:password`` line.
    """
    try:
        mode = stat.S_IMODE(paths.auth_file.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise StackError(
            f"{paths.auth_file} is open to other users (mode {mode:04o}): delete it and restart, "
            "and a new auth string is made readable by you only"
        )
    auth_string = paths.auth_file.read_text().strip()
    user, _, password = auth_string.partition(":")
    if not user or not password:
        raise StackError(f"{paths.auth_file} does not hold user:password: delete it and restart for another")
    return auth_string


def ensure_auth_string(paths: StackPaths) -> str:
    """The stack's auth string: the one kept in its home, else a new one written there, mode 0600."""
    existing = read_auth_string(paths)
    if existing is not None:
        return existing
    auth_string = f"{API_USER}:{secrets.token_urlsafe(32)}"
    paths.home.mkdir(parents=True, exist_ok=True)
    # Created with its final mode in one call (O_EXCL), so no other user can open it in between.
    descriptor = os.open(paths.auth_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as auth_file:
        auth_file.write(auth_string + "\n")
    return auth_string


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As servers do: a port left in TIME_WAIT by the last run is free to use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free now, chosen by the system (a bind to port 0).

    The sockets stay open until every port is chosen, so the system cannot hand out one twice.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def case_count(paths: StackPaths) -> int:
    """How many cases the home's case store holds; 0 when it has none. Reads without writing."""
    database = paths.case_store_file
    if not database.is_file():
        return 0
    # Looking must not change a byte of someone's store, nor leave files beside it. A store in WAL mode
    # with no -wal file has no writer and nothing unmerged: read it as immutable, which creates no
    # -wal or -shm. With a -wal file, a writer may be at work: read-only, which sees its changes.
    wal = database.with_name(database.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?{mode}", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.DatabaseError:  # no cases table yet (an empty or foreign file): nothing to protect
        return 0
    finally:
        connection.close()


def prefect_environment(paths: StackPaths, api_port: int, auth_string: str) -> dict[str, str]:
    """The environment of every process of the stack: each talks to the API with the auth string."""
    return os.environ | {
        "PREFECT_HOME": str(paths.prefect_home.resolve()),
        "PREFECT_API_URL": f"http://127.0.0.1:{api_port}/api",
        "PREFECT_API_AUTH_STRING": auth_string,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///"
        + str((paths.prefect_home / "prefect.db").resolve()),
        # Every poll of the runner is a write to the server's SQLite database (the deployment's
        # last poll), and a resumed run waits on average half the interval before it starts:
        # 2 s, not Prefect's 10 or the 5 s used before, takes 1.5 s off every step a person answers
        # for the cost of a small write a second per runner.
        "PREFECT_RUNNER_POLL_FREQUENCY": os.environ.get("PREFECT_RUNNER_POLL_FREQUENCY", "2"),
        # A run of the sweep or the dispatcher that finds its deployment's slots taken (a scheduled
        # one and one the automation started after a sweep) is tried again after this long; Prefect's
        # 30 s held a dispatch of fresh escalation mail back for half a minute.
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": os.environ.get(
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "5"
        ),
        "REMEDIATION_REPORTS_DIR": str((paths.home / "reports").resolve()),
    }


def running_stack(paths: StackPaths) -> dict | None:
    """The running stack's addresses, if one answers."""
    if not paths.state_file.exists():
        return None
    state = json.loads(paths.state_file.read_text())
    try:
        with urllib.request.urlopen(f"{state['api_url']}/health", timeout=2) as response:
            return state if response.status == 200 else None
    except OSError:
        return None


def _wait_for_health(
    url: str, process: subprocess.Popen, log: Path, seconds: float = 120, what: str = "the Prefect server"
) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} stopped while starting; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{what} did not answer within {seconds:.0f} s; see {log}")


class LocalStack:
    """Start and stop the embedded default; use as a context manager."""

    def __init__(
        self, home: Path, api_port: int = 4200, smtp_port: int = 8025, progress=print, task_port: int = 4300
    ) -> None:
        self.paths = StackPaths(home)
        self.api_port = api_port
        self.smtp_port = smtp_port
        self.task_port = task_port
        self.progress = progress
        self._processes: list[subprocess.Popen] = []
        #: The two runners, stopped first and otherwise than the rest (see stop()).
        self._runners: list[subprocess.Popen] = []
        #: The runners that have said they serve their deployments.
        self._serving: list[subprocess.Popen] = []
        self._smtp = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def task_page_url(self) -> str:
        """Where the task emails' links point: the configured public address, else the local page."""
        return os.environ.get("REMEDIATION_TASK_PAGE_URL", f"http://127.0.0.1:{self.task_port}")

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        for port, what, option in (
            (self.api_port, "Prefect server", "api"),
            (self.smtp_port, "mail sink", "smtp"),
            (self.task_port, "task page", "task"),
        ):
            if not port_is_free(port):
                raise StackError(
                    f"port {port} for the {what} is taken: stop what uses it, or pass --{option}-port"
                )
        auth_string = ensure_auth_string(self.paths)
        self.paths.prefect_home.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(str(self.paths.mail_dir), create=True)  # with its tmp/, new/ and cur/
        env = prefect_environment(self.paths, self.api_port, auth_string)
        os.environ.update(
            {
                key: env[key]
                for key in (
                    "PREFECT_HOME",
                    "PREFECT_API_URL",
                    "PREFECT_API_AUTH_STRING",
                    "PREFECT_SERVER_ANALYTICS_ENABLED",
                )
            }
        )

        prefect_database = self.paths.prefect_home / "prefect.db"
        seeded = seed_from_template(prefect_database)
        self.progress(
            f"[1/5] starting the Prefect server on {self.ui_url} (SQLite in {self.paths.prefect_home}"
            + (", from an empty database already migrated)" if seeded else ")")
        )
        server_log = self.paths.server_log
        self._processes.append(
            self._spawn(
                [
                    sys.executable,
                    "-m",
                    "remediation_flows.stack.prefect_server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.api_port),
                ],
                # With the date, `remediate status` can tell an error of the last hour from one of
                # yesterday at the same time (Prefect's default is the time of day alone).
                env
                | {
                    "PREFECT_LOGGING_FORMATTERS_STANDARD_DATEFMT": "%Y-%m-%d %H:%M:%S",
                    # Only the server checks the string; the clients send it (PREFECT_API_AUTH_STRING).
                    "PREFECT_SERVER_API_AUTH_STRING": auth_string,
                },
                server_log,
            )
        )
        # The runners start now, beside the server: importing Prefect and the flows takes them longer
        # than the server takes to start, and they wait (serve.py) for this start's blocks to read.
        self.paths.blocks_saved_file.unlink(missing_ok=True)
        serve_env = env | {
            # Overridable, e.g. short intervals for the operations test.
            "REMEDIATION_SWEEP_SECONDS": os.environ.get("REMEDIATION_SWEEP_SECONDS", "900"),
            "REMEDIATION_DISPATCH_SECONDS": os.environ.get("REMEDIATION_DISPATCH_SECONDS", "30"),
            "REMEDIATION_TASK_PAGE_URL": self.task_page_url,
            SERVE_AFTER_VARIABLE: str(self.paths.blocks_saved_file.resolve()),
        }
        for runner, log in self.paths.runner_logs.items():
            self._runners.append(
                self._spawn([sys.executable, "-m", "remediation_flows.stack.serve", runner], serve_env, log)
            )
            self._processes.append(self._runners[-1])
        self.progress(
            f"[2/5] starting the mail sink on 127.0.0.1:{self.smtp_port} (Maildir {self.paths.mail_dir})"
        )
        self._start_mail_sink()
        _wait_for_health(f"{self.api_url}/health", self._processes[0], server_log)
        if not seeded:
            # A cache: if it cannot be kept, the next new home migrates its own database instead.
            with contextlib.suppress(OSError, sqlite3.Error):
                keep_as_template(prefect_database)

        self.progress(f"[3/5] migrating the case store {self.paths.case_store_url}")
        from remediation_flows.core.store import upgrade_schema

        upgrade_schema(self.paths.case_store_url)
        self.progress("[4/5] saving blocks: case store, mail transport, example enterprise programmes")
        self._save_blocks(env)
        self.paths.blocks_saved_file.touch()
        self.progress("[5/5] serving every deployment: case flows, and the sweep and dispatcher apart")
        # The task page starts beside the runners, not after them: it needs the case store and the
        # Prefect server, not the runners, and its start took 2 of the stack's 14 s.
        self.progress(
            f"      the task page on http://127.0.0.1:{self.task_port} (emails link to {self.task_page_url})"
        )
        task_process = self._spawn(
            [sys.executable, "-m", "remediation_flows.task_page", "--port", str(self.task_port)],
            # The page applies answers itself, and an act it applies issues the next step's links:
            # they must point where the served flows' links point.
            env
            | {
                "REMEDIATION_DATABASE_URL": self.paths.case_store_url,
                "REMEDIATION_TASK_PAGE_URL": self.task_page_url,
            },
            self.paths.task_page_log,
        )
        self._processes.append(task_process)
        for process, log in zip(self._runners, self.paths.runner_logs.values(), strict=True):
            self._wait_for_serve(process, log)
            self._serving.append(process)
        _wait_for_health(
            f"http://127.0.0.1:{self.task_port}/health",
            task_process,
            self.paths.task_page_log,
            what="the task page",
        )
        self.paths.state_file.write_text(
            json.dumps(
                {
                    "api_url": self.api_url,
                    "ui_url": self.ui_url,
                    "smtp_port": self.smtp_port,
                    "case_store_url": self.paths.case_store_url,
                    "task_page_url": self.task_page_url,
                    "pid": os.getpid(),
                }
            )
        )

    def _spawn(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with log.open("a") as out:
            # A process group of its own: Ctrl-C reaches us, and we stop the children in order.
            return subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )

    def _start_mail_sink(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        self._smtp = Controller(Mailbox(str(self.paths.mail_dir)), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()

    def _save_blocks(self, env: dict[str, str]) -> None:
        from remediation_flows.blocks import CaseStoreConnection, EnterpriseProgramme, MailTransport
        from remediation_flows.core.config import load_programme_file
        from remediation_flows.core.resources import example_programmes

        CaseStoreConnection(url=self.paths.case_store_url).save("default", overwrite=True)
        MailTransport(
            host="127.0.0.1",
            port=self.smtp_port,
            security="none",
            sender="Remediation programme <remediation@ngo.example>",
        ).save("default", overwrite=True)
        existing = self._programme_block_names()
        for path in example_programmes():
            programme = load_programme_file(path)
            if programme.enterprise_id in existing:
                # Edited on the Blocks page or loaded by `remediate config load`: a person's, kept as it is.
                self.progress(f"      enterprise-programme/{programme.enterprise_id} kept as it is")
                continue
            EnterpriseProgramme(programme=programme.document).save(programme.enterprise_id)
            self.progress(f"      enterprise-programme/{programme.enterprise_id} from {path.name}")

    @staticmethod
    def _programme_block_names() -> set[str]:
        """The names of the enterprise-programme blocks already on the server."""
        import asyncio

        from prefect.client.orchestration import get_client

        from remediation_flows.blocks import EnterpriseProgramme

        async def names() -> set[str]:
            async with get_client() as client:
                try:
                    documents = await client.read_block_documents_by_type(
                        EnterpriseProgramme.get_block_type_slug()
                    )
                except Exception:  # a new server: the block type itself is not registered yet
                    return set()
            return {document.name for document in documents}

        return asyncio.run(names())

    @staticmethod
    def _signal_and_wait(processes: list[subprocess.Popen], signal_number: int, group: bool = True) -> None:
        """Send each process (its whole group by default) ``signal_number``; wait 30 s, then SIGKILL."""
        for process in processes:
            try:
                if group:
                    os.killpg(process.pid, signal_number)
                elif process.poll() is None:
                    os.kill(process.pid, signal_number)
            except ProcessLookupError:
                continue
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _wait_for_serve(self, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if process.poll() is not None:
                raise StackError(f"serving the deployments failed; see {log}")
            if log.exists() and "Your deployments are being served" in log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise StackError(f"the deployments were not served within {seconds:.0f} s; see {log}")

    def stop(self) -> None:
        # The runners first, while the server still answers them, and with SIGINT to the runner
        # alone: Prefect 3.8.8's runner answers SIGTERM by exiting inside its event loop without
        # awaiting its own stop, which wrote a traceback to its log whenever a run was in flight,
        # and a flow run's process interrupted while importing wrote another; SIGINT ends `serve`
        # as Ctrl-C does. A runner still starting (importing, or waiting for the blocks) has no run to
        # stop, and SIGINT in the middle of an import ends it with a traceback: SIGTERM ends it quietly.
        # Then whatever is left of each group, the task page and the server.
        self._signal_and_wait(self._serving, signal.SIGINT, group=False)
        starting = [p for p in self._runners if p not in self._serving]
        self._signal_and_wait(starting, signal.SIGTERM, group=False)
        others = [p for p in reversed(self._processes) if p not in self._runners]
        self._signal_and_wait(self._runners + others, signal.SIGTERM)
        self._processes.clear()
        self._runners.clear()
        self._serving.clear()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        self.paths.blocks_saved_file.unlink(missing_ok=True)
        if self.paths.state_file.exists():
            self.paths.state_file.unlink()
