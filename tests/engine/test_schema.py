"""The tables the models describe are the tables the migrations make: a column or index added to one and
not the other is caught here, not in production."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import tasks.models  # noqa: F401  (the domain's tables are in the same metadata)
from engine.db import upgrade
from engine.models import Base


def test_the_migrations_make_the_models_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    upgrade(url)
    db = create_engine(url)
    try:
        with db.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        db.dispose()
    assert differences == []
