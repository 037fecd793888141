"""An approval is recorded under the role its giver holds in the programme, and says how we know."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from remediation_flows.core import casework as cw
from remediation_flows.core.approvals import Decider
from remediation_flows.core.config.loader import load_programme_document
from remediation_flows.core.config.model import ApprovalPolicy
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Approval, AuditEvent
from tests.unit.test_task_links import (
    CASE_MANAGER,
    FOCAL_POINT,
    SUPERVISOR,
    case_awaiting_plan_approval,
    snapshot,
)


def test_a_decision_under_a_role_the_person_does_not_hold_is_refused_and_changes_nothing(
    store, garment_brand
):
    reference = case_awaiting_plan_approval(store, garment_brand)
    before = snapshot(store)
    # The focal point claims to approve as the supervisor: by link or in the UI, refused.
    for decider in (
        Decider(person=FOCAL_POINT, verified=True),
        Decider(
            person=FOCAL_POINT,
            verified=False,
            entered_by="li.wen@ngo.example",
            channel="the Prefect UI",
            on_behalf_reason="phoned in",
        ),
    ):
        with pytest.raises(InvalidInput, match=f"{FOCAL_POINT} does not hold the role supervisor"):
            cw.decide_plan(store, reference, "supervisor", True, FOCAL_POINT, decider=decider)
    assert snapshot(store) == before


def test_the_proposer_cannot_approve_their_own_plan(store, garment_brand):
    # The case manager who proposed the plan is also listed as the supervisor here.
    document = garment_brand.document | {
        "contacts": garment_brand.document["contacts"]
        | {"supervisor": [{"name": "Rahim", "email": CASE_MANAGER}]}
    }
    programme = load_programme_document(document, "garment with the case manager as supervisor")
    reference = case_awaiting_plan_approval(store, programme)
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="proposed this plan and cannot also approve it"):
        cw.decide_plan(
            store, reference, "supervisor", True, CASE_MANAGER, decider=Decider(CASE_MANAGER, verified=True)
        )
    assert snapshot(store) == before


def test_one_person_in_two_roles_decides_under_one_only_by_default(store, garment_brand):
    document = garment_brand.document | {
        "contacts": garment_brand.document["contacts"]
        | {"supervisor": [{"name": "Farzana", "email": FOCAL_POINT}]}
    }
    programme = load_programme_document(document, "garment with one person in two roles")
    reference = case_awaiting_plan_approval(store, programme)
    cw.decide_plan(
        store, reference, "supervisor", True, FOCAL_POINT, decider=Decider(FOCAL_POINT, verified=True)
    )
    with pytest.raises(InvalidInput, match="already decided as supervisor"):
        cw.decide_plan(
            store,
            reference,
            "enterprise_focal_point",
            True,
            FOCAL_POINT,
            decider=Decider(FOCAL_POINT, verified=True),
        )
    assert cw.case_view(store, reference).pending_approvals == ["enterprise_focal_point"]


def test_staff_record_on_someones_behalf_only_with_a_reason_and_where_the_programme_allows(
    store, garment_brand
):
    reference = case_awaiting_plan_approval(store, garment_brand)
    staff = Decider(SUPERVISOR, verified=False, entered_by="Li Wen", channel="the Prefect UI")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="on their behalf needs a reason"):
        cw.decide_plan(store, reference, "supervisor", True, "Li Wen", decider=staff)
    assert snapshot(store) == before
    view = cw.decide_plan(
        store,
        reference,
        "supervisor",
        True,
        "Li Wen",
        decider=dataclasses.replace(staff, on_behalf_reason="approved by phone, no internet on site"),
    )
    [decision] = view.decisions
    assert (decision.role, decision.decided_for, decision.verified) == ("supervisor", SUPERVISOR, False)
    assert decision.recorded_by == f"entered in the Prefect UI by Li Wen on behalf of {SUPERVISOR}"
    with store.transaction() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "approval_approved").order_by(AuditEvent.id.desc())
        ).first()
        assert event.actor == decision.recorded_by
        assert event.details == {
            "role": "supervisor",
            "subject": f"plan {view.plan_id}",
            "for": SUPERVISOR,
            "verified": False,
            "on_behalf_reason": "approved by phone, no internet on site",
        }

    # A programme where only the approver's own link counts for the plan.
    steps = garment_brand.document["remediation"]["steps"]
    document = garment_brand.document | {
        "remediation": garment_brand.document["remediation"]
        | {
            "steps": steps
            | {
                "remediation_plan": steps["remediation_plan"]
                | {"approval_policy": {"staff_may_record": False}}
            }
        }
    }
    strict = load_programme_document(document, "garment, links only for the plan")
    assert strict.step("remediation_plan").approval_policy == ApprovalPolicy(staff_may_record=False)
    assert garment_brand.step("remediation_plan").approval_policy == ApprovalPolicy()
    second = case_awaiting_plan_approval(store, strict)
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="counts only through the approver's own task link"):
        cw.decide_plan(
            store,
            second,
            "enterprise_focal_point",
            True,
            FOCAL_POINT,
            decider=Decider(FOCAL_POINT, verified=False, entered_by=FOCAL_POINT, channel="the Prefect UI"),
        )
    assert snapshot(store) == before
    view = cw.decide_plan(
        store,
        second,
        "enterprise_focal_point",
        True,
        FOCAL_POINT,
        decider=Decider(FOCAL_POINT, verified=True),
    )
    assert [(d.decided_for, d.verified, d.recorded_by) for d in view.decisions] == [
        (FOCAL_POINT, True, FOCAL_POINT)
    ]
    assert "verified by a task link" in view.decisions[0].how
    with store.transaction() as session:
        approval = session.scalars(
            select(Approval).where(Approval.role == "enterprise_focal_point", Approval.status == "approved")
        ).one()
        assert (approval.decided_for, approval.verified) == (FOCAL_POINT, True)
        case = repo.get_case(session, second)
        assert approval.case_id == case.id
