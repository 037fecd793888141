"""Personal data columns become text, so that they can hold encrypted values

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("full_name", "school", "guardian_name", "photo_reference")


def upgrade() -> None:
    with op.batch_alter_table("child_personal_data") as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, type_=sa.Text(), existing_nullable=column != "full_name")
        # Dates already stored are kept as ISO text, which is how ProtectedDate writes them.
        batch_op.alter_column(
            "birth_date", type_=sa.Text(), existing_type=sa.Date(), existing_nullable=True,
            postgresql_using="birth_date::text",
        )


def downgrade() -> None:
    with op.batch_alter_table("child_personal_data") as batch_op:
        batch_op.alter_column(
            "birth_date", type_=sa.Date(), existing_type=sa.Text(), existing_nullable=True,
            postgresql_using="birth_date::date",
        )
        for column in COLUMNS:
            batch_op.alter_column(column, type_=sa.String(200 if column != "photo_reference" else 500))
