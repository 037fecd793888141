"""Ad-hoc risk reassessment of a site, called for out of the yearly turn (a new case there).

Kept apart from the cycle's acts so that opening a case (casework) can call it without importing
the cycle, which itself opens cases.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.mail.i18n import words
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Enterprise, Milestone, utcnow

#: The programme step whose deadline, owner and ladder an ad-hoc reassessment follows.
REASSESSMENT_STEP = "risk_assessment"


def reassessment_reference(enterprise_id: str, site_id: str) -> str:
    """The pseudonymous reference the reassessment's emails name: the enterprise and site, no case."""
    return f"RA-{enterprise_id}-{site_id}"


def open_site_reassessment(
    session: Session, programme: Programme, site_id: str, actor: str, reason: str
) -> Milestone | None:
    """Open an ad-hoc risk reassessment milestone for ``site_id`` unless one is open; ``None`` if one is.

    Audited (by the milestone's creation) and announced to the risk assessment's owner, in the
    caller's transaction. The site row is locked first so that two cases opened at once at the same
    site open one reassessment.
    """
    reference = reassessment_reference(programme.enterprise_id, site_id)
    prefix = f"{reference}/reassessment/"
    # Two cases opened at once at one site must open one reassessment: serialise on the enterprise
    # row (PostgreSQL; SQLite has a single writer anyway).
    session.execute(select(Enterprise.id).where(Enterprise.id == programme.enterprise_id).with_for_update())
    existing = session.scalars(
        select(Milestone).where(Milestone.key.startswith(prefix), Milestone.status == "open")
    ).first()
    if existing is not None:
        return None
    earlier = session.scalar(
        select(func.count()).select_from(Milestone).where(Milestone.key.startswith(prefix))
    )
    due_at = repo.reckon_step(programme, site_id, REASSESSMENT_STEP, utcnow()).due_at
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=f"{prefix}{(earlier or 0) + 1}",
        site_id=site_id,
        step=REASSESSMENT_STEP,
        title=f"Risk reassessment {site_id}",
        due_at=due_at,
        actor=actor,
    )
    repo.record_audit(
        session,
        actor=actor,
        action="site_reassessment_opened",
        entity="site",
        entity_id=reference,
        reason=reason,
        details={"site": site_id, "milestone": milestone.key},
    )
    enqueue_task_mail(
        session,
        programme,
        milestone,
        [programme.step(REASSESSMENT_STEP).owner],
        words(programme.language)["instr.site_reassessment"].format(site=site_id),
        reference=reference,
        contact_role=Role.PROGRAM_MANAGER,
    )
    return milestone
