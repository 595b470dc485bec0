"""English for the public register (Dutch is the key)."""

from __future__ import annotations

EN: dict[str, str] = {
    "Register van dienstverleners": "Register of service providers",
    "Geregistreerde dienstverleners van de kmo-portefeuille: zoek op naam, ondernemingsnummer of "
    "registratienummer.": "Registered service providers of the kmo-portefeuille: search by name, "
    "enterprise number or registration number.",
    "Naam, ondernemingsnummer of registratienummer": "Name, enterprise number or registration number",
    "Zoeken": "Search",
    "Registratienummer": "Registration number",
    "Naam": "Name",
    "Ondernemingsnummer": "Enterprise number",
    "Dienst": "Service",
    "Status": "Status",
    "Geldig tot": "Valid until",
    "Geen geregistreerde dienstverlener gevonden.": "No registered service provider found.",
    "opleiding": "training",
    "advies": "advice",
    "voorlopig": "provisional",
    "voorwaardelijk": "conditional",
    "actief": "active",
}
