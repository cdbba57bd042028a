"""Alembic environment of the risk service's database."""

from marac_platform.migrations import run_env
from services.risk.models import Base

run_env(Base.metadata)
