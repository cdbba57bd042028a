"""Alembic environment of the scheduling service's database."""

from marac_platform.migrations import run_env
from services.scheduling.models import Base

run_env(Base.metadata)
