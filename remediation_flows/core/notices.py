"""Task emails: what a person is asked to do for a milestone, by its due date, with a calendar entry.

Casework and the due-diligence cycle both tell people this way; the email goes to the outbox in
the caller's transaction, so it is sent only if the act that caused it commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.escalation import by_language, resolve_recipients
from remediation_flows.core.mail.render import RenderedMail, task_mail
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Milestone


def enqueue_task_mail(
    session: Session,
    programme: Programme,
    milestone: Milestone,
    roles: Sequence[Role],
    instructions: str,
    *,
    reference: str,
    contact_role: Role,
    case_manager: str | None = None,
    case_id: int | None = None,
) -> RenderedMail | None:
    """Put the task email for ``milestone`` to ``roles`` in the outbox; ``None`` when no role has an address.

    ``reference`` is the case or cycle reference the email names (never a child's identity);
    ``case_manager`` is a case's assigned case manager, who stands in for the whole role.
    The calendar entry's UID is the milestone's key, so a later notice of the same milestone
    updates the entry in the recipient's calendar instead of adding a second one.
    """
    recipients = resolve_recipients(programme, roles, case_manager, milestone.site_id)
    if not recipients:
        return None
    # One email per language its readers read; the first is returned (its subject names the task).
    first: RenderedMail | None = None
    for language, readers in by_language(programme, recipients, milestone.site_id).items():
        mail = task_mail(
            programme,
            reference=reference,
            site_id=milestone.site_id,
            step=milestone.kind,
            instructions=instructions,
            due_at=milestone.due_at,
            contact_role=contact_role,
            calendar_uid=f"{milestone.key}@remediation-flows",
            language=language,
        )
        repo.enqueue_mail(
            session,
            kind="task",
            recipients=readers,
            **mail.outbox_fields(),
            enterprise_id=milestone.enterprise_id,
            case_id=case_id,
            milestone_id=milestone.id,
        )
        first = first or mail
    return first
