"""Personal task links: how a person outside the NGO answers one task, and how we know it was them.

A link carries a random token of 256 bits; the case store keeps only its SHA-256, with the
recipient's address, the task (case, milestone step, approval subject) and the role the recipient
holds in the programme. A link works once, until its expiry, and only while the task still waits
for that person: it is void once the task is answered by another route, the case is reassigned or
withdrawn, or a new link replaces it; it is refused when the programme no longer lists the person
in that role. The token itself appears only in the email to its recipient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import InvalidInput, NotFound, RemediationError
from remediation_flows.core.evidence import EvidenceUpload, store_evidence
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Approval, Case, Milestone, TaskLink, utcnow

#: The public address of the task page, which the emails link to (behind the operator's HTTPS proxy).
BASE_URL_VARIABLE = "REMEDIATION_TASK_PAGE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:4300"
#: How long a link outlives its milestone's due date, in days.
DAYS_AFTER_DUE_VARIABLE = "REMEDIATION_TASK_LINK_DAYS_AFTER_DUE"
DEFAULT_DAYS_AFTER_DUE = 14
#: 32 random bytes: 256 bits, well beyond guessing.
TOKEN_BYTES = 32


class LinkRefused(RemediationError):
    """A link that cannot be used; ``kind`` says why in one word, the message in words.

    ``reason`` names the refusal's message in the catalogs (``refusal.<reason>``), and ``values``
    fill its placeholders, so that the task page can say it in the reader's language.
    """

    kind = "refused"

    def __init__(self, message: str, reason: str | None = None, **values: str) -> None:
        super().__init__(message)
        self.reason = reason or self.kind
        self.values = values
        #: The language of the link's recipient, once the token is known to be real.
        self.language: str | None = None


class UnknownLink(LinkRefused):
    """No link has this token: forged, mistyped or truncated."""

    kind = "unknown"


class LinkGone(LinkRefused):
    """The link existed but no longer works: used, void, expired, or the task no longer waits on it."""

    kind = "gone"


class WrongTask(LinkRefused):
    """The token is real but was issued for another case or step than the address names."""

    kind = "wrong_task"


@dataclass(frozen=True)
class LinkRequest:
    """Which roles of a task email must act, so that each of their people gets a personal link."""

    step: str
    roles: tuple[Role, ...]
    #: The approval subject ("plan 3", "closure"); "" for a task that is not an approval.
    subject: str = ""


@dataclass(frozen=True)
class IssuedLink:
    """A link just issued; ``url`` holds the token and goes into its recipient's email only."""

    link_id: int
    recipient: str
    role: str
    url: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class LinkTask:
    """What a link asks of whom: safe to show on the task page (references only)."""

    link_id: int
    case_reference: str
    enterprise_id: str
    site_id: str
    step: str
    subject: str
    role: str
    recipient: str
    due_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class VerifiedAnswer:
    """An answer given through a link: the address it was issued to and the role held there."""

    link_id: int
    recipient: str
    role: str
    answer: dict[str, Any]
    #: When the task page applied the answer in the case store; None when the flow run applies it.
    applied_at: dt.datetime | None = None


def hash_token(token: str) -> str:
    """The SHA-256 of a token, as the store keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def base_url() -> str:
    """The task page's public address, from ``REMEDIATION_TASK_PAGE_URL``."""
    return os.environ.get(BASE_URL_VARIABLE, DEFAULT_BASE_URL).rstrip("/")


def link_url(reference: str, step: str, token: str, base: str | None = None) -> str:
    """The address of the task page for one token."""
    return f"{base or base_url()}/tasks/{reference}/{step}/{token}"


def default_expiry(due_at: dt.datetime) -> dt.datetime:
    """A link lasts until the milestone's due date plus the configured grace (default 14 days)."""
    days = int(os.environ.get(DAYS_AFTER_DUE_VARIABLE, DEFAULT_DAYS_AFTER_DUE))
    return due_at + dt.timedelta(days=days)


def holds_role(programme: Programme, email: str, role: Role | str, site_id: str | None = None) -> bool:
    """Whether the programme lists ``email`` under ``role`` at the site (else the enterprise's people)."""
    wanted = email.strip().lower()
    return any(person.email.lower() == wanted for person in programme.people_for(Role(role), site_id))


def issue_link(
    session: Session,
    *,
    case: Case,
    milestone: Milestone,
    subject: str,
    role: Role | str,
    recipient: str,
    actor: str,
    expires_at: dt.datetime | None = None,
    base: str | None = None,
) -> IssuedLink:
    """Issue a link to ``recipient`` for the task, voiding any earlier one to them for the same task."""
    void_links(
        session,
        actor=actor,
        reason="replaced by a new link",
        milestone_id=milestone.id,
        subject=subject,
        role=str(role),
        recipient=recipient,
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = TaskLink(
        token_sha256=hash_token(token),
        case_id=case.id,
        milestone_id=milestone.id,
        step=milestone.kind,
        subject=subject,
        role=str(role),
        recipient=recipient,
        state="issued",
        issued_at=utcnow(),
        expires_at=expires_at or default_expiry(milestone.due_at),
    )
    session.add(link)
    session.flush()
    repo.record_audit(
        session,
        actor=actor,
        action="task_link_issued",
        entity="task_link",
        entity_id=link.id,
        case_id=case.id,
        details={
            "recipient": recipient,
            "role": str(role),
            "step": milestone.kind,
            "subject": subject,
            "expires_at": link.expires_at.isoformat(),
        },
    )
    return IssuedLink(
        link.id, recipient, str(role), link_url(case.reference, milestone.kind, token, base), link.expires_at
    )


#: Voiding is store API (milestones, approvals and reassignment void links too); named here as well.
void_links = repo.void_task_links


def check_link_state(link: TaskLink, now: dt.datetime) -> None:
    """Refuse a link already used, void or expired (:class:`LinkGone`, with its reason)."""
    if link.state == "used":
        assert link.used_at is not None  # set with the state
        used = f"{link.used_at:%Y-%m-%d %H:%M} UTC"
        raise LinkGone(f"this link was already used on {used}; it works once", "used", when=used)
    if link.state == "void":
        raise LinkGone(f"this link no longer works: {link.void_reason}", "void")
    if now >= link.expires_at:
        expired = f"{link.expires_at:%Y-%m-%d %H:%M} UTC"
        raise LinkGone(f"this link expired on {expired}", "expired", when=expired)


def link_by_token(session: Session, token: str, *, for_update: bool) -> TaskLink:
    """The link a token is for (a case's or a cycle's), locked with ``for_update``; else UnknownLink."""
    query = select(TaskLink).where(TaskLink.token_sha256 == hash_token(token))
    if for_update:
        query = query.with_for_update()
    link = session.scalars(query).one_or_none()
    if link is None:
        raise UnknownLink("this link is not known: check that the whole address was copied from the email")
    return link


def _checked_link(
    session: Session, token: str, reference: str, step: str, now: dt.datetime, *, for_update: bool
) -> tuple[TaskLink, Case, Milestone]:
    link = link_by_token(session, token, for_update=for_update)
    if link.case_id is None:
        raise WrongTask("this link was issued for another task")  # a due-diligence cycle's
    case = session.get(Case, link.case_id)
    milestone = session.get(Milestone, link.milestone_id)
    assert case is not None and milestone is not None  # foreign keys
    with refused_in_language_of(session, link, case.enterprise_id, case.site_id):
        return _checked_task(session, link, case, milestone, reference, step, now)


@contextmanager
def refused_in_language_of(
    session: Session, link: TaskLink, enterprise_id: str, site_id: str | None
) -> Iterator[None]:
    """A refusal of a link whose token is real carries the language its recipient reads."""
    try:
        yield
    except LinkRefused as refused:
        programme = repo.current_programme(session, enterprise_id)
        try:
            refused.language = programme.language_of(link.recipient, site_id)
        except NotFound:  # the site left the programme: its enterprise's language
            refused.language = programme.language
        raise


def _checked_task(
    session: Session,
    link: TaskLink,
    case: Case,
    milestone: Milestone,
    reference: str,
    step: str,
    now: dt.datetime,
) -> tuple[TaskLink, Case, Milestone]:
    if case.reference != reference or link.step != step:
        raise WrongTask("this link was issued for another task")
    check_link_state(link, now)
    if milestone.status != MilestoneStatus.OPEN:
        raise LinkGone("this task is no longer open: it was answered or cancelled", "closed")
    if link.subject:
        approval = session.scalars(
            select(Approval).where(
                Approval.milestone_id == milestone.id,
                Approval.subject == link.subject,
                Approval.role == link.role,
            )
        ).one_or_none()
        if approval is None or approval.status != ApprovalStatus.REQUESTED:
            raise LinkGone("this approval was already given by another route", "answered")
    programme = repo.current_programme(session, case.enterprise_id)
    if not holds_role(programme, link.recipient, link.role, case.site_id):
        raise LinkGone(
            "the programme no longer lists you in the role this task was sent to you for", "role_removed"
        )
    return link, case, milestone


def _task(link: TaskLink, case: Case, milestone: Milestone) -> LinkTask:
    return LinkTask(
        link_id=link.id,
        case_reference=case.reference,
        enterprise_id=case.enterprise_id,
        site_id=case.site_id,
        step=link.step,
        subject=link.subject,
        role=link.role,
        recipient=link.recipient,
        due_at=milestone.due_at,
        expires_at=link.expires_at,
    )


def read_link(
    store: CaseStore, token: str, reference: str, step: str, now: dt.datetime | None = None
) -> LinkTask:
    """The task a token opens, writing nothing; :class:`LinkRefused` (of one kind) if it cannot be used."""
    with store.transaction() as session:
        return _task(*_checked_link(session, token, reference, step, now or utcnow(), for_update=False))


def use_link(
    store: CaseStore,
    token: str,
    reference: str,
    step: str,
    *,
    answered_key: str,
    answer: dict[str, Any],
    deliver: Callable[[LinkTask], None] | None = None,
    evidence: EvidenceUpload | None = None,
    now: dt.datetime | None = None,
    apply: Callable[[Session, TaskLink, Case, Milestone], None] | None = None,
) -> LinkTask:
    """Spend the link on ``answer`` to the prompt ``answered_key`` and apply it, all or nothing.

    ``apply``, when given, records the answer in the case store in the same transaction and the
    link is marked applied, so that the flow run waiting on ``answered_key`` does not apply it
    again; without it the answer is left for that run to apply once ``deliver`` resumes it.

    The case row is locked, then the link's (on SQLite the write transaction serialises them): of
    two submits of one link, the second waits for the first and finds the link used. The link is
    marked used with the answer and audited, and ``evidence`` (a file given with the answer) is
    stored as the recipient's, verified by this link; then ``apply`` and ``deliver`` run before the
    transaction commits: if either fails, the link stays unused and nothing is recorded.
    """
    at = now or utcnow()
    with store.transaction() as session:
        # The case first, as every act locks it: a page and a flow acting on one case queue up
        # in the same order and cannot deadlock. An unknown reference is left to the link check.
        session.scalars(select(Case).where(Case.reference == reference).with_for_update()).one_or_none()
        link, case, milestone = _checked_link(session, token, reference, step, at, for_update=True)
        link.state = "used"
        link.used_at = at
        link.answered_key = answered_key
        link.answer = answer
        repo.record_audit(
            session,
            actor=link.recipient,
            action="task_link_used",
            entity="task_link",
            entity_id=link.id,
            case_id=case.id,
            details={"role": link.role, "step": link.step, "subject": link.subject, "verified": True},
        )
        if evidence is not None:
            store_evidence(
                session,
                case,
                evidence.content,
                step=link.step,
                uploaded_by=link.recipient,
                verified=True,
                source=evidence.source,
                task_link_id=link.id,
            )
        session.flush()
        task = _task(link, case, milestone)
        if apply is not None:
            apply(session, link, case, milestone)
            link.applied_at = at
        if deliver is not None:
            deliver(task)
        return task


def verified_answer(store: CaseStore, answered_key: str) -> VerifiedAnswer | None:
    """The answer a link gave to the prompt ``answered_key``, if one did."""
    return applied_or_given_answers(store, [answered_key]).get(answered_key)


def applied_or_given_answers(store: CaseStore, answered_keys: Iterable[str]) -> dict[str, VerifiedAnswer]:
    """Prompt key -> the answer a link gave to it, for each of ``answered_keys`` a link answered.

    Read in one query, so that a run settling or recovery redelivering many keys costs one.
    """
    keys = sorted(set(answered_keys))
    if not keys:
        return {}
    with store.reading() as session:
        links = session.scalars(
            select(TaskLink)
            .where(TaskLink.answered_key.in_(keys), TaskLink.state == "used")
            .order_by(TaskLink.id)
        ).all()
        # The newest link per key wins (ordered by id, later rows overwrite earlier ones).
        return {
            link.answered_key: VerifiedAnswer(
                link.id, link.recipient, link.role, dict(link.answer), link.applied_at
            )
            for link in links
            if link.answered_key is not None and link.answer is not None
        }


def has_applied_answers(store: CaseStore, reference: str) -> bool:
    """Whether the task page ever applied a link's answer for the case (a run may hold it unread)."""
    with store.reading() as session:
        found = session.scalar(
            select(TaskLink.id)
            .join(Case, Case.id == TaskLink.case_id)
            .where(Case.reference == reference, TaskLink.applied_at.is_not(None))
            .limit(1)
        )
        return found is not None


def issue_task_links(
    session: Session,
    programme: Programme,
    *,
    case: Case,
    milestone: Milestone,
    request: LinkRequest,
    actor: str,
) -> list[IssuedLink]:
    """One link per person of each role that must act, bound to that role."""
    issued = []
    for role in request.roles:
        for person in programme.people_for(role, milestone.site_id):
            issued.append(
                issue_link(
                    session,
                    case=case,
                    milestone=milestone,
                    subject=request.subject,
                    role=role,
                    recipient=person.email,
                    actor=actor,
                )
            )
    return issued


@dataclass(frozen=True)
class LinkView:
    """A link as staff see it (never the token)."""

    link_id: int
    step: str
    subject: str
    role: str
    recipient: str
    state: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    note: str | None


def links_of(store: CaseStore, reference: str) -> list[LinkView]:
    """Every link issued for a case, oldest first."""
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        links = session.scalars(select(TaskLink).where(TaskLink.case_id == case.id).order_by(TaskLink.id))
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


def reissue_link(
    store: CaseStore,
    reference: str,
    step: str,
    recipient: str,
    *,
    actor: str,
    reason: str,
    base: str | None = None,
) -> IssuedLink:
    """A new link for the same task to the same person, emailed to them; the old one is voided.

    The task and role are those of the person's last link for the case's open ``step``: a link is
    re-issued, never invented, so the role still comes from the programme the first link was bound to.
    """
    from remediation_flows.core.mail.i18n import text
    from remediation_flows.core.mail.render import task_mail

    if not reason.strip():
        raise InvalidInput("re-issuing a link needs a reason")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, reason=reason)
        milestone = session.scalars(
            select(Milestone)
            .where(
                Milestone.case_id == case.id, Milestone.kind == step, Milestone.status == MilestoneStatus.OPEN
            )
            .order_by(Milestone.id.desc())
            .limit(1)
        ).first()
        if milestone is None:
            raise NotFound(f"case {reference} has no open '{step}' task")
        previous = session.scalars(
            select(TaskLink)
            .where(TaskLink.milestone_id == milestone.id, TaskLink.recipient == recipient)
            .order_by(TaskLink.id.desc())
            .limit(1)
        ).first()
        if previous is None:
            raise NotFound(f"no link for the '{step}' task of {reference} was ever sent to {recipient}")
        programme = repo.current_programme(session, case.enterprise_id)
        if not holds_role(programme, recipient, previous.role, case.site_id):
            raise InvalidInput(
                f"{recipient} no longer holds the role {previous.role} in {case.enterprise_id}"
            )
        issued = issue_link(
            session,
            case=case,
            milestone=milestone,
            subject=previous.subject,
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
            case_id=case.id,
            reason=reason,
            details={"recipient": recipient, "replaces": previous.id},
        )
        mail = task_mail(
            programme,
            reference=case.reference,
            site_id=case.site_id,
            step=step,
            instructions=text("instr.link_reissued"),
            due_at=milestone.due_at,
            calendar_uid=f"{milestone.key}@remediation-flows",
            language=programme.language_of(recipient, case.site_id),
            task_link=issued.url,
        )
        repo.enqueue_mail(
            session,
            kind="task",
            recipients=[recipient],
            **mail.outbox_fields(),
            enterprise_id=case.enterprise_id,
            case_id=case.id,
            milestone_id=milestone.id,
        )
        return issued


def void_links_of_case(session: Session, case: Case, *, actor: str, reason: str) -> int:
    """Void every issued link of a case (it was reassigned or withdrawn)."""
    return void_links(session, actor=actor, reason=reason, case_id=case.id)
