"""The stipend ledger: a line per payment owed (monthly stipend, interim support), payments confirmed against it

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stipend_instalments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("milestone_id", sa.Integer(), nullable=False),
        sa.Column("amount_due", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount_paid", sa.Numeric(12, 2), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_stipend_instalments_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["remediation_plans.id"], name="fk_stipend_instalments_plan_id_remediation_plans"
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"], ["milestones.id"], name="fk_stipend_instalments_milestone_id_milestones"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stipend_instalments"),
        sa.UniqueConstraint("milestone_id", name="uq_stipend_instalments_milestone_id"),
        sa.UniqueConstraint(
            "case_id", "round", "purpose", "number", name="uq_stipend_instalments_case_id_round_purpose_number"
        ),
    )
    op.create_index("ix_stipend_instalments_case_id", "stipend_instalments", ["case_id"])
    op.create_table(
        "stipend_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instalment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("payment_reference", sa.String(length=120), nullable=False),
        sa.Column("confirmed_for", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("on_behalf_reason", sa.Text(), nullable=True),
        sa.Column("task_link_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instalment_id"],
            ["stipend_instalments.id"],
            name="fk_stipend_payments_instalment_id_stipend_instalments",
        ),
        sa.ForeignKeyConstraint(
            ["task_link_id"], ["task_links.id"], name="fk_stipend_payments_task_link_id_task_links"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stipend_payments"),
    )
    op.create_index("ix_stipend_payments_instalment_id", "stipend_payments", ["instalment_id"])
    # The visit no longer asks "stipend paid?": the ledger answers it.
    with op.batch_alter_table("follow_up_visits") as batch:
        batch.alter_column("stipend_paid", existing_type=sa.Boolean(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("follow_up_visits") as batch:
        batch.alter_column("stipend_paid", existing_type=sa.Boolean(), nullable=False)
    op.drop_index("ix_stipend_payments_instalment_id", table_name="stipend_payments")
    op.drop_table("stipend_payments")
    op.drop_index("ix_stipend_instalments_case_id", table_name="stipend_instalments")
    op.drop_table("stipend_instalments")
