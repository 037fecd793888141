"""The scheduled erasure as it runs: the served `erase-expired-identities` deployment on the real server.

A withdrawn case kept past its programme's retention loses its identity; one on legal hold keeps it;
both keep their pseudonymous case and audit. Neither name reaches the run's logs, its result or
anything else Prefect holds.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from remediation_flows.core import casework as cw
from remediation_flows.core.config import load_programme_document
from remediation_flows.core.config.loader import parse_yaml
from remediation_flows.core.safeguarding.retention import place_legal_hold
from remediation_flows.core.store.schema import AuditEvent, Case, ChildPersonalData
from tests.conftest import EXAMPLES
from tests.integration.conftest import run_deployment_and_wait, run_logs
from tests.integration.test_remediation_flows import _dump_prefect_database

pytestmark = pytest.mark.prefect

STAFF = "li.wen@ngo.example"
EXPIRED_CHILD = "Tomasa Quispe Huamán"
HELD_CHILD = "Rosalinda Ccori Mamani"


def _withdrawn_case(store, programme, name: str) -> str:
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id=programme.document["sites"][0]["id"],
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
        suspected_age=13,
        suspected_cause=cw.SuspectedCause.LABOUR_AGENT,
    )
    reference = cw.open_case(store, programme, notification, actor=STAFF).reference
    cw.identify_child(store, reference, full_name=name, birth_date=dt.date(2013, 5, 9), actor=STAFF)
    cw.withdraw_case(store, reference, STAFF, "a duplicate of another notification")
    return reference


def _identity_rows(store, reference: str) -> int:
    with store.reading() as session:
        return session.scalar(
            select(func.count())
            .select_from(ChildPersonalData)
            .join(Case, Case.id == ChildPersonalData.case_id)
            .where(Case.reference == reference)
        )


async def test_the_scheduled_erasure_erases_expired_identities_and_spares_a_held_one(deployed):
    path = EXAMPLES / "mexican_agro_exporter.yaml"
    programme = load_programme_document(parse_yaml(path.read_text(encoding="utf-8"), str(path)))
    expired = _withdrawn_case(deployed.store, programme, EXPIRED_CHILD)
    held = _withdrawn_case(deployed.store, programme, HELD_CHILD)
    place_legal_hold(
        deployed.store, held, reason="labour inspectorate proceedings against the site", actor=STAFF
    )
    # Both ended longer ago than any programme keeps an identity (the default is 36 months).
    with deployed.store.transaction() as session:
        session.execute(
            update(Case)
            .where(Case.reference.in_([expired, held]))
            .values(ended_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=366 * 10))
        )

    run = await run_deployment_and_wait("erase-expired-identities/erase-expired-identities", {})
    assert run.state.is_completed(), run.state
    assert _identity_rows(deployed.store, expired) == 0
    assert _identity_rows(deployed.store, held) == 1
    with deployed.store.reading() as session:
        cases = session.scalar(
            select(func.count()).select_from(Case).where(Case.reference.in_([expired, held]))
        )
        erasures = session.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.entity_id == expired, AuditEvent.action == "child_identity_erased"
            )
        ).all()
    assert cases == 2  # the pseudonymous cases stay, with their audit
    assert erasures == ["erase-expired-identities (scheduled)"]

    erased_line = next(line for line in await run_logs(run.id) if "erased:" in line)
    assert expired in erased_line and held not in erased_line
    everything_prefect_holds = _dump_prefect_database(deployed.prefect_db)
    assert expired in everything_prefect_holds
    for name in (EXPIRED_CHILD, HELD_CHILD, "Quispe", "Rosalinda"):
        assert name not in everything_prefect_holds, f"{name} found in the Prefect database"
        assert name not in deployed.serve_log.read_text(), f"{name} found in the runner's log"
