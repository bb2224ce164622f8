"""Review service: its users (argon2 password hashes), the audit log of what they did, and
who verified a job's results.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

AUDIT_ACTIONS = ('login', 'login_refused', 'logout', 'user_added', 'job_retried',
                 'transfers_retried', 'results_verified')


def upgrade() -> None:
    op.create_table(
        'review_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('full_name', sa.String(length=128), nullable=False),
        sa.Column('organisation', sa.String(length=128), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review_user')),
        sa.UniqueConstraint('name', name=op.f('uq_review_user_name')),
    )
    op.create_table(
        'audit_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('user_name', sa.String(length=64), nullable=False),
        sa.Column('action', sa.Enum(*AUDIT_ACTIONS, name='auditaction', native_enum=False,
                                    length=32), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    )
    op.create_index(op.f('ix_audit_event_at'), 'audit_event', ['at'], unique=False)
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('verified_at')
        batch_op.drop_column('verified_by')
    op.drop_index(op.f('ix_audit_event_at'), table_name='audit_event')
    op.drop_table('audit_event')
    op.drop_table('review_user')
