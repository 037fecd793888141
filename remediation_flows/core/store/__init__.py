"""The case store: the record of every case, milestone, approval, audit event and email to send."""

from remediation_flows.core.store.database import (
    StoreNotReady,
    check_store,
    database_url,
    display_url,
    make_engine,
    upgrade_schema,
)
from remediation_flows.core.store.repository import CaseStore

__all__ = [
    "CaseStore",
    "StoreNotReady",
    "check_store",
    "database_url",
    "display_url",
    "make_engine",
    "upgrade_schema",
]
