"""Cases remember the notification that opened them, so that a retried notification opens no child twice

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("notification_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("notification_child", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_cases_notification_key_notification_child", ["notification_key", "notification_child"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_constraint("uq_cases_notification_key_notification_child", type_="unique")
        batch_op.drop_column("notification_child")
        batch_op.drop_column("notification_key")
