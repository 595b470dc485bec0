"""The agency's pages (``/vlaio``): the inbox of user tasks with claim and release, and each task's form
beside the case it belongs to."""

from __future__ import annotations

from flask import Blueprint, Flask

from .. import formrender, i18n
from ..provider import casework

bp = Blueprint("agency", __name__, url_prefix="/vlaio", template_folder="templates")

TEXTS: dict[str, str] = {
    "Takenlijst": "Inbox",
    "Rol (lane)": "Role (lane)",
    "Alle": "All",
    "Proces": "Process",
    "Taak": "Task",
    "Alleen over tijd": "Overdue only",
    "Filteren": "Filter",
    "Dossier": "Case",
    "Aangemaakt": "Created",
    "Uiterlijk": "Due",
    "Over tijd": "Overdue",
    "Opgenomen door": "Claimed by",
    "Opnemen": "Claim",
    "Vrijgeven": "Release",
    "Openen": "Open",
    "Geen taken.": "No tasks.",
    "U hebt de taak opgenomen.": "You claimed the task.",
    "De taak is vrijgegeven.": "The task was released.",
    "De taak is afgerond.": "The task is completed.",
    "Deze taak is opgenomen door %s.": "This task is claimed by %s.",
    "Deze taak is al afgerond of niet meer open.": "This task is already completed or no longer open.",
    "Deze taak hoort bij een andere rol; VLAIO kan ze hier niet afronden.": "This task belongs to another "
    "role; VLAIO cannot complete it here.",
    "Gegevens": "Data",
    "Historiek": "History",
    "Wanneer": "When",
    "Wie": "Who",
    "Gebeurtenis": "Event",
    "Element": "Element",
    "Taak afronden": "Complete the task",
    "Terug naar de takenlijst": "Back to the inbox",
    "Stand van zaken": "Progress",
    "Status": "Status",
    "Incidenten": "Incidents",
}


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
    i18n.add_translations({**formrender.TEXTS, **casework.TEXTS, **TEXTS})
