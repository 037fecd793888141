"""Ctrl-C while `remediate up` is still starting stops what has started, at once, and leaves nothing.

Started in the background (by a shell or a supervisor) the process inherits SIGINT ignored; before,
a stack interrupted during its start ran on until its 2-minute wait for the runners gave up, and its
runners waited for blocks that never came.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.remediate_up import start_remediate_up


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def _descendants(root: int) -> list[int]:
    """Every process whose parent chain leads to ``root`` (the stack starts its children in sessions
    of their own, so its process group does not hold them)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _command_line(pid: int) -> bytes:
    """The process's command line, or nothing if it has exited since it was listed."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_ctrl_c_during_the_start_stops_everything_started(tmp_path: Path):
    home, log = tmp_path / "var", tmp_path / "remediate-up.log"
    process = start_remediate_up(home, log, {"REMEDIATION_SWEEP_SECONDS": "0"})
    try:
        deadline = time.time() + 60
        started: list[int] = []
        # The server and both runners have started; the stack waits for the server to answer.
        while len(started) < 3 and time.time() < deadline:
            started = [
                pid
                for pid in _descendants(process.pid)
                if any(name in _command_line(pid) for name in (b"stack.prefect_server", b"stack.serve"))
            ]
            time.sleep(0.1)
        assert len(started) == 3, log.read_text()
        everything = _descendants(process.pid)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130, log.read_text()
        stopping = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert stopping < 15, f"stopped {stopping:.1f} s after Ctrl-C"
    assert "stopped while starting" in log.read_text()
    time.sleep(0.5)
    assert _alive(everything) == [], "processes of the stack outlived it"
    assert not (home / "blocks-saved").exists() and not (home / "stack.json").exists()
    for runner_log in ("serve.log", "serve-operations.log"):
        assert "Traceback" not in (home / runner_log).read_text(), runner_log
