"""A used task link records when the task page applied its answer, so the flow does not apply it again

Revision ID: 0015
Revises: 0014

Links used before this revision keep NULL: their answer was delivered to the flow run, which applies it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch: SQLite adds and (from 3.35) drops a nullable column in place, where a
# batch would rebuild task_links, which evidence files and stipend payments reference (see 0014).


def upgrade() -> None:
    op.add_column("task_links", sa.Column("applied_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("task_links", "applied_at")
