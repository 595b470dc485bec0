"""Run Alembic migrations against the URL that kmop hands over.

``target_metadata`` (used only to compare models with the schema, as autogenerate does) is the
engine's metadata with the tables of whatever application modules the running process has imported:
an application's tables share it, so run such a comparison from the application (``kmop``), which
imports its models.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from engine.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connectable = create_engine(url)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()
