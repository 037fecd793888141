"""Identities are erased after the programme's retention period unless a legal hold stops it; reads are logged

Revision ID: 0010
Revises: 0009

``cases.ended_at`` is when the case was closed or withdrawn, the instant retention counts from.
Cases already closed or withdrawn take their last update, which is when they got that state.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE cases SET ended_at = updated_at WHERE state IN ('closed', 'withdrawn')")
    op.create_table(
        "identity_legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held_by", sa.String(length=200), nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_identity_legal_holds_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_legal_holds")),
    )
    op.create_index(
        op.f("ix_identity_legal_holds_case_id"), "identity_legal_holds", ["case_id"], unique=False
    )
    op.create_table(
        "identity_access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("accessed_by", sa.String(length=200), nullable=False),
        sa.Column("accessed_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_identity_access_log_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_access_log")),
    )
    op.create_index(op.f("ix_identity_access_log_case_id"), "identity_access_log", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_access_log_case_id"), table_name="identity_access_log")
    op.drop_table("identity_access_log")
    op.drop_index(op.f("ix_identity_legal_holds_case_id"), table_name="identity_legal_holds")
    op.drop_table("identity_legal_holds")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("ended_at")
