"""Log-in, log-out, CSRF, cookie flags and the language switch."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from engine.api import Engine
from tests.web.conftest import PASSWORD, csrf_token, login
from tests.web.test_api import token_for


def test_login_with_the_right_password_only(client: FlaskClient) -> None:
    token = csrf_token(client)
    wrong = client.post("/login", data={"username": "jan.acme", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 200 and "Onbekende gebruikersnaam of fout wachtwoord" in wrong.get_data(
        as_text=True
    )
    ok = login(client, "jan.acme")
    assert ok.status_code == 302
    assert "Aangemeld als Jan" in client.get("/").get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    response = login(client, "jan.acme")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_post_without_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "jan.acme", "password": PASSWORD})
    assert response.status_code == 400
    login(client, "jan.acme")
    assert client.post("/logout").status_code == 400
    assert "Aangemeld als Jan" in client.get("/").get_data(as_text=True)


def test_dutch_by_default_english_on_request(client: FlaskClient) -> None:
    assert "Aanmelden" in client.get("/login").get_data(as_text=True)
    token = csrf_token(client)
    client.post("/language/en", data={"csrf_token": token, "next": "/login"})
    page = client.get("/login").get_data(as_text=True)
    assert "Log in" in page and 'lang="en"' in page


def test_logout_ends_the_session(client: FlaskClient) -> None:
    login(client, "jan.acme")
    token = csrf_token(client, "/")
    client.post("/logout", data={"csrf_token": token})
    assert "Aangemeld als" not in client.get("/").get_data(as_text=True)


def test_a_session_cookie_copied_before_log_out_no_longer_works(app: Flask, client: FlaskClient) -> None:
    """Log-out ends the session on the server: a copy of the cookie (another tab, a stolen one) made
    before it is refused after it, for pages and for forms; logging in again gives a working session."""
    login(client, "jan.acme")
    copy = app.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    copy.set_cookie("session", cookie.value)
    assert "Aangemeld als" in copy.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert "Aangemeld als" not in copy.get("/").get_data(as_text=True)
    assert copy.get("/aanbieder/").status_code == 302  # to the log-in page
    login(client, "jan.acme")
    assert "Aangemeld als" in client.get("/").get_data(as_text=True)


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for path in ("/login", "/register/", "/api/v1/openapi.json", "/no-such-page"):
        headers = client.get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY", path


def test_a_session_ends_after_idle_minutes_and_after_its_maximum_lifetime(
    app: Flask, engine: Engine, client: FlaskClient
) -> None:
    """Real time, moved on by the injected session clock: 30 minutes idle, 12 hours in all (defaults);
    an API token is no session and is not touched by either."""
    now = [1_000_000.0]
    app.config["KMOP_SESSION_CLOCK"] = lambda: now[0]
    login(client, "jan.acme")
    now[0] += 29 * 60
    assert "Aangemeld als Jan" in client.get("/").get_data(as_text=True), "29 idle minutes are fine"
    now[0] += 31 * 60
    expired = client.get("/account/sleutels")
    assert expired.status_code == 302 and expired.location.startswith("/login")
    page = client.get(expired.location).get_data(as_text=True)
    assert "U was 30 minuten niet actief: uw sessie is beëindigd. Meld u opnieuw aan." in page

    client.post("/language/en", data={"csrf_token": csrf_token(client), "next": "/"})
    login(client, "jan.acme")
    for _ in range(12 * 3):  # busy all day: a request every 20 minutes keeps it alive for 12 hours
        now[0] += 20 * 60
        assert client.get("/account/sleutels").status_code == 200
    now[0] += 20 * 60
    expired = client.get("/account/sleutels")
    assert expired.status_code == 302
    english = client.get(expired.location).get_data(as_text=True)
    assert (
        "You were logged in for more than 12 hours: your session has ended. Please log in again." in english
    )

    token = token_for(engine, "jan.acme")
    now[0] += 48 * 3600
    response = client.get("/api/v1/registrations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
