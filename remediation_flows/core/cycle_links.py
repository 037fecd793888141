"""Personal task links for the questions of a due-diligence cycle, as :mod:`task_links` has for cases.

A cycle's question (a site's risk questionnaire, the policy review, an approval, the training plan
and attendance, a monitoring visit) is emailed to each person of the roles the programme names for
it, each with a link of their own; a per-site question gets one link per site, issued when the
cycle asks about that site, so the next site's link goes out once the previous one is answered.
The link row belongs to the cycle (``cycle_id``; ``case_id`` is NULL), its ``subject`` is the
question (e.g. ``risk-dhaka-knit-01``), its ``step`` the cycle step, and ``site_id`` the site asked
about. The rules are the case links': 256-bit token kept as a hash, once only, until expiry, void
when the question is answered by another route or a new link replaces it, refused when the
programme no longer lists the person in the role.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.approvals import approvals_on
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.evidence import EvidenceUpload, check_evidence
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.mail.render import task_mail
from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    DueDiligenceCycle,
    EvidenceFile,
    Milestone,
    TaskLink,
    utcnow,
)
from remediation_flows.core.task_links import (
    TOKEN_BYTES,
    IssuedLink,
    LinkGone,
    LinkView,
    WrongTask,
    base_url,
    check_link_state,
    default_expiry,
    hash_token,
    holds_role,
    link_by_token,
    refused_in_language_of,
)

#: The actor of links the cycle's flow issues on its own.
FLOW_ACTOR = "remediation-flows"


@dataclass(frozen=True)
class CycleLinkTask:
    """What a cycle link asks of whom: safe to show on the task page (references only)."""

    link_id: int
    cycle_reference: str
    enterprise_id: str
    year: int
    step: str
    question: str
    #: The site a per-site question is about; ``None`` for a question about the whole enterprise.
    site_id: str | None
    role: str
    recipient: str
    due_at: dt.datetime
    expires_at: dt.datetime


def parse_reference(reference: str) -> tuple[str, int]:
    """The enterprise and year of a cycle reference ``DD-<enterprise>-<year>``."""
    head, _, year = reference.rpartition("-")
    if not head.startswith("DD-") or not year.isdigit() or len(head) < 4:
        raise InvalidInput(f"'{reference}' is not a due-diligence cycle reference (DD-<enterprise>-<year>)")
    return head[3:], int(year)


def cycle_link_url(reference: str, question: str, token: str, base: str | None = None) -> str:
    """The address of the cycle task page for one token."""
    return f"{base or base_url()}/cycle/{reference}/{question}/{token}"


def find_cycle(session: Session, enterprise_id: str, year: int, *, lock: bool = False) -> DueDiligenceCycle:
    """The enterprise's cycle of ``year`` (its row locked with ``lock``); NotFound if there is none."""
    query = select(DueDiligenceCycle).where(
        DueDiligenceCycle.enterprise_id == enterprise_id, DueDiligenceCycle.year == year
    )
    if lock:
        query = query.with_for_update()
    cycle = session.scalars(query).one_or_none()
    if cycle is None:
        raise NotFound(f"no due-diligence cycle DD-{enterprise_id}-{year}")
    return cycle


def _cycle(session: Session, reference: str, *, lock: bool = False) -> DueDiligenceCycle:
    enterprise_id, year = parse_reference(reference)
    return find_cycle(session, enterprise_id, year, lock=lock)


def open_milestone(session: Session, cycle: DueDiligenceCycle) -> Milestone | None:
    """The cycle's step still open (its milestone), or None once the cycle is done."""
    return session.scalars(
        select(Milestone)
        .where(Milestone.cycle_id == cycle.id, Milestone.status == MilestoneStatus.OPEN)
        .order_by(Milestone.id)
    ).first()


def _reference(cycle: DueDiligenceCycle) -> str:
    return f"DD-{cycle.enterprise_id}-{cycle.year}"


def _email_link(
    session: Session,
    programme: Programme,
    cycle: DueDiligenceCycle,
    milestone: Milestone,
    issued: IssuedLink,
    site_id: str | None,
    instructions: Any,
) -> None:
    """The link's task email, to its recipient only, in their language, through the outbox."""
    mail = task_mail(
        programme,
        reference=_reference(cycle),
        site_id=site_id or milestone.site_id,
        step=milestone.kind,
        instructions=instructions,
        due_at=milestone.due_at,
        contact_role=Role.PROGRAM_MANAGER,
        calendar_uid=f"{milestone.key}@remediation-flows",
        language=programme.language_of(issued.recipient, site_id),
        task_link=issued.url,
    )
    repo.enqueue_mail(
        session,
        kind="task",
        recipients=[issued.recipient],
        **mail.outbox_fields(),
        enterprise_id=cycle.enterprise_id,
        case_id=None,
        milestone_id=milestone.id,
    )


def _issue(
    session: Session,
    cycle: DueDiligenceCycle,
    milestone: Milestone,
    *,
    question: str,
    site_id: str | None,
    role: str,
    recipient: str,
    actor: str,
    base: str | None,
) -> IssuedLink:
    """One link, voiding any earlier one to the same person for the same question, audited."""
    repo.void_task_links(
        session,
        actor=actor,
        reason="replaced by a new link",
        cycle_id=cycle.id,
        subject=question,
        role=role,
        recipient=recipient,
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = TaskLink(
        token_sha256=hash_token(token),
        case_id=None,
        cycle_id=cycle.id,
        site_id=site_id,
        milestone_id=milestone.id,
        step=milestone.kind,
        subject=question,
        role=role,
        recipient=recipient,
        state="issued",
        issued_at=utcnow(),
        expires_at=default_expiry(milestone.due_at),
    )
    session.add(link)
    session.flush()
    repo.record_audit(
        session,
        actor=actor,
        action="task_link_issued",
        entity="task_link",
        entity_id=link.id,
        details={
            "cycle": _reference(cycle),
            "recipient": recipient,
            "role": role,
            "step": milestone.kind,
            "question": question,
            "site": site_id,
            "expires_at": link.expires_at.isoformat(),
        },
    )
    url = cycle_link_url(_reference(cycle), question, token, base)
    return IssuedLink(link.id, recipient, role, url, link.expires_at)


def issue_question_links(
    store: CaseStore,
    reference: str,
    *,
    question: str,
    roles: Sequence[Role | str],
    site_id: str | None,
    answering_key: str,
    actor: str = FLOW_ACTOR,
    base: str | None = None,
) -> list[IssuedLink]:
    """A link per person of ``roles`` for the cycle's ``question``, each emailed; one transaction.

    Asking again issues nothing new to a person whose link still works, or whose link answered the
    suspension ``answering_key`` (the flow asks again when it resumes, before it reads the answer):
    a link is issued anew only after the person's last one was spent on an answer the core refused,
    or voided.
    """
    with store.transaction() as session:
        cycle = _cycle(session, reference, lock=True)
        milestone = open_milestone(session, cycle)
        if milestone is None:
            return []
        programme = repo.current_programme(session, cycle.enterprise_id)
        earlier = session.scalars(
            select(TaskLink).where(TaskLink.cycle_id == cycle.id, TaskLink.subject == question)
        ).all()
        still_good = {
            (link.role, link.recipient.lower())
            for link in earlier
            if link.state == "issued" or (link.state == "used" and link.answered_key == answering_key)
        }
        issued = []
        for role in roles:
            for person in programme.people_for(Role(role), site_id):
                if (str(role), person.email.lower()) in still_good:
                    continue
                link = _issue(
                    session,
                    cycle,
                    milestone,
                    question=question,
                    site_id=site_id,
                    role=str(role),
                    recipient=person.email,
                    actor=actor,
                    base=base,
                )
                _email_link(
                    session,
                    programme,
                    cycle,
                    milestone,
                    link,
                    site_id,
                    text("instr.due_diligence", year=cycle.year),
                )
                issued.append(link)
        return issued


def _checked(
    session: Session, token: str, reference: str, question: str, now: dt.datetime, *, for_update: bool
) -> tuple[TaskLink, DueDiligenceCycle, Milestone]:
    link = link_by_token(session, token, for_update=for_update)
    if link.cycle_id is None:
        raise WrongTask("this link was issued for another task")  # a case's
    cycle = session.get(DueDiligenceCycle, link.cycle_id)
    milestone = session.get(Milestone, link.milestone_id)
    assert cycle is not None and milestone is not None  # foreign keys
    with refused_in_language_of(session, link, cycle.enterprise_id, link.site_id):
        return _checked_question(session, link, cycle, milestone, reference, question, now)


def _checked_question(
    session: Session,
    link: TaskLink,
    cycle: DueDiligenceCycle,
    milestone: Milestone,
    reference: str,
    question: str,
    now: dt.datetime,
) -> tuple[TaskLink, DueDiligenceCycle, Milestone]:
    if _reference(cycle) != reference or link.subject != question:
        raise WrongTask("this link was issued for another task")
    check_link_state(link, now)
    if milestone.status != MilestoneStatus.OPEN:
        raise LinkGone("this task is no longer open: it was answered or cancelled", "closed")
    subject = approval_subject(question)
    if subject is not None and any(
        a.role == link.role and a.status != ApprovalStatus.REQUESTED
        for a in approvals_on(session, milestone, subject)
    ):
        raise LinkGone("this approval was already given by another route", "answered")
    programme = repo.current_programme(session, cycle.enterprise_id)
    if not holds_role(programme, link.recipient, link.role, link.site_id):
        raise LinkGone(
            "the programme no longer lists you in the role this task was sent to you for", "role_removed"
        )
    return link, cycle, milestone


def decision_question(step: str, decided: int) -> str:
    """An approval's question in ``step``: on the policies of review ``decided``, or on the report."""
    return f"{step}-{decided}-decision"


def approval_subject(question: str) -> str | None:
    """The approvals' subject a decision question asks about (as the cycle names it); None if no approval."""
    if not question.endswith("-decision"):
        return None
    step, decided = question.removesuffix("-decision").rsplit("-", 1)
    return "communication" if step == "communication" else f"policies {decided}"


def _task(link: TaskLink, cycle: DueDiligenceCycle, milestone: Milestone) -> CycleLinkTask:
    return CycleLinkTask(
        link_id=link.id,
        cycle_reference=_reference(cycle),
        enterprise_id=cycle.enterprise_id,
        year=cycle.year,
        step=link.step,
        question=link.subject,
        site_id=link.site_id,
        role=link.role,
        recipient=link.recipient,
        due_at=milestone.due_at,
        expires_at=link.expires_at,
    )


def read_cycle_link(
    store: CaseStore, token: str, reference: str, question: str, now: dt.datetime | None = None
) -> CycleLinkTask:
    """The question a token opens, writing nothing; :class:`LinkRefused` (of one kind) if it can't be used."""
    with store.transaction() as session:
        return _task(*_checked(session, token, reference, question, now or utcnow(), for_update=False))


def _store_evidence(
    session: Session, cycle: DueDiligenceCycle, link: TaskLink, milestone: Milestone, upload: EvidenceUpload
) -> None:
    """The file given with the answer, as the cycle's evidence, the link's recipient's, verified."""
    media_type = check_evidence(upload.content, upload.source)
    sha256 = hashlib.sha256(upload.content).hexdigest()
    duplicate = session.scalars(
        select(EvidenceFile.id).where(EvidenceFile.cycle_id == cycle.id, EvidenceFile.sha256 == sha256)
    ).first()
    if duplicate is not None:
        raise InvalidInput(
            f"{upload.source}: this file is already evidence for {_reference(cycle)} ({sha256[:12]})"
        )
    row = EvidenceFile(
        case_id=None,
        cycle_id=cycle.id,
        site_id=link.site_id,
        milestone_id=milestone.id,
        step=link.step,
        sha256=sha256,
        size=len(upload.content),
        media_type=media_type,
        content=upload.content,
        uploaded_by=link.recipient,
        verified=True,
        task_link_id=link.id,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    repo.record_audit(
        session,
        actor=link.recipient,
        action="evidence_added",
        entity="evidence_file",
        entity_id=row.id,
        details={
            "cycle": _reference(cycle),
            "step": link.step,
            "sha256": sha256,
            "media_type": media_type,
            "size": row.size,
            "verified": True,
            "task_link_id": link.id,
        },
    )


def use_cycle_link(
    store: CaseStore,
    token: str,
    reference: str,
    question: str,
    *,
    answered_key: str,
    answer: dict[str, Any],
    deliver: Callable[[CycleLinkTask], None],
    evidence: EvidenceUpload | None = None,
    now: dt.datetime | None = None,
) -> CycleLinkTask:
    """Spend the link on ``answer`` to the suspension ``answered_key`` and ``deliver`` it, all or nothing.

    As :func:`task_links.use_link`: the link is locked, marked used with the answer and audited, the
    evidence stored as the recipient's, then ``deliver`` resumes the waiting run before the commit.
    """
    now = now or utcnow()
    with store.transaction() as session:
        link, cycle, milestone = _checked(session, token, reference, question, now, for_update=True)
        link.state = "used"
        link.used_at = now
        link.answered_key = answered_key
        link.answer = answer
        repo.record_audit(
            session,
            actor=link.recipient,
            action="task_link_used",
            entity="task_link",
            entity_id=link.id,
            details={
                "cycle": reference,
                "role": link.role,
                "step": link.step,
                "question": question,
                "verified": True,
            },
        )
        if evidence is not None:
            _store_evidence(session, cycle, link, milestone, evidence)
        session.flush()
        task = _task(link, cycle, milestone)
        deliver(task)
        return task


def cycle_links_of(store: CaseStore, reference: str) -> list[LinkView]:
    """Every link issued for a cycle, oldest first (never their tokens)."""
    with store.transaction() as session:
        cycle = _cycle(session, reference)
        links = session.scalars(select(TaskLink).where(TaskLink.cycle_id == cycle.id).order_by(TaskLink.id))
        return [
            LinkView(
                link.id,
                link.step,
                link.subject,
                link.role,
                link.recipient,
                link.state,
                link.issued_at,
                link.expires_at,
                link.void_reason,
            )
            for link in links
        ]


def reissue_cycle_link(
    store: CaseStore,
    reference: str,
    question: str,
    recipient: str,
    *,
    actor: str,
    reason: str,
    base: str | None = None,
) -> IssuedLink:
    """A new link for the same question to the same person, emailed to them; the old one is voided.

    ``question`` is the question (``risk-dhaka-knit-01``) or the cycle step (``risk_assessment``) of
    the person's last link in the cycle's open step; its role and site are that link's.
    """
    if not reason.strip():
        raise InvalidInput("re-issuing a link needs a reason")
    with store.transaction() as session:
        cycle = _cycle(session, reference, lock=True)
        milestone = open_milestone(session, cycle)
        if milestone is None:
            raise NotFound(f"cycle {reference} has no open step")
        previous = session.scalars(
            select(TaskLink)
            .where(
                TaskLink.cycle_id == cycle.id,
                TaskLink.milestone_id == milestone.id,
                TaskLink.recipient == recipient,
                (TaskLink.subject == question) | (TaskLink.step == question),
            )
            .order_by(TaskLink.id.desc())
            .limit(1)
        ).first()
        if previous is None:
            raise NotFound(
                f"no link for '{question}' of {reference}'s open step was ever sent to {recipient}"
            )
        programme = repo.current_programme(session, cycle.enterprise_id)
        if not holds_role(programme, recipient, previous.role, previous.site_id):
            raise InvalidInput(
                f"{recipient} no longer holds the role {previous.role} in {cycle.enterprise_id}"
            )
        issued = _issue(
            session,
            cycle,
            milestone,
            question=previous.subject,
            site_id=previous.site_id,
            role=previous.role,
            recipient=recipient,
            actor=actor,
            base=base,
        )
        repo.record_audit(
            session,
            actor=actor,
            action="task_link_reissued",
            entity="task_link",
            entity_id=issued.link_id,
            reason=reason,
            details={"cycle": reference, "recipient": recipient, "replaces": previous.id},
        )
        _email_link(
            session, programme, cycle, milestone, issued, previous.site_id, text("instr.link_reissued")
        )
        return issued


def void_question_links(
    session: Session, cycle_id: int, question: str, *, actor: str, role: str | None = None
) -> int:
    """Void the links still open for a cycle's question (it was answered by another route)."""
    return repo.void_task_links(
        session,
        actor=actor,
        reason="the task was answered by another route",
        cycle_id=cycle_id,
        subject=question,
        role=role,
    )
