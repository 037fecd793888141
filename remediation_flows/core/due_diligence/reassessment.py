"""Ad-hoc risk reassessment of a site, called for out of the yearly turn.

A case opened at the site, or a child found at work again there at a follow-up visit, opens one
(where the programme sets ``due_diligence.reassess_site_on_new_case``). The milestone follows the
programme's risk-assessment step (deadline, owner, ladder) and is closed by recording the site's
questionnaire again: scored as in the yearly cycle, audited with its score, level and reasons.

Kept apart from the cycle's acts so that casework can call it without importing the cycle, which
itself opens cases.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.due_diligence.risk import (
    SiteQuestionnaire,
    SiteRisk,
    check_questionnaire,
    score_site,
)
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Enterprise, Milestone, utcnow

#: The programme step whose deadline, owner and ladder an ad-hoc reassessment follows.
REASSESSMENT_STEP = "risk_assessment"


def reassessment_reference(enterprise_id: str, site_id: str) -> str:
    """The pseudonymous reference the reassessment's emails name: the enterprise and site, no case."""
    return f"RA-{enterprise_id}-{site_id}"


def _prefix(enterprise_id: str, site_id: str) -> str:
    return f"{reassessment_reference(enterprise_id, site_id)}/reassessment/"


@dataclass(frozen=True)
class OpenReassessment:
    """An ad-hoc reassessment waiting for the site's questionnaire, with what its question shows."""

    key: str
    enterprise_id: str
    site_id: str
    site_name: str
    time_zone: str
    owner_role: str
    due_at: dt.datetime

    @property
    def reference(self) -> str:
        return reassessment_reference(self.enterprise_id, self.site_id)


def open_reassessments(
    store: CaseStore, enterprise_id: str | None = None, site_id: str | None = None, *, key: str | None = None
) -> list[OpenReassessment]:
    """The open ad-hoc reassessments, oldest due first: the one under ``key``, those of one site when
    both ids are given, else all."""
    where = [Milestone.status == MilestoneStatus.OPEN, Milestone.case_id.is_(None)]
    if key is not None:
        where += [Milestone.key == key, Milestone.key.contains("/reassessment/")]
    elif enterprise_id is not None and site_id is not None:
        where.append(Milestone.key.startswith(_prefix(enterprise_id, site_id)))
    else:
        where += [Milestone.key.startswith("RA-"), Milestone.key.contains("/reassessment/")]
    found = []
    with store.reading() as session:
        rows = session.execute(
            select(
                Milestone.key,
                Milestone.enterprise_id,
                Milestone.site_id,
                Milestone.owner_role,
                Milestone.due_at,
            )
            .where(*where)
            .order_by(Milestone.due_at, Milestone.id)
        ).all()
        programmes: dict[str, Programme] = {}
        for key, enterprise, site, owner, due_at in rows:
            programme = programmes.get(enterprise) or repo.current_programme(session, enterprise)
            programmes[enterprise] = programme
            rule = programme.site(site)
            found.append(OpenReassessment(key, enterprise, site, rule.name, rule.time_zone, owner, due_at))
    return found


def record_site_reassessment(
    store: CaseStore, milestone_key: str, answers: SiteQuestionnaire, actor: str
) -> SiteRisk:
    """Close an open reassessment with the site's questionnaire, scored by the enterprise's current
    programme; the score, level, reasons and answers go in the audit trail, in one transaction."""
    check_questionnaire(answers)
    with store.transaction() as session:
        milestone = session.scalars(
            select(Milestone).where(Milestone.key == milestone_key).with_for_update()
        ).first()
        if milestone is None or "/reassessment/" not in milestone.key or milestone.case_id is not None:
            raise NotFound(f"no site reassessment '{milestone_key}'")
        if milestone.status != MilestoneStatus.OPEN:
            raise InvalidInput(f"reassessment {milestone_key} is already {milestone.status}")
        programme = repo.current_programme(session, milestone.enterprise_id)
        site = programme.site(milestone.site_id)
        risk = score_site(site.country, site.kind, answers)
        repo.record_audit(
            session,
            actor=actor,
            action="site_reassessed",
            entity="site",
            entity_id=reassessment_reference(milestone.enterprise_id, milestone.site_id),
            details={
                "site": milestone.site_id,
                "milestone": milestone.key,
                "score": risk.score,
                "level": str(risk.level),
                "reasons": list(risk.reasons),
                "answers": {key: str(value) for key, value in vars(answers).items()},
            },
        )
        repo.complete_milestone(
            session, milestone, actor=actor, reason=f"site reassessed: risk {risk.level} ({risk.score})"
        )
        return risk


def open_site_reassessment(
    session: Session, programme: Programme, site_id: str, actor: str, reason: str
) -> Milestone | None:
    """Open an ad-hoc risk reassessment milestone for ``site_id`` unless one is open; ``None`` if one is.

    Audited (by the milestone's creation) and announced to the risk assessment's owner, in the
    caller's transaction. The site row is locked first so that two cases opened at once at the same
    site open one reassessment.
    """
    reference = reassessment_reference(programme.enterprise_id, site_id)
    prefix = _prefix(programme.enterprise_id, site_id)
    # Two cases opened at once at one site must open one reassessment: serialise on the enterprise
    # row (PostgreSQL; SQLite has a single writer anyway).
    session.execute(select(Enterprise.id).where(Enterprise.id == programme.enterprise_id).with_for_update())
    existing = session.scalars(
        select(Milestone).where(Milestone.key.startswith(prefix), Milestone.status == MilestoneStatus.OPEN)
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
        text("instr.site_reassessment", site=site_id),
        reference=reference,
        contact_role=Role.PROGRAM_MANAGER,
    )
    return milestone
