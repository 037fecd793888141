"""One milestone_escalations row per firing: the levels passed in the same sweep go into its row

Revision ID: 0016
Revises: 0015

A sweep that found a milestone several levels behind wrote a row for each level, the passed ones
with notified false: at 10,000 overdue milestones, 30,000 rows and their foreign key checks inside
the sweep's locking transaction. Each passed level's name moves into the row of the level that
was emailed in the same sweep, and the notified column goes (every row left was emailed).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

escalations = sa.table(
    "milestone_escalations",
    sa.column("id", sa.Integer()),
    sa.column("milestone_id", sa.Integer()),
    sa.column("level_index", sa.Integer()),
    sa.column("level_name", sa.String()),
    sa.column("due_at", sa.DateTime()),
    sa.column("fired_at", sa.DateTime()),
    sa.column("notified", sa.Boolean()),
    sa.column("passed_levels", sa.JSON()),
)


# Plain ALTER TABLE, not a batch (see 0015): SQLite adds a column with a default and drops one that no
# index or constraint names in place.


def upgrade() -> None:
    op.add_column(
        "milestone_escalations",
        sa.Column("passed_levels", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            escalations.c.id,
            escalations.c.milestone_id,
            escalations.c.due_at,
            escalations.c.fired_at,
            escalations.c.level_name,
            escalations.c.notified,
        ).order_by(
            escalations.c.milestone_id,
            escalations.c.due_at,
            escalations.c.fired_at,
            escalations.c.level_index,
        )
    ).all()
    # One sweep's firing of one milestone: the same milestone, due date and instant, lowest level first.
    firings: dict[tuple, list] = {}
    for row in rows:
        firings.setdefault((row.milestone_id, row.due_at, row.fired_at), []).append(row)
    passed_over: list[int] = []
    for levels in firings.values():
        # The emailed level is the highest; a firing with none emailed (none was written so) keeps its top.
        kept = next((row for row in reversed(levels) if row.notified), levels[-1])
        below = [row for row in levels if row.id != kept.id]
        if below:
            bind.execute(
                sa.update(escalations)
                .where(escalations.c.id == kept.id)
                .values(passed_levels=[row.level_name for row in below])
            )
            passed_over.extend(row.id for row in below)
    for start in range(0, len(passed_over), 500):
        bind.execute(sa.delete(escalations).where(escalations.c.id.in_(passed_over[start : start + 500])))
    op.drop_column("milestone_escalations", "notified")


def downgrade() -> None:
    op.add_column(
        "milestone_escalations",
        sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            escalations.c.milestone_id,
            escalations.c.level_index,
            escalations.c.due_at,
            escalations.c.fired_at,
            escalations.c.passed_levels,
        )
    ).all()
    for row in rows:
        passed = row.passed_levels if isinstance(row.passed_levels, list) else json.loads(row.passed_levels)
        # The passed levels are the ones just below the emailed one, in the ladder's order.
        for offset, name in enumerate(passed):
            bind.execute(
                sa.insert(escalations).values(
                    milestone_id=row.milestone_id,
                    level_index=row.level_index - len(passed) + offset,
                    level_name=name,
                    due_at=row.due_at,
                    fired_at=row.fired_at,
                    notified=False,
                )
            )
    op.drop_column("milestone_escalations", "passed_levels")
