"""federation pledge take-overs and pledge progress

Revision ID: 0056
Revises: 0051
Create Date: 2026-11-21 08:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

import node.db

revision = '0056'
down_revision = '0051'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_pledge_takeovers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pledge_id', sa.Uuid(), nullable=False),
    sa.Column('listing_id', sa.Uuid(), nullable=False),
    sa.Column('owner_node', sa.String(length=64), nullable=False),
    sa.Column('requester_node', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('decide_by', node.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('new_pledge_id', sa.Uuid(), nullable=True),
    sa.Column('requested_at', node.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', node.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federation_pledge_takeovers'))
    )
    with op.batch_alter_table('federation_pledge_takeovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_pledge_takeovers_pledge_id'), ['pledge_id'], unique=False)
    with op.batch_alter_table('federation_pledges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress_at', node.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('federation_pledges', schema=None) as batch_op:
        batch_op.drop_column('progress_at')
    with op.batch_alter_table('federation_pledge_takeovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_pledge_takeovers_pledge_id'))
    op.drop_table('federation_pledge_takeovers')
