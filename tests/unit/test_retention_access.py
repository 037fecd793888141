"""Retention and access: identities erased after the programme's period unless on legal hold; reads logged.

On SQLite and PostgreSQL, through the core and through `remediate`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy import text as sql

from remediation_flows.cli import main
from remediation_flows.core import casework as cw
from remediation_flows.core.config import ConfigInvalid, load_programme_document
from remediation_flows.core.config.model import DEFAULT_IDENTITY_RETENTION_MONTHS
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.safeguarding.access import access_log, read_child_identity
from remediation_flows.core.safeguarding.free_text import IdentityInFreeText
from remediation_flows.core.safeguarding.retention import (
    erase_expired_identities,
    months_before,
    place_legal_hold,
    release_legal_hold,
)
from remediation_flows.core.store.schema import AuditEvent, Case, ChildPersonalData, IdentityAccess
from tests.unit.test_casework import ACTOR, CHILD_NAME, notify

ERASER = "retention@ngo.example"
BIRTH_DATE = dt.date(2012, 3, 3)
SCHOOL = "Escuela Primaria Benito Juárez"


@pytest.fixture
def one_year(agro_exporter):
    """The agro exporter's programme keeping identities 12 months after a case ends."""
    return load_programme_document({**agro_exporter.document, "retention": {"identity_months": 12}})


def withdrawn_identified_case(store, programme) -> tuple[str, dt.datetime]:
    reference = notify(store, programme)
    cw.identify_child(
        store, reference, full_name=CHILD_NAME, birth_date=BIRTH_DATE, school=SCHOOL, actor=ACTOR
    )
    cw.withdraw_case(store, reference, ACTOR, "a duplicate of another notification")
    with store.reading() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case.ended_at is not None and case.turns_18_on is not None
        return reference, case.ended_at


def erase(store, now, **options) -> list[str]:
    return [
        erasure.case_reference
        for batch in erase_expired_identities(store, ERASER, now=now, **options)
        for erasure in batch
    ]


def personal_data(store, reference) -> tuple[int, dt.date | None, dt.date | None]:
    """(identity rows, reaches_working_age_on, turns_18_on) of a case, read without the key."""
    with store.reading() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        rows = session.scalar(
            select(func.count()).select_from(ChildPersonalData).where(ChildPersonalData.case_id == case.id)
        )
        return rows, case.reaches_working_age_on, case.turns_18_on


def audited(store, reference, action) -> list[AuditEvent]:
    with store.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_id == reference, AuditEvent.action == action)
                .order_by(AuditEvent.id)
            )
        )


def test_the_retention_period_is_the_programmes_else_the_documented_default(agro_exporter, one_year):
    assert agro_exporter.identity_retention_months == DEFAULT_IDENTITY_RETENTION_MONTHS == 36
    assert one_year.identity_retention_months == 12
    with pytest.raises(ConfigInvalid, match="retention"):
        load_programme_document({**agro_exporter.document, "retention": {"identity_months": 0}})


def test_months_before_keeps_the_day_or_takes_the_months_last():
    assert months_before(dt.datetime(2027, 3, 31, 9, tzinfo=dt.UTC), 1) == dt.datetime(
        2027, 2, 28, 9, tzinfo=dt.UTC
    )
    assert months_before(dt.datetime(2027, 1, 15, tzinfo=dt.UTC), 13) == dt.datetime(
        2025, 12, 15, tzinfo=dt.UTC
    )


def test_an_identity_is_erased_after_the_retention_period_and_not_before(store, one_year):
    reference, ended_at = withdrawn_identified_case(store, one_year)
    audit_before = len(audited(store, reference, "case_state_changed"))

    assert erase(store, ended_at + dt.timedelta(days=360)) == []
    assert personal_data(store, reference)[0] == 1

    assert erase(store, ended_at + dt.timedelta(days=370)) == [reference]
    assert personal_data(store, reference) == (0, None, None)
    with store.reading() as session:  # the pseudonymous case and its trail stay
        assert session.scalar(select(Case.state).where(Case.reference == reference)) == "withdrawn"
    assert len(audited(store, reference, "case_state_changed")) == audit_before
    [erasure] = audited(store, reference, "child_identity_erased")
    assert erasure.actor == ERASER
    assert erasure.details["rule"] == "retention.identity_months" and erasure.details["months"] == 12
    assert erasure.details["identity"] is True and erasure.details["age_dates"] is True
    assert CHILD_NAME not in str(erasure.details) and CHILD_NAME not in (erasure.reason or "")

    # Idempotent: nothing left to erase, nothing audited twice.
    assert erase(store, ended_at + dt.timedelta(days=800)) == []
    assert len(audited(store, reference, "child_identity_erased")) == 1


def test_a_running_case_keeps_its_identity_however_long(store, one_year):
    reference = notify(store, one_year)
    cw.identify_child(store, reference, full_name=CHILD_NAME, actor=ACTOR)
    assert erase(store, dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)) == []
    assert personal_data(store, reference)[0] == 1


def test_a_legal_hold_stops_erasure_and_releasing_it_lets_it_happen(store, one_year):
    reference, ended_at = withdrawn_identified_case(store, one_year)
    later = ended_at + dt.timedelta(days=400)
    place_legal_hold(store, reference, reason="labour inspectorate proceedings 2027/114", actor=ACTOR)
    with pytest.raises(InvalidInput, match="already on legal hold"):
        place_legal_hold(store, reference, reason="again", actor=ACTOR)

    assert erase(store, later) == []
    assert personal_data(store, reference)[0] == 1

    release_legal_hold(store, reference, reason="proceedings closed", actor="director@ngo.example")
    with pytest.raises(InvalidInput, match="not on legal hold"):
        release_legal_hold(store, reference, reason="again", actor=ACTOR)
    assert erase(store, later) == [reference]
    assert personal_data(store, reference) == (0, None, None)
    [placed] = audited(store, reference, "identity_legal_hold_placed")
    [released] = audited(store, reference, "identity_legal_hold_released")
    assert (placed.actor, placed.reason) == (ACTOR, "labour inspectorate proceedings 2027/114")
    assert (released.actor, released.reason) == ("director@ngo.example", "proceedings closed")


def test_a_hold_reason_naming_the_child_is_refused_and_nothing_is_held(store, one_year):
    reference, ended_at = withdrawn_identified_case(store, one_year)
    with pytest.raises(IdentityInFreeText):
        place_legal_hold(store, reference, reason="Juanita's family is suing", actor=ACTOR)
    assert audited(store, reference, "identity_legal_hold_placed") == []
    assert erase(store, ended_at + dt.timedelta(days=400)) == [reference]


def test_a_dry_run_lists_and_writes_nothing_and_batches_commit_separately(store, one_year):
    ended = [withdrawn_identified_case(store, one_year) for _ in range(3)]
    later = max(at for _, at in ended) + dt.timedelta(days=400)
    assert erase(store, later, dry_run=True) == [reference for reference, _ in ended]
    assert all(personal_data(store, reference)[0] == 1 for reference, _ in ended)

    batches = [
        [e.case_reference for e in batch]
        for batch in erase_expired_identities(store, ERASER, now=later, batch_size=2)
    ]
    assert batches == [[ended[0][0], ended[1][0]], [ended[2][0]]]
    assert all(personal_data(store, reference) == (0, None, None) for reference, _ in ended)


def test_the_cli_erases_expired_identities_and_holds_cases(store, one_year, capsys):
    held, _ = withdrawn_identified_case(store, one_year)
    expired, _ = withdrawn_identified_case(store, one_year)
    with store.transaction() as session:  # both ended two years ago
        session.execute(update(Case).values(ended_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=730)))
    url = ["--url", store.url]
    assert main(["case", "hold", held, "--reason", "court order 55/2027", "--by", ACTOR, *url]) == 0
    assert main(["identities", "erase-expired", "--by", ERASER, "--dry-run", *url]) == 0
    assert f"{expired}: would erase" in capsys.readouterr().out
    assert personal_data(store, expired)[0] == 1

    assert main(["identities", "erase-expired", "--by", ERASER, *url]) == 0
    out = capsys.readouterr().out
    assert f"{expired}: erased" in out and held not in out and "1 identity erased" in out
    assert personal_data(store, expired)[0] == 0 and personal_data(store, held)[0] == 1

    assert main(["case", "release-hold", held, "--reason", "order lifted", "--by", ACTOR, *url]) == 0
    assert main(["identities", "erase-expired", "--by", ERASER, *url]) == 0
    assert personal_data(store, held)[0] == 0
    assert main(["case", "release-hold", held, "--reason", "again", "--by", ACTOR, *url]) == 2
    assert "is not on legal hold" in capsys.readouterr().err


def access_rows(store) -> list[tuple[str, str, str]]:
    with store.reading() as session:
        return [
            (row.accessed_by, row.reason, row.purpose)
            for row in session.scalars(select(IdentityAccess).order_by(IdentityAccess.id))
        ]


def test_every_read_of_an_identity_leaves_its_row(store, agro_exporter, capsys):
    reference = notify(store, agro_exporter)
    cw.identify_child(
        store, reference, full_name=CHILD_NAME, birth_date=BIRTH_DATE, school=SCHOOL, actor=ACTOR
    )
    url = ["--url", store.url]
    read = ["case", "show-identity", reference, *url]
    assert main([*read, "--reason", "home visit planning", "--by", ACTOR]) == 0
    out = capsys.readouterr().out
    assert CHILD_NAME in out and "2012-03-03" in out and SCHOOL in out
    identity = read_child_identity(store, reference, actor="supervisor@ngo.example", reason="case review")
    assert identity.full_name == CHILD_NAME

    assert access_rows(store) == [
        (ACTOR, "home visit planning", "show-identity"),
        ("supervisor@ngo.example", "case review", "show-identity"),
    ]
    assert [entry.accessed_by for entry in access_log(store, reference)] == [ACTOR, "supervisor@ngo.example"]
    assert main(["case", "access-log", reference, *url]) == 0
    listing = capsys.readouterr().out
    assert "home visit planning" in listing and "supervisor@ngo.example" in listing
    assert CHILD_NAME not in listing and "Juanita" not in listing
    with store.reading() as session:  # the log table holds no identity
        dumped = " ".join(
            str(v) for row in session.execute(sql("SELECT * FROM identity_access_log")) for v in row
        )
    assert "Juanita" not in dumped and "2012" not in dumped.replace(str(dt.date.today().year), "")


def test_a_read_without_a_reason_is_refused_and_shows_nothing(store, agro_exporter, capsys):
    reference = notify(store, agro_exporter)
    cw.identify_child(store, reference, full_name=CHILD_NAME, actor=ACTOR)
    url = ["--url", store.url]
    with pytest.raises(SystemExit) as missing:
        main(["case", "show-identity", reference, "--by", ACTOR, *url])
    assert missing.value.code == 2
    assert main(["case", "show-identity", reference, "--reason", "  ", "--by", ACTOR, *url]) == 2
    captured = capsys.readouterr()
    assert CHILD_NAME not in captured.out + captured.err and captured.out == ""
    assert "--reason" in captured.err.splitlines()[-1]
    # A reason that names the child would copy the identity into the log: refused too.
    assert main(["case", "show-identity", reference, "--reason", "Juanita asked", "--by", ACTOR, *url]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Juanita" not in captured.err
    assert access_rows(store) == []


def test_an_erased_identity_cannot_be_read_and_says_so(store, one_year, capsys):
    reference, ended_at = withdrawn_identified_case(store, one_year)
    erase(store, ended_at + dt.timedelta(days=400))
    assert (
        main(["case", "show-identity", reference, "--reason", "audit", "--by", ACTOR, "--url", store.url])
        == 2
    )
    assert "erased on" in capsys.readouterr().err
    assert access_rows(store) == []
