"""Outbox: per-recipient delivery and the claim that owns a row

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        # NULL means no recipient was tried yet, which is true of every row already there
        # except those sent or failed, whose status still says what happened.
        batch_op.add_column(sa.Column("deliveries", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("deliveries")
        batch_op.drop_column("claimed_by")
