"""The two acts casework and the due-diligence cycle share: a task email, and "are all approvals in?"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from remediation_flows.core.approvals import all_approved, approvals_on
from remediation_flows.core.config.model import Role
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import OutboxMessage
from tests.unit.test_store import NOTIFIED_AT, opened_case


def _plan_milestone(session, programme, reference):
    case = repo.get_case(session, reference)
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=f"{reference}/r1/remediation_plan",
        site_id=case.site_id,
        step="remediation_plan",
        title="Plan",
        due_at=NOTIFIED_AT + dt.timedelta(days=14),
        actor="flow",
        case=case,
    )
    return case, milestone


def test_all_approved_only_when_every_requested_role_has_approved_this_subject(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        _, milestone = _plan_milestone(session, garment_brand, reference)
        repo.request_approvals(
            session, milestone, ["supervisor", "enterprise_focal_point"], actor="flow", subject="plan 1"
        )
        repo.request_approvals(session, milestone, ["supervisor"], actor="flow", subject="plan 2")
        assert [a.role for a in approvals_on(session, milestone, "plan 1")] == [
            "supervisor",
            "enterprise_focal_point",
        ]
        assert not all_approved(session, milestone, "plan 1")
        repo.decide_approval(session, milestone, "supervisor", approved=True, actor="c", subject="plan 1")
        assert not all_approved(session, milestone, "plan 1")
        # Another subject on the same milestone (a re-proposed plan) is asked separately.
        assert not all_approved(session, milestone, "plan 2")
        repo.decide_approval(
            session, milestone, "enterprise_focal_point", approved=True, actor="b", subject="plan 1"
        )
        assert all_approved(session, milestone, "plan 1")
        assert not all_approved(session, milestone, "plan 2")
        assert approvals_on(session, None, "plan 1") == []


def test_a_refusal_is_not_all_approved(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        _, milestone = _plan_milestone(session, garment_brand, reference)
        repo.request_approvals(session, milestone, ["supervisor"], actor="flow", subject="closure")
        repo.decide_approval(
            session, milestone, "supervisor", approved=False, actor="c", comment="not yet", subject="closure"
        )
        assert not all_approved(session, milestone, "closure")


def test_task_mail_goes_to_the_roles_with_the_milestone_due_date_and_calendar_uid(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        case, milestone = _plan_milestone(session, garment_brand, reference)
        mail = enqueue_task_mail(
            session,
            garment_brand,
            milestone,
            [Role.SUPERVISOR, Role.CASE_MANAGER],
            "Review the plan.",
            reference=reference,
            contact_role=Role.CASE_MANAGER,
            case_manager="assigned.cm@ngo.example",
            case_id=case.id,
        )
        assert mail is not None and reference in mail.subject
        assert f"UID:{milestone.key}@remediation-flows" in mail.calendar_ics
        (row,) = session.scalars(select(OutboxMessage).where(OutboxMessage.milestone_id == milestone.id))
        assert row.kind == "task" and row.case_id == case.id and row.enterprise_id == "northwind-apparel"
        # The case's assigned case manager stands in for the whole role.
        assert row.recipients == ["chen.jing@ngo.example", "assigned.cm@ngo.example"]
        assert row.subject == mail.subject


def test_task_mail_to_no_address_is_not_queued(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        _, milestone = _plan_milestone(session, garment_brand, reference)
        assert (
            enqueue_task_mail(
                session,
                garment_brand,
                milestone,
                [],
                "x",
                reference=reference,
                contact_role=Role.PROGRAM_MANAGER,
            )
            is None
        )
        assert not session.scalars(
            select(OutboxMessage).where(OutboxMessage.milestone_id == milestone.id)
        ).all()
