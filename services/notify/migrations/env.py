"""Alembic environment of the notify service's database."""

from marac_platform.migrations import run_env
from services.notify.models import Base

run_env(Base.metadata)
