"""Approvals of a milestone's subject: who was asked, and whether every one of them said yes.

A subject names what is approved ("plan 3", "closure", "policies 2", "communication"), so that a
re-proposed plan or a reviewed policy gets fresh approvals on the same milestone. Casework and the
due-diligence cycle both ask "are all approvals in?" here, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.statuses import ApprovalStatus
from remediation_flows.core.store import repository as repo
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
    return all(
        approval.status == ApprovalStatus.APPROVED for approval in approvals_on(session, milestone, subject)
    )


@dataclass(frozen=True)
class Decider:
    """Who gave a decision and how we know.

    ``person`` is whose decision it is (an address the programme lists); ``verified`` is True when
    they gave it through a task link issued to that address. Otherwise ``entered_by`` typed it
    (in ``channel``, e.g. "the Prefect UI") and, when that is someone else, ``on_behalf_reason``
    says why.
    """

    person: str
    verified: bool
    entered_by: str | None = None
    channel: str | None = None
    on_behalf_reason: str | None = None

    @property
    def on_behalf(self) -> bool:
        """Whether someone other than the person recorded the decision for them."""
        return not self.verified and not _same(self.entered_by or self.person, self.person)

    @property
    def actor(self) -> str:
        """The audit trail's actor: the person when verified, else who typed it and where."""
        if self.verified:
            return self.person
        who = self.entered_by or self.person
        entered = f"entered in {self.channel} by {who}" if self.channel else who
        return f"{entered} on behalf of {self.person}" if self.on_behalf else entered


def _same(one: str | None, other: str | None) -> bool:
    return (one or "").strip().lower() == (other or "").strip().lower()


def check_decider(
    session: Session,
    programme: Programme,
    milestone: Milestone,
    subject: str,
    role: Role | str,
    decider: Decider,
    *,
    proposer: str | None = None,
) -> None:
    """Refuse a decision the programme does not allow; :class:`InvalidInput` says which rule.

    ``programme`` is the enterprise's current one: the role must be the person's there now.
    """
    policy = programme.step(milestone.kind).approval_policy
    role_name = str(role)
    # The site's people in the role where the programme names any there, else the enterprise's.
    people = programme.people_for(Role(role_name), milestone.site_id)
    if not any(_same(person.email, decider.person) for person in people):
        holders = ", ".join(p.email for p in people) or "nobody"
        raise InvalidInput(
            f"{decider.person} does not hold the role {role_name} in {programme.enterprise_id}'s programme "
            f"(it is held by {holders})"
        )
    if not decider.verified and not policy.staff_may_record:
        raise InvalidInput(
            f"the {milestone.kind} approval by {role_name} counts only through the approver's own task link; "
            "staff may not record it (re-issue the link if it was lost)"
        )
    if decider.on_behalf and not (decider.on_behalf_reason or "").strip():
        raise InvalidInput(f"recording {decider.person}'s decision on their behalf needs a reason")
    if proposer is not None and _same(proposer, decider.person) and not policy.proposer_may_approve:
        raise InvalidInput(f"{decider.person} proposed this plan and cannot also approve it")
    if not policy.one_person_many_roles:
        for other in approvals_on(session, milestone, subject):
            if (
                other.role != role_name
                and other.status != ApprovalStatus.REQUESTED
                and _same(other.decided_for, decider.person)
            ):
                raise InvalidInput(
                    f"{decider.person} already decided as {other.role}; "
                    f"the programme does not let one person decide under two roles"
                )


def record_decision(
    session: Session,
    programme: Programme,
    milestone: Milestone,
    subject: str,
    role: Role | str,
    *,
    approved: bool,
    decider: Decider,
    comment: str | None = None,
    proposer: str | None = None,
) -> Approval:
    """Check the decider against the programme's rules, then record the decision (audited)."""
    check_decider(session, programme, milestone, subject, role, decider, proposer=proposer)
    return repo.decide_approval(
        session,
        milestone,
        str(role),
        approved=approved,
        actor=decider.actor,
        comment=comment,
        subject=subject,
        decided_for=decider.person,
        verified=decider.verified,
        on_behalf_reason=decider.on_behalf_reason if decider.on_behalf else None,
    )


@dataclass(frozen=True)
class DecisionView:
    """One decision as the audit and the case's artifact show it: who, in which role, how we know, when."""

    subject: str
    role: str
    status: str
    decided_for: str | None
    verified: bool
    recorded_by: str | None
    on_behalf_reason: str | None
    decided_at: dt.datetime | None

    @property
    def how(self) -> str:
        """How we know the decision is the person's, in words."""
        if self.verified:
            return "verified by a task link sent to that address"
        return f"unverified: {self.recorded_by}" + (
            f" (reason: {self.on_behalf_reason})" if self.on_behalf_reason else ""
        )


def decisions_of_case(session: Session, case_id: int) -> list[DecisionView]:
    """Every decision taken on the case's approvals, in the order they were taken."""
    approvals = session.scalars(
        select(Approval)
        .where(Approval.case_id == case_id, Approval.status != ApprovalStatus.REQUESTED)
        .order_by(Approval.decided_at, Approval.id)
    )
    return [
        DecisionView(
            subject=a.subject,
            role=a.role,
            status=a.status,
            decided_for=a.decided_for,
            verified=bool(a.verified),
            recorded_by=a.decided_by,
            on_behalf_reason=a.on_behalf_reason,
            decided_at=a.decided_at,
        )
        for a in approvals
    ]
