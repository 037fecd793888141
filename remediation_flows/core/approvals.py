"""Approvals of a milestone's subject: who was asked, and whether every one of them said yes.

A subject names what is approved ("plan 3", "closure", "policies 2", "communication"), so that a
re-proposed plan or a reviewed policy gets fresh approvals on the same milestone. Casework and the
due-diligence cycle both ask "are all approvals in?" here, and nowhere else.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.store.schema import Approval, Milestone


def approvals_on(session: Session, milestone: Milestone | None, subject: str) -> list[Approval]:
    """The approvals requested on ``milestone`` for ``subject``, in the order they were requested."""
    if milestone is None:
        return []
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.milestone_id == milestone.id, Approval.subject == subject)
            .order_by(Approval.id)
        )
    )


def all_approved(session: Session, milestone: Milestone | None, subject: str) -> bool:
    """Whether every role asked to approve ``subject`` on ``milestone`` has approved it.

    Call it after recording a decision: with nothing requested there is nothing to wait for.
    """
    return all(approval.status == "approved" for approval in approvals_on(session, milestone, subject))
