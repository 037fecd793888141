"""Personal task links (only their hash is kept), and who an approval is for and whether it was verified

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("answered_key", sa.String(length=200), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_task_links_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["milestone_id"], ["milestones.id"], name="fk_task_links_milestone_id_milestones"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_links"),
        sa.UniqueConstraint("token_sha256", name="uq_task_links_token_sha256"),
    )
    op.create_index("ix_task_links_case_id_state", "task_links", ["case_id", "state"])
    op.create_index("ix_task_links_answered_key", "task_links", ["answered_key"])
    op.create_index("ix_task_links_milestone_id", "task_links", ["milestone_id"])
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.add_column(sa.Column("decided_for", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("verified", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("on_behalf_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.drop_column("on_behalf_reason")
        batch_op.drop_column("verified")
        batch_op.drop_column("decided_for")
    op.drop_index("ix_task_links_milestone_id", table_name="task_links")
    op.drop_index("ix_task_links_answered_key", table_name="task_links")
    op.drop_index("ix_task_links_case_id_state", table_name="task_links")
    op.drop_table("task_links")
