"""The stack `remediate up` starts is closed to strangers: its Prefect API answers only its auth string.

Before, any local user or process could read every case run, start any deployment and read the blocks'
secrets through ``block_documents/filter`` with ``include_secrets``.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES
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


def _programme_block(api, name: str) -> dict:
    documents = api.post(
        "/block_documents/filter",
        json={"block_types": {"slug": {"any_": ["enterprise-programme"]}}, "limit": 50},
    ).json()
    return next(document for document in documents if document["name"] == name)


def _open_a_case_form(api) -> dict:
    """The notification's fields in open-a-case's parameter schema, as the UI renders them."""
    deployment = api.get("/deployments/name/open-a-case/open-a-case").json()
    return deployment["parameter_openapi_schema"]["definitions"]["CaseNotification"]["properties"]


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
            # A person edits a programme on the Blocks page; the next `remediate up` must keep it.
            block = _programme_block(api, "northwind-apparel")
            # The form's field "Enterprise name", saved as the page saves it: the block's whole data.
            edited = block["data"]
            edited["enterprise"]["name"] = "Northwind Apparel (edited)"
            answer = api.patch(f"/block_documents/{block['id']}", json={"data": edited})
            assert answer.status_code == 204, answer.text

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
        with restarted.api() as api:
            kept = _programme_block(api, "northwind-apparel")["data"]
            assert kept["enterprise"]["name"] == "Northwind Apparel (edited)", (
                "remediate up overwrote an edit"
            )
            # Served again (the runner registers its deployments a moment after the stack is up),
            # open-a-case offers the programme as it now reads.
            deadline = time.time() + 90
            while time.time() < deadline:
                offered = _open_a_case_form(api)["enterprise_id"].get("enum", [])
                if "Northwind Apparel (edited) (northwind-apparel)" in offered:
                    break
                time.sleep(1)
            assert "Northwind Apparel (edited) (northwind-apparel)" in offered, offered

        # `remediate config load` refreshes the form's choices at once: a new site is offered.
        programme = yaml.safe_load((EXAMPLES / "garment_brand.yaml").read_text())
        programme["sites"].append(
            {**programme["sites"][0], "id": "dhaka-knit-03", "name": "Savar knitwear unit"}
        )
        programme_file = tmp_path / "northwind.yaml"
        programme_file.write_text(yaml.safe_dump(programme))
        loaded = subprocess.run(
            [str(BIN / "remediate"), "config", "load", str(programme_file)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={
                "PATH": str(Path(sys.executable).parent),
                "PREFECT_API_URL": restarted.api_url,
                "PREFECT_API_AUTH_STRING": restarted.auth_string,
                "PREFECT_HOME": str(tmp_path / "client-home"),
            },
            timeout=120,
        )
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert "open-a-case's form now offers its enterprises and sites" in loaded.stdout
        with restarted.api() as api:
            sites = _open_a_case_form(api)["site_id"]["enum"]
        assert "Northwind Apparel Ltd: Savar knitwear unit, BD (dhaka-knit-03)" in sites, sites

    errors = server_log_errors(home / "prefect-server.log")
    assert not errors, "the stack's Prefect server logged errors:\n" + "\n".join(errors[:20])
