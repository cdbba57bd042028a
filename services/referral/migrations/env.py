"""Alembic environment of the referral service's database."""

from marac_platform.migrations import run_env
from services.referral.models import Base

run_env(Base.metadata)
