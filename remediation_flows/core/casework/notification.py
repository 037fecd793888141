"""Opening cases from a notification, and recording a child's identity apart from the case."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.case_states import (
    OPEN_A_CASE,
    CaseState,
)
from remediation_flows.core.casework.common import _move, _notify, schedule_step
from remediation_flows.core.casework.reports import MAX_CHILDREN_PER_NOTIFICATION, Notification
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.due_diligence.reassessment import open_site_reassessment
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Case


def open_case(
    store: CaseStore,
    programme: Programme,
    notification: Notification,
    actor: str,
    case_manager: str | None = None,
    due_diligence_cycle_id: int | None = None,
) -> CaseView:
    """Register a notified case and start its 72-hour on-site assessment clock."""
    with store.transaction() as session:
        return open_case_in(session, programme, notification, actor, case_manager, due_diligence_cycle_id)


def open_notification(
    store: CaseStore, programme: Programme, notification: Notification, actor: str, key: str
) -> list[CaseView]:
    """Open one case per child of a notification, all or none, once per ``key``.

    The cases are written in one transaction, so a crash opens no child or every child. A second
    call with the same ``key`` (a retried or resumed run) opens nothing and returns the same cases.
    """
    if not 1 <= notification.children_count <= MAX_CHILDREN_PER_NOTIFICATION:
        raise InvalidInput(
            f"children_count must be 1 to {MAX_CHILDREN_PER_NOTIFICATION}, not {notification.children_count}"
        )
    one_child = replace(notification, children_count=1)
    with store.transaction() as session:
        opened = session.scalars(
            select(Case).where(Case.notification_key == key).order_by(Case.notification_child)
        ).all()
        if opened:
            return [_view(session, case) for case in opened]
        return [
            open_case_in(session, programme, one_child, actor, notification_key=key, notification_child=child)
            for child in range(1, notification.children_count + 1)
        ]


def open_case_in(
    session: Session,
    programme: Programme,
    notification: Notification,
    actor: str,
    case_manager: str | None = None,
    due_diligence_cycle_id: int | None = None,
    *,
    notification_key: str | None = None,
    notification_child: int | None = None,
) -> CaseView:
    """:func:`open_case` inside the caller's transaction (a monitoring visit that finds a child)."""
    programme.site(notification.site_id)
    if notification.enterprise_id != programme.enterprise_id:
        raise InvalidInput(
            f"notification is for enterprise '{notification.enterprise_id}', "
            f"programme is '{programme.enterprise_id}'"
        )
    if notification.suspected_age is not None and not 5 <= notification.suspected_age <= 25:
        raise InvalidInput(f"suspected_age {notification.suspected_age} is not a plausible age (5 to 25)")
    repo.register_programme(session, programme, actor=actor)
    case = repo.open_case(
        session,
        programme,
        site_id=notification.site_id,
        notified_at=notification.notified_at,
        source=str(notification.source),
        actor=actor,
        children_count=notification.children_count,
        suspected_age=notification.suspected_age,
        suspected_cause=str(notification.suspected_cause) if notification.suspected_cause else None,
        case_manager=case_manager
        or next(iter(programme.emails_for([Role.CASE_MANAGER], notification.site_id)), None),
        due_diligence_cycle_id=due_diligence_cycle_id,
        notification_key=notification_key,
        notification_child=notification_child,
    )
    _move(
        session,
        case,
        OPEN_A_CASE,
        CaseState.ON_SITE_ASSESSMENT,
        actor=actor,
        reason=f"notified by {notification.source}",
    )
    milestone = schedule_step(session, programme, case, "on_site_assessment", notification.notified_at, actor)
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT],
        text("instr.remove_from_work"),
        actor,
        as_enterprise_task=True,
    )
    _notify(session, programme, case, milestone, [Role.CASE_MANAGER], text("instr.on_site_assessment"), actor)
    if programme.due_diligence.reassess_site_on_new_case:
        why = f"case {case.reference} opened"
        open_site_reassessment(session, programme, notification.site_id, actor, why)
    return _view(session, case)


def identify_child(
    store: CaseStore,
    reference: str,
    *,
    full_name: str,
    actor: str,
    birth_date: dt.date | None = None,
    address: str | None = None,
    school: str | None = None,
    guardian_name: str | None = None,
    photo_reference: str | None = None,
) -> None:
    """Store the child's identity; the only door for personal data, and it never opens onto Prefect."""
    if birth_date is not None and birth_date > dt.date.today():
        raise InvalidInput("birth_date: is in the future (the date is not repeated: it is the child's)")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        repo.record_child_identity(
            session,
            case,
            full_name=full_name,
            actor=actor,
            birth_date=birth_date,
            address=address,
            school=school,
            guardian_name=guardian_name,
            photo_reference=photo_reference,
        )
