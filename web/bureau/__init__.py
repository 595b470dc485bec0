"""The audit bureau's pages (``/auditbureau``): the audits assigned to my bureau and the report form
that delivers the ``audit_report`` message."""

from __future__ import annotations

from flask import Blueprint, Flask

from .. import formrender, i18n
from ..provider import casework

bp = Blueprint("bureau", __name__, url_prefix="/auditbureau", template_folder="templates")

TEXTS: dict[str, str] = {
    "Audits van %s": "Audits of %s",
    "Open audits": "Open audits",
    "Afgehandelde audits": "Completed audits",
    "Rapportnummer: %s werd al gebruikt voor een ander rapport; geef dit rapport een eigen nummer.": "Report "
    "id: %s was already used for another report; give this report its own id.",
    "Aangevraagde verlengingsaudits": "Requested renewal audits",
    "De dienstverlener vroeg uw bureau om de audit voor de verlenging van zijn registratie; bezorg het "
    "rapport vóór de einddatum.": "The provider asked your bureau for the audit that renews its "
    "registration; deliver the report before the end date.",
    "Geen aangevraagde verlengingsaudits.": "No requested renewal audits.",
    "Aangevraagd op": "Requested on",
    "Registratie loopt tot": "Registration runs until",
    "Dit auditrapport wordt niet door uw bureau verwacht: voor een verlenging kiest de dienstverlener het "
    "auditbureau in zijn aanvraag tot verlenging.": "This audit report is not expected from your bureau: for "
    "a renewal, the provider chooses the audit bureau in its renewal request.",
    "Verlengingsaudit indienen": "Submit the renewal audit",
    "Geen open audits.": "No open audits.",
    "Geen afgehandelde audits.": "No completed audits.",
    "Aanvraag": "Application",
    "Naam van de onderneming": "Company name",
    "Diensten": "Services",
    "Verwacht": "Expected",
    "Geschat aantal uren": "Estimated hours",
    "Stand van zaken": "Progress",
    "Rapport": "Report",
    "Auditrapport indienen": "Submit the audit report",
    "Auditrapport voor %s": "Audit report for %s",
    "Rapportnummer": "Report id",
    "Uw eigen kenmerk van het rapport; hetzelfde rapport twee keer indienen telt één keer.": "Your own "
    "reference of the report; the same report submitted twice counts once.",
    "Type audit": "Audit type",
    "Scores per module": "Scores per module",
    "Conformiteit": "Conformity",
    "Aantoonbaarheid": "Demonstrability",
    "Termijn opvolgingsaudit": "Follow-up audit deadline",
    "Alleen bij een voorwaardelijk resultaat (een G-score). Zonder datum geldt 6 maanden.": "Only for a "
    "conditional result (a G score). Without a date, 6 months apply.",
    "Een beperkte audit (starter) scoort ervaring en klanttevredenheid niet; een opvolgingsaudit scoort "
    "alleen de modules die opnieuw beoordeeld worden.": "A limited audit (starter) does not score experience "
    "and customer satisfaction; a follow-up audit scores only the modules being assessed again.",
    "Dit dossier wacht niet op een auditrapport.": "This case is not waiting for an audit report.",
    "Het auditrapport %s is bezorgd aan VLAIO.": "The audit report %s has been delivered to VLAIO.",
    "Het auditrapport %s werd al eerder ontvangen; het telt één keer.": "The audit report %s was already "
    "received; it counts once.",
    "Terug naar de audits": "Back to the audits",
    "Rapport indienen": "Submit report",
    "Ingediend rapport %s": "Submitted report %s",
    "Module": "Module",
}


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
    i18n.add_translations({**formrender.TEXTS, **casework.TEXTS, **TEXTS})
