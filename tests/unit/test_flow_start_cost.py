"""What a flow's process imports before it runs: every resume of a case starts one (issue 15)."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: The entrypoints the runners start a process for, most often the case lifecycle's.
ENTRYPOINT_MODULES = [
    "remediation_flows.flows.remediation.lifecycle",
    "remediation_flows.flows.due_diligence.cycle",
    "remediation_flows.flows.escalation",
    "remediation_flows.flows.dispatcher",
]


@pytest.mark.parametrize("module", ENTRYPOINT_MODULES)
def test_a_flow_entrypoint_does_not_import_alembic(module: str) -> None:
    # Alembic is needed to migrate a schema, which no flow does; importing it cost every run's
    # process a third of a second of its start.
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
