"""Milestones can be put on hold: their clock and escalation wait, and each hold is kept with its reason

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("milestones") as batch_op:
        batch_op.add_column(sa.Column("held_since", sa.DateTime(), nullable=True))
    op.create_table(
        "milestone_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("held_by", sa.String(length=200), nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("due_at_when_held", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("due_at_when_released", sa.DateTime(), nullable=True),
        sa.Column("held_for", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["milestone_id"], ["milestones.id"], name="fk_milestone_holds_milestone_id_milestones"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_milestone_holds"),
    )
    op.create_index("ix_milestone_holds_milestone_id", "milestone_holds", ["milestone_id"])


def downgrade() -> None:
    op.drop_index("ix_milestone_holds_milestone_id", table_name="milestone_holds")
    op.drop_table("milestone_holds")
    with op.batch_alter_table("milestones") as batch_op:
        batch_op.drop_column("held_since")
