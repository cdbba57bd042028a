"""Alembic environment of the actions service's database."""

from marac_platform.migrations import run_env
from services.actions.models import Base

run_env(Base.metadata)
