"""The web panel's login in a real browser (headless Chromium): the first superadmin's
password from the data directory, a wrong password and the throttle, the dashboard, a
page asked for before login reached after it, logout, and the pages' security headers.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request

from conftest import wait_for
from panel import Browser, browser, first_password, panel_url  # noqa: F401 (the browser fixture)


def test_first_start_login_dashboard_and_logout(postern, browser):  # noqa: F811
    server = postern()
    # Printed after the line the harness waits for: the reader thread may not have it yet.
    wait_for(lambda: any("web panel: http://" in line for line in server.stdout), "the web panel line")
    assert (server.data_dir / "admin-password").stat().st_mode & 0o777 == 0o600
    b: Browser = browser(server)
    b.open("/password")
    assert b.path == "/login?next=%2Fpassword", b.path
    b.shot("login")
    b.fill({"name": "admin", "password": "not the password"}, "form[action='/login']").submit("#login")
    assert "wrong user name or password" in b.find("#login-error").text
    b.fill({"name": "admin", "password": first_password(server)}, "form[action='/login']").submit("#login")
    assert b.path == "/password", "back to the page asked for"
    b.open("/")
    assert b.title.startswith("Dashboard")
    assert "admin" in b.find("header .user").text
    b.shot("dashboard")
    b.logout()
    assert b.path == "/login?done=logout"
    assert "Logged out." in b.text()
    b.open("/")
    assert b.path.startswith("/login"), "the session ended"


def test_five_wrong_passwords_lock_the_login_for_a_while(postern, browser):  # noqa: F811
    server = postern()
    b: Browser = browser(server)
    for _ in range(5):
        b.login("admin", "wrong password")
    b.login("admin", first_password(server))
    assert b.path.startswith("/login"), "even the right password is refused now"
    assert "too many failed logins" in b.find("#login-error").text


def test_pages_forbid_framing_and_foreign_scripts(postern):
    server = postern()
    with urllib.request.urlopen(panel_url(server) + "/login", timeout=10) as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "HttpOnly" in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]
    try:
        urllib.request.urlopen(panel_url(server) + "/no-such-page", timeout=10)
        raise AssertionError("404 expected")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and e.headers["Content-Type"].startswith("text/html")


def test_the_panel_over_tls_has_secure_cookies(postern, browser):  # noqa: F811
    server = postern(config="[admin]\ntls = true\n")
    url = panel_url(server)
    assert url.startswith("https://"), url
    wait_for(lambda: any(f"web panel: {url}/" in line for line in server.stdout), "the web panel line")
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url + "/login", timeout=10, context=unverified) as resp:
        assert "; Secure" in resp.headers["Set-Cookie"], resp.headers["Set-Cookie"]
    plain = "http://" + url.split("://", 1)[1]
    try:
        urllib.request.urlopen(plain + "/login", timeout=10)
        raise AssertionError("plain HTTP must not be served")
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, OSError):
        pass  # a TLS alert, not an HTTP answer
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    assert b.title.startswith("Dashboard"), b.title
    cookie = b.driver.get_cookie("postern_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
