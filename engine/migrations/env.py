"""Run Alembic migrations against the URL that kmop hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import tasks.models  # noqa: F401  (the domain's tables share the engine's metadata)
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
