"""The case store's write and read API.

Every function takes the caller's :class:`~sqlalchemy.orm.Session`, so that a
state change, its audit row and its outbox rows commit together or not at all:
open one transaction with :meth:`CaseStore.transaction` and call as many of
these as one act needs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from remediation_flows.core.case_sources import CaseSource
from remediation_flows.core.case_states import ENDED_STATES, CaseState, check_transition
from remediation_flows.core.clocks import Reckoning, SiteCalendar
from remediation_flows.core.config.loader import load_programme_document
from remediation_flows.core.config.minimum_age import HAZARDOUS_WORK_AGE
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.ladder import next_escalation_at
from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus, OutboxStatus
from remediation_flows.core.store.database import READ_ONLY, make_engine
from remediation_flows.core.store.schema import (
    Approval,
    AuditEvent,
    Case,
    ChildPersonalData,
    DeadlineExtension,
    Enterprise,
    EnterpriseTask,
    FollowUpVisit,
    Milestone,
    OutboxMessage,
    ProgrammeVersion,
    SiteRow,
    TaskLink,
    utcnow,
)

CASE_SOURCES = tuple(source.value for source in CaseSource)
MESSAGE_ID_DOMAIN = "remediation-flows.local"


class CaseStore:
    """A handle on one case store database."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        #: The URL with its password, for migrations and child processes; never log it.
        self.url = self.engine.url.render_as_string(hide_password=False)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        with self._sessions.begin() as session:
            yield session

    def shares_one_transaction(self) -> bool:
        """Whether this store's transactions are all one (:meth:`within`) or never commit
        (:meth:`rehearsal`): then two of them cannot be open at once, each on its own connection."""
        return False

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A consistent read that writes nothing: on SQLite it takes no write lock.

        A view over hundreds of open cases takes seconds on a busy machine; inside a writing
        transaction it held SQLite's one write lock all that time, and the case flows waiting
        for it gave up ("database is locked").
        """
        # Closing the session ends its transaction (a rollback) and keeps what it loaded readable.
        with self._sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def within(self, session: Session) -> CaseStore:
        """The same store, whose transactions are all ``session``'s own, which the caller commits.

        A core act takes a store and opens its own transaction; run on ``within(session)`` it joins
        the caller's instead, so that the act and what the caller writes beside it (a task link
        spent, say) commit together or not at all.
        """
        return _Within(self, session)

    def rehearsal(self) -> CaseStore:
        """The same store, but every transaction rolls back: try an act to learn whether it is refused.

        The cycle's task page tries the act before it spends the link; the case page applies it for
        real within its request (:meth:`within`).
        """
        return _Rehearsal(self)


class _Rehearsal(CaseStore):
    def shares_one_transaction(self) -> bool:
        return True

    def __init__(self, store: CaseStore) -> None:
        self.engine = store.engine
        self.url = store.url
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            session.begin()
            yield session
            session.flush()  # so that constraints are checked as the real act's commit would
        finally:
            session.rollback()
            session.close()


class _Within(CaseStore):
    def __init__(self, store: CaseStore, session: Session) -> None:
        self.engine = store.engine
        self.url = store.url
        self._sessions = store._sessions
        self._session = session

    def shares_one_transaction(self) -> bool:
        return True

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        yield self._session
        self._session.flush()  # constraints are checked where the act wrote, not at the caller's commit

    @contextmanager
    def reading(self) -> Iterator[Session]:
        yield self._session  # what the act wrote so far is what a view inside it must see

    def dispose(self) -> None:
        """Nothing: the engine is the outer store's, still in use."""


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    case_id: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one audit row (who, when, what, why). Never put a child's identity in ``details``."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        case_id=case_id,
        reason=reason,
        details=details or {},
        at=at or utcnow(),
    )
    session.add(event)
    return event


def register_programme(session: Session, programme: Programme, actor: str) -> Enterprise:
    """Create or update an enterprise and its sites from its programme; audited when it changes."""
    fingerprint = programme.fingerprint
    enterprise = session.get(Enterprise, programme.enterprise_id)
    if enterprise is not None and enterprise.config_sha256 == fingerprint:
        return enterprise
    action = "programme_registered" if enterprise is None else "programme_updated"
    if enterprise is None:
        enterprise = Enterprise(id=programme.enterprise_id)
        session.add(enterprise)
    enterprise.name = programme.name
    enterprise.language = programme.language
    enterprise.config = programme.document
    enterprise.config_sha256 = fingerprint
    enterprise.updated_at = utcnow()
    if session.get(ProgrammeVersion, fingerprint) is None:
        session.add(
            ProgrammeVersion(
                config_sha256=fingerprint, enterprise_id=programme.enterprise_id, document=programme.document
            )
        )
    existing = {site.id: site for site in enterprise.sites}
    for site in programme.sites.values():
        row = existing.pop(site.id, None) or SiteRow(id=site.id)
        row.name, row.country, row.time_zone = site.name, site.country, site.time_zone
        if row not in enterprise.sites:
            enterprise.sites.append(row)
    # Sites dropped from the configuration stay: old cases still point at them.
    record_audit(
        session,
        actor=actor,
        action=action,
        entity="enterprise",
        entity_id=programme.enterprise_id,
        details={"config_sha256": fingerprint, "sites": sorted(programme.sites)},
    )
    return enterprise


def registered_programmes(session: Session) -> dict[str, Programme]:
    """Every enterprise's programme as last registered in the store, by enterprise id."""
    return {
        enterprise.id: programme_version(session, enterprise.config_sha256)
        for enterprise in session.scalars(select(Enterprise))
    }


def programme_versions(session: Session) -> dict[str, Programme]:
    """Every programme version the store holds, by hash."""
    hashes = session.scalars(select(ProgrammeVersion.config_sha256)).all()
    return {sha: programme_version(session, sha) for sha in hashes}


def current_programme(session: Session, enterprise_id: str) -> Programme:
    """The enterprise's programme as last registered: who holds which role now."""
    enterprise = session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise NotFound(f"no enterprise '{enterprise_id}' in the case store")
    return programme_version(session, enterprise.config_sha256)


_VERSIONS: dict[str, Programme] = {}


def programme_version(session: Session, config_sha256: str) -> Programme:
    """The programme exactly as registered with this hash (cached: a version never changes)."""
    programme = _VERSIONS.get(config_sha256)
    if programme is None:
        row = session.get(ProgrammeVersion, config_sha256)
        if row is None:
            raise NotFound(f"no programme version {config_sha256[:12]} in the case store")
        # Its holiday calendars were checked when the version was registered (register_programme
        # takes a loaded Programme), and a version never changes.
        programme = load_programme_document(
            row.document, f"programme {row.enterprise_id}@{config_sha256[:12]}", check_calendars=False
        )
        _VERSIONS[config_sha256] = programme
    return programme


def programme_of(session: Session, case: Case) -> Programme:
    """The programme version a case is pinned to: the one it was opened under."""
    return programme_version(session, case.config_sha256)


def get_case(session: Session, reference: str, *, for_update: bool = False) -> Case:
    """The case with this reference; ``for_update`` locks its row until the transaction ends."""
    query = select(Case).where(Case.reference == reference)
    if for_update:
        query = query.with_for_update()
    case = session.scalars(query).one_or_none()
    if case is None:
        raise NotFound(f"no case with reference '{reference}'")
    return case


def open_case(
    session: Session,
    programme: Programme,
    *,
    site_id: str,
    notified_at: dt.datetime,
    source: str,
    actor: str,
    children_count: int = 1,
    suspected_age: int | None = None,
    suspected_cause: str | None = None,
    case_manager: str | None = None,
    due_diligence_cycle_id: int | None = None,
    notification_key: str | None = None,
    notification_child: int | None = None,
) -> Case:
    """Register a notified case; its reference is ``CL-<year notified>-<number>``."""
    programme.site(site_id)
    if source not in CASE_SOURCES:
        raise InvalidInput(f"source '{source}' is not one of: {', '.join(CASE_SOURCES)}")
    if notified_at.tzinfo is None:
        raise InvalidInput("notified_at must carry a time zone")
    if children_count < 1:
        raise InvalidInput(f"children_count must be at least 1, not {children_count}")
    enterprise = session.get(Enterprise, programme.enterprise_id)
    if enterprise is None:
        raise NotFound(f"enterprise '{programme.enterprise_id}' is not registered in the case store")
    case = Case(
        reference=f"pending-{uuid.uuid4().hex[:24]}",  # replaced once the id is known
        enterprise_id=programme.enterprise_id,
        site_id=site_id,
        state=CaseState.NOTIFIED.value,
        case_manager=case_manager,
        source=source,
        notified_at=notified_at,
        children_count=children_count,
        suspected_age=suspected_age,
        suspected_cause=suspected_cause,
        config_sha256=enterprise.config_sha256,
        due_diligence_cycle_id=due_diligence_cycle_id,
        notification_key=notification_key,
        notification_child=notification_child,
    )
    session.add(case)
    session.flush()
    case.reference = f"CL-{notified_at.astimezone(dt.UTC).year}-{case.id:06d}"
    record_audit(
        session,
        actor=actor,
        action="case_opened",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        details={"enterprise": case.enterprise_id, "site": site_id, "source": source},
    )
    return case


def transition_case(
    session: Session,
    case: Case,
    to_state: CaseState | str,
    *,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Case:
    """Move a case to ``to_state`` if the state machine allows it, with an audit row."""
    target = check_transition(case.reference, case.state, str(to_state))
    previous = case.state
    case.state = target.value
    case.updated_at = utcnow()
    # Retention counts from the end of the case; a re-opened case is running again.
    case.ended_at = case.updated_at if target in ENDED_STATES else None
    if target is CaseState.REOPENED:
        case.round += 1
    record_audit(
        session,
        actor=actor,
        action="case_state_changed",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        reason=reason,
        details={"from": previous, "to": target.value, **(details or {})},
    )
    return case


def reassign_case_manager(
    session: Session, case: Case, case_manager: str, *, actor: str, reason: str
) -> Case:
    """Hand a case to another case manager, audited."""
    previous, case.case_manager = case.case_manager, case_manager
    record_audit(
        session,
        actor=actor,
        action="case_reassigned",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        reason=reason,
        details={"from": previous, "to": case_manager},
    )
    void_task_links(
        session, actor=actor, reason=f"the case was reassigned to {case_manager}", case_id=case.id
    )
    return case


def void_task_links(
    session: Session,
    *,
    actor: str,
    reason: str,
    case_id: int | None = None,
    milestone_id: int | None = None,
    subject: str | None = None,
    role: str | None = None,
    recipient: str | None = None,
    cycle_id: int | None = None,
) -> int:
    """Void every issued task link matching the filters, each audited; returns how many."""
    if case_id is None and milestone_id is None and cycle_id is None:
        raise ValueError("void_task_links needs a case, a cycle or a milestone")
    query = select(TaskLink).where(TaskLink.state == "issued")
    if case_id is not None:
        query = query.where(TaskLink.case_id == case_id)
    if cycle_id is not None:
        query = query.where(TaskLink.cycle_id == cycle_id)
    if milestone_id is not None:
        query = query.where(TaskLink.milestone_id == milestone_id)
    if subject is not None:
        query = query.where(TaskLink.subject == subject)
    if role is not None:
        query = query.where(TaskLink.role == role)
    if recipient is not None:
        query = query.where(TaskLink.recipient == recipient)
    links = session.scalars(query).all()
    for link in links:
        link.state = "void"
        link.void_reason = reason
        record_audit(
            session,
            actor=actor,
            action="task_link_voided",
            entity="task_link",
            entity_id=link.id,
            case_id=link.case_id,
            reason=reason,
            details={"recipient": link.recipient, "role": link.role, "step": link.step}
            | ({"cycle_id": link.cycle_id, "question": link.subject} if link.cycle_id else {}),
        )
    return len(links)


def record_child_identity(
    session: Session,
    case: Case,
    *,
    full_name: str,
    actor: str,
    birth_date: dt.date | None = None,
    address: str | None = None,
    school: str | None = None,
    guardian_name: str | None = None,
    photo_reference: str | None = None,
) -> ChildPersonalData:
    """Store (or correct) the child's identity. The audit row says that it changed, never what."""
    if not full_name.strip():
        raise InvalidInput("full_name must not be empty")
    # Read before the row is added: the programme's query would flush it half-filled.
    programme = programme_of(session, case)
    minimum_age = programme.minimum_age_for(programme.site(case.site_id).country)
    # The lifecycle reckons with these, so that it never needs the key to the birth date.
    case.reaches_working_age_on = birthday(birth_date, minimum_age) if birth_date else None
    case.turns_18_on = birthday(birth_date, HAZARDOUS_WORK_AGE) if birth_date else None
    row = session.get(ChildPersonalData, case.id)
    action = "child_identity_recorded" if row is None else "child_identity_corrected"
    if row is None:
        row = ChildPersonalData(case_id=case.id)
        session.add(row)
    row.full_name = full_name.strip()
    row.birth_date, row.address, row.school = birth_date, address, school
    row.guardian_name, row.photo_reference = guardian_name, photo_reference
    row.recorded_by, row.recorded_at = actor, utcnow()
    record_audit(
        session, actor=actor, action=action, entity="case", entity_id=case.reference, case_id=case.id
    )
    return row


def birthday(born: dt.date, age: int) -> dt.date:
    """The day a child born on ``born`` turns ``age`` (29 February: 1 March of a common year)."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return dt.date(born.year + age, 3, 1)


def reckon_step(programme: Programme, site_id: str, step: str, start: dt.datetime) -> Reckoning:
    """When ``step`` started at ``start`` is due at the site, by the enterprise's rules."""
    return SiteCalendar(programme.site(site_id)).due(start, programme.step(step).deadline)


def add_milestone(
    session: Session,
    programme: Programme,
    *,
    key: str,
    site_id: str,
    step: str,
    title: str,
    due_at: dt.datetime,
    actor: str,
    case: Case | None = None,
    cycle_id: int | None = None,
) -> tuple[Milestone, bool]:
    """Create the milestone with this key unless it exists; returns it and whether it is new.

    The due date is fixed here, once, with the instant its first ladder level fires;
    only :func:`extend_deadline` moves it. The owner is the step's configured role.
    """
    existing = session.scalars(select(Milestone).where(Milestone.key == key)).one_or_none()
    if existing is not None:
        return existing, False
    rule = programme.step(step)
    calendar = SiteCalendar(programme.site(site_id))
    milestone = Milestone(
        key=key,
        enterprise_id=programme.enterprise_id,
        site_id=site_id,
        case_id=case.id if case else None,
        cycle_id=cycle_id,
        kind=step,
        title=title,
        config_sha256=programme.fingerprint,
        owner_role=str(rule.owner),
        status=MilestoneStatus.OPEN,
        due_at=due_at,
        escalation_level=-1,
        next_escalation_at=next_escalation_at(programme, calendar, step, due_at, -1),
    )
    session.add(milestone)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="milestone_created",
        entity="milestone",
        entity_id=milestone.id,
        case_id=milestone.case_id,
        details={"key": key, "kind": step, "due_at": due_at.isoformat()},
    )
    return milestone, True


def get_milestone(session: Session, key: str, *, for_update: bool = False) -> Milestone:
    query = select(Milestone).where(Milestone.key == key)
    if for_update:
        query = query.with_for_update()
    milestone = session.scalars(query).one_or_none()
    if milestone is None:
        raise NotFound(f"no milestone with key '{key}'")
    return milestone


def complete_milestone(
    session: Session,
    milestone: Milestone,
    *,
    actor: str,
    reason: str | None = None,
    at: dt.datetime | None = None,
    status: MilestoneStatus = MilestoneStatus.DONE,
) -> Milestone:
    """Close an open milestone (done, or cancelled); closing a closed one is an error."""
    if milestone.status != MilestoneStatus.OPEN:
        raise InvalidInput(f"milestone '{milestone.key}' is already {milestone.status}")
    milestone.status = status
    milestone.next_escalation_at = None
    milestone.completed_at = at or utcnow()
    milestone.completed_by = actor
    record_audit(
        session,
        actor=actor,
        action=f"milestone_{status}",
        entity="milestone",
        entity_id=milestone.id,
        case_id=milestone.case_id,
        reason=reason,
        details={"key": milestone.key},
    )
    void_task_links(
        session,
        actor=actor,
        reason=f"the task was {'answered' if status == 'done' else status}",
        milestone_id=milestone.id,
    )
    return milestone


def extend_deadline(
    session: Session,
    programme: Programme,
    milestone: Milestone,
    new_due_at: dt.datetime,
    *,
    actor: str,
    reason: str,
) -> DeadlineExtension:
    """Move an open milestone's due date later; escalation starts again from the new date."""
    if milestone.status != MilestoneStatus.OPEN:
        raise InvalidInput(
            f"milestone '{milestone.key}' is {milestone.status}; only open ones can be extended"
        )
    if milestone.held_since is not None:
        # Releasing a hold moves the deadline by the time held; an extension on top would be lost.
        raise InvalidInput(
            f"milestone '{milestone.key}' is on hold since {milestone.held_since.isoformat()}; "
            "release it before extending its deadline"
        )
    if not reason.strip():
        raise InvalidInput("an extension needs a reason")
    if new_due_at <= milestone.due_at:
        raise InvalidInput(
            f"the new due date {new_due_at.isoformat()} is not after "
            f"the current one {milestone.due_at.isoformat()}"
        )
    extension = DeadlineExtension(
        milestone_id=milestone.id,
        previous_due_at=milestone.due_at,
        new_due_at=new_due_at,
        reason=reason,
        granted_by=actor,
    )
    session.add(extension)
    milestone.due_at = new_due_at
    milestone.escalation_level = -1
    milestone.next_escalation_at = next_escalation_at(
        programme, SiteCalendar(programme.site(milestone.site_id)), milestone.kind, new_due_at, -1
    )
    record_audit(
        session,
        actor=actor,
        action="deadline_extended",
        entity="milestone",
        entity_id=milestone.id,
        case_id=milestone.case_id,
        reason=reason,
        details={"from": extension.previous_due_at.isoformat(), "to": new_due_at.isoformat()},
    )
    return extension


def _approval(session: Session, milestone: Milestone, subject: str, role: Role | str) -> Approval | None:
    return session.scalars(
        select(Approval).where(
            Approval.milestone_id == milestone.id, Approval.subject == subject, Approval.role == str(role)
        )
    ).one_or_none()


def request_approvals(
    session: Session, milestone: Milestone, roles: Sequence[Role | str], *, actor: str, subject: str = ""
) -> list[Approval]:
    """Ask each role to approve ``subject`` (e.g. "plan 3") under the milestone, once per role."""
    approvals = []
    for role in roles:
        existing = _approval(session, milestone, subject, role)
        if existing is not None:
            approvals.append(existing)
            continue
        approval = Approval(
            milestone_id=milestone.id, case_id=milestone.case_id, role=str(role), subject=subject
        )
        session.add(approval)
        approvals.append(approval)
        record_audit(
            session,
            actor=actor,
            action="approval_requested",
            entity="milestone",
            entity_id=milestone.id,
            case_id=milestone.case_id,
            details={"role": str(role), "subject": subject},
        )
    return approvals


def decide_approval(
    session: Session,
    milestone: Milestone,
    role: Role | str,
    *,
    approved: bool,
    actor: str,
    comment: str | None = None,
    subject: str = "",
    decided_for: str | None = None,
    verified: bool | None = None,
    on_behalf_reason: str | None = None,
) -> Approval:
    """Record one role's decision on a requested approval; a decision is final.

    ``decided_for`` is the person whose decision it is, ``verified`` whether they gave it through
    a link issued to them, and ``on_behalf_reason`` why staff recorded it for them. Any other
    link for this approval stops working: the task was answered by this route.
    """
    approval = _approval(session, milestone, subject, role)
    if approval is None:
        raise NotFound(f"no approval by '{role}' was requested for milestone '{milestone.key}'")
    if approval.status != ApprovalStatus.REQUESTED:
        raise InvalidInput(f"the '{role}' approval of '{milestone.key}' was already {approval.status}")
    if not approved and not (comment or "").strip():
        raise InvalidInput("a rejection needs a comment saying why")
    approval.status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
    approval.decided_by, approval.decided_at, approval.comment = actor, utcnow(), comment
    approval.decided_for, approval.verified = decided_for, verified
    approval.on_behalf_reason = on_behalf_reason
    how: dict[str, Any] = {}
    if decided_for is not None:
        how = {"for": decided_for, "verified": bool(verified)}
        if on_behalf_reason:
            how["on_behalf_reason"] = on_behalf_reason
    record_audit(
        session,
        actor=actor,
        action=f"approval_{approval.status}",
        entity="milestone",
        entity_id=milestone.id,
        case_id=milestone.case_id,
        reason=comment,
        details={"role": str(role), "subject": subject, **how},
    )
    void_task_links(
        session,
        actor=actor,
        reason="the approval was given by another route",
        milestone_id=milestone.id,
        subject=subject,
        role=str(role),
    )
    return approval


def record_follow_up_visit(
    session: Session,
    case: Case,
    *,
    visited_on: dt.date,
    attending_school: bool,
    back_at_work: bool,
    actor: str,
    findings: str | None = None,
    milestone: Milestone | None = None,
    enrolled_on: dt.date | None = None,
) -> FollowUpVisit:
    """Record a monitoring visit's findings; a visit before enrolment is refused."""
    if enrolled_on is not None and visited_on < enrolled_on:
        raise InvalidInput(f"visit date {visited_on} is before the enrolment date {enrolled_on}")
    visit = FollowUpVisit(
        case_id=case.id,
        milestone_id=milestone.id if milestone else None,
        visited_on=visited_on,
        attending_school=attending_school,
        back_at_work=back_at_work,
        findings=findings,
        recorded_by=actor,
    )
    session.add(visit)
    record_audit(
        session,
        actor=actor,
        action="follow_up_visit_recorded",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        details={
            "visited_on": visited_on.isoformat(),
            "attending_school": attending_school,
            "back_at_work": back_at_work,
        },
    )
    return visit


def add_enterprise_task(
    session: Session,
    *,
    enterprise_id: str,
    title: str,
    instructions: str,
    due_at: dt.datetime,
    actor: str,
    case: Case | None = None,
    milestone: Milestone | None = None,
) -> EnterpriseTask:
    """A task an enterprise must carry out; the email telling it goes through the outbox."""
    task = EnterpriseTask(
        enterprise_id=enterprise_id,
        case_id=case.id if case else None,
        milestone_id=milestone.id if milestone else None,
        title=title,
        instructions=instructions,
        due_at=due_at,
    )
    session.add(task)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="enterprise_task_created",
        entity="enterprise_task",
        entity_id=task.id,
        case_id=task.case_id,
        details={"enterprise": enterprise_id, "title": title, "due_at": due_at.isoformat()},
    )
    return task


def enqueue_mail(
    session: Session,
    *,
    kind: str,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str | None = None,
    calendar_ics: str | None = None,
    enterprise_id: str | None = None,
    case_id: int | None = None,
    milestone_id: int | None = None,
) -> OutboxMessage:
    """Put an email in the outbox, to be sent by the dispatcher after this transaction commits."""
    if not recipients:
        raise InvalidInput(f"{kind} email '{subject}' has no recipients")
    message = OutboxMessage(
        message_id=f"<{uuid.uuid4()}@{MESSAGE_ID_DOMAIN}>",
        kind=kind,
        enterprise_id=enterprise_id,
        case_id=case_id,
        milestone_id=milestone_id,
        recipients=list(recipients),
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        calendar_ics=calendar_ics,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(message)
    return message


def audit_trail(session: Session, case: Case) -> list[AuditEvent]:
    """Every audit row of a case, oldest first."""
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))
    )
