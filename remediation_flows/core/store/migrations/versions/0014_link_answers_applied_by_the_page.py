"""A used task link records when the task page applied its answer, so the flow does not apply it again

Revision ID: 0014
Revises: 0013

Links used before this revision keep NULL: their answer was delivered to the flow run, which applies it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_links") as batch_op:
        batch_op.add_column(sa.Column("applied_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_links") as batch_op:
        batch_op.drop_column("applied_at")
