"""English for the cases pages (Dutch is the key)."""

from __future__ import annotations

STATUS_NL = {
    "running": "Bezig",
    "waiting": "Wacht",
    "error": "Fout",
    "suspended": "Opgeschort",
    "completed": "Beëindigd",
    "cancelled": "Geannuleerd",
}
KIND_NL = {"timer": "timer", "retry": "nieuwe poging"}
INCIDENT_NL = {"open": "open", "resolved": "opgelost"}
