"""Flow runs start as forks of a warm process (remediation_flows/stack/warm_start.py; issue 15)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle

from remediation_flows.stack.warm_start import _reduce_flow

#: Run in a process of its own: the forkserver and its preload list are global to a process.
PROBE = textwrap.dedent(
    """
    import gc
    import sys

    from remediation_flows.stack.warm_start import forkserver_context


    def report(queue):
        tls_from_the_server = "remediation_flows.stack.share_the_tls_context" in sys.modules
        from prefect.client.orchestration import get_client

        from remediation_flows.core.store.schema import Case
        from remediation_flows.stack.share_the_tls_context import _SHARED

        contexts_from_the_server = dict(_SHARED)
        clients = [get_client(), get_client(sync_client=True)]
        queue.put((
            "remediation_flows.flows.remediation.lifecycle" in sys.modules,
            "sqlalchemy" in sys.modules,
            Case.__mapper__.configured,
            gc.get_freeze_count(),
            tls_from_the_server and len(contexts_from_the_server) == 1 and _SHARED == contexts_from_the_server
            and len(clients) == 2,
        ))


    if __name__ == "__main__":
        context = forkserver_context(["remediation_flows.flows.remediation.lifecycle"])
        queue = context.Queue()
        child = context.Process(target=report, args=(queue,))
        child.start()
        print(type(child).__name__, *queue.get(timeout=120))
        child.join(timeout=60)
        print("lifecycle imported here:", "remediation_flows.flows.remediation.lifecycle" in sys.modules)
    """
)


def test_a_run_is_forked_with_its_flows_imported_mappers_configured_and_heap_frozen(tmp_path: Path) -> None:
    # Spawned, each run imported Prefect, SQLAlchemy and the flow again: ~1.5 s before its first line.
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    # An API that is never called: the probe only creates clients.
    env = os.environ | {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    result = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=180, env=env
    )
    assert result.returncode == 0, result.stderr
    forked, parent = result.stdout.splitlines()
    kind, lifecycle, sqlalchemy, mappers_configured, frozen, tls_shared = forked.split()
    assert kind == "ForkServerProcess"
    # The child's target never imports the lifecycle, and neither did the parent: the server did.
    assert (lifecycle, sqlalchemy) == ("True", "True")
    assert parent == "lifecycle imported here: False"
    # Configured in the server: a run's first query no longer configures every mapper (40 ms a resume).
    assert mappers_configured == "True"
    assert int(frozen) > 10_000
    # The TLS context Prefect's clients verify with was built in the server, and a run's clients share
    # it instead of each parsing the CA bundle again (22 to 30 ms a client).
    assert tls_shared == "True"
    assert "Warning" not in result.stderr, result.stderr


def test_a_served_flow_is_pickled_by_reference_to_its_module() -> None:
    # By value, the flow function kept only the globals its code names, so open-a-case's parameter
    # model could not be built in the run ("`Open_A_CaseModel` is not fully defined").
    from remediation_flows.flows.remediation.lifecycle import case_lifecycle
    from remediation_flows.flows.remediation.notification import open_a_case

    for flow in (open_a_case, case_lifecycle):
        constructor, arguments = _reduce_flow(flow)
        assert arguments == (flow.fn.__module__, flow.fn.__name__)
        assert constructor(*arguments) is flow
    # What a run's payload carries of the flow: two names, not its code.
    assert len(pickle.dumps(_reduce_flow(open_a_case))) < 200


def test_a_flow_that_no_module_holds_is_pickled_by_value() -> None:
    from prefect import flow

    @flow(name="made-here")
    def made_here() -> int:
        return 1

    constructor, *_ = _reduce_flow(made_here)
    assert getattr(constructor, "__name__", "") != "flow_named"
    assert cloudpickle.loads(cloudpickle.dumps(made_here)).name == "made-here"
