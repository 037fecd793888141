"""Task links and evidence files of a due-diligence cycle: case_id or cycle_id (exactly one), site_id

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

EXACTLY_ONE_OWNER = "(case_id IS NULL) <> (cycle_id IS NULL)"


def _defer_foreign_keys() -> None:
    # SQLite rebuilds a table to alter it (copy, drop, rename): task_links is referenced by evidence
    # files and stipend payments, whose rows would break the foreign keys between drop and rename.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys=ON")


def upgrade() -> None:
    _defer_foreign_keys()
    with op.batch_alter_table("task_links") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("cycle_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("site_id", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            "fk_task_links_cycle_id_due_diligence_cycles", "due_diligence_cycles", ["cycle_id"], ["id"]
        )
        batch.create_check_constraint("ck_task_links_one_owner", EXACTLY_ONE_OWNER)
        batch.create_index("ix_task_links_cycle_id_state", ["cycle_id", "state"])
    with op.batch_alter_table("evidence_files") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("cycle_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("site_id", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            "fk_evidence_files_cycle_id_due_diligence_cycles", "due_diligence_cycles", ["cycle_id"], ["id"]
        )
        batch.create_check_constraint("ck_evidence_files_one_owner", EXACTLY_ONE_OWNER)
        batch.create_unique_constraint("uq_evidence_files_cycle_id_sha256", ["cycle_id", "sha256"])
        batch.create_index("ix_evidence_files_cycle_id", ["cycle_id"])


def downgrade() -> None:
    # A cycle's links and files have no case to stay with: they go before case_id is required again.
    op.execute("DELETE FROM evidence_files WHERE cycle_id IS NOT NULL")
    op.execute(
        "UPDATE stipend_payments SET task_link_id = NULL WHERE task_link_id IN "
        "(SELECT id FROM task_links WHERE cycle_id IS NOT NULL)"
    )
    op.execute("DELETE FROM task_links WHERE cycle_id IS NOT NULL")
    _defer_foreign_keys()
    with op.batch_alter_table("evidence_files") as batch:
        batch.drop_index("ix_evidence_files_cycle_id")
        batch.drop_constraint("uq_evidence_files_cycle_id_sha256", type_="unique")
        batch.drop_constraint("ck_evidence_files_one_owner", type_="check")
        batch.drop_constraint("fk_evidence_files_cycle_id_due_diligence_cycles", type_="foreignkey")
        batch.drop_column("site_id")
        batch.drop_column("cycle_id")
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("task_links") as batch:
        batch.drop_index("ix_task_links_cycle_id_state")
        batch.drop_constraint("ck_task_links_one_owner", type_="check")
        batch.drop_constraint("fk_task_links_cycle_id_due_diligence_cycles", type_="foreignkey")
        batch.drop_column("site_id")
        batch.drop_column("cycle_id")
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
