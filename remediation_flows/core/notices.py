"""Task emails: what a person is asked to do for a milestone, by its due date, with a calendar entry.

Casework and the due-diligence cycle both tell people this way; the email goes to the outbox in
the caller's transaction, so it is sent only if the act that caused it commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.escalation import by_language, resolve_recipients
from remediation_flows.core.mail.i18n import Text
from remediation_flows.core.mail.render import RenderedMail, task_mail
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import Case, Milestone
from remediation_flows.core.task_links import LinkRequest, issue_task_links


def enqueue_task_mail(
    session: Session,
    programme: Programme,
    milestone: Milestone,
    roles: Sequence[Role],
    instructions: Text | str,
    *,
    reference: str,
    contact_role: Role,
    case_manager: str | None = None,
    case_id: int | None = None,
    links: LinkRequest | None = None,
    case: Case | None = None,
    actor: str = "remediation-flows",
) -> RenderedMail | None:
    """Put the task email for ``milestone`` to ``roles`` in the outbox; ``None`` when no role has an address.

    ``instructions`` given as :class:`Text` are worded in each recipient's own language (the
    person's, else the site's, else the enterprise's), as is the rest of the email; a plain string
    (a person's free text) is sent as written.
    ``reference`` is the case or cycle reference the email names (never a child's identity);
    ``case_manager`` is a case's assigned case manager, who stands in for the whole role.
    The calendar entry's UID is the milestone's key, so a later notice of the same milestone
    updates the entry in the recipient's calendar instead of adding a second one.

    With ``links`` (and the ``case``), each person of the roles that must act gets a message of
    their own carrying a personal task link bound to their role; everyone else shares one message
    per language they read. The first message is returned (its subject names the task).
    """
    recipients = resolve_recipients(programme, roles, case_manager, milestone.site_id)
    if not recipients:
        return None
    issued = (
        issue_task_links(session, programme, case=case, milestone=milestone, request=links, actor=actor)
        if links is not None and case is not None
        else []
    )

    def render(task_link: str | None, language: str) -> RenderedMail:
        return task_mail(
            programme,
            reference=reference,
            site_id=milestone.site_id,
            step=milestone.kind,
            instructions=instructions,
            due_at=milestone.due_at,
            contact_role=contact_role,
            calendar_uid=f"{milestone.key}@remediation-flows",
            language=language,
            task_link=task_link,
        )

    def enqueue(mail: RenderedMail, to: Sequence[str]) -> None:
        repo.enqueue_mail(
            session,
            kind="task",
            recipients=to,
            **mail.outbox_fields(),
            enterprise_id=milestone.enterprise_id,
            case_id=case_id,
            milestone_id=milestone.id,
        )

    first: RenderedMail | None = None
    for link in issued:
        (language,) = by_language(programme, [link.recipient], milestone.site_id)
        mail = render(link.url, language)
        enqueue(mail, [link.recipient])
        first = first or mail
    with_links = {link.recipient for link in issued}
    shared = [address for address in recipients if address not in with_links]
    for language, readers in by_language(programme, shared, milestone.site_id).items():
        mail = render(None, language)
        enqueue(mail, readers)
        first = first or mail
    return first
