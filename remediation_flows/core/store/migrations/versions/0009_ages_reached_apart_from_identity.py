"""Cases keep the dates the child reaches the minimum working age and 18, so the lifecycle needs no key

Revision ID: 0009
Revises: 0008

Identities recorded before this revision keep NULL here; the lifecycle then reckons from the age
verified at the assessment, as it does for a case without a birth date.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("reaches_working_age_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("turns_18_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("turns_18_on")
        batch_op.drop_column("reaches_working_age_on")
