"""Every deployment of remediation-flows, defined once.

Two things are made from :data:`DEPLOYMENTS`: the runner deployments that ``remediation_flows.stack.serve``
(and so ``remediate up``) serves on one machine, and ``prefect.yaml``, which ``prefect deploy --all``
reads to put the same deployments on a work pool of workers. ``prefect.yaml`` is generated, never
edited by hand:

    python -m remediation_flows.flows.deployments > prefect.yaml

``tests/unit/test_deployments.py`` fails when the committed file differs from what this prints.

A deployment's description is its flow's (the ``description`` of its ``@flow``), so it too is
written in one place; the generated YAML repeats it for the reader of the file.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from remediation_flows.flows.escalation import SWEEP_ESCALATED_EVENT

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

    from remediation_flows.core.config import Programme


#: Under ``remediate up`` and ``remediation_flows.stack.serve`` every schedule is off when the sweep's is: the
#: integration tests set ``REMEDIATION_SWEEP_SECONDS=0`` and run everything on demand.
SWEEP_SECONDS_VARIABLE = "REMEDIATION_SWEEP_SECONDS"


@dataclass(frozen=True)
class Every:
    """A schedule every ``seconds``; served, ``variable`` overrides it and 0 turns it off."""

    seconds: int
    variable: str

    def served_seconds(self) -> int:
        """The interval ``remediation_flows.stack.serve`` uses: the environment's, else the default."""
        return int(os.environ.get(self.variable, str(self.seconds)))


@dataclass(frozen=True)
class YearlyCycles:
    """One schedule per enterprise programme: 06:00 UTC on the 1st of its cycle's start month.

    Served, the programmes are the enterprise-programme blocks on the Prefect server; in the
    generated prefect.yaml they are the programme files given to the generator (examples/*.yaml).
    """

    off_when_zero: str = SWEEP_SECONDS_VARIABLE


@dataclass(frozen=True)
class Deployment:
    """One deployment: what runs, how many at once, when, and what else starts it."""

    name: str
    #: ``path/to/module.py:flow_function`` from the project's root, as prefect.yaml writes it.
    entrypoint: str
    tags: tuple[str, ...]
    concurrency_limit: int | None = None
    schedule: Every | YearlyCycles | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Trigger specifications as prefect.yaml writes them; the runners validate them the same way.
    triggers: tuple[dict[str, Any], ...] = ()
    #: Why it is set up so, for whoever reads prefect.yaml; written there as a comment.
    note: str | None = None
    #: Which of `remediate up`'s two runners serves it: the sweep, the dispatcher and the recovery
    #: have a runner of their own, so that mail and escalations never queue behind a burst of cases.
    runner: str = "casework"

    @property
    def module(self) -> str:
        """The entrypoint's module, importable from the project's root (or the installed package)."""
        # flows/ is the package remediation_flows.flows (setup.py maps it so).
        return "remediation_flows." + self.entrypoint.split(":")[0].removesuffix(".py").replace("/", ".")

    def flow(self) -> Flow:
        """The flow object the entrypoint names."""
        return getattr(importlib.import_module(self.module), self.entrypoint.split(":")[1])


REMEDIATION = ("remediation",)
CASEWORK, OPERATIONS = "casework", "operations"
RUNNERS = (CASEWORK, OPERATIONS)

# The automation: a sweep's escalation emails leave at once rather than at the dispatcher's next tick.
# It listens for the sweep's one summary event, not each milestone's, so a sweep that escalates
# hundreds of milestones starts one dispatcher run, not hundreds.
SEND_ESCALATIONS_AT_ONCE: dict[str, Any] = {
    "type": "event",
    "enabled": True,
    "name": "send escalations at once",
    "description": "Dispatch the outbox as soon as a sweep has escalated anything.",
    "match": {"prefect.resource.id": "remediation.sweep.*"},
    "expect": [SWEEP_ESCALATED_EVENT],
    "posture": "Reactive",
    "threshold": 1,
    "within": 0,
}

DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment(
        "open-a-case",
        "flows/remediation/notification.py:open_a_case",
        REMEDIATION,
        concurrency_limit=10,
    ),
    Deployment(
        "case-lifecycle",
        "flows/remediation/lifecycle.py:case_lifecycle",
        REMEDIATION,
        # A suspended run holds no slot: the limit counts lifecycles at work, not cases waiting.
        concurrency_limit=50,
    ),
    Deployment("re-open-a-case", "flows/remediation/acts.py:reopen_a_case", REMEDIATION),
    Deployment("grant-an-extension", "flows/remediation/acts.py:grant_an_extension", REMEDIATION),
    Deployment("hold-a-milestone", "flows/remediation/acts.py:hold_a_milestone", REMEDIATION),
    Deployment("release-a-milestone", "flows/remediation/acts.py:release_a_milestone", REMEDIATION),
    Deployment("reassess-a-site", "flows/due_diligence/reassessment.py:reassess_a_site", ("due-diligence",)),
    Deployment("re-issue-a-task-link", "flows/remediation/acts.py:reissue_a_task_link", REMEDIATION),
    Deployment(
        "re-issue-a-cycle-task-link",
        "flows/due_diligence/acts.py:reissue_a_cycle_task_link",
        ("due-diligence",),
    ),
    Deployment("reassign-a-case", "flows/remediation/acts.py:reassign_a_case", REMEDIATION),
    Deployment("withdraw-a-case", "flows/remediation/acts.py:withdraw_a_case", REMEDIATION),
    Deployment(
        "confirm-a-stipend-payment", "flows/remediation/stipends.py:confirm_a_stipend_payment", REMEDIATION
    ),
    Deployment("record-interim-support", "flows/remediation/stipends.py:record_interim_support", REMEDIATION),
    Deployment(
        "recover-case-lifecycles",
        "flows/remediation/recovery.py:recover_case_lifecycles",
        REMEDIATION,
        concurrency_limit=1,
        schedule=Every(3600, "REMEDIATION_RECOVERY_SECONDS"),
        runner=OPERATIONS,
    ),
    Deployment(
        "erase-expired-identities",
        "flows/retention.py:erase_expired_identities",
        ("safeguarding",),
        concurrency_limit=1,
        schedule=Every(86400, "REMEDIATION_ERASURE_SECONDS"),
        parameters={"batch_size": 200},
        note="Daily: erases each identity kept past its programme's retention.identity_months after the\n"
        "case ended, unless the case is on legal hold (`remediate case hold`).",
        runner=OPERATIONS,
    ),
    Deployment(
        "due-diligence-cycle",
        "flows/due_diligence/cycle.py:due_diligence_cycle",
        ("due-diligence",),
        schedule=YearlyCycles(),
        note="One schedule per enterprise, in the month its programme starts the cycle (cycle_start_month).\n"
        "Generated from examples/*.yaml: for other enterprises, run\n"
        "`python -m remediation_flows.flows.deployments PROGRAMME.yaml...` with their programme files\n"
        "(`remediate up`'s runners read the enterprise blocks instead).",
    ),
    Deployment(
        "escalation-sweep",
        "flows/escalation.py:escalation_sweep",
        ("escalation",),
        concurrency_limit=2,
        schedule=Every(900, SWEEP_SECONDS_VARIABLE),
        note="Two at once is safe (SKIP LOCKED and a unique key per level); more buys nothing.",
        runner=OPERATIONS,
    ),
    Deployment(
        "outbox-dispatcher",
        "flows/dispatcher.py:outbox_dispatcher",
        ("mail",),
        concurrency_limit=2,
        # `remediate up` serves it every 30 s (REMEDIATION_DISPATCH_SECONDS); workers every minute.
        schedule=Every(60, "REMEDIATION_DISPATCH_SECONDS"),
        parameters={"batch_size": 200, "max_attempts": 5},
        triggers=(SEND_ESCALATIONS_AT_ONCE,),
        note="Its automation sends a sweep's escalation emails at once rather than at the next tick; it\n"
        "listens for the sweep's one summary event, so a sweep starts at most one dispatcher run.",
        runner=OPERATIONS,
    ),
)


def cycle_schedule(enterprise_id: str, cycle_start_month: int) -> dict[str, Any]:
    """The yearly cycle's schedule of one enterprise, as prefect.yaml writes it."""
    return {
        "cron": f"0 6 1 {cycle_start_month} *",
        "timezone": "UTC",
        "slug": f"cycle-{enterprise_id}",
        "parameters": {"enterprise_id": enterprise_id},
    }


# --- prefect.yaml ------------------------------------------------------------------------------------

HEADER = """\
# Every deployment of remediation-flows, for `prefect deploy --all` against a Prefect server with a
# process work pool. On one machine, `remediate up` serves the same deployments without a worker.
#
#   prefect work-pool create remediation --type process
#   REMEDIATION_HOME=$PWD prefect deploy --all
#   prefect worker start --pool remediation        # on each worker machine, as many as you like
#
# Workers find the case store and the mail server through the "default" case-store-connection and
# mail-transport blocks. Sweeps and dispatchers may run on several workers at once: the store's
# row locks and unique keys make sure that nothing is escalated or sent twice.
#
# GENERATED from flows/deployments.py, where every deployment is defined once (`remediate up`'s
# runners serve the same list): edit that, then run
# `python -m remediation_flows.flows.deployments > prefect.yaml`.
"""

#: The anchors the deployments refer to: every deployment runs on this pool, most with these tags.
WORK_POOL = {"name": "remediation", "work_queue_name": "default"}


def _yaml_schedules(deployment: Deployment, programmes: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    if isinstance(deployment.schedule, Every):
        return [{"interval": deployment.schedule.seconds, "active": True}]
    if isinstance(deployment.schedule, YearlyCycles):
        return [cycle_schedule(enterprise_id, month) for enterprise_id, month in programmes]
    return []


def _yaml_note(deployment: Deployment) -> list[str]:
    """The comment lines above a deployment in prefect.yaml."""
    lines = deployment.note.splitlines() if deployment.note else []
    if isinstance(deployment.schedule, Every):
        lines.append(f"Served by `remediate up`, {deployment.schedule.variable} sets the interval (0: off).")
    return lines


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, and the anchors named as a person would name them."""

    anchor_names: dict[int, str] = {}

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def generate_anchor(self, node: yaml.Node) -> str:
        for object_id, name in self.anchor_names.items():
            if self.represented_objects.get(object_id) is node:
                return name
        raise AssertionError(f"an unnamed object is shared in prefect.yaml: {node}")


def prefect_yaml(programme_files: Iterable[Path] | None = None) -> str:
    """The text of prefect.yaml: every deployment in :data:`DEPLOYMENTS`, on the work pool.

    The cycle schedules are those of ``programme_files`` (default: examples/*.yaml).
    """
    from remediation_flows.core.config import load_programme_file
    from remediation_flows.core.resources import example_programmes

    files = example_programmes() if programme_files is None else list(programme_files)
    programmes = [
        (p.enterprise_id, p.due_diligence.cycle_start_month) for p in map(load_programme_file, files)
    ]
    # Shared objects become a YAML anchor and its aliases (`&pool`, `*pool`).
    work_pool, default_tags = dict(WORK_POOL), list(REMEDIATION)
    entries = []
    for deployment in DEPLOYMENTS:
        entry: dict[str, Any] = {"name": deployment.name}
        description = deployment.flow().description
        if description:
            entry["description"] = description
        entry["entrypoint"] = deployment.entrypoint
        entry["work_pool"] = work_pool
        entry["tags"] = default_tags if deployment.tags == REMEDIATION else list(deployment.tags)
        if deployment.concurrency_limit is not None:
            entry["concurrency_limit"] = deployment.concurrency_limit
        if schedules := _yaml_schedules(deployment, programmes):
            entry["schedules"] = schedules
        if deployment.parameters:
            entry["parameters"] = dict(deployment.parameters)
        if deployment.triggers:
            entry["triggers"] = [dict(trigger) for trigger in deployment.triggers]
        entries.append(entry)
    document = {
        "name": "remediation-flows",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        # Workers run the flows from the checkout at REMEDIATION_HOME on their machine.
        "pull": [
            {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $REMEDIATION_HOME }}"}}
        ],
        "definitions": {"work_pool": work_pool, "tags": default_tags},
        "deployments": entries,
    }
    _Dumper.anchor_names = {id(work_pool): "pool", id(default_tags): "tags"}
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    lines: list[str] = []
    notes = {deployment.name: _yaml_note(deployment) for deployment in DEPLOYMENTS}
    for line in body.splitlines():
        if line.startswith("  - name: "):
            if lines[-1] != "deployments:":
                lines.append("")
            lines.extend(f"  # {note}" for note in notes[line.removeprefix("  - name: ")])
        elif line in ("definitions:", "deployments:"):
            lines.append("")
        lines.append(line)
    return HEADER + "\n".join(lines) + "\n"


# --- remediation_flows.stack.serve ------------------------------------------------------------------------


def served_schedules(
    deployment: Deployment, cycles: Callable[[], Sequence[tuple[str, int]]] = list
) -> list[Schedule]:
    """The deployment's schedules under ``remediation_flows.stack.serve``.

    ``cycles`` gives the enterprises' (id, cycle start month); it is asked only when the yearly
    cycles are on, since it reads the Prefect server.
    """
    from prefect.schedules import Cron, Interval

    if isinstance(deployment.schedule, Every):
        seconds = deployment.schedule.served_seconds()
        return [Interval(dt.timedelta(seconds=seconds))] if seconds else []
    if isinstance(deployment.schedule, YearlyCycles):
        if not int(os.environ.get(deployment.schedule.off_when_zero, "1")):
            return []
        specs = [cycle_schedule(enterprise_id, month) for enterprise_id, month in cycles()]
        return [
            Cron(spec["cron"], timezone=spec["timezone"], parameters=spec["parameters"], slug=spec["slug"])
            for spec in specs
        ]
    return []


def runner_deployment(
    deployment: Deployment,
    cycles: Callable[[], Sequence[tuple[str, int]]] = list,
    programmes: Sequence[Programme] = (),
) -> RunnerDeployment:
    """The deployment as the runners serve it: the same flow, tags, limit, parameters and triggers.

    Its form reads as words, and open-a-case's and due-diligence-cycle's offer the enterprises (and
    sites) of ``programmes`` (flows/form_choices.py).
    """
    from prefect.events import DeploymentTriggerTypes
    from prefect.utilities.callables import ParameterSchema
    from pydantic import TypeAdapter

    from remediation_flows.flows.form_choices import WITH_PROGRAMME_CHOICES, form_schema, is_worded

    adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    served = deployment.flow().to_deployment(
        name=deployment.name,
        tags=list(deployment.tags),
        concurrency_limit=deployment.concurrency_limit,
        schedules=served_schedules(deployment, cycles),
        parameters=dict(deployment.parameters) or None,
        # Validated as `prefect deploy` validates prefect.yaml's triggers, so both make the same automation.
        triggers=[adapter.validate_python(dict(trigger)) for trigger in deployment.triggers],
    )
    schema = served._parameter_openapi_schema.model_dump()
    if is_worded(schema) or deployment.name in WITH_PROGRAMME_CHOICES:
        served._parameter_openapi_schema = ParameterSchema(**form_schema(deployment.name, schema, programmes))
        # The flow validates its parameters itself, taking the form's words and the API's codes.
        served.enforce_parameter_schema = False
    return served


def main(argv: Sequence[str] | None = None) -> None:
    """Print prefect.yaml; arguments are programme files to schedule cycles for (default: the examples)."""
    files = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    sys.stdout.write(prefect_yaml(files or None))


if __name__ == "__main__":
    main()
