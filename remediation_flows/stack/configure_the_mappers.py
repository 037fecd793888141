"""Imported by the flow runs' forkserver (stack/warm_start.py): the case store's mappers are configured there.

SQLAlchemy configures every mapper of a schema on its first query. In a run forked from a server that had
only imported the schema, every run paid that again, some 40 ms of each resume; configured in the server,
each fork starts with them ready.
"""

from sqlalchemy.orm import configure_mappers

import remediation_flows.core.store.schema  # noqa: F401  (the mappers to configure)

configure_mappers()
