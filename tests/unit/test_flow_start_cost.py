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


def test_reading_a_registered_programme_version_leaves_the_holiday_calendars_unimported(tmp_path) -> None:
    # A case's view reads its programme version at every step, each in a new flow process; the
    # version's calendars were checked when it was registered, and asking again imported every
    # country's calendar module (half a second) before any step that reckons no deadline.
    from remediation_flows.core.config import load_programme_file
    from remediation_flows.core.store import CaseStore, upgrade_schema
    from remediation_flows.core.store import repository as repo
    from tests.conftest import EXAMPLES

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade_schema(url)
    programme = load_programme_file(EXAMPLES / "garment_brand.yaml")
    store = CaseStore(url)
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="test")
    store.dispose()
    probe = (
        "import sys\n"
        "from remediation_flows.core.store import CaseStore, repository as repo\n"
        f"store = CaseStore({url!r})\n"
        "with store.transaction() as session:\n"
        f"    loaded = repo.programme_version(session, {programme.fingerprint!r})\n"
        "print(loaded.enterprise_id, 'holidays.countries' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [programme.enterprise_id, "False"]
