"""Evidence files of a case (PDF, JPEG, PNG), with hash, size, type, uploader; bytes encrypted when keyed

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("task_link_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_evidence_files_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["milestone_id"], ["milestones.id"], name="fk_evidence_files_milestone_id_milestones"
        ),
        sa.ForeignKeyConstraint(
            ["task_link_id"], ["task_links.id"], name="fk_evidence_files_task_link_id_task_links"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_files"),
        sa.UniqueConstraint("case_id", "sha256", name="uq_evidence_files_case_id_sha256"),
    )
    op.create_index("ix_evidence_files_case_id", "evidence_files", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_evidence_files_case_id", table_name="evidence_files")
    op.drop_table("evidence_files")
