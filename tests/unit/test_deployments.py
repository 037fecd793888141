"""Deployments are defined once (flows/deployments.py); prefect.yaml is generated, the runners serve them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from remediation_flows.flows.deployments import DEPLOYMENTS, prefect_yaml, runner_deployment, served_schedules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated() -> str:
    return prefect_yaml()


def test_committed_prefect_yaml_is_what_the_definitions_generate(generated):
    committed = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    # Parsed first, for a readable message when a deployment differs; then the text, comments and all.
    assert yaml.safe_load(committed) == yaml.safe_load(generated), (
        "prefect.yaml is out of date: run `python -m remediation_flows.flows.deployments > prefect.yaml`"
    )
    assert committed == generated, (
        "prefect.yaml is out of date: run `python -m remediation_flows.flows.deployments > prefect.yaml`"
    )


def test_prefect_yaml_has_every_deployment_on_the_work_pool_with_the_example_cycles(generated):
    document = yaml.safe_load(generated)
    assert document["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $REMEDIATION_HOME }}"}}
    ]
    deployments = {d["name"]: d for d in document["deployments"]}
    assert list(deployments) == [d.name for d in DEPLOYMENTS]
    assert all(
        d["work_pool"] == {"name": "remediation", "work_queue_name": "default"} for d in deployments.values()
    )
    cycles = deployments["due-diligence-cycle"]["schedules"]
    assert [(s["cron"], s["parameters"]["enterprise_id"]) for s in cycles] == [
        ("0 6 1 1 *", "northwind-apparel"),
        ("0 6 1 3 *", "campos-del-pacifico"),
    ]
    assert deployments["escalation-sweep"]["schedules"] == [{"interval": 900, "active": True}]
    assert deployments["outbox-dispatcher"]["schedules"] == [{"interval": 60, "active": True}]
    (trigger,) = deployments["outbox-dispatcher"]["triggers"]
    assert trigger["match"] == {"prefect.resource.id": "remediation.sweep.*"}
    assert trigger["expect"] == ["remediation.sweep.escalated"]


def _deployment(name: str):
    return next(d for d in DEPLOYMENTS if d.name == name)


def _intervals(name: str) -> list[dt.timedelta]:
    return [s.interval for s in served_schedules(_deployment(name))]


def test_served_intervals_come_from_the_environment_and_zero_turns_them_off(monkeypatch):
    for variable in (
        "REMEDIATION_SWEEP_SECONDS",
        "REMEDIATION_DISPATCH_SECONDS",
        "REMEDIATION_RECOVERY_SECONDS",
        "REMEDIATION_ERASURE_SECONDS",
    ):
        monkeypatch.delenv(variable, raising=False)
    assert _intervals("escalation-sweep") == [dt.timedelta(seconds=900)]
    assert _intervals("outbox-dispatcher") == [dt.timedelta(seconds=60)]
    assert _intervals("recover-case-lifecycles") == [dt.timedelta(seconds=3600)]
    assert _intervals("erase-expired-identities") == [dt.timedelta(days=1)]
    assert _deployment("erase-expired-identities").runner == "operations"
    monkeypatch.setenv("REMEDIATION_ERASURE_SECONDS", "0")
    assert _intervals("erase-expired-identities") == []
    monkeypatch.setenv("REMEDIATION_DISPATCH_SECONDS", "30")
    monkeypatch.setenv("REMEDIATION_RECOVERY_SECONDS", "0")
    assert _intervals("outbox-dispatcher") == [dt.timedelta(seconds=30)]
    assert _intervals("recover-case-lifecycles") == []


def test_served_cycles_are_one_per_enterprise_block_and_off_with_the_sweep(monkeypatch):
    cycle = _deployment("due-diligence-cycle")
    monkeypatch.delenv("REMEDIATION_SWEEP_SECONDS", raising=False)
    (schedule,) = served_schedules(cycle, lambda: [("northwind-apparel", 4)])
    assert (schedule.cron, schedule.timezone, schedule.slug) == (
        "0 6 1 4 *",
        "UTC",
        "cycle-northwind-apparel",
    )
    assert schedule.parameters == {"enterprise_id": "northwind-apparel"}
    monkeypatch.setenv("REMEDIATION_SWEEP_SECONDS", "0")

    def not_asked() -> list[tuple[str, int]]:
        raise AssertionError("the Prefect server is read although the cycles are off")

    assert served_schedules(cycle, not_asked) == []
    assert _intervals("escalation-sweep") == []


def test_served_dispatcher_has_the_trigger_limit_and_parameters_of_prefect_yaml(generated, monkeypatch):
    monkeypatch.delenv("REMEDIATION_DISPATCH_SECONDS", raising=False)
    in_yaml = next(d for d in yaml.safe_load(generated)["deployments"] if d["name"] == "outbox-dispatcher")
    served = runner_deployment(_deployment("outbox-dispatcher"))
    assert served.entrypoint == in_yaml["entrypoint"]
    assert (served.tags, served.concurrency_limit, served.parameters) == (
        in_yaml["tags"],
        in_yaml["concurrency_limit"],
        in_yaml["parameters"],
    )
    assert served.description == in_yaml["description"]
    (trigger,) = served.triggers
    assert trigger.name == "send escalations at once"
    assert trigger.match.model_dump() == {"prefect.resource.id": "remediation.sweep.*"}
    assert trigger.expect == {"remediation.sweep.escalated"}
    assert (trigger.threshold, trigger.within, trigger.posture) == (1, dt.timedelta(0), "Reactive")


def test_no_act_deployment_takes_free_text_as_a_parameter():
    """Prefect keeps a run's parameters for the life of the run: reasons are asked as run inputs."""
    from remediation_flows.flows.remediation import acts

    parameters = {
        flow.name: set(flow.parameters.properties)
        for flow in (acts.reopen_a_case, acts.grant_an_extension, acts.reassign_a_case, acts.withdraw_a_case)
    }
    assert parameters == {
        "re-open-a-case": {"case_reference", "reopened_by"},
        "grant-an-extension": {"case_reference", "step", "granted_by", "new_due_at", "working_days"},
        "reassign-a-case": {"case_reference", "case_manager_email", "reassigned_by"},
        "withdraw-a-case": {"case_reference", "why", "withdrawn_by"},
    }
    assert set(acts.ActReasonAnswer.model_fields) == {"reason"}
