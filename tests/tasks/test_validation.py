"""Test the validation of applications and audit reports against the vectors of domain.md."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from tasks.validation import (
    AUDIT_MODULES,
    SCORES,
    STARTER_EXEMPT,
    FieldError,
    ValidationErrors,
    check_bic_matches_iban,
    format_enterprise_number,
    format_iban,
    normalize_bic,
    normalize_enterprise_number,
    normalize_iban,
    summarize_scores,
    validate_application,
    validate_audit_report,
)

# --------------------------------------------------------------------------------------------------
# Enterprise number
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0566.988.259", "0566988259"),
        ("BE 0566.988.259", "0566988259"),
        ("1000.000.021", "1000000021"),
        ("1001.234.592", "1001234592"),
        ("0970.000.097", "0970000097"),
        # separators and prefix, any case
        ("be-0566 988 259", "0566988259"),
        ("Be0566988259", "0566988259"),
        (" 0566988259 ", "0566988259"),
        ("0000000097", "0000000097"),  # first 8 digits mod 97 = 0 -> check digits 97
    ],
)
def test_enterprise_number_valid(value: str, expected: str) -> None:
    assert normalize_enterprise_number(value) == expected


@pytest.mark.parametrize(
    ("value", "nl_fragment", "en_fragment"),
    [
        ("0566.988.258", "controlecijfers", "check digits"),
        ("2566988259", "beginnen met 0 of 1", "start with 0 or 1"),
        ("056698825", "10 cijfers", "10 digits"),
        # stdnum pads a 9-digit number with 0; the domain requires 10 digits
        ("566988259", "10 cijfers", "10 digits"),
        ("05669882590", "10 cijfers", "10 digits"),
        # stdnum accepts 99 / 00 where the domain's 97 - (n mod 97) gives 02 / 97
        ("0000009599", "controlecijfers", "check digits"),
        ("0000009700", "controlecijfers", "check digits"),
        ("0000000000", "controlecijfers", "check digits"),
        ("0566/988/259", "alleen cijfers", "digits only"),
        ("NL0566988259", "alleen cijfers", "digits only"),
        ("", "verplicht", "required"),
        ("BE", "verplicht", "required"),
    ],
)
def test_enterprise_number_invalid(value: str, nl_fragment: str, en_fragment: str) -> None:
    with pytest.raises(FieldError) as caught:
        normalize_enterprise_number(value)
    error = caught.value
    assert error.field == "enterprise_number"
    assert error.message_nl.startswith("Ondernemingsnummer: ")
    assert error.message_en.startswith("Enterprise number: ")
    assert nl_fragment in error.message_nl
    assert en_fragment in error.message_en
    assert str(error) == error.message_nl


def test_enterprise_number_messages_are_distinct() -> None:
    messages = set()
    for value in ("0566.988.258", "2566988259", "056698825"):
        with pytest.raises(FieldError) as caught:
            normalize_enterprise_number(value)
        messages.add(caught.value.message_nl)
    assert len(messages) == 3


def test_enterprise_number_not_text() -> None:
    with pytest.raises(FieldError, match="tekst") as caught:
        normalize_enterprise_number(566988259)  # type: ignore[arg-type]
    assert caught.value.field == "enterprise_number"


def test_format_enterprise_number() -> None:
    assert format_enterprise_number("0566988259") == "0566.988.259"
    assert format_enterprise_number("BE 1000 000 021") == "1000.000.021"
    with pytest.raises(FieldError):
        format_enterprise_number("0566988258")


# --------------------------------------------------------------------------------------------------
# IBAN
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("BE48 0011 2345 6727", "BE48001123456727"),
        ("BE56 3631 2345 6788", "BE56363123456788"),
        ("BE09 7341 2345 6757", "BE09734123456757"),
        ("be48-0011-2345-6727", "BE48001123456727"),
        ("NL91 ABNA 0417 1643 00", "NL91ABNA0417164300"),
        ("GR16 0110 1050 0000 1054 7023 795", "GR1601101050000010547023795"),
    ],
)
def test_iban_valid(value: str, expected: str) -> None:
    assert normalize_iban(value) == expected


@pytest.mark.parametrize(
    ("value", "nl_fragment", "en_fragment"),
    [
        ("BE69 5390 0754 7034", "mod-97", "mod-97"),
        ("BE41 0918 1173 5141", "Belgische controle", "Belgian national check"),
        ("BE6853900754703", "16 tekens, niet 15", "16 characters, not 15"),
        # ISO 13616 check digits are 02..98; stdnum lets 99/00/01 pass when 02/97/98 are right
        ("BE99 0011 0000 3440", "mod-97", "mod-97"),
        ("BE00 0011 0000 4349", "mod-97", "mod-97"),
        ("BE01 0011 0000 8793", "mod-97", "mod-97"),
        ("BE83 1388 1173 5115", "bankcode 138", "bank code 138"),
        ("XX48 0011 2345 6727", "geen IBAN", "no IBAN"),
        ("4800 1123 4567 27", "landcode", "country code"),
        ("BE48 0011 2345 672/", "letters en cijfers", "letters and digits"),
        ("NL91 ABNA 0417 1643 0", "18 tekens, niet 17", "18 characters, not 17"),
        ("", "verplicht", "required"),
    ],
)
def test_iban_invalid(value: str, nl_fragment: str, en_fragment: str) -> None:
    with pytest.raises(FieldError) as caught:
        normalize_iban(value)
    error = caught.value
    assert error.field == "iban"
    assert error.message_nl.startswith("IBAN: ")
    assert error.message_en.startswith("IBAN: ")
    assert nl_fragment in error.message_nl
    assert en_fragment in error.message_en


def test_iban_valid_counterparts_of_the_edge_check_digits() -> None:
    for value in ("BE02001100003440", "BE97001100004349", "BE98001100008793"):
        assert normalize_iban(value) == value


def test_iban_messages_are_distinct() -> None:
    messages = set()
    for value in ("BE69 5390 0754 7034", "BE41 0918 1173 5141", "BE6853900754703"):
        with pytest.raises(FieldError) as caught:
            normalize_iban(value)
        messages.add(caught.value.message_nl)
    assert len(messages) == 3


def test_iban_message_does_not_repeat_the_account_number() -> None:
    with pytest.raises(FieldError) as caught:
        normalize_iban("BE69 5390 0754 7034")
    assert "7034" not in caught.value.message_nl and "7034" not in caught.value.message_en


def test_format_iban() -> None:
    assert format_iban("BE48001123456727") == "BE48 0011 2345 6727"
    assert format_iban("be48 0011 2345 6727") == "BE48 0011 2345 6727"
    assert format_iban("NL91ABNA0417164300") == "NL91 ABNA 0417 1643 00"
    with pytest.raises(FieldError):
        format_iban("BE69539007547034")


# --------------------------------------------------------------------------------------------------
# BIC
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GEBABEBB", "GEBABEBB"),
        ("GEBABEBBXXX", "GEBABEBBXXX"),
        ("gebabebb", "GEBABEBB"),
        (" GEBA BE BB ", "GEBABEBB"),
        ("KREDBEBB", "KREDBEBB"),
        ("ABNANL2A", "ABNANL2A"),
    ],
)
def test_bic_valid(value: str, expected: str) -> None:
    assert normalize_bic(value) == expected


@pytest.mark.parametrize(
    ("value", "nl_fragment", "en_fragment"),
    [
        ("GEBABEB", "8 of 11 tekens tellen, niet 7", "8 or 11 characters, not 7"),
        ("GEBABEBB1", "8 of 11 tekens tellen, niet 9", "8 or 11 characters, not 9"),
        ("GEBABEBBXX", "8 of 11 tekens tellen, niet 10", "8 or 11 characters, not 10"),
        ("GEB1BEBB", "eerste 4 tekens", "first 4 characters"),
        ("GEBAB3BB", "landcode", "country code"),
        ("GEBABE_B", "plaats", "location"),
        ("GEBABEBBX_X", "filiaal", "branch"),
        ("GEBAZZBB", "geen bestaande landcode", "not a known country code"),
        ("", "verplicht", "required"),
    ],
)
def test_bic_invalid(value: str, nl_fragment: str, en_fragment: str) -> None:
    with pytest.raises(FieldError) as caught:
        normalize_bic(value)
    error = caught.value
    assert error.field == "bic"
    assert error.message_nl.startswith("BIC: ")
    assert error.message_en.startswith("BIC: ")
    assert nl_fragment in error.message_nl
    assert en_fragment in error.message_en


# --------------------------------------------------------------------------------------------------
# BIC belongs to the IBAN's bank
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iban", "bic"),
    [
        ("BE48 0011 2345 6727", "GEBABEBB"),
        ("BE48 0011 2345 6727", "GEBABEBBXXX"),
        ("BE56 3631 2345 6788", "BBRUBEBB"),
        ("BE09 7341 2345 6757", "KREDBEBB"),
        ("BE09 7341 2345 6757", "kredbebb"),
        ("NL91ABNA0417164300", "ABNANL2A"),
    ],
)
def test_bic_matches_iban(iban: str, bic: str) -> None:
    check_bic_matches_iban(iban, bic)


def test_bic_of_another_bank_is_refused_and_names_the_expected_bic() -> None:
    with pytest.raises(FieldError) as caught:
        check_bic_matches_iban("BE48 0011 2345 6727", "KREDBEBB")
    error = caught.value
    assert error.field == "bic"
    assert "hoort niet bij de bank van de IBAN" in error.message_nl
    assert "does not belong to the bank of the IBAN" in error.message_en
    assert "GEBABEBB" in error.message_nl and "GEBABEBB" in error.message_en


@pytest.mark.parametrize(
    ("iban", "bic"),
    [
        ("BE56 3631 2345 6788", "GEBABEBB"),
        ("BE09 7341 2345 6757", "BBRUBEBB"),
        ("BE48001123456727", "GEBANLBB"),
    ],
)
def test_other_mismatching_belgian_pairs(iban: str, bic: str) -> None:
    with pytest.raises(FieldError, match="hoort niet bij de bank"):
        check_bic_matches_iban(iban, bic)


def test_foreign_iban_only_checks_the_country() -> None:
    with pytest.raises(FieldError) as caught:
        check_bic_matches_iban("NL91ABNA0417164300", "GEBABEBB")
    assert caught.value.field == "bic"
    assert "(BE)" in caught.value.message_nl and "(NL)" in caught.value.message_nl


def test_bic_iban_check_reports_invalid_inputs_on_their_own_field() -> None:
    with pytest.raises(FieldError) as caught:
        check_bic_matches_iban("BE69 5390 0754 7034", "GEBABEBB")
    assert caught.value.field == "iban"
    with pytest.raises(FieldError) as caught:
        check_bic_matches_iban("BE48 0011 2345 6727", "GEBABEBBXX")
    assert caught.value.field == "bic"


# --------------------------------------------------------------------------------------------------
# Start of an application
# --------------------------------------------------------------------------------------------------


def _application(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "enterprise_number": "BE 0566.988.259",
        "company_name": "  Opleidingen Peeters BV ",
        "email": "  Info@Peeters.BE ",
        "iban": "be48 0011 2345 6727",
        "bic": "gebabebbxxx",
        "services": ["training", "advice"],
        "provider_type": "private",
        "starter": False,
    }
    data.update(changes)
    return data


def test_application_is_normalized() -> None:
    assert validate_application(_application()) == {
        "enterprise_number": "0566988259",
        "company_name": "Opleidingen Peeters BV",
        "email": "info@peeters.be",
        "iban": "BE48001123456727",
        "bic": "GEBABEBBXXX",
        "services": ["training", "advice"],
        "provider_type": "private",
        "starter": False,
    }


def test_application_drops_unknown_keys() -> None:
    result = validate_application(
        _application(status="active", registration_number="DV.O000001", is_admin=True)
    )
    assert set(result) == {
        "enterprise_number",
        "company_name",
        "email",
        "iban",
        "bic",
        "services",
        "provider_type",
        "starter",
    }


def test_application_starter_defaults_to_false() -> None:
    data = _application()
    del data["starter"]
    assert validate_application(data)["starter"] is False
    assert validate_application(_application(starter=None))["starter"] is False
    assert validate_application(_application(starter=True))["starter"] is True


def test_application_with_every_field_wrong_reports_every_field() -> None:
    data = {
        "enterprise_number": "2566988259",
        "company_name": "   ",
        "email": "not an address",
        "iban": "BE69 5390 0754 7034",
        "bic": "GEBABEBBXX",
        "services": ["training", "coaching"],
        "provider_type": "semi-public",
        "starter": "yes",
    }
    with pytest.raises(ValidationErrors) as caught:
        validate_application(data)
    errors = caught.value.errors
    assert set(errors) == set(data)
    for name, error in errors.items():
        assert error.field == name
        assert error.message_nl and error.message_en
    assert "0 of 1" in errors["enterprise_number"].message_nl
    assert "mod-97" in errors["iban"].message_nl
    assert "niet 10" in errors["bic"].message_nl
    text = str(caught.value)
    assert text.startswith("8 ongeldige velden: ")
    assert "Ondernemingsnummer: " in text and "IBAN: " in text
    assert set(caught.value.messages("en")) == set(data)
    assert caught.value.messages("en")["email"].startswith("Email address: ")


def test_application_missing_everything() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application({})
    assert set(caught.value.errors) == {
        "enterprise_number",
        "company_name",
        "email",
        "iban",
        "bic",
        "services",
        "provider_type",
    }


def test_application_bic_of_another_bank() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(_application(bic="KREDBEBB"))
    assert set(caught.value.errors) == {"bic"}
    assert "GEBABEBB" in caught.value.errors["bic"].message_nl


def test_public_provider_cannot_be_a_starter() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(_application(provider_type="public", starter=True))
    assert set(caught.value.errors) == {"starter"}
    assert "publieke" in caught.value.errors["starter"].message_nl
    assert validate_application(_application(provider_type="public"))["provider_type"] == "public"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company_name", "x" * 201),
        ("company_name", "Peeters\nBV"),
        ("company_name", 42),
        ("email", "info@peeters"),
        ("email", "info peeters@peeters.be"),
        ("email", "info@@peeters.be"),
        ("email", "@peeters.be"),
        ("email", "info@-peeters.be"),
        ("email", "a" * 250 + "@x.be"),
        ("services", []),
        ("services", "training"),
        ("services", ["training", "training"]),
        ("services", ["Training"]),
        ("services", [1]),
        ("services", None),
        ("provider_type", "Private"),
        ("provider_type", ""),
        ("starter", 1),
        ("starter", "false"),
    ],
)
def test_application_single_field_errors(field: str, value: object) -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(_application(**{field: value}))
    assert set(caught.value.errors) == {field}


def test_application_company_name_length_limit() -> None:
    assert validate_application(_application(company_name=" " + "x" * 200 + " "))["company_name"] == "x" * 200


def test_application_duplicate_service_message_names_it() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(_application(services=["advice", "advice"]))
    assert "advies" in caught.value.errors["services"].message_nl


def test_application_not_a_mapping() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(["enterprise_number"])  # type: ignore[arg-type]
    assert set(caught.value.errors) == {"payload"}


def test_errors_survive_pickling() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_application(_application(email="x"))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.errors["email"].message_en == caught.value.errors["email"].message_en
    assert copy.errors["email"].field == "email"


# --------------------------------------------------------------------------------------------------
# Audit report
# --------------------------------------------------------------------------------------------------


def _scores(modules: tuple[str, ...], conformity: str = "T", demonstrability: str = "V") -> dict[str, Any]:
    return {module: {"conformity": conformity, "demonstrability": demonstrability} for module in modules}


def _report(**changes: object) -> dict[str, object]:
    report: dict[str, object] = {
        "application_id": " APP-1 ",
        "report_id": "R-2026-001",
        "audit_type": "full",
        "scores": _scores(AUDIT_MODULES),
        "follow_up_deadline": "2027-06-30",
    }
    report.update(changes)
    return report


LIMITED = tuple(module for module in AUDIT_MODULES if module not in STARTER_EXEMPT)


def test_full_report_valid() -> None:
    result = validate_audit_report(_report(extra="dropped"))
    assert result == {
        "application_id": "APP-1",
        "report_id": "R-2026-001",
        "audit_type": "full",
        "scores": _scores(AUDIT_MODULES),
        "follow_up_deadline": "2027-06-30",
    }


def test_limited_report_valid_without_deadline() -> None:
    report = _report(audit_type="limited", scores=_scores(LIMITED))
    del report["follow_up_deadline"]
    result = validate_audit_report(report)
    assert result["scores"] == _scores(LIMITED)
    assert result["follow_up_deadline"] is None


@pytest.mark.parametrize(
    "modules", [STARTER_EXEMPT, ("activity",), AUDIT_MODULES, ("integrity", "knowledge")]
)
def test_follow_up_report_valid(modules: tuple[str, ...]) -> None:
    result = validate_audit_report(_report(audit_type="follow_up", scores=_scores(modules)))
    assert result["scores"] == _scores(modules)


def test_extra_keys_inside_scores_are_dropped() -> None:
    scores = _scores(AUDIT_MODULES)
    scores["activity"]["remark"] = "good"
    result = validate_audit_report(_report(scores=scores))
    assert result["scores"] == _scores(AUDIT_MODULES)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        (
            {"scores": {**_scores(AUDIT_MODULES), "activity": {"conformity": "X", "demonstrability": "V"}}},
            {"scores.activity.conformity"},
        ),
        (
            {"scores": {**_scores(AUDIT_MODULES), "knowledge": {"conformity": "t", "demonstrability": "V"}}},
            {"scores.knowledge.conformity"},
        ),
        (
            {"scores": {**_scores(AUDIT_MODULES), "integrity": {"conformity": "T"}}},
            {"scores.integrity.demonstrability"},
        ),
        ({"scores": {**_scores(AUDIT_MODULES), "integrity": "TV"}}, {"scores.integrity"}),
        ({"scores": _scores(LIMITED)}, {"scores.experience", "scores.satisfaction"}),
        (
            {"scores": {**_scores(AUDIT_MODULES), "pricing": {"conformity": "T", "demonstrability": "T"}}},
            {"scores.pricing"},
        ),
        ({"audit_type": "limited"}, {"scores.experience", "scores.satisfaction"}),
        ({"audit_type": "limited", "scores": _scores(("activity", "knowledge"))}, {"scores.integrity"}),
        ({"audit_type": "follow_up", "scores": {}}, {"scores"}),
        ({"scores": None}, {"scores"}),
        ({"scores": ["activity"]}, {"scores"}),
        ({"audit_type": "partial"}, {"audit_type"}),
        ({"audit_type": None}, {"audit_type"}),
        ({"application_id": ""}, {"application_id"}),
        ({"report_id": None}, {"report_id"}),
        ({"report_id": 7}, {"report_id"}),
        ({"follow_up_deadline": "30/06/2027"}, {"follow_up_deadline"}),
        ({"follow_up_deadline": "20270630"}, {"follow_up_deadline"}),
        ({"follow_up_deadline": "2027-02-30"}, {"follow_up_deadline"}),
        ({"follow_up_deadline": "2027-06-30T00:00:00"}, {"follow_up_deadline"}),
        ({"follow_up_deadline": 20270630}, {"follow_up_deadline"}),
    ],
)
def test_audit_report_invalid(changes: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(_report(**changes))
    assert set(caught.value.errors) == fields
    for name, error in caught.value.errors.items():
        assert error.field == name


def test_audit_report_messages() -> None:
    scores = _scores(AUDIT_MODULES)
    scores["activity"] = {"conformity": "X", "demonstrability": "V"}
    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(_report(scores=scores))
    error = caught.value.errors["scores.activity.conformity"]
    assert error.message_nl == "Scores activiteit, conformiteit: moet B, G, T of V zijn."
    assert error.message_en == "Scores activity, conformity: must be B, G, T or V."

    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(_report(audit_type="limited"))
    assert "beperkte audit" in caught.value.errors["scores.experience"].message_nl

    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(_report(scores=_scores(LIMITED)))
    assert "ontbreekt" in caught.value.errors["scores.satisfaction"].message_nl
    assert "is missing" in caught.value.errors["scores.satisfaction"].message_en

    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(_report(follow_up_deadline="2027-02-30"))
    assert "bestaande datum" in caught.value.errors["follow_up_deadline"].message_nl


def test_audit_report_everything_wrong_collects_all() -> None:
    payload = {
        "application_id": "",
        "report_id": "",
        "audit_type": "partial",
        "scores": {"activity": {"conformity": "Q", "demonstrability": "V"}},
        "follow_up_deadline": "soon",
    }
    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report(payload)
    assert set(caught.value.errors) == {
        "application_id",
        "report_id",
        "audit_type",
        "scores.activity.conformity",
        "follow_up_deadline",
    }


def test_audit_report_not_a_mapping() -> None:
    with pytest.raises(ValidationErrors) as caught:
        validate_audit_report("report")  # type: ignore[arg-type]
    assert set(caught.value.errors) == {"payload"}


# --------------------------------------------------------------------------------------------------
# Scores summary (DMN inputs, not the policy)
# --------------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert AUDIT_MODULES == ("activity", "experience", "satisfaction", "knowledge", "integrity")
    assert STARTER_EXEMPT == ("experience", "satisfaction")
    assert SCORES == ("B", "G", "T", "V")


@pytest.mark.parametrize(
    ("scores", "audit_type", "expected"),
    [
        (_scores(AUDIT_MODULES), "full", {"has_b": False, "has_g": False, "modules": sorted(AUDIT_MODULES)}),
        (
            {**_scores(AUDIT_MODULES), "knowledge": {"conformity": "G", "demonstrability": "T"}},
            "full",
            {"has_b": False, "has_g": True, "modules": sorted(AUDIT_MODULES)},
        ),
        (
            {**_scores(LIMITED), "activity": {"conformity": "G", "demonstrability": "B"}},
            "limited",
            {"has_b": True, "has_g": True, "modules": ["activity", "integrity", "knowledge"]},
        ),
        (
            _scores(STARTER_EXEMPT, "B", "B"),
            "follow_up",
            {"has_b": True, "has_g": False, "modules": ["experience", "satisfaction"]},
        ),
    ],
)
def test_summarize_scores(scores: dict[str, Any], audit_type: str, expected: dict[str, object]) -> None:
    assert summarize_scores(scores, audit_type) == expected


def test_summarize_scores_validates_its_input() -> None:
    with pytest.raises(ValidationErrors) as caught:
        summarize_scores(_scores(AUDIT_MODULES), "limited")
    assert set(caught.value.errors) == {"scores.experience", "scores.satisfaction"}
    with pytest.raises(ValidationErrors) as caught:
        summarize_scores(_scores(AUDIT_MODULES), "partial")
    assert set(caught.value.errors) == {"audit_type"}
