"""Evidence files on SQLite and PostgreSQL: judged by content, bounded, encrypted at rest, export audited."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select, text

from remediation_flows.core import casework as cw
from remediation_flows.core import evidence as ev
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.store.protection import KEY_VARIABLE, new_key
from remediation_flows.core.store.schema import AuditEvent, EvidenceFile
from remediation_flows.flows.remediation.artifacts import case_markdown
from tests.unit.test_task_links import (
    FOCAL_POINT,
    SUPERVISOR,
    case_awaiting_plan_approval,
    garment_brand,  # noqa: F401  (the fixture)
)

STAFF = "li.wen@ngo.example"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nShirin Akter enrolment letter\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"receipt photo" * 20 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"attendance sheet" * 20


@pytest.fixture
def reintegrating(store, garment_brand):  # noqa: F811
    """A case whose plan is approved, so that it waits for school reintegration."""
    reference = case_awaiting_plan_approval(store, garment_brand)
    cw.decide_plan(store, reference, "supervisor", True, SUPERVISOR)
    cw.decide_plan(store, reference, "enterprise_focal_point", True, FOCAL_POINT)
    return store, reference


def counts(store) -> tuple[int, int]:
    with store.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(EvidenceFile)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


@pytest.mark.parametrize(
    ("content", "media_type"), [(PDF, "application/pdf"), (JPEG, "image/jpeg"), (PNG, "image/png")]
)
def test_pdf_jpeg_and_png_are_accepted_and_kept_with_hash_size_type_step_and_uploader(
    reintegrating, content, media_type
):
    store, reference = reintegrating
    added = ev.add_evidence(store, reference, content, step="school_reintegration", by=STAFF, source="letter")
    assert (added.media_type, added.size, added.sha256) == (
        media_type,
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    [listed] = ev.evidence_of(store, reference)
    assert listed == added
    assert (listed.step, listed.uploaded_by, listed.verified) == ("school_reintegration", STAFF, False)
    assert ev.evidence_content(store, reference, added.sha256) == content
    with store.transaction() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence_added")).one()
    assert (audit.actor, audit.details["sha256"], audit.details["media_type"]) == (
        STAFF,
        added.sha256,
        media_type,
    )


def test_the_type_comes_from_the_content_never_the_name(reintegrating, tmp_path):
    store, reference = reintegrating
    png_named_pdf = tmp_path / "letter.pdf"
    png_named_pdf.write_bytes(PNG)
    added = ev.add_evidence(
        store,
        reference,
        png_named_pdf.read_bytes(),
        step="school_reintegration",
        by=STAFF,
        source=str(png_named_pdf),
    )
    assert added.media_type == "image/png" and added.file_name.endswith(".png")

    text_named_png = tmp_path / "photo.png"
    text_named_png.write_text("Dear school, please enrol Shirin\n")
    before = counts(store)
    with pytest.raises(ev.EvidenceRefused) as refused:
        ev.add_evidence(
            store,
            reference,
            text_named_png.read_bytes(),
            step="school_reintegration",
            by=STAFF,
            source=str(text_named_png),
        )
    assert refused.value.kind == "wrong_type"
    assert str(refused.value) == (
        f"{text_named_png}: not a PDF, JPEG or PNG file (judged by its content, not its name)"
    )
    assert counts(store) == before


def test_a_file_too_big_or_empty_is_refused_and_writes_nothing(reintegrating, monkeypatch):
    store, reference = reintegrating
    before = counts(store)
    monkeypatch.setenv(ev.MAX_BYTES_VARIABLE, str(len(PDF) - 1))
    with pytest.raises(ev.EvidenceRefused) as too_big:
        ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="big.pdf")
    assert too_big.value.kind == "too_large"
    assert (
        str(too_big.value)
        == f"big.pdf: the file is {len(PDF):,} bytes, over the limit of {len(PDF) - 1:,} bytes"
    )
    monkeypatch.setenv(ev.MAX_BYTES_VARIABLE, str(len(PDF)))
    ev.check_evidence(PDF, "at the limit")  # exactly at the limit is accepted
    monkeypatch.delenv(ev.MAX_BYTES_VARIABLE)
    assert ev.max_bytes() == 10 * 1024 * 1024
    with pytest.raises(ev.EvidenceRefused) as empty:
        ev.add_evidence(store, reference, b"", step="school_reintegration", by=STAFF, source="empty.pdf")
    assert (empty.value.kind, str(empty.value)) == ("empty", "empty.pdf: the file is empty")
    assert counts(store) == before


def test_an_unknown_step_or_a_second_copy_is_refused_and_writes_nothing(reintegrating):
    store, reference = reintegrating
    ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="letter.pdf")
    before = counts(store)
    with pytest.raises(InvalidInput, match="already evidence for case"):
        ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="again.pdf")
    with pytest.raises(Exception, match="has no 'follow_up_visit' step"):
        ev.add_evidence(store, reference, PNG, step="follow_up_visit", by=STAFF, source="sheet.png")
    assert counts(store) == before


def test_with_a_key_the_stored_bytes_are_encrypted_and_read_back_equal(reintegrating, monkeypatch):
    store, reference = reintegrating
    monkeypatch.setenv(KEY_VARIABLE, new_key())
    added = ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="letter.pdf")
    with store.engine.connect() as connection:
        raw = bytes(connection.execute(text("SELECT content FROM evidence_files")).scalar_one())
    assert PDF not in raw and b"Shirin" not in raw and not raw.startswith(b"%PDF-")
    assert ev.evidence_content(store, reference, added.sha256) == PDF
    # The listing and the case view read no content, so a machine without the key still shows them.
    monkeypatch.delenv(KEY_VARIABLE)
    assert [e.sha256 for e in ev.evidence_of(store, reference)] == [added.sha256]
    assert [e.sha256 for e in cw.case_view(store, reference).evidence] == [added.sha256]


def test_without_a_key_the_bytes_are_stored_as_given(reintegrating, monkeypatch):
    store, reference = reintegrating
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    ev.add_evidence(store, reference, JPEG, step="school_reintegration", by=STAFF, source="receipt.jpg")
    with store.engine.connect() as connection:
        raw = bytes(connection.execute(text("SELECT content FROM evidence_files")).scalar_one())
    assert raw == JPEG


def test_export_writes_files_named_by_hash_and_type_and_is_audited(reintegrating, tmp_path):
    store, reference = reintegrating
    pdf = ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="a.pdf")
    png = ev.add_evidence(store, reference, PNG, step="school_reintegration", by=STAFF, source="b.png")
    out = tmp_path / "export"
    written = ev.export_evidence(store, reference, out, by="auditor@ngo.example", reason="brand audit 2026")
    assert sorted(p.name for p in written) == sorted([f"{pdf.sha256}.pdf", f"{png.sha256}.png"])
    assert (out / f"{pdf.sha256}.pdf").read_bytes() == PDF
    assert (out / f"{png.sha256}.png").read_bytes() == PNG
    with store.transaction() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence_exported")).one()
    assert (audit.actor, audit.reason) == ("auditor@ngo.example", "brand audit 2026")
    assert audit.details == {"files": [pdf.sha256, png.sha256]}


def test_an_export_without_a_reason_or_naming_the_child_writes_nothing(reintegrating, tmp_path):
    store, reference = reintegrating
    ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="a.pdf")
    cw.identify_child(store, reference, full_name="Shirin Akter Mahmuda", actor=STAFF)
    before = counts(store)
    with pytest.raises(InvalidInput, match="--reason"):
        ev.export_evidence(store, reference, tmp_path / "a", by=STAFF, reason="  ")
    with pytest.raises(InvalidInput, match="reason: appears to contain the identity"):
        ev.export_evidence(store, reference, tmp_path / "b", by=STAFF, reason="for Shirin's file")
    assert counts(store) == before
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_case_artifact_lists_evidence_by_hash_type_and_size_only(reintegrating):
    store, reference = reintegrating
    added = ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="a.pdf")
    markdown = case_markdown(cw.case_view(store, reference))
    row = next(line for line in markdown.splitlines() if added.sha256 in line)
    assert "application/pdf" in row and f"| {len(PDF)} |" in row and "added by staff" in row
    assert "Shirin" not in markdown and "enrolment letter" not in markdown
    assert "a.pdf" not in markdown, "not even the file's name, which a person chose"


def test_remediate_evidence_add_list_and_export(reintegrating, tmp_path, capsys):
    from remediation_flows.cli import main

    store, reference = reintegrating
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(PNG)
    url = ("--url", store.url)
    add = ["evidence", "add", reference, str(letter), "--step", "school_reintegration", "--by", STAFF, *url]
    assert main(add) == 0
    digest = hashlib.sha256(PNG).hexdigest()
    assert f"image/png {digest}" in capsys.readouterr().out

    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    before = counts(store)
    assert main([*add[:3], str(notes), *add[4:]]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"remediate: {notes}: not a PDF, JPEG or PNG file (judged by its content, not its name)"]
    assert main([*add[:3], str(tmp_path / "missing.pdf"), *add[4:]]) == 2
    assert capsys.readouterr().err.strip() == f"remediate: {tmp_path / 'missing.pdf'}: no such file"
    assert counts(store) == before

    assert main(["evidence", "list", reference, *url]) == 0
    listed = capsys.readouterr().out
    assert digest in listed and "image/png" in listed and "(staff)" in listed

    out = tmp_path / "out"
    export = ["evidence", "export", reference, "--out", str(out), "--by", STAFF, "--reason", "audit", *url]
    assert main(export) == 0
    assert (out / f"{digest}.png").read_bytes() == PNG
    assert main([*export[:-4], "--reason", "", *url]) == 2
    assert "--reason" in capsys.readouterr().err


def test_key_rotation_re_encrypts_evidence_so_the_old_key_can_be_dropped(reintegrating, monkeypatch):
    from remediation_flows.core.safeguarding.keys import rotate_personal_data

    store, reference = reintegrating
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    plain = ev.add_evidence(store, reference, JPEG, step="school_reintegration", by=STAFF, source="a.jpg")
    old, new = new_key(), new_key()
    monkeypatch.setenv(KEY_VARIABLE, old)
    keyed = ev.add_evidence(store, reference, PDF, step="school_reintegration", by=STAFF, source="b.pdf")
    monkeypatch.setenv(KEY_VARIABLE, f"{new},{old}")
    assert sum(batch.values for batch in list(rotate_personal_data(store, STAFF))) == 2
    assert sum(batch.values for batch in rotate_personal_data(store, STAFF)) == 0, "a second run skips them"
    monkeypatch.setenv(KEY_VARIABLE, new)  # the old key is gone
    assert ev.evidence_content(store, reference, plain.sha256) == JPEG
    assert ev.evidence_content(store, reference, keyed.sha256) == PDF
    with store.engine.connect() as connection:
        raw = [bytes(r) for r in connection.execute(text("SELECT content FROM evidence_files")).scalars()]
    assert all(r.startswith(b"fernet:") and JPEG not in r and PDF not in r for r in raw)
