"""listings: one index that serves a page of listings in order and its count

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-21 11:10:00.000000
"""

from alembic import op

revision = '0057'
down_revision = '0056'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index('ix_listings_kind_status_created')
        batch_op.create_index(
            'ix_listings_page', ['kind', 'status', 'created_at', 'id', 'expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index('ix_listings_page')
        batch_op.create_index(
            'ix_listings_kind_status_created', ['kind', 'status', 'created_at'], unique=False
        )
