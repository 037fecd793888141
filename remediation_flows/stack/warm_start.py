"""Flow runs start as forks of a process that has already imported Prefect and the flows.

A runner that serves flows from memory (``Runner.add_flow``, and stack/serve.py's ``serve_in_memory``)
starts each flow run in a new process with multiprocessing's "spawn": a fresh interpreter that imports
Prefect, SQLAlchemy, Jinja and the flow's module again, about 1.5 s of CPU before the flow's first line,
on every start and every resume. With "forkserver" those imports happen once, in a server process
started before the first run, and each run is a fork of it: the run's own process, as before, without
the imports.

Only the start changes. Prefect builds the run's payload (the flow, its run, the settings and the
environment) and its child entry point exactly as it does for spawn; the fork unpickles and runs it the
same way. The server process imports modules and nothing else, so it holds no thread, connection or
event loop that a fork could copy half-way.

Prefect 3.8.8 names the override point: ``prefect.runner._starter_direct.run_flow_in_subprocess``
("patch the module to override").
"""

from __future__ import annotations

import copyreg
import importlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import prefect.flow_engine
import prefect.runner._starter_direct
from prefect import Flow

#: Spawned runs' cost is the import of these; the forkserver imports them once.
PREFECT_MODULES: tuple[str, ...] = (
    "prefect",
    "prefect.flow_engine",
    "prefect.flows",
    "prefect.tasks",
    "prefect.input.run_input",
    "prefect.artifacts",
    "prefect.events",
)

_prefect_run_flow_in_subprocess = prefect.flow_engine.run_flow_in_subprocess
#: Runs start on the runner's event loop thread, one at a time; the lock keeps it so for any other caller.
_swap_lock = threading.Lock()


def flow_named(module: str, name: str) -> Flow[..., Any]:
    """The flow ``name`` of ``module``, as the module defines it."""
    return getattr(importlib.import_module(module), name)


def _reduce_flow(flow: Flow[..., Any]) -> Any:
    # By reference where the flow is a module's own: Prefect pickles a flow object by value, and a flow
    # function unpickled by value keeps only the globals its code names, not those its annotations name
    # (strings under `from __future__ import annotations`), so its parameters' model could not be built
    # ("`Open_A_CaseModel` is not fully defined"). By reference, the run gets the module's own flow, as
    # `python -m prefect.engine` loads it from the entrypoint.
    module, name = flow.fn.__module__, flow.fn.__name__
    if getattr(sys.modules.get(module), name, None) is flow:
        return flow_named, (module, name)
    return flow.__reduce_ex__(4)


def forkserver_context(preload: Sequence[str]) -> multiprocessing.context.ForkServerContext:
    """A forkserver context whose server imports ``preload`` (and Prefect) before its first fork."""
    context = multiprocessing.get_context("forkserver")
    modules = [
        *PREFECT_MODULES,
        *preload,
        "remediation_flows.stack.configure_the_mappers",
        "remediation_flows.stack.share_the_tls_context",
        "remediation_flows.stack.freeze_the_heap",
    ]
    context.set_forkserver_preload(list(dict.fromkeys(modules)))
    return context


def _multiprocessing_whose_spawn_is(context: multiprocessing.context.BaseContext) -> types.SimpleNamespace:
    """multiprocessing as Prefect's flow engine sees it, except that asking for "spawn" gets ``context``."""
    real = multiprocessing

    def get_context(method: str | None = None) -> Any:
        return context if method == "spawn" else real.get_context(method)

    stand_in = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real) if name[:2] != "__"})
    stand_in.get_context = get_context
    return stand_in


@contextmanager
def _engine_sees(stand_in: types.SimpleNamespace) -> Iterator[None]:
    """Within the block, Prefect's flow engine uses ``stand_in`` for its multiprocessing module."""
    with _swap_lock:
        prefect.flow_engine.multiprocessing = stand_in  # type: ignore[assignment]
        try:
            yield
        finally:
            prefect.flow_engine.multiprocessing = multiprocessing


def start_flow_runs_from_a_warm_process(preload: Sequence[str]) -> multiprocessing.context.ForkServerContext:
    """Make this process's runner start each in-memory flow's run as a fork of a warm server process.

    ``preload`` names the modules the runs need (the flows' own); they are imported here first, so a
    module that fails to import fails the runner at start rather than every run. The server process
    starts now and imports while the runner registers its deployments, so that the first run does not
    wait for it. Returns the context.
    """
    for module in preload:
        importlib.import_module(module)
    copyreg.pickle(Flow, _reduce_flow)
    context = forkserver_context(preload)
    multiprocessing.forkserver.ensure_running()
    forking = _multiprocessing_whose_spawn_is(context)

    def run_flow_in_forked_subprocess(*args: Any, **kwargs: Any) -> multiprocessing.process.BaseProcess:
        with _engine_sees(forking):
            return _prefect_run_flow_in_subprocess(*args, **kwargs)

    prefect.runner._starter_direct.run_flow_in_subprocess = run_flow_in_forked_subprocess  # type: ignore[assignment]
    return context
