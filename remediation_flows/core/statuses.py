"""The statuses a stored row moves through, one enum each, so that a typo is a type error, not a new state.

They are StrEnums stored as their values (the same VARCHAR(16) columns as before), so existing
rows, SQL written by hand and JSON read back all still compare equal to the plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class MilestoneStatus(StrEnum):
    """A milestone (and an enterprise's task for it): open until answered or no longer needed."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ApprovalStatus(StrEnum):
    """One role's decision on a plan, a closure or a due-diligence step."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class PlanStatus(StrEnum):
    """A remediation plan: proposed, then accepted by every approver or rejected by one."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    """An email to send: pending, claimed by a dispatcher (sending), then sent or failed."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
