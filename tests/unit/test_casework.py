"""The remediation lifecycle's acts on SQLite and PostgreSQL, without Prefect."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from remediation_flows.core import casework as cw
from remediation_flows.core.config import Role
from remediation_flows.core.errors import IllegalTransition, InvalidInput
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    Assessment,
    AuditEvent,
    EnterpriseTask,
    OutboxMessage,
    Reintegration,
)
from tests.conftest import years_before

ACTOR = "lucia.fernandez@centro-mx.example"
CHILD_NAME = "Juanita Pérez Hernández"


def notify(store, programme, site="sinaloa-culiacan") -> str:
    notification = cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id=site,
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
        suspected_age=13,
        suspected_cause=cw.SuspectedCause.LABOUR_AGENT,
    )
    return cw.open_case(store, programme, notification, actor=ACTOR).reference


def assess(store, ref, age=14, outcome=cw.AssessmentOutcome.CHILD_LABOURER):
    return cw.record_assessment(
        store,
        ref,
        cw.AssessmentReport(
            age_years=age,
            age_verification=cw.AgeVerification.BIRTH_CERTIFICATE,
            outcome=outcome,
            removed_from_work=True,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=ACTOR,
    )


def plan(pathway=cw.Pathway.SCHOOLING, stipend="1500") -> cw.PlanProposal:
    return cw.PlanProposal(
        pathway=pathway,
        monthly_stipend=Decimal(stipend),
        currency="MXN",
        school_fees=Decimal("300"),
        payer=cw.Payer.SUPPLIER,
    )


def to_monitoring(store, ref, today: dt.date) -> cw.CaseView:
    cw.propose_plan(store, ref, plan(), ACTOR)
    cw.decide_plan(store, ref, "supervisor", True, "elena.torres@centro-mx.example")
    cw.decide_plan(store, ref, "enterprise_focal_point", True, "cumplimiento@campos-pacifico.example")
    return cw.record_reintegration(
        store,
        ref,
        cw.ReintegrationReport(effective_on=today, evidence_reference="ENR-2026-77"),
        ACTOR,
    )


def visit(store, ref, day: dt.date, back_at_work=False) -> cw.CaseView:
    return cw.record_follow_up(
        store,
        ref,
        cw.VisitReport(visited_on=day, attending_school=not back_at_work, back_at_work=back_at_work),
        ACTOR,
    )


def outbox(store) -> list[OutboxMessage]:
    with store.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


#: The Mexican programme's visits: 180 and 360 days apart, then every 180 days while the child is under 15.
VISIT_DAYS = (180, 180 + 360, 180 + 360 + 180, 180 + 360 + 180 + 180)


def test_child_case_from_notification_to_closure(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    # The child turns 15, Mexico's minimum working age, on the day the third visit would fall:
    # two visits and closure, in whatever year this runs.
    born = years_before(today + dt.timedelta(days=VISIT_DAYS[2]), 15)
    view = cw.case_view(store, ref)
    assert view.state == "on_site_assessment"
    [assessment] = view.open_milestones
    assert assessment.step == "on_site_assessment" and "America/Mazatlan" in assessment.due_local
    first_mails = outbox(store)
    assert [m.recipients for m in first_mails] == [
        ["cumplimiento@campos-pacifico.example"],
        ["pedro.gomez@centro-mx.example"],
    ]
    assert first_mails[0].subject.startswith(f"[{ref}] Tarea: Evaluación en el lugar")
    assert (
        "Retire de inmediato" in first_mails[0].body_text and "BEGIN:VCALENDAR" in first_mails[0].calendar_ics
    )
    cw.identify_child(store, ref, full_name=CHILD_NAME, birth_date=born, actor=ACTOR)

    view = assess(store, ref, age=age_on(born, today))
    assert view.state == "remediation_plan" and view.milestone("remediation_plan")
    view = cw.propose_plan(store, ref, plan(), ACTOR)
    assert view.pending_approvals == ["supervisor", "enterprise_focal_point"]
    view = cw.decide_plan(
        store, ref, "supervisor", False, "elena.torres@centro-mx.example", comment="stipend too low"
    )
    assert view.plan_status == "rejected" and view.state == "remediation_plan"
    with pytest.raises(InvalidInput, match="no remediation plan awaiting"):
        cw.decide_plan(store, ref, "enterprise_focal_point", True, "x")
    view = to_monitoring(store, ref, today)
    assert view.state == "monitoring" and view.plans_proposed == 2
    assert [m.key.rsplit("/", 2)[-2:] for m in view.open_milestones] == [
        ["stipend", "1"],
        ["follow_up_visit", "1"],
    ]

    view = visit(store, ref, today + dt.timedelta(days=180))
    assert view.milestone("follow_up_visit").key.endswith("/follow_up_visit/2")
    # On the day the third visit would fall the child is 15, Mexico's minimum age: closure.
    assert age_on(born, today + dt.timedelta(days=VISIT_DAYS[2])) == 15
    view = visit(store, ref, today + dt.timedelta(days=360))
    assert view.closure_pending == ["program_manager"] and view.milestone("follow_up_visit") is None
    view = cw.decide_closure(store, ref, "program_manager", True, ACTOR, comment="back in school a year")
    assert view.state == "closed" and view.open_milestones == []

    with store.transaction() as session:
        case = repo.get_case(session, ref)
        moves = [e.details["to"] for e in repo.audit_trail(session, case) if e.action == "case_state_changed"]
        assert moves == [
            "on_site_assessment",
            "remediation_plan",
            "school_reintegration",
            "monitoring",
            "closed",
        ]
        assert all(e.actor for e in repo.audit_trail(session, case))
        # Enrolment, the removal from work and the first month's stipend payment.
        assert session.scalar(select(func.count()).select_from(EnterpriseTask)) == 3
    for message in outbox(store):
        for text in (message.subject, message.body_text, message.body_html or "", message.calendar_ics or ""):
            assert "Juanita" not in text and born.isoformat() not in text


def test_a_child_under_the_minimum_age_is_monitored_until_reaching_it(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    # Still 14 on the day of the third visit, 15 by the fourth: the listed two visits are not enough.
    born = years_before(today + dt.timedelta(days=VISIT_DAYS[2] + 1), 15)
    assert age_on(born, today + dt.timedelta(days=VISIT_DAYS[2])) == 14
    assert age_on(born, today + dt.timedelta(days=VISIT_DAYS[3])) == 15
    cw.identify_child(store, ref, full_name=CHILD_NAME, birth_date=born, actor=ACTOR)
    assess(store, ref, age=age_on(born, today))
    to_monitoring(store, ref, today)
    visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[0]))
    view = visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[1]))
    third = view.milestone("follow_up_visit")
    assert third is not None and third.key.endswith("/follow_up_visit/3") and view.closure_pending == []
    view = visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[2]))
    assert view.closure_pending == ["program_manager"] and view.milestone("follow_up_visit") is None
    assert view.visits_done == 3


def plan_audit(store, ref) -> list[tuple[str, str, dict]]:
    with store.transaction() as session:
        return [
            (e.action, e.actor, e.details)
            for e in repo.audit_trail(session, repo.get_case(session, ref))
            if e.action.startswith("plan_")
        ]


def test_a_plan_is_audited_as_accepted_once_when_the_last_approval_is_in(store, agro_exporter):
    ref = notify(store, agro_exporter)
    assess(store, ref)
    plan_id = cw.propose_plan(store, ref, plan(), ACTOR).plan_id
    cw.decide_plan(store, ref, "supervisor", True, "elena.torres@centro-mx.example")
    assert [action for action, _, _ in plan_audit(store, ref)] == ["plan_proposed"]  # one approval of two
    view = cw.decide_plan(store, ref, "enterprise_focal_point", True, "cumplimiento@campos-pacifico.example")
    assert view.plan_status == "accepted"
    assert plan_audit(store, ref)[1:] == [
        ("plan_accepted", "cumplimiento@campos-pacifico.example", {"plan": plan_id})
    ]


def test_the_reintegration_task_goes_to_the_enterprise_focal_point(store, agro_exporter):
    ref = notify(store, agro_exporter)
    assess(store, ref)
    cw.propose_plan(store, ref, plan(), ACTOR)
    cw.decide_plan(store, ref, "supervisor", True, "elena.torres@centro-mx.example")
    sent_before = len(outbox(store))
    view = cw.decide_plan(store, ref, "enterprise_focal_point", True, "cumplimiento@campos-pacifico.example")
    assert view.state == "school_reintegration"
    task, payment = outbox(store)[sent_before:]
    focal_points = agro_exporter.emails_for([Role.ENTERPRISE_FOCAL_POINT])
    assert focal_points and task.recipients == focal_points
    assert not set(task.recipients) & set(agro_exporter.emails_for([Role.PROGRAM_MANAGER]))
    assert task.kind == "task" and task.subject.startswith(f"[{ref}] Tarea: Reintegración escolar")
    # One formatter for every amount: the Spanish reader's 1.500,00 MXN, never a float's 1500.0.
    assert "El estipendio mensual de 1.500,00 MXN se pide" in " ".join(task.body_text.split())
    assert payment.subject.startswith(f"[{ref}] Tarea: Pago del estipendio")
    assert "Pague Estipendio mensual 1 de 1.500,00 MXN" in " ".join(payment.body_text.split())
    assert payment.recipients == focal_points
    with store.transaction() as session:
        [enterprise_task] = session.scalars(
            select(EnterpriseTask).where(EnterpriseTask.title == task.subject)
        ).all()
        assert enterprise_task.enterprise_id == agro_exporter.enterprise_id


def assess_young_worker(store, ref, age, removed_from_hazardous_work=True):
    return cw.record_assessment(
        store,
        ref,
        cw.AssessmentReport(
            age_years=age,
            age_verification=cw.AgeVerification.IDENTITY_DOCUMENTS,
            outcome=cw.AssessmentOutcome.YOUNG_WORKER,
            removed_from_work=False,  # a young worker may keep the job
            removed_from_hazardous_work=removed_from_hazardous_work,
            safe_place=True,
            child_consent=True,
            guardian_consent=True,
        ),
        actor=ACTOR,
    )


def to_young_worker_protection(store, ref) -> cw.CaseView:
    with pytest.raises(InvalidInput, match="needs the pathway young_worker_protection"):
        cw.propose_plan(store, ref, plan(), ACTOR)
    cw.propose_plan(store, ref, plan(pathway=cw.Pathway.YOUNG_WORKER_PROTECTION, stipend="0"), ACTOR)
    cw.decide_plan(store, ref, "supervisor", True, "elena.torres@centro-mx.example")
    return cw.decide_plan(store, ref, "enterprise_focal_point", True, "cumplimiento@campos-pacifico.example")


def protect(store, ref, today, night_shifts_stopped=True) -> cw.CaseView:
    return cw.record_reintegration(
        store,
        ref,
        cw.ReintegrationReport(
            effective_on=today,
            hazardous_tasks_removed=True,
            hours_reduced=True,
            night_shifts_stopped=night_shifts_stopped,
        ),
        ACTOR,
    )


def test_young_worker_path_is_protection_not_school(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    with pytest.raises(InvalidInput, match="young_worker needs an age from 15 to 17"):
        assess(store, ref, age=14, outcome=cw.AssessmentOutcome.YOUNG_WORKER)
    # Kept in the job but still on hazardous tasks: not yet a young worker's assessment.
    with pytest.raises(InvalidInput, match="removed from hazardous work"):
        assess_young_worker(store, ref, age=16, removed_from_hazardous_work=False)
    assess_young_worker(store, ref, age=16)
    with store.transaction() as session:
        [assessment] = session.scalars(select(Assessment)).all()
        assert assessment.removed_from_work is False and assessment.removed_from_hazardous_work is True
    view = to_young_worker_protection(store, ref)
    assert view.state == "young_worker_protection"
    task = outbox(store)[-1]
    assert task.subject.startswith(f"[{ref}] Tarea: Protección de trabajador(a) joven")
    for measure in ("tareas peligrosas", "turnos nocturnos", "límite legal"):  # the 3 H's, in Spanish
        assert measure in task.body_text
    with pytest.raises(InvalidInput, match="night_shifts_stopped not confirmed"):
        protect(store, ref, today, night_shifts_stopped=False)
    protect(store, ref, today)
    with store.transaction() as session:
        [protection] = session.scalars(select(Reintegration)).all()
        assert protection.hazardous_tasks_removed and protection.hours_reduced
        assert protection.night_shifts_stopped
    visit(store, ref, today + dt.timedelta(days=170))
    view = visit(store, ref, today + dt.timedelta(days=350))
    # The listed two visits are not enough: assessed at 16, the young worker is under 18 at the next.
    assert view.closure_pending == [] and view.milestone("follow_up_visit").key.endswith("/follow_up_visit/3")


def test_a_young_worker_is_monitored_until_18_then_closure_is_asked(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    # Mexico's visits fall 180, 540, 720 and 900 days after protection; the worker turns 18 the day
    # after the fourth, so the listed offsets, then two repeats, then closure.
    born = years_before(today + dt.timedelta(days=VISIT_DAYS[3] + 1), 18)
    assert age_on(born, today + dt.timedelta(days=VISIT_DAYS[3])) == 17
    assert age_on(born, today + dt.timedelta(days=VISIT_DAYS[3] + 180)) == 18
    cw.identify_child(store, ref, full_name=CHILD_NAME, birth_date=born, actor=ACTOR)
    assess_young_worker(store, ref, age=age_on(born, today))
    to_young_worker_protection(store, ref)
    view = protect(store, ref, today)
    assert view.state == "monitoring"
    for number, days in enumerate(VISIT_DAYS[:3], start=1):
        view = visit(store, ref, today + dt.timedelta(days=days))
        assert view.closure_pending == [], f"closure asked after visit {number}, before the 18th birthday"
        following = view.milestone("follow_up_visit")
        assert following is not None and following.key.endswith(f"/follow_up_visit/{number + 1}")
    view = visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[3]))
    assert view.closure_pending == ["program_manager"] and view.milestone("follow_up_visit") is None
    assert view.visits_done == 4
    view = cw.decide_closure(store, ref, "program_manager", True, ACTOR, comment="18, in a safe job")
    assert view.state == "closed"


def test_a_young_worker_without_a_recorded_birth_date_is_followed_from_the_verified_age(
    store, agro_exporter, today
):
    ref = notify(store, agro_exporter)
    assess_young_worker(store, ref, age=17)  # 17 today: 18 by the second listed visit (540 days)
    to_young_worker_protection(store, ref)
    protect(store, ref, today)
    visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[0]))
    view = visit(store, ref, today + dt.timedelta(days=VISIT_DAYS[1]))
    assert view.closure_pending == ["program_manager"] and view.visits_done == 2


def test_back_at_work_reopens_with_a_new_plan_round(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    assess(store, ref)
    to_monitoring(store, ref, today)
    view = visit(store, ref, today + dt.timedelta(days=175), back_at_work=True)
    assert (view.state, view.round) == ("remediation_plan", 2)
    assert [m.key for m in view.open_milestones] == [f"{ref}/r2/remediation_plan"]
    assert view.plans_proposed == 0 and view.effective_on is None
    notice = outbox(store)[-1]
    assert set(notice.recipients) == {
        "cumplimiento@campos-pacifico.example",
        "pedro.gomez@centro-mx.example",
        "lucia.fernandez@centro-mx.example",
    }
    view = to_monitoring(store, ref, today + dt.timedelta(days=200))
    assert view.state == "monitoring" and view.visits_done == 0


def test_not_a_child_withdraws_the_case(store, agro_exporter):
    ref = notify(store, agro_exporter)
    view = assess(store, ref, age=19, outcome=cw.AssessmentOutcome.NOT_A_CHILD)
    assert view.state == "withdrawn" and view.open_milestones == []


def test_bad_input_changes_nothing(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    assess(store, ref)

    def snapshot():
        with store.transaction() as session:
            return (
                session.scalar(select(func.count()).select_from(AuditEvent)),
                session.scalar(select(func.count()).select_from(OutboxMessage)),
                repo.get_case(session, ref).state,
            )

    before = snapshot()
    with pytest.raises(InvalidInput, match="monthly_stipend must not be negative"):
        cw.propose_plan(store, ref, plan(stipend="-5"), ACTOR)
    with pytest.raises(IllegalTransition):
        visit(store, ref, today)
    assert snapshot() == before
    to_monitoring(store, ref, today)
    before = snapshot()
    with pytest.raises(InvalidInput, match="is before the enrolment date"):
        visit(store, ref, today - dt.timedelta(days=1))
    assert snapshot() == before


def test_extension_and_reassignment_are_audited_and_told(store, agro_exporter):
    ref = notify(store, agro_exporter)
    before = cw.case_view(store, ref).milestone("on_site_assessment").due_at
    view = cw.grant_extension(store, ref, "on_site_assessment", ACTOR, "flooded road", working_days=2)
    after = view.milestone("on_site_assessment").due_at
    assert after > before
    mail = outbox(store)[-1]
    assert mail.kind == "extension" and "flooded road" in mail.body_text and "SEQUENCE:1" in mail.calendar_ics
    with pytest.raises(InvalidInput, match="not a case manager"):
        cw.reassign_case(store, ref, "someone@else.example", ACTOR, "holiday")
    with pytest.raises(Exception, match="no open 'closure' milestone"):
        cw.grant_extension(store, ref, "closure", ACTOR, "x", working_days=1)
    with store.transaction() as session:
        actions = [e.action for e in repo.audit_trail(session, repo.get_case(session, ref))]
    assert "deadline_extended" in actions


def _notification(programme, children: int) -> cw.Notification:
    return cw.Notification(
        enterprise_id=programme.enterprise_id,
        site_id="sinaloa-culiacan",
        notified_at=dt.datetime.now(dt.UTC),
        source=cw.Source.AUDIT,
        children_count=children,
    )


def _case_count(store) -> int:
    from remediation_flows.core.store.schema import Case

    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(Case))


def test_a_notification_opens_every_child_once_however_often_it_is_retried(store, agro_exporter):
    first = cw.open_notification(store, agro_exporter, _notification(agro_exporter, 12), ACTOR, key="run-1")
    assert len({view.reference for view in first}) == 12
    again = cw.open_notification(store, agro_exporter, _notification(agro_exporter, 12), ACTOR, key="run-1")
    assert [v.reference for v in again] == [v.reference for v in first]
    assert _case_count(store) == 12
    other = cw.open_notification(store, agro_exporter, _notification(agro_exporter, 1), ACTOR, key="run-2")
    assert len(other) == 1 and _case_count(store) == 13


def test_a_notification_that_fails_part_way_opens_no_child(store, agro_exporter, monkeypatch):
    from remediation_flows.core.casework import notification

    real = notification.open_case_in
    calls = {"n": 0}

    def dies_on_the_fifth_child(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("the process died")
        return real(*args, **kwargs)

    monkeypatch.setattr(notification, "open_case_in", dies_on_the_fifth_child)
    with pytest.raises(RuntimeError):
        cw.open_notification(store, agro_exporter, _notification(agro_exporter, 8), ACTOR, key="run-3")
    assert _case_count(store) == 0
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    monkeypatch.setattr(notification, "open_case_in", real)
    assert (
        len(cw.open_notification(store, agro_exporter, _notification(agro_exporter, 8), ACTOR, "run-3")) == 8
    )


def test_an_act_in_the_wrong_state_is_refused_in_words(store, agro_exporter, today):
    ref = notify(store, agro_exporter)
    with pytest.raises(
        IllegalTransition,
        match=f"^case {ref}: cannot propose a plan while the case is in on-site assessment$",
    ):
        cw.propose_plan(store, ref, plan(), ACTOR)
    with pytest.raises(
        IllegalTransition, match="cannot record a follow-up visit while the case is in on-site assessment"
    ):
        visit(store, ref, today)
    assess(store, ref)
    with pytest.raises(
        IllegalTransition, match="cannot record an on-site assessment while the case is in remediation plan"
    ):
        assess(store, ref)
    with pytest.raises(
        IllegalTransition, match="cannot re-open the case while the case is in remediation plan"
    ):
        cw.reopen_case(store, ref, ACTOR, "found at work")
    to_monitoring(store, ref, today)
    with pytest.raises(IllegalTransition, match="cannot withdraw the case while the case is in monitoring"):
        cw.withdraw_case(store, ref, ACTOR, "duplicate")
    with pytest.raises(IllegalTransition, match="cannot decide on a plan while the case is in monitoring"):
        cw.decide_plan(store, ref, "supervisor", True, ACTOR)
    assert cw.case_view(store, ref).state == "monitoring"


def test_a_withdrawn_case_refuses_acts_in_words(store, agro_exporter):
    ref = notify(store, agro_exporter)
    cw.withdraw_case(store, ref, ACTOR, "duplicate")
    with pytest.raises(IllegalTransition, match="cannot record a reintegration while the case is withdrawn"):
        cw.record_reintegration(store, ref, cw.ReintegrationReport(effective_on=dt.date.today()), ACTOR)
