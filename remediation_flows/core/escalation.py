"""Escalation: when each ladder level of a milestone fires, and the sweep that fires them.

A milestone stores ``next_escalation_at``, the instant its next ladder level
fires, so the sweep reads only the milestones that have something to do. Each
firing is recorded once per milestone, level and due date (a unique key; the
levels it passed in the same sweep are recorded in its row), with its email in
the outbox and an audit row, in the transaction that advances the milestone;
two sweeps at once take disjoint rows (``SKIP LOCKED``). A milestone on hold (see
:mod:`remediation_flows.core.holds`) fires nothing until it is released.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import literal, select, tuple_
from sqlalchemy.orm import Session

from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.ladder import Calendars, LevelTime, ladder_schedule, next_escalation_at
from remediation_flows.core.mail.render import escalation_mail, unplaceable_ladder_mail
from remediation_flows.core.statuses import MilestoneStatus, OutboxStatus
from remediation_flows.core.store.bulk import insert_rows, update_rows
from remediation_flows.core.store.repository import (
    CaseStore,
    enqueue_mail,
    programme_version,
    programme_versions,
    record_audit,
    registered_programmes,
)
from remediation_flows.core.store.schema import (
    AuditEvent,
    Case,
    Milestone,
    MilestoneEscalation,
    OutboxMessage,
    UTCDateTime,
    utcnow,
)

SWEEP_ACTOR = "escalation sweep"


@dataclass(frozen=True)
class Escalation:
    """One level fired for one milestone: what the sweep tells Prefect and the people."""

    milestone_id: int
    milestone_key: str
    step: str
    enterprise_id: str
    site_id: str
    case_reference: str | None
    level_index: int
    level_name: str
    stage: str
    due_at: dt.datetime
    working_days_late: int
    notified_roles: tuple[str, ...]
    recipients: tuple[str, ...] = ()


@dataclass
class SweepResult:
    as_of: dt.datetime
    escalations: list[Escalation] = field(default_factory=list)
    examined: int = 0
    skipped: list[str] = field(default_factory=list)
    #: True when ``as_of`` lay ahead of the present: the result says what would fire; nothing was written.
    preview: bool = False


#: A sweep "as of" up to this much ahead of the clock still counts as the present (clock skew, run delay).
PRESENT_TOLERANCE = dt.timedelta(minutes=1)
UNPLACEABLE_ACTION = "escalation_unplaceable"


def resolve_recipients(
    programme: Programme,
    roles: Sequence[Role],
    assigned_case_manager: str | None,
    site_id: str | None = None,
) -> list[str]:
    """The addresses for ``roles`` at ``site_id`` (the site's people, else the enterprise's);
    a case's assigned case manager stands in for the whole role."""
    addresses: dict[str, None] = {}
    for role in roles:
        if role is Role.CASE_MANAGER and assigned_case_manager and "@" in assigned_case_manager:
            addresses.setdefault(assigned_case_manager, None)
        else:
            for email in programme.emails_for([role], site_id):
                addresses.setdefault(email, None)
    return list(addresses)


def by_language(programme: Programme, recipients: Sequence[str], site_id: str) -> dict[str, list[str]]:
    """The recipients grouped by the language each reads, in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for email in recipients:
        groups.setdefault(programme.language_of(email, site_id), []).append(email)
    return groups


def sweep(
    store: CaseStore,
    as_of: dt.datetime | None = None,
    *,
    now: dt.datetime | None = None,
    batch_size: int = 1000,
) -> SweepResult:
    """Fire every ladder level that has come by ``as_of``, batch by batch.

    ``now`` is the present instant (the clock; tests inject it) and ``as_of`` defaults to it.
    Only a sweep at the present writes: with ``as_of`` later than ``now`` the sweep is a
    preview that lists what would fire and writes nothing, because firing a ladder early tells
    people a case is late when it is not and leaves its real reminders unsent.
    """
    now = (now or utcnow()).astimezone(dt.UTC)
    as_of = (as_of or now).astimezone(dt.UTC)
    if as_of > now + PRESENT_TOLERANCE:
        return preview(store, as_of, batch_size=batch_size)
    result = SweepResult(as_of=as_of)
    with store.transaction() as session:
        memo = _Memo(Calendars(programme_versions(session)))
    # Milestones that cannot be placed stay due for the next sweep; this one passes over them.
    passed_over: set[int] = set()
    if store.engine.dialect.name == "postgresql" and not store.shares_one_transaction():
        _sweep_overlapped(store, memo, as_of, batch_size, result, passed_over)
        return result
    while True:
        with store.transaction() as session:
            fetched, writes = _sweep_batch(session, memo, as_of, batch_size, result, passed_over, write=True)
            writes.write(session)
        if fetched < batch_size:
            return result


def _sweep_overlapped(
    store: CaseStore,
    memo: _Memo,
    as_of: dt.datetime,
    batch_size: int,
    result: SweepResult,
    passed_over: set[int],
) -> None:
    """The sweep's batches, each in its own transaction, the next one worked out while the last is written.

    Working out a batch is Python's work and writing it is the database's: one after the other,
    each core waited for the other half of the time. A batch still takes its rows, writes them and
    commits in one transaction; the next batch's ``SKIP LOCKED`` passes over the rows the batch
    being written still holds, and those no longer qualify once it commits. At most one batch is
    written while one is worked out; an error in either rolls back the batch it was in and ends
    the sweep, as a failed batch always did.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-writer") as writer:
        writing: Future[None] | None = None
        try:
            while True:
                transaction = store.transaction()
                session = transaction.__enter__()
                try:
                    fetched, writes = _sweep_batch(
                        session, memo, as_of, batch_size, result, passed_over, write=True
                    )
                    if writing is not None:
                        writing.result()  # the batch before is committed, or its error ends the sweep
                except BaseException as error:
                    transaction.__exit__(type(error), error, error.__traceback__)
                    raise
                writing = writer.submit(_write_and_commit, transaction, session, writes)
                if fetched < batch_size:
                    break
        except BaseException:
            # The batch being written still commits or rolls back whole; the error raised is this one.
            if writing is not None:
                wait([writing])
            raise
        writing.result()


def _write_and_commit(
    transaction: AbstractContextManager[Session], session: Session, writes: _BatchWrites
) -> None:
    """Write one worked-out batch and commit its transaction, or roll it back on any error."""
    try:
        writes.write(session)
    except BaseException as error:
        transaction.__exit__(type(error), error, error.__traceback__)
        raise
    transaction.__exit__(None, None, None)


def preview(store: CaseStore, as_of: dt.datetime, *, batch_size: int = 1000) -> SweepResult:
    """What a sweep at ``as_of`` would fire, to whom and why; writes nothing and locks nothing."""
    result = SweepResult(as_of=as_of.astimezone(dt.UTC), preview=True)
    with store.reading() as session:
        memo = _Memo(Calendars(programme_versions(session)))
        cursor: list[tuple[dt.datetime, int]] = []  # keyset paging: the last row seen
        while True:
            fetched, _ = _sweep_batch(
                session, memo, result.as_of, batch_size, result, set(), write=False, cursor=cursor
            )
            if fetched < batch_size:
                session.rollback()  # a preview leaves no trace, not even a held lock
                return result


@dataclass(frozen=True)
class _Placed:
    programme: Programme
    calendar: SiteCalendar
    schedule: list[LevelTime]
    #: The levels come by the sweep's instant above each level reached: milestones sharing a ladder
    #: mostly share their level too, and comparing instants across time zones is not free.
    come_above: dict[int, list[LevelTime]] = field(default_factory=dict)

    def come(self, reached: int, as_of: dt.datetime) -> list[LevelTime]:
        """The levels above ``reached`` that have fired by ``as_of`` (one sweep's single instant)."""
        if reached not in self.come_above:
            self.come_above[reached] = [
                level for level in self.schedule if level.index > reached and level.fires_at <= as_of
            ]
        return self.come_above[reached]


@dataclass
class _Memo:
    """What one sweep works out once and reuses for every milestone that shares it.

    Thousands of overdue milestones share a handful of programmes, sites, steps and due dates:
    their ladder, lateness and recipients are computed once per sweep, not once per milestone.
    """

    calendars: Calendars
    placed: dict[tuple[str, str, str, dt.datetime], _Placed] = field(default_factory=dict)
    late: dict[tuple[str, str, dt.datetime], int] = field(default_factory=dict)
    readers: dict[tuple[Any, ...], tuple[list[str], dict[str, list[str]]]] = field(default_factory=dict)

    def working_days_late(self, placed: _Placed, milestone: Any, as_of: dt.datetime) -> int:
        key = (milestone.config_sha256, milestone.site_id, milestone.due_at)
        if key not in self.late:
            self.late[key] = placed.calendar.working_days_late(milestone.due_at, as_of)
        return self.late[key]

    def recipients(
        self, placed: _Placed, roles: tuple[Role, ...], milestone: Any, case_manager: str | None
    ) -> tuple[list[str], dict[str, list[str]]]:
        """Whom ``roles`` reach for this milestone, and those grouped by the language each reads."""
        key = (milestone.config_sha256, roles, case_manager, milestone.site_id)
        if key not in self.readers:
            recipients = resolve_recipients(placed.programme, roles, case_manager, milestone.site_id)
            self.readers[key] = (recipients, by_language(placed.programme, recipients, milestone.site_id))
        return self.readers[key]


def _place(session: Session, memo: _Memo, milestone: Any) -> _Placed | str:
    """The milestone's programme, site calendar and ladder, or the reason they cannot be found.

    Milestones of one step at one site due at one instant share a ladder: it is placed once per
    sweep (kept in ``calendars``), since placing it walks the site's working days level by level.
    """
    sha = milestone.config_sha256
    key = (sha, milestone.site_id, milestone.kind, milestone.due_at)
    placed = memo.placed.get(key)
    if placed is not None:
        return placed
    calendars = memo.calendars
    if sha not in calendars.programmes:
        # Registered after this sweep began (a new programme version): load what the store has now.
        try:
            calendars.programmes[sha] = programme_version(session, sha)
        except RemediationError as error:
            return str(error)
    try:
        calendar = calendars.of(sha, milestone.site_id)
        programme = calendars.programmes[sha]
        placed = _Placed(
            programme, calendar, ladder_schedule(programme, calendar, milestone.kind, milestone.due_at)
        )
    except (RemediationError, KeyError) as error:
        return f"{type(error).__name__}: {error}"
    memo.placed[key] = placed
    return placed


def _sweep_batch(
    session: Session,
    memo: _Memo,
    as_of: dt.datetime,
    batch_size: int,
    result: SweepResult,
    passed_over: set[int],
    *,
    write: bool,
    cursor: list[tuple[dt.datetime, int]] | None = None,
) -> tuple[int, _BatchWrites]:
    """Examine one batch of due milestones and work out what firing their levels writes.

    Returns the rows fetched and the rows to write; with ``write``, the batch's milestones are
    locked in ``session`` (the unplaceable ones are reported there at once), and the caller writes
    the rest in the same transaction.
    """
    # Plain columns, not ORM entities, and one bulk UPDATE: the sweep's cost is per row.
    query = (
        select(
            Milestone.id,
            Milestone.key,
            Milestone.enterprise_id,
            Milestone.config_sha256,
            Milestone.site_id,
            Milestone.case_id,
            Milestone.kind,
            Milestone.owner_role,
            Milestone.due_at,
            Milestone.escalation_level,
            Milestone.next_escalation_at,
            Case.reference,
            Case.case_manager,
        )
        .outerjoin(Case, Case.id == Milestone.case_id)
        # A held milestone has no next level; the test on held_since guards against one set by mistake.
        .where(
            Milestone.status == MilestoneStatus.OPEN,
            Milestone.next_escalation_at <= as_of,
            Milestone.held_since.is_(None),
        )
        .order_by(Milestone.next_escalation_at, Milestone.id)
        .limit(batch_size)
    )
    if passed_over:
        query = query.where(Milestone.id.not_in(passed_over))
    if write:
        query = query.with_for_update(skip_locked=True, of=Milestone)
    elif cursor:
        last_at, last_id = cursor[-1]
        after = tuple_(literal(last_at, UTCDateTime), literal(last_id))
        query = query.where(tuple_(Milestone.next_escalation_at, Milestone.id) > after)
    rows = session.execute(query).all()
    if cursor is not None and rows:
        cursor.append((rows[-1].next_escalation_at, rows[-1].id))
    now = utcnow()
    escalation_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    milestone_updates: list[dict[str, Any]] = []
    for milestone in rows:
        reference, case_manager = milestone.reference, milestone.case_manager
        result.examined += 1
        placed = _place(session, memo, milestone)
        if isinstance(placed, str):
            # Never switch a ladder off: the milestone stays due, and people hear of it once.
            result.skipped.append(f"{milestone.key}: {placed}")
            passed_over.add(milestone.id)
            if write:
                _report_unplaceable(session, milestone, placed, now)
            continue
        programme, calendar, schedule = placed.programme, placed.calendar, placed.schedule
        come = placed.come(milestone.escalation_level, as_of)
        if not come:
            # The ladder changed since the milestone was scheduled: re-aim and move on.
            milestone_updates.append(
                {
                    "id": milestone.id,
                    "escalation_level": milestone.escalation_level,
                    "next_escalation_at": next_escalation_at(
                        programme, calendar, milestone.kind, milestone.due_at, milestone.escalation_level
                    ),
                }
            )
            continue
        top = come[-1]
        late = memo.working_days_late(placed, milestone, as_of)
        escalation_rows.append(
            {
                "milestone_id": milestone.id,
                "level_index": top.index,
                "level_name": top.level.name,
                "passed_levels": [level.level.name for level in come[:-1]],
                "due_at": milestone.due_at,
                "fired_at": now,
            }
        )
        milestone_updates.append(
            {
                "id": milestone.id,
                "escalation_level": top.index,
                "next_escalation_at": next(
                    (lv.fires_at.astimezone(dt.UTC) for lv in schedule if lv.index > top.index), None
                ),
            }
        )
        subject_ref = reference or milestone.key.split("/")[0]
        recipients, languages = memo.recipients(placed, tuple(top.level.notify), milestone, case_manager)
        # One email per language read; the first keeps the Message-ID a single-language level always had.
        for group, (language, readers) in enumerate(languages.items()):
            mail = escalation_mail(
                programme,
                reference=subject_ref,
                site_id=milestone.site_id,
                step=milestone.kind,
                due_at=milestone.due_at,
                owner_role=milestone.owner_role,
                working_days_late=late,
                stage=top.stage,
                language=language,
            )
            suffix = f"-{language}" if group else ""
            due_stamp = int(milestone.due_at.timestamp())
            outbox_rows.append(
                {
                    "message_id": f"<escalation-{milestone.id}-{due_stamp}-{top.index}{suffix}"
                    "@remediation-flows.local>",
                    "kind": "escalation",
                    "enterprise_id": milestone.enterprise_id,
                    "case_id": milestone.case_id,
                    "milestone_id": milestone.id,
                    "recipients": readers,
                    "subject": mail.subject,
                    "body_text": mail.text,
                    "body_html": mail.html,
                    "calendar_ics": None,
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        audit_rows.append(
            {
                "at": now,
                "actor": SWEEP_ACTOR,
                "action": "milestone_escalated",
                "entity": "milestone",
                "entity_id": str(milestone.id),
                "case_id": milestone.case_id,
                "reason": f"ladder level '{top.level.name}' came at {top.fires_at.isoformat()}",
                "details": {
                    "key": milestone.key,
                    "levels": [lv.level.name for lv in come],
                    "notified": [str(r) for r in top.level.notify],
                    "working_days_late": late,
                },
            }
        )
        result.escalations.append(
            Escalation(
                milestone_id=milestone.id,
                milestone_key=milestone.key,
                step=milestone.kind,
                enterprise_id=milestone.enterprise_id,
                site_id=milestone.site_id,
                case_reference=reference,
                level_index=top.index,
                level_name=top.level.name,
                stage=top.stage,
                due_at=milestone.due_at,
                working_days_late=late,
                notified_roles=tuple(str(r) for r in top.level.notify),
                recipients=tuple(recipients),
            )
        )
    return len(rows), _BatchWrites(milestone_updates, escalation_rows, outbox_rows, audit_rows)


@dataclass(frozen=True)
class _BatchWrites:
    """What one batch of the sweep writes: the milestones advanced and the rows that record it."""

    milestone_updates: list[dict[str, Any]]
    escalation_rows: list[dict[str, Any]]
    outbox_rows: list[dict[str, Any]]
    audit_rows: list[dict[str, Any]]

    def write(self, session: Session) -> None:
        """Write it all in ``session``'s transaction, in bulk (COPY on PostgreSQL), as the ORM would."""
        update_rows(session, Milestone, "id", self.milestone_updates)
        # The unique (milestone, due date, level) key is the last guard against a double send.
        insert_rows(session, MilestoneEscalation, self.escalation_rows)
        insert_rows(session, OutboxMessage, self.outbox_rows)
        insert_rows(session, AuditEvent, self.audit_rows)


def _report_unplaceable(session: Session, milestone: Any, problem: str, now: dt.datetime) -> None:
    """Audit a milestone whose ladder cannot be placed and tell the program manager, once per milestone."""
    already = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.action == UNPLACEABLE_ACTION,
            AuditEvent.entity == "milestone",
            AuditEvent.entity_id == str(milestone.id),
        )
        .limit(1)
    )
    if already is not None:
        return
    record_audit(
        session,
        actor=SWEEP_ACTOR,
        action=UNPLACEABLE_ACTION,
        entity="milestone",
        entity_id=milestone.id,
        case_id=milestone.case_id,
        reason=problem[:500],
        details={"key": milestone.key, "programme_version": milestone.config_sha256[:12]},
        at=now,
    )
    # The enterprise's current programme knows whom to tell, even when the pinned version is broken.
    try:
        current = registered_programmes(session).get(milestone.enterprise_id)
    except RemediationError:
        current = None
    if current is None:
        return
    recipients = current.emails_for([Role.PROGRAM_MANAGER])
    if not recipients:
        return
    mail = unplaceable_ladder_mail(current.language, milestone_key=milestone.key, problem=problem[:500])
    enqueue_mail(
        session,
        kind="escalation_unplaceable",
        recipients=recipients,
        **mail.outbox_fields(),
        enterprise_id=milestone.enterprise_id,
        case_id=milestone.case_id,
        milestone_id=milestone.id,
    )
