"""Where the report of a suspected child worker came from: the one definition of the case sources.

The store checks a case's source against it, the notification form offers it, and the intake
schema (schemas/case_intake.schema.json) lists the same values, which a test holds to it.
"""

from __future__ import annotations

from enum import StrEnum


class CaseSource(StrEnum):
    AUDIT = "audit"
    GRIEVANCE_CHANNEL = "grievance_channel"
    BRAND = "brand"
    SUPPLIER_SELF_REPORT = "supplier_self_report"
