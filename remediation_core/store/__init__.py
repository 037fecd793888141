"""The case store: the record of every case, milestone, approval, audit event and email to send."""

from remediation_core.store.database import database_url, make_engine, upgrade_schema
from remediation_core.store.repository import CaseStore

__all__ = ["CaseStore", "database_url", "make_engine", "upgrade_schema"]
