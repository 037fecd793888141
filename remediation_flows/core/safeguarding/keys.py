"""Re-encrypting every stored identity under the first configured key.

Run after putting a new key first in REMEDIATION_PERSONAL_DATA_KEY (the old one still listed, so
that casework goes on meanwhile). Values written before any key was set are encrypted too. It
works in batches, each its own transaction with an audit row per case it changed, and skips any
value already under the first key: an interrupted rotation is resumed by running it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import column, select, table, update

from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.protection import (
    KEY_VARIABLE,
    PersonalDataKeyError,
    configured_keys,
    reprotect,
    reprotect_bytes,
    under_current_key,
)
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Case, EvidenceFile

PROTECTED_COLUMNS = ("full_name", "birth_date", "address", "school", "guardian_name", "photo_reference")

# The child's table as stored, without the types that decrypt on read: rotation moves tokens only.
_STORED = table("child_personal_data", column("case_id"), *(column(name) for name in PROTECTED_COLUMNS))
# Evidence files as stored, likewise: a letter or photo may show the child, so it is under the same key.
_EVIDENCE = table("evidence_files", column("id"), column("case_id"), column("content"))
#: Files are up to the evidence size limit each, so they go a few at a time.
EVIDENCE_BATCH = 10


@dataclass(frozen=True)
class RotatedBatch:
    """One committed batch: how many identities it read and how many values it re-encrypted."""

    identities: int
    values: int


def rotate_personal_data(store: CaseStore, actor: str, batch_size: int = 200) -> Iterator[RotatedBatch]:
    """Re-encrypt every protected value under the first key, one committed batch per item yielded."""
    if not configured_keys():
        raise PersonalDataKeyError(f"set {KEY_VARIABLE} (the new key first) to rotate personal data")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    after = 0
    while True:
        with store.transaction() as session:
            rows = session.execute(
                select(_STORED, Case.reference)
                .join(Case, Case.id == _STORED.c.case_id)
                .where(_STORED.c.case_id > after)
                .order_by(_STORED.c.case_id)
                .limit(batch_size)
                .with_for_update(of=_STORED)
            ).all()
            if not rows:
                break
            changed = 0
            for row in rows:
                values = row._mapping
                updates = {
                    name: reprotect(values[name])
                    for name in PROTECTED_COLUMNS
                    if values[name] is not None and not under_current_key(values[name])
                }
                if not updates:
                    continue
                session.execute(update(_STORED).where(_STORED.c.case_id == row.case_id).values(**updates))
                changed += len(updates)
                repo.record_audit(
                    session,
                    actor=actor,
                    action="child_identity_reencrypted",
                    entity="case",
                    entity_id=row.reference,
                    case_id=row.case_id,
                    details={"values": len(updates)},
                )
            after = rows[-1].case_id
        yield RotatedBatch(identities=len(rows), values=changed)
    yield from _rotate_evidence(store, actor)


def _rotate_evidence(store: CaseStore, actor: str) -> Iterator[RotatedBatch]:
    after = 0
    while True:
        with store.transaction() as session:
            rows = session.execute(
                select(_EVIDENCE)
                .where(_EVIDENCE.c.id > after)
                .order_by(_EVIDENCE.c.id)
                .limit(EVIDENCE_BATCH)
                .with_for_update()
            ).all()
            if not rows:
                return
            changed = 0
            for row in rows:
                rotated = reprotect_bytes(bytes(row.content))
                if rotated is None:
                    continue
                session.execute(update(_EVIDENCE).where(_EVIDENCE.c.id == row.id).values(content=rotated))
                changed += 1
                repo.record_audit(
                    session,
                    actor=actor,
                    action="evidence_reencrypted",
                    entity=EvidenceFile.__tablename__,
                    entity_id=row.id,
                    case_id=row.case_id,
                )
            after = rows[-1].id
        yield RotatedBatch(identities=0, values=changed)
