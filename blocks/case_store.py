"""The case store connection block: the database that holds the record of every case."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from remediation_flows.core.store import CaseStore


class CaseStoreConnection(Block):
    """Where the case store lives. The URL may hold a password, so it is kept secret."""

    _block_type_name = "Case store connection"
    _block_type_slug = "case-store-connection"
    _description = "SQLAlchemy URL of the case store: SQLite for one machine, PostgreSQL in production."

    url: SecretStr = Field(
        title="Database URL",
        description="e.g. postgresql+psycopg://remediation:secret@db:5432/remediation or sqlite:///remediation.db",
    )

    def store(self) -> CaseStore:
        return CaseStore(self.url.get_secret_value())
