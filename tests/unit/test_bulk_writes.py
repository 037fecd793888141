"""Bulk writes (COPY on PostgreSQL, executemany on SQLite) store what the ORM would, in one transaction."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from remediation_flows.core.statuses import OutboxStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.bulk import insert_rows, update_rows
from remediation_flows.core.store.schema import AuditEvent, Milestone, OutboxMessage

AT = dt.datetime(2027, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Dhaka"))


def outbox_row(number: int) -> dict:
    return {
        "message_id": f"<bulk-{number}@remediation-flows.local>",
        "kind": "escalation",
        "enterprise_id": None,
        "case_id": None,
        "milestone_id": None,
        "recipients": ["a@brand.example", f"ü{number}@brand.example"],
        "subject": f"Tab\there, newline\nthere, back\\slash {number}",
        "body_text": "Ünïcode \N{EM DASH} text",
        "body_html": None,
        "calendar_ics": None,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": AT,
        "created_at": AT,
    }


def test_inserted_rows_read_back_as_written(store):
    with store.transaction() as session:
        insert_rows(session, OutboxMessage, [outbox_row(n) for n in range(3)])
        insert_rows(
            session,
            AuditEvent,
            [
                {
                    "at": AT,
                    "actor": "bulk",
                    "action": "tested",
                    "entity": "case",
                    "entity_id": "1",
                    "case_id": None,
                    "reason": None,
                    "details": {"levels": ["due", "director"], "late": 3},
                }
            ],
        )
    with store.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.subject for r in rows] == [outbox_row(n)["subject"] for n in range(3)]
        assert rows[2].recipients == ["a@brand.example", "ü2@brand.example"]
        assert rows[0].status is OutboxStatus.PENDING and rows[0].body_html is None
        assert rows[0].next_attempt_at == AT and rows[0].next_attempt_at.tzinfo == dt.UTC
        audit = session.scalars(select(AuditEvent)).one()
        assert audit.details == {"levels": ["due", "director"], "late": 3} and audit.at == AT


def test_a_duplicate_key_is_an_integrity_error_and_nothing_of_the_transaction_stays(store):
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(AuditEvent(actor="bulk", action="before", entity="case", entity_id="1", details={}))
        insert_rows(session, OutboxMessage, [outbox_row(1), outbox_row(2), outbox_row(1)])
    with store.transaction() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.scalars(select(AuditEvent)).all() == []


def test_a_row_missing_a_defaulted_column_is_refused():
    row = outbox_row(1)
    del row["created_at"]
    with pytest.raises(ValueError, match="created_at"):
        insert_rows(None, OutboxMessage, [row])  # type: ignore[arg-type]


def test_updated_rows_take_their_own_values(store, garment_brand):
    with store.transaction() as session:
        repo.register_programme(session, garment_brand, actor="setup")
        for number in range(3):
            session.add(
                Milestone(
                    key=f"M-{number}",
                    enterprise_id=garment_brand.enterprise_id,
                    site_id="dhaka-knit-01",
                    kind="closure",
                    title="Closure",
                    config_sha256=garment_brand.fingerprint,
                    owner_role="case_manager",
                    due_at=AT,
                    escalation_level=-1,
                    next_escalation_at=AT,
                )
            )
    with store.transaction() as session:
        ids = session.scalars(select(Milestone.id).order_by(Milestone.id)).all()
        update_rows(
            session,
            Milestone,
            "id",
            [
                {"id": ids[0], "escalation_level": 2, "next_escalation_at": None},
                {"id": ids[2], "escalation_level": 0, "next_escalation_at": AT + dt.timedelta(days=1)},
            ],
        )
    with store.transaction() as session:
        rows = session.execute(
            select(Milestone.escalation_level, Milestone.next_escalation_at).order_by(Milestone.id)
        ).all()
        assert [tuple(r) for r in rows] == [(2, None), (-1, AT), (0, AT + dt.timedelta(days=1))]


def test_a_childs_identity_written_in_bulk_is_encrypted_as_the_orm_encrypts_it(
    store, garment_brand, monkeypatch
):
    from cryptography.fernet import Fernet

    from remediation_flows.core.store.protection import KEY_VARIABLE
    from remediation_flows.core.store.schema import ChildPersonalData

    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    with store.transaction() as session:
        repo.register_programme(session, garment_brand, actor="setup")
        case = repo.open_case(
            session, garment_brand, site_id="dhaka-knit-01", notified_at=AT, source="audit", actor="pm"
        )
        case_id = case.id
        insert_rows(
            session,
            ChildPersonalData,
            [
                {
                    "case_id": case_id,
                    "full_name": "Rina Akter",
                    "birth_date": dt.date(2013, 1, 9),
                    "recorded_by": "import",
                    "recorded_at": AT,
                }
            ],
        )
    with store.transaction() as session:
        stored = session.execute(
            text("SELECT full_name, birth_date FROM child_personal_data WHERE case_id = :id"), {"id": case_id}
        ).one()
        assert "Rina" not in str(stored) and "2013" not in str(stored)
        identity = session.get(ChildPersonalData, case_id)
        assert (identity.full_name, identity.birth_date) == ("Rina Akter", dt.date(2013, 1, 9))


def test_none_for_a_json_column_is_stored_as_the_orm_stores_it(store):
    """Core binds None given for a JSON column as JSON null; COPY must store the same."""
    row = outbox_row(1) | {"deliveries": None}
    with store.transaction() as session:
        insert_rows(session, OutboxMessage, [row])
        session.add(OutboxMessage(**(outbox_row(2) | {"deliveries": None})))
    with store.transaction() as session:
        stored = (
            session.execute(text("SELECT deliveries IS NULL FROM outbox ORDER BY message_id")).scalars().all()
        )
        assert stored[0] == stored[1]
