"""Several keys at once, and `remediate keys rotate`: every identity re-encrypted under the first key.

On SQLite and PostgreSQL, with live cases and rows written before any key was set.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from remediation_flows.cli import main
from remediation_flows.core import casework as cw
from remediation_flows.core.safeguarding.free_text import IdentityInFreeText
from remediation_flows.core.safeguarding.keys import rotate_personal_data
from remediation_flows.core.store.protection import KEY_VARIABLE, new_key
from remediation_flows.core.store.schema import AuditEvent, ChildPersonalData
from tests.unit.test_casework import ACTOR, notify

NAMES = ("Nasrin Begum", "Rina Akter", "Mitu Khatun")


def stored_names(store) -> list[str]:
    """The full names as stored (tokens or plain text), in case order."""
    with store.transaction() as session:
        return list(
            session.execute(sql("SELECT full_name FROM child_personal_data ORDER BY case_id")).scalars()
        )


def read_names(store) -> list[str]:
    with store.transaction() as session:
        return [
            row.full_name
            for row in session.scalars(select(ChildPersonalData).order_by(ChildPersonalData.case_id))
        ]


def rotations_audited(store) -> int:
    with store.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "child_identity_reencrypted")
        )


@pytest.fixture
def three_identities(store, agro_exporter, monkeypatch):
    """One identity written before any key, two under an old key; returns (old key, references)."""
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    references = [notify(store, agro_exporter) for _ in NAMES]
    cw.identify_child(store, references[0], full_name=NAMES[0], school="Gazipur Model School", actor=ACTOR)
    old = new_key()
    monkeypatch.setenv(KEY_VARIABLE, old)
    for reference, name in zip(references[1:], NAMES[1:], strict=True):
        cw.identify_child(store, reference, full_name=name, actor=ACTOR)
    stored = stored_names(store)
    assert stored[0] == NAMES[0] and all(s.startswith("fernet:") for s in stored[1:])
    return old, references


def test_rotation_encrypts_plain_rows_and_moves_old_tokens_to_the_new_key(
    store, three_identities, monkeypatch, capsys
):
    old, references = three_identities
    new = new_key()
    monkeypatch.setenv(KEY_VARIABLE, f"{new},{old}")
    assert read_names(store) == list(NAMES)  # both keys open, before any rotation
    with pytest.raises(IdentityInFreeText):  # casework goes on meanwhile, screen included
        cw.grant_extension(store, references[1], "on_site_assessment", ACTOR, "Rina is ill", working_days=1)

    assert main(["keys", "rotate", "--by", "it@ngo.example", "--batch-size", "2", "--url", store.url]) == 0
    out = capsys.readouterr().out
    assert "2 identities read" in out and "3 identities read, 4 values re-encrypted" in out

    monkeypatch.setenv(KEY_VARIABLE, new)  # the old key is gone
    assert read_names(store) == list(NAMES)
    assert all(s.startswith("fernet:") and "Nasrin" not in s for s in stored_names(store))
    with store.transaction() as session:
        school = session.execute(
            sql("SELECT school FROM child_personal_data WHERE school IS NOT NULL")
        ).scalar_one()
    assert school.startswith("fernet:")
    assert rotations_audited(store) == 3

    assert main(["keys", "rotate", "--by", "it@ngo.example", "--url", store.url]) == 0
    assert "(0 values re-encrypted)" in capsys.readouterr().out
    assert rotations_audited(store) == 3  # nothing was re-encrypted twice


def test_an_interrupted_rotation_resumes_where_it_stopped(store, three_identities, monkeypatch):
    old, _ = three_identities
    new = new_key()
    monkeypatch.setenv(KEY_VARIABLE, f"{new},{old}")
    rotation = rotate_personal_data(store, "it@ngo.example", batch_size=1)
    first = next(rotation)
    rotation.close()  # as if the process died after the first batch
    assert (first.identities, first.values) == (1, 2)
    before = stored_names(store)

    batches = list(rotate_personal_data(store, "it@ngo.example", batch_size=1))
    assert [(b.identities, b.values) for b in batches] == [(1, 0), (1, 1), (1, 1)]
    assert stored_names(store)[0] == before[0]  # the first batch's work was kept, not redone
    monkeypatch.setenv(KEY_VARIABLE, new)
    assert read_names(store) == list(NAMES)
    assert rotations_audited(store) == 3


def test_rotation_without_a_key_is_refused_in_one_line(store, three_identities, monkeypatch, capsys):
    monkeypatch.delenv(KEY_VARIABLE)
    before = stored_names(store)
    assert main(["keys", "rotate", "--by", "it@ngo.example", "--url", store.url]) == 2
    assert KEY_VARIABLE in capsys.readouterr().err
    assert stored_names(store) == before
