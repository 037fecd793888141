"""Evidence files of a case: an enrolment letter, a stipend receipt, a training attendance sheet.

A file is accepted only as PDF, JPEG or PNG, recognised by its first bytes (a name or a declared
type says nothing about what a file is), within a size limit (``REMEDIATION_EVIDENCE_MAX_BYTES``,
10 MB by default). The case store keeps it with its SHA-256, size, type, the step it is evidence
for, who gave it and how we know (a task link issued to them, or staff), and when; the bytes are
encrypted with the personal-data key where one is configured, because a letter or a photo may show
the child. Outside the store a file is only ever named by hash, type and size: never attached to an
email, passed to Prefect, logged or put in an artifact. Staff export files with a reason, audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Case, EvidenceFile, Milestone, utcnow

MAX_BYTES_VARIABLE = "REMEDIATION_EVIDENCE_MAX_BYTES"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

#: Each accepted type by the bytes its files begin with, and the extension an export gives it.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
EXTENSIONS = {media_type: extension for _, media_type, extension in SIGNATURES}


class EvidenceRefused(InvalidInput):
    """A file that cannot be evidence; ``kind`` is "empty", "too_large" or "wrong_type"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class EvidenceUpload:
    """A file given with an answer: its bytes and what names it in a refusal (e.g. the form field)."""

    content: bytes
    source: str


@dataclass(frozen=True)
class EvidenceSummary:
    """A stored file as anyone may see it: by hash, type and size, never its content."""

    evidence_id: int
    step: str
    sha256: str
    media_type: str
    size: int
    uploaded_by: str
    verified: bool
    uploaded_at: dt.datetime

    @property
    def file_name(self) -> str:
        """The name an export gives the file: its hash and its type's extension."""
        return f"{self.sha256}.{EXTENSIONS[self.media_type]}"


def max_bytes() -> int:
    """The configured size limit in bytes (``REMEDIATION_EVIDENCE_MAX_BYTES``, default 10 MB)."""
    setting = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    if not setting:
        return DEFAULT_MAX_BYTES
    try:
        limit = int(setting)
    except ValueError:
        raise InvalidInput(f"{MAX_BYTES_VARIABLE} must be a whole number of bytes, not {setting!r}") from None
    if limit <= 0:
        raise InvalidInput(f"{MAX_BYTES_VARIABLE} must be positive, not {limit}")
    return limit


def media_type_of(content: bytes) -> str | None:
    """The accepted type whose signature ``content`` begins with, or None."""
    return next((media for magic, media, _ in SIGNATURES if content.startswith(magic)), None)


def check_evidence(content: bytes, source: str, limit: int | None = None) -> str:
    """The file's media type, or :class:`EvidenceRefused` naming ``source`` and why, in one line."""
    limit = max_bytes() if limit is None else limit
    if not content:
        raise EvidenceRefused("empty", f"{source}: the file is empty")
    if len(content) > limit:
        raise EvidenceRefused(
            "too_large", f"{source}: the file is {len(content):,} bytes, over the limit of {limit:,} bytes"
        )
    media_type = media_type_of(content)
    if media_type is None:
        raise EvidenceRefused(
            "wrong_type", f"{source}: not a PDF, JPEG or PNG file (judged by its content, not its name)"
        )
    return media_type


def _summary(row: EvidenceFile) -> EvidenceSummary:
    return EvidenceSummary(
        row.id, row.step, row.sha256, row.media_type, row.size, row.uploaded_by, row.verified, row.uploaded_at
    )


def _milestone_for(session: Session, case: Case, step: str) -> Milestone:
    milestone = session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.kind == step)
        .order_by(Milestone.id.desc())
        .limit(1)
    ).first()
    if milestone is None:
        raise NotFound(f"case {case.reference} has no '{step}' step to attach evidence to")
    return milestone


def store_evidence(
    session: Session,
    case: Case,
    content: bytes,
    *,
    step: str,
    uploaded_by: str,
    verified: bool,
    source: str,
    task_link_id: int | None = None,
    limit: int | None = None,
) -> EvidenceSummary:
    """Add the file to the case in the caller's transaction, audited; refused before anything is added.

    ``source`` names the file in a refusal (its path, or the form field it came in).
    """
    media_type = check_evidence(content, source, limit)
    milestone = _milestone_for(session, case, step)
    sha256 = hashlib.sha256(content).hexdigest()
    duplicate = session.scalars(
        select(EvidenceFile.id).where(EvidenceFile.case_id == case.id, EvidenceFile.sha256 == sha256)
    ).first()
    if duplicate is not None:
        raise InvalidInput(
            f"{source}: this file is already evidence for case {case.reference} ({sha256[:12]})"
        )
    row = EvidenceFile(
        case_id=case.id,
        milestone_id=milestone.id,
        step=step,
        sha256=sha256,
        size=len(content),
        media_type=media_type,
        content=content,
        uploaded_by=uploaded_by,
        verified=verified,
        task_link_id=task_link_id,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    repo.record_audit(
        session,
        actor=uploaded_by,
        action="evidence_added",
        entity="evidence_file",
        entity_id=row.id,
        case_id=case.id,
        details={
            "step": step,
            "sha256": sha256,
            "media_type": media_type,
            "size": row.size,
            "verified": verified,
            "task_link_id": task_link_id,
        },
    )
    return _summary(row)


def add_evidence(
    store: CaseStore,
    reference: str,
    content: bytes,
    *,
    step: str,
    by: str,
    source: str,
    limit: int | None = None,
) -> EvidenceSummary:
    """Staff add a file to a case's step (recorded as unverified: staff, not the person's own link)."""
    if not by.strip():
        raise InvalidInput("--by: say who adds the evidence")
    check_evidence(content, source, limit)  # before opening a transaction: a refusal touches nothing
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        return store_evidence(
            session, case, content, step=step, uploaded_by=by, verified=False, source=source, limit=limit
        )


SUMMARY_COLUMNS = (
    EvidenceFile.id,
    EvidenceFile.step,
    EvidenceFile.sha256,
    EvidenceFile.media_type,
    EvidenceFile.size,
    EvidenceFile.uploaded_by,
    EvidenceFile.verified,
    EvidenceFile.uploaded_at,
)


def evidence_in(session: Session, case_id: int) -> list[EvidenceSummary]:
    """The case's files in the caller's session, oldest first; their bytes are not read (nor need the key)."""
    rows = session.execute(
        select(*SUMMARY_COLUMNS).where(EvidenceFile.case_id == case_id).order_by(EvidenceFile.id)
    )
    return [EvidenceSummary(*row) for row in rows]


def evidence_of(store: CaseStore, reference: str) -> list[EvidenceSummary]:
    """The case's files by hash, type and size, oldest first."""
    with store.reading() as session:
        return evidence_in(session, repo.get_case(session, reference).id)


def evidence_content(store: CaseStore, reference: str, sha256: str) -> bytes:
    """The bytes of one of the case's files (decrypted), for the core's own checks and tests."""
    with store.reading() as session:
        case = repo.get_case(session, reference)
        row = session.scalars(
            select(EvidenceFile).where(EvidenceFile.case_id == case.id, EvidenceFile.sha256 == sha256)
        ).one_or_none()
        if row is None:
            raise NotFound(f"case {reference} has no evidence file {sha256[:12]}")
        return row.content


def export_evidence(store: CaseStore, reference: str, out_dir: Path, *, by: str, reason: str) -> list[Path]:
    """Write every file of the case into ``out_dir`` as HASH.EXT, audited (who, when, why).

    The audit row commits only when every file is written; a file that cannot be written leaves
    no record of an export that did not happen.
    """
    if not by.strip():
        raise InvalidInput("--by: say who exports the evidence")
    if not reason.strip():
        raise InvalidInput("--reason: say why the evidence is exported")
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"--out {out_dir}: not a folder")
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        screen_case_texts(session, case, reason=reason)
        rows = list(
            session.scalars(
                select(EvidenceFile).where(EvidenceFile.case_id == case.id).order_by(EvidenceFile.id)
            )
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for row in rows:
            target = out_dir / _summary(row).file_name
            target.write_bytes(row.content)
            written.append(target)
        repo.record_audit(
            session,
            actor=by,
            action="evidence_exported",
            entity="case",
            entity_id=case.id,
            case_id=case.id,
            reason=reason,
            details={"files": [row.sha256 for row in rows]},
        )
        return written
