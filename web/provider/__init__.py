"""The provider's pages (``/aanbieder``): applications, registrations and certificates, applying, the
provider's own tasks, and for a local administrator the people of the organisation."""

from __future__ import annotations

from flask import Blueprint, Flask

from .. import formrender, i18n
from . import casework, wording

bp = Blueprint("provider", __name__, url_prefix="/aanbieder", template_folder="templates")

TEXTS: dict[str, str] = {
    "Mijn aanvragen en registraties": "My applications and registrations",
    "Mijn registraties": "My registrations",
    "Nieuwe aanvraag": "New application",
    "Aanvraag indienen": "Submit the application",
    "Uw aanvraag %s is ingediend.": "Your application %s has been submitted.",
    "Aanvraag": "Application",
    "Ingediend op": "Submitted on",
    "Laatst gewijzigd": "Last changed",
    "Status": "Status",
    "Stand van zaken": "Progress",
    "Registratienummer": "Registration number",
    "Dienst": "Service",
    "Diensten": "Services",
    "Geldig van": "Valid from",
    "Geldig tot": "Valid until",
    "Attest": "Certificate",
    "Attest (PDF)": "Certificate (PDF)",
    "U hebt nog geen aanvragen.": "You have no applications yet.",
    "U hebt nog geen registraties.": "You have no registrations yet.",
    "Te doen": "To do",
    "Geen openstaande taken.": "No open tasks.",
    "Openen": "Open",
    "Verlenging": "Renewal",
    "De registratie loopt tot %s.": "The registration runs until %s.",
    "Een verlenging vraagt een nieuwe audit: laat die tijdig uitvoeren door een erkend auditbureau. "
    "Het auditbureau bezorgt het rapport aan VLAIO; bij een positief rapport loopt de registratie verder "
    "met hetzelfde registratienummer.": "A renewal needs a new audit: have it done in time by an appointed "
    "audit bureau. The bureau sends the report to VLAIO; with a positive report the registration goes on "
    "with the same registration number.",
    "Na de einddatum moet u opnieuw de volledige aanvraag doorlopen.": "After the end date you must go "
    "through the full application again.",
    "Verlenging aanvragen": "Request a renewal",
    "Geschat aantal uren": "Estimated hours",
    "Een verlenging vraagt een nieuwe, volledige audit, aangerekend aan het standaardtarief van "
    "EUR 150 per uur.": "A renewal needs a new, full audit, charged at the standard rate of EUR 150 an hour.",
    "Voor dit dossier kan nu geen verlenging aangevraagd worden: er is geen lopende registratie die op een "
    "verlengingsaudit wacht.": "No renewal can be requested for this case now: no running registration is "
    "waiting for a renewal audit.",
    "Kies het erkende auditbureau dat de verlengingsaudit uitvoert. Het bureau bezorgt het rapport aan "
    "VLAIO; bij een positief rapport loopt de registratie verder met hetzelfde registratienummer, "
    "aansluitend op de huidige periode.": "Choose the appointed audit bureau that does the renewal audit. "
    "The bureau sends the report to VLAIO; with a positive report the registration goes on with the same "
    "registration number, right after the current period.",
    "U vroeg op %s een verlenging aan bij %s. Een nieuwe aanvraag vervangt die.": "On %s you requested a "
    "renewal from %s. A new request replaces it.",
    "Uw aanvraag tot verlenging is bezorgd; u krijgt een bevestiging per e-mail.": "Your renewal request has "
    "been delivered; you will get a confirmation by e-mail.",
    "Verlenging aangevraagd op %s bij %s.": "Renewal requested on %s from %s.",
    "Dossier": "Case",
    "Gegevens van de aanvraag": "Application data",
    "Naam van de onderneming": "Company name",
    "Ondernemingsnummer": "Enterprise number",
    "E-mailadres": "E-mail address",
    "Auditbureau": "Audit bureau",
    "Registraties": "Registrations",
    "Terug naar het overzicht": "Back to the overview",
    "Deze verklaring op eer geldt voor de dienst:": "This declaration of honour is for the service:",
    "Taak afronden": "Complete the task",
    "De taak is afgerond.": "The task is completed.",
    "Deze taak is al afgerond of niet meer open.": "This task is already completed or no longer open.",
    "Gebruikers van %s": "Users of %s",
    "Naam": "Name",
    "Gebruikersnaam": "Username",
    "Profiel dienstverlener kmo-portefeuille": "Profile service provider kmo-portefeuille",
    "Rollen": "Roles",
    "Recht toekennen": "Grant the right",
    "Recht intrekken": "Revoke the right",
    "%s zal geen aanvragen en taken van uw organisatie meer behandelen. Het profiel dienstverlener "
    "intrekken?": "%s will no longer handle your organisation's applications and tasks. Revoke the "
    "provider profile?",
    "Ja, intrekken": "Yes, revoke",
    "Geen geldig attest": "No valid certificate",
    "Geen geldig attest meer": "No valid certificate any more",
    "De registratie %s is %s: er is geen geldig attest meer. Een kmo kan u voor deze dienst niet meer met "
    "de kmo-portefeuille betalen.": "Registration %s is %s: there is no valid certificate any more. A small "
    "firm can no longer pay you for this service with the kmo-portefeuille.",
    "Annuleren": "Cancel",
    "ja": "yes",
    "nee": "no",
    "%s kreeg het profiel dienstverlener.": "%s was given the provider profile.",
    "%s heeft het profiel dienstverlener niet meer.": "%s no longer has the provider profile.",
    "Gebruikersrecht VLAIO INKOM GEBRUIKER, profiel DIENSTVERLENER KMO-PORTEFEUILLE: wie het heeft, kan "
    "aanvragen indienen en de taken van de onderneming afronden.": "User right VLAIO INKOM GEBRUIKER, "
    "profile DIENSTVERLENER KMO-PORTEFEUILLE: whoever has it can submit applications and complete the "
    "company's tasks.",
}


def init_app(app: Flask) -> None:
    from . import apply, renewal, users, views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
    i18n.add_translations({**formrender.TEXTS, **casework.TEXTS, **wording.TEXTS, **TEXTS})
