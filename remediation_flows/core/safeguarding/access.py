"""Reading a child's identity, which only a person with a stated reason may do, and the log of who did.

Every read writes an access-log row (who, when, which case, why) in the transaction that reads,
so a read that is not logged never happened. The log names the case by its pseudonymous reference
and holds the reason, screened first against the identity it reveals; it never holds the identity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import AuditEvent, ChildPersonalData, IdentityAccess, utcnow

SHOW_IDENTITY = "show-identity"


@dataclass(frozen=True)
class ChildIdentity:
    """A child's identity as read from the protected table, for the person who asked for it."""

    case_reference: str
    full_name: str
    birth_date: dt.date | None
    address: str | None
    school: str | None
    guardian_name: str | None
    photo_reference: str | None


@dataclass(frozen=True)
class AccessLogEntry:
    """One read of a case's identity."""

    accessed_at: dt.datetime
    accessed_by: str
    purpose: str
    reason: str


def read_child_identity(
    store: CaseStore, reference: str, *, actor: str, reason: str, purpose: str = SHOW_IDENTITY
) -> ChildIdentity:
    """The child's identity of a case, logged with who read it and why; refused without a reason."""
    if not reason.strip():
        raise InvalidInput(f"--reason: reading the identity of case {reference} needs a reason")
    if not actor.strip():
        raise InvalidInput(f"--by: reading the identity of case {reference} needs who reads it")
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        row = session.get(ChildPersonalData, case.id)
        if row is None:
            erased = session.scalar(
                select(AuditEvent.at)
                .where(AuditEvent.case_id == case.id, AuditEvent.action == "child_identity_erased")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            when = f" (erased on {erased:%Y-%m-%d} after its retention period)" if erased else ""
            raise NotFound(f"case {reference} has no child's identity in the case store{when}")
        # The log must not become a second copy of what it guards.
        screen_case_texts(session, case, reason=reason)
        session.add(
            IdentityAccess(
                case_id=case.id,
                accessed_by=actor.strip(),
                accessed_at=utcnow(),
                reason=reason.strip(),
                purpose=purpose,
            )
        )
        return ChildIdentity(
            case_reference=case.reference,
            full_name=row.full_name,
            birth_date=row.birth_date,
            address=row.address,
            school=row.school,
            guardian_name=row.guardian_name,
            photo_reference=row.photo_reference,
        )


def access_log(store: CaseStore, reference: str) -> list[AccessLogEntry]:
    """Every read of a case's identity, oldest first."""
    with store.reading() as session:
        case = repo.get_case(session, reference)
        return [
            AccessLogEntry(
                accessed_at=entry.accessed_at,
                accessed_by=entry.accessed_by,
                purpose=entry.purpose,
                reason=entry.reason,
            )
            for entry in session.scalars(
                select(IdentityAccess).where(IdentityAccess.case_id == case.id).order_by(IdentityAccess.id)
            )
        ]
