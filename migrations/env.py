"""Alembic environment: runs against the engine the app passes in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from readerstudy.storage.db import make_engine
from readerstudy.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # `alembic revision --autogenerate` from the migrations folder compares against an empty
    # in-memory database when no URL is given.
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("readerstudy migrations run online only: use `readerstudy db upgrade`.")
run_migrations_online()
