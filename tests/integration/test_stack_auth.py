"""The stack `remediate up` starts is closed to strangers: its Prefect API answers only its auth string.

Before, any local user or process could read every case run, start any deployment and read the blocks'
secrets through ``block_documents/filter`` with ``include_secrets``.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prefect_log import server_log_errors
from tests.remediate_up import BIN, remediate_up

pytestmark = pytest.mark.prefect

SCHEDULES_OFF = {"REMEDIATION_SWEEP_SECONDS": "0", "REMEDIATION_DISPATCH_SECONDS": "0"}
SECRETS_QUERY = {"include_secrets": True, "limit": 200}


def _case_store_block_url(stack) -> str:
    with stack.api() as api:
        answer = api.post("/block_documents/filter", json=SECRETS_QUERY)
    assert answer.status_code == 200, answer.text
    [url] = [
        document["data"]["url"]
        for document in answer.json()
        if document["block_type"]["slug"] == "case-store-connection"
    ]
    return url


def test_the_api_refuses_strangers_and_the_auth_string_is_kept_private_across_restarts(tmp_path: Path):
    home, log = tmp_path / "var", tmp_path / "remediate-up.log"
    with remediate_up(home, log, SCHEDULES_OFF) as stack:
        auth_file = home / "prefect-auth"
        assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
        auth_string = stack.auth_string
        user, _, password = auth_string.partition(":")
        assert user == "operator" and len(password) >= 32

        case_store_url = _case_store_block_url(stack)
        assert "remediation.db" in case_store_url
        with stack.api(authenticated=False) as stranger:
            refused = [
                stranger.post("/block_documents/filter", json=SECRETS_QUERY),
                stranger.post("/flow_runs/filter", json={"limit": 5}),
                stranger.get("/deployments/name/open-a-case/open-a-case"),
            ]
            wrong = stranger.post("/block_documents/filter", json=SECRETS_QUERY, auth=(user, password + "x"))
            # The stack's liveness stays open, as `remediate demo` and `remediate up` ask it.
            assert stranger.get("/health").status_code == 200
        for answer in [*refused, wrong]:
            assert answer.status_code == 401, answer.text
            assert case_store_url not in answer.text and "remediation.db" not in answer.text
        with stack.api() as api:
            assert api.get("/deployments/name/open-a-case/open-a-case").status_code == 200

        # `remediate status` finds the credentials in the stack's home.
        status = subprocess.run(
            [str(BIN / "remediate"), "status", "--home", str(home)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": str(Path(sys.executable).parent)},
            timeout=120,
        )
        assert "refused the credentials" not in status.stderr, status.stderr
        assert "escalation-sweep:" in status.stdout, status.stdout + status.stderr

    printed = log.read_text()
    assert f"paste the whole line of {auth_file}" in printed
    assert password not in printed, "the password was printed"
    for stack_log in ("prefect-server.log", "serve.log", "serve-operations.log", "task-page.log"):
        assert password not in (home / stack_log).read_text(), f"the password is in {stack_log}"

    with remediate_up(home, log, SCHEDULES_OFF) as restarted:
        assert restarted.auth_string == auth_string, "a restart made a new auth string"
        assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
        assert _case_store_block_url(restarted) == case_store_url
        with restarted.api(authenticated=False) as stranger:
            assert stranger.post("/block_documents/filter", json=SECRETS_QUERY).status_code == 401

    errors = server_log_errors(home / "prefect-server.log")
    assert not errors, "the stack's Prefect server logged errors:\n" + "\n".join(errors[:20])
