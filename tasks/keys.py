"""An application's key (its ``application_id``): one format whichever way the application came in."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.models import ProcessInstance

from .dates import BRUSSELS

APPLICATION_KEY = re.compile(r"APP-\d{4}-[0-9A-F]{6}")
"""``APP-<year>-<6 hex digits>``, the year of filing in Brussels: what the audit report quotes."""


def new_application_key(session: Session, now: datetime) -> str:
    """A fresh application key, not used by any case (web portal and API alike)."""
    year = now.astimezone(BRUSSELS).year
    while True:
        key = f"APP-{year}-{secrets.token_hex(3).upper()}"
        if not key_in_use(session, key):
            return key


_KEY_IN_USE = (
    select(ProcessInstance.__table__.c.id)
    .where(ProcessInstance.__table__.c.business_key == bindparam("key"))
    .limit(1)
)  # Core, not ORM: asked at every start through the API


def key_in_use(session: Session, key: str) -> bool:
    """Whether a case (of any process, open or ended) has this business key."""
    session.flush()  # as the ORM's autoflush would
    return session.connection().execute(_KEY_IN_USE, {"key": key}).first() is not None
