"""Alembic per service: the shared env.py body and the commands that apply or write migrations."""

from __future__ import annotations

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text
from sqlalchemy.engine import make_url

from marac_platform.db import make_private, normalise_url, sqlite_path
from marac_platform.service_spec import ServiceSpec


def alembic_config(spec: ServiceSpec, url: str) -> Config:
    """The service's Alembic scripts, in the folder its declaration names (beside its package,
    wherever it is installed: a checkout or site-packages)."""
    config = Config()
    config.set_main_option("script_location", str(spec.migrations))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database named in `url` when absent; True when it was created."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    admin_url = parsed.set(database="postgres")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if exists:
                return False
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            return True
    finally:
        engine.dispose()


def upgrade(spec: ServiceSpec, url: str, revision: str = "head") -> None:
    path = sqlite_path(normalise_url(url))
    if path is not None:
        make_private(path)  # before Alembic's engine creates it world-readable
    command.upgrade(alembic_config(spec, url), revision)


def new_revision(spec: ServiceSpec, url: str, message: str) -> None:
    command.revision(alembic_config(spec, url), message=message, autogenerate=True)


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    sqlite = url.startswith("sqlite")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True,
                          render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=sqlite, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
