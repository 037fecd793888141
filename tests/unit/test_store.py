"""The case store on SQLite and PostgreSQL: transitions, audit in the same transaction, milestones."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, inspect, select

from remediation_flows.core.case_states import ACTS, ALLOWED_TRANSITIONS, CaseState
from remediation_flows.core.errors import IllegalTransition, InvalidInput, NotFound
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import AuditEvent, Case, ChildPersonalData, Milestone, OutboxMessage

NOTIFIED_AT = dt.datetime(2026, 12, 14, 4, 0, tzinfo=dt.UTC)


def opened_case(store, programme, **extra) -> str:
    with store.transaction() as session:
        repo.register_programme(session, programme, actor="setup")
    with store.transaction() as session:
        case = repo.open_case(
            session,
            programme,
            site_id="dhaka-knit-01",
            notified_at=NOTIFIED_AT,
            source="audit",
            actor="pm@ngo.example",
            suspected_age=13,
            **extra,
        )
        return case.reference


def test_open_case_gets_reference_and_audit(store, garment_brand):
    reference = opened_case(store, garment_brand)
    assert reference.startswith("CL-2026-") and len(reference) == len("CL-2026-000123")
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        assert case.state == "notified"
        trail = repo.audit_trail(session, case)
        assert [(e.actor, e.action) for e in trail] == [("pm@ngo.example", "case_opened")]


def test_full_lifecycle_transitions_are_audited_with_who_and_why(store, garment_brand):
    reference = opened_case(store, garment_brand)
    path = [
        CaseState.ON_SITE_ASSESSMENT,
        CaseState.REMEDIATION_PLAN,
        CaseState.SCHOOL_REINTEGRATION,
        CaseState.MONITORING,
        CaseState.REOPENED,
        CaseState.REMEDIATION_PLAN,
        CaseState.SCHOOL_REINTEGRATION,
        CaseState.MONITORING,
        CaseState.CLOSED,
    ]
    for index, state in enumerate(path):
        with store.transaction() as session:
            case = repo.get_case(session, reference, for_update=True)
            repo.transition_case(session, case, state, actor=f"user{index}", reason=f"step {index}")
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        assert case.state == "closed" and case.round == 2
        moves = [
            (e.details["from"], e.details["to"], e.actor, e.reason)
            for e in repo.audit_trail(session, case)
            if e.action == "case_state_changed"
        ]
    assert moves[0] == ("notified", "on_site_assessment", "user0", "step 0")
    assert [m[1] for m in moves] == [s.value for s in path]


def test_illegal_transition_raises_and_changes_nothing(store, garment_brand):
    reference = opened_case(store, garment_brand)
    refused = pytest.raises(IllegalTransition, match="cannot move from 'notified' to 'closed'")
    with refused, store.transaction() as session:
        case = repo.get_case(session, reference)
        repo.transition_case(session, case, CaseState.CLOSED, actor="x", reason="skip ahead")
    with pytest.raises(IllegalTransition), store.transaction() as session:
        repo.transition_case(session, repo.get_case(session, reference), "sleeping", actor="x", reason="?")
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        assert case.state == "notified"
        assert [e.action for e in repo.audit_trail(session, case)] == ["case_opened"]


def test_every_state_but_withdrawn_has_a_way_on():
    for state, targets in ALLOWED_TRANSITIONS.items():
        assert bool(targets) == (state is not CaseState.WITHDRAWN), state


def test_change_and_audit_roll_back_together(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with pytest.raises(RuntimeError), store.transaction() as session:
        case = repo.get_case(session, reference)
        repo.transition_case(session, case, CaseState.ON_SITE_ASSESSMENT, actor="x", reason="go")
        repo.enqueue_mail(session, kind="task", recipients=["a@b.example"], subject="s", body_text="b")
        raise RuntimeError("crash before commit")
    with store.transaction() as session:
        assert repo.get_case(session, reference).state == "notified"
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2  # registration + opening
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_milestone_due_from_rules_created_once_and_extended_with_audit(store, garment_brand):
    reference = opened_case(store, garment_brand)
    reckoning = repo.reckon_step(garment_brand, "dhaka-knit-01", "on_site_assessment", NOTIFIED_AT)
    assert reckoning.due_at == NOTIFIED_AT + dt.timedelta(hours=72)
    key = f"{reference}/r1/on_site_assessment"
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        first, created = repo.add_milestone(
            session,
            garment_brand,
            key=key,
            site_id=case.site_id,
            step="on_site_assessment",
            title="On-site assessment",
            due_at=reckoning.due_at,
            actor="flow",
            case=case,
        )
        assert created
        again, created_again = repo.add_milestone(
            session,
            garment_brand,
            key=key,
            site_id=case.site_id,
            step="on_site_assessment",
            title="On-site assessment",
            due_at=reckoning.due_at + dt.timedelta(days=9),
            actor="flow",
            case=case,
        )
        assert again.id == first.id and not created_again and again.due_at == reckoning.due_at
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        milestone.escalation_level = 1
        with pytest.raises(InvalidInput, match="not after the current one"):
            repo.extend_deadline(
                session, garment_brand, milestone, milestone.due_at, actor="pm", reason="late"
            )
        repo.extend_deadline(
            session,
            garment_brand,
            milestone,
            milestone.due_at + dt.timedelta(days=2),
            actor="pm",
            reason="flood",
        )
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        assert milestone.due_at == NOTIFIED_AT + dt.timedelta(hours=120)
        assert milestone.escalation_level == -1
        repo.complete_milestone(session, milestone, actor="cm", reason="assessed")
        with pytest.raises(InvalidInput, match="already done"):
            repo.complete_milestone(session, milestone, actor="cm")
        actions = [e.action for e in repo.audit_trail(session, repo.get_case(session, reference))]
    assert actions == ["case_opened", "milestone_created", "deadline_extended", "milestone_done"]


def test_approvals_follow_up_visits_tasks_and_outbox(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        milestone, _ = repo.add_milestone(
            session,
            garment_brand,
            key=f"{reference}/r1/remediation_plan",
            site_id=case.site_id,
            step="remediation_plan",
            title="Plan",
            due_at=NOTIFIED_AT + dt.timedelta(days=14),
            actor="flow",
            case=case,
        )
        repo.request_approvals(session, milestone, ["supervisor", "enterprise_focal_point"], actor="flow")
        repo.request_approvals(session, milestone, ["supervisor"], actor="flow")  # idempotent
        repo.decide_approval(session, milestone, "supervisor", approved=True, actor="chen.jing@ngo.example")
        with pytest.raises(InvalidInput, match="needs a comment"):
            repo.decide_approval(session, milestone, "enterprise_focal_point", approved=False, actor="brand")
        rejected = repo.decide_approval(
            session,
            milestone,
            "enterprise_focal_point",
            approved=False,
            actor="brand",
            comment="stipend too low",
        )
        assert rejected.status == "rejected"
        with pytest.raises(NotFound):
            repo.decide_approval(session, milestone, "director", approved=True, actor="d")
        with pytest.raises(InvalidInput, match="before the enrolment date"):
            repo.record_follow_up_visit(
                session,
                case,
                visited_on=dt.date(2027, 1, 1),
                attending_school=True,
                back_at_work=False,
                actor="cm",
                enrolled_on=dt.date(2027, 2, 1),
            )
        repo.record_follow_up_visit(
            session,
            case,
            visited_on=dt.date(2027, 3, 1),
            attending_school=True,
            back_at_work=False,
            actor="cm",
            enrolled_on=dt.date(2027, 2, 1),
        )
        repo.add_enterprise_task(
            session,
            enterprise_id=case.enterprise_id,
            title="Pay first stipend",
            instructions="Pay it",
            due_at=NOTIFIED_AT + dt.timedelta(days=30),
            actor="flow",
            case=case,
            milestone=milestone,
        )
        message = repo.enqueue_mail(
            session,
            kind="task",
            recipients=["compliance@northwind-apparel.example"],
            subject="Task",
            body_text="Please act",
            case_id=case.id,
            milestone_id=milestone.id,
        )
        assert message.message_id.startswith("<") and message.message_id.endswith("@remediation-flows.local>")
        actions = [e.action for e in repo.audit_trail(session, case)]
    assert actions == [
        "case_opened",
        "milestone_created",
        "approval_requested",
        "approval_requested",
        "approval_approved",
        "approval_rejected",
        "follow_up_visit_recorded",
        "enterprise_task_created",
    ]


def test_child_identity_lives_in_its_own_table_and_never_in_audit(store, garment_brand):
    reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        repo.record_child_identity(
            session,
            case,
            full_name="Amina Khatun",
            birth_date=dt.date(2013, 5, 2),
            school="Gazipur Primary",
            actor="rahim.uddin@ngo.example",
        )
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        assert session.get(ChildPersonalData, case.id).full_name == "Amina Khatun"
        for event in session.scalars(select(AuditEvent)):
            assert "Amina" not in repr((event.details, event.reason, event.entity_id))
            assert "2013-05-02" not in repr(event.details)
        assert not {"full_name", "birth_date", "school"} & {c.name for c in Case.__table__.columns}


def test_bad_case_input_is_refused(store, garment_brand):
    opened_case(store, garment_brand)
    with store.transaction() as session:
        with pytest.raises(NotFound, match="has no site 'atlantis'"):
            repo.open_case(
                session, garment_brand, site_id="atlantis", notified_at=NOTIFIED_AT, source="audit", actor="x"
            )
        with pytest.raises(InvalidInput, match="source 'rumour'"):
            repo.open_case(
                session,
                garment_brand,
                site_id="dhaka-knit-01",
                notified_at=NOTIFIED_AT,
                source="rumour",
                actor="x",
            )
        with pytest.raises(InvalidInput, match="time zone"):
            repo.open_case(
                session,
                garment_brand,
                site_id="dhaka-knit-01",
                notified_at=dt.datetime(2026, 1, 1),
                source="audit",
                actor="x",
            )


def test_registering_the_same_programme_twice_is_one_audit_row(store, garment_brand):
    for _ in range(2):
        with store.transaction() as session:
            repo.register_programme(session, garment_brand, actor="setup")
    with store.transaction() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.entity == "enterprise")).all()
        assert [r.action for r in rows] == ["programme_registered"]


def test_hot_query_indexes_exist(store):
    inspector = inspect(store.engine)
    milestone_indexes = {
        ix["name"]: ix["column_names"] for ix in inspector.get_indexes(Milestone.__tablename__)
    }
    assert milestone_indexes["ix_milestones_open_due_at"] == ["due_at"]
    case_indexes = [ix["column_names"] for ix in inspector.get_indexes(Case.__tablename__)]
    assert ["enterprise_id", "state"] in case_indexes


def test_personal_data_is_encrypted_at_rest_when_a_key_is_set(store, garment_brand, monkeypatch):
    from sqlalchemy import text

    from remediation_flows.core.store.protection import KEY_VARIABLE, PersonalDataKeyError, new_key

    plain_reference = opened_case(store, garment_brand)
    with store.transaction() as session:
        repo.record_child_identity(
            session,
            repo.get_case(session, plain_reference),
            full_name="Nasrin Begum",
            actor="cm",
            birth_date=dt.date(2012, 6, 1),
        )
    monkeypatch.setenv(KEY_VARIABLE, new_key())
    with store.transaction() as session:
        case = repo.open_case(
            session,
            garment_brand,
            site_id="dhaka-knit-01",
            notified_at=NOTIFIED_AT,
            source="audit",
            actor="pm",
        )
        repo.record_child_identity(
            session,
            case,
            full_name="Amina Khatun",
            actor="cm",
            birth_date=dt.date(2013, 5, 2),
            school="Gazipur Primary",
        )
        encrypted_id = case.id
    with store.engine.connect() as connection:
        raw = {
            row[0]: row[1:]
            for row in connection.execute(
                text("SELECT case_id, full_name, birth_date, school FROM child_personal_data")
            )
        }
    assert all(value.startswith("fernet:") for value in raw[encrypted_id])
    assert "Amina" not in repr(raw) and "2013-05-02" not in repr(raw)
    assert "Nasrin Begum" in repr(raw)  # written before the key: read as it is
    with store.transaction() as session:
        identity = session.get(ChildPersonalData, encrypted_id)
        assert (identity.full_name, identity.birth_date, identity.school) == (
            "Amina Khatun",
            dt.date(2013, 5, 2),
            "Gazipur Primary",
        )
    monkeypatch.setenv(KEY_VARIABLE, new_key())
    with pytest.raises(PersonalDataKeyError, match="does not open"), store.transaction() as session:
        session.get(ChildPersonalData, encrypted_id)


def test_migrations_match_the_tables(store):
    from alembic import command

    from remediation_flows.core.store.database import alembic_config

    command.check(alembic_config(store.url))  # raises if the models have changes no migration makes


def test_the_table_derived_from_the_acts_is_the_table_written_before_by_hand():
    """The table as it was written by hand before the acts declared their states: unchanged."""
    S = CaseState
    before = {
        S.NOTIFIED: frozenset({S.ON_SITE_ASSESSMENT, S.WITHDRAWN}),
        S.ON_SITE_ASSESSMENT: frozenset({S.REMEDIATION_PLAN, S.WITHDRAWN}),
        S.REMEDIATION_PLAN: frozenset({S.SCHOOL_REINTEGRATION, S.YOUNG_WORKER_PROTECTION, S.WITHDRAWN}),
        S.SCHOOL_REINTEGRATION: frozenset({S.MONITORING}),
        S.YOUNG_WORKER_PROTECTION: frozenset({S.MONITORING}),
        S.MONITORING: frozenset({S.CLOSED, S.REOPENED}),
        S.CLOSED: frozenset({S.REOPENED}),
        S.REOPENED: frozenset({S.ON_SITE_ASSESSMENT, S.REMEDIATION_PLAN}),
        S.WITHDRAWN: frozenset(),
    }
    assert dict(ALLOWED_TRANSITIONS) == before


def test_every_act_starts_and_ends_where_the_table_allows():
    for act in ACTS:
        assert act.sources and act.targets, act.name
        for source in act.sources:
            assert act.targets <= ALLOWED_TRANSITIONS[source], act.name


def test_a_read_takes_no_write_lock_on_sqlite(tmp_path):
    """A long read (a view over every open case) must not hold SQLite's one write lock."""
    import sqlite3

    from remediation_flows.core.store import CaseStore, upgrade_schema

    path = tmp_path / "store.db"
    upgrade_schema(f"sqlite:///{path}")
    store = CaseStore(f"sqlite:///{path}")
    # Another process's writer, waiting 0.2 s for the lock instead of 30 s.
    writer = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    count_audit = select(func.count()).select_from(AuditEvent)
    with store.reading() as session:
        session.execute(count_audit).scalar_one()
        writer.execute("BEGIN IMMEDIATE")  # the write lock is free during the read
        writer.execute("ROLLBACK")
    with store.transaction() as session:
        session.execute(count_audit).scalar_one()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("BEGIN IMMEDIATE")  # a writing transaction holds it from its start
    writer.close()
    store.dispose()


def test_a_status_is_one_of_its_enum_and_reads_back_as_it(store, garment_brand):
    """A typo in a status is refused when written, not stored as a new state nobody handles."""
    from remediation_flows.core import casework as cw
    from remediation_flows.core.statuses import MilestoneStatus

    notification = cw.Notification(
        enterprise_id=garment_brand.enterprise_id,
        site_id="dhaka-knit-01",
        notified_at=NOTIFIED_AT,
        source=cw.Source.AUDIT,
    )
    reference = cw.open_case(store, garment_brand, notification, actor="pm@ngo.example").reference
    key = f"{reference}/r1/on_site_assessment"
    with store.transaction() as session:
        milestone = repo.get_milestone(session, key)
        assert milestone.status is MilestoneStatus.OPEN and milestone.status == "open"
    with pytest.raises(Exception, match="opne"), store.transaction() as session:
        repo.get_milestone(session, key).status = "opne"
    with store.transaction() as session:
        assert repo.get_milestone(session, key).status is MilestoneStatus.OPEN
