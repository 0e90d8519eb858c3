"""Outgoing > Manage accounts and Manage identities in a real browser (headless Chromium),
on the real binary, with real SMTP clients and a receiving sink.

Seed 000's how-to, end to end as the superadmin: Accounts > Add an account (a user and its
password) for a domain made through the API with its filter enabled; the account's page
opens; limits, the identification method (a header) and the DKIM selector are configured
and saved, and the page shows the values kept (the API agrees). Mail sent over STARTTLS with
AUTH as the new account is accepted and reaches the sink; the live counters count it; the
identity found by the header is listed under Identities. Locking the account in the panel
makes SMTP refuse it (550 5.7.1, an administrator's lock), unlocking lets it send again;
the same for the identity.

Then a domain admin (a panel user made through /api/v1/admin-users) logs in, sees only its
own domain's accounts and identities, gets the 404 page for the other tenant's account, and
forged posts to that account (its id put into the action of a real form of the page, with
the session's token) are refused with 404 and change nothing.

Screenshots: accounts, account-add, account, identities.
"""

from __future__ import annotations

import re
import smtplib
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from panel import Browser, browser, first_password  # noqa: F401 (the browser fixture)
from sinks import Sink
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_limits import transaction

ADMIN_PASSWORD = "the domain admin's panel password"
LOCKED_ACCOUNT = b"5.7.1 Your account has been locked by an administrator. Contact your administrator."
LOCKED_IDENTITY = b"5.7.1 This sender has been locked by an administrator. Contact your administrator."


@pytest.fixture
def sink():
    s = Sink("panel-sink").start()
    yield s
    s.stop()


def message(client_id: str) -> bytes:
    return (f"From: Alice <alice@example.com>\r\nTo: someone@remote.example\r\nX-Client-ID: {client_id}\r\n"
            f"Subject: sent through the panel's account\r\nMessage-ID: <{uuid.uuid4().hex}@example.com>\r\n\r\n"
            "Hello.\r\n").encode()


def send_as_alice(server, client_id: str = "client-7") -> tuple[int, bytes]:
    """One message as alice@example.com over STARTTLS with AUTH: the first refusal, or DATA's reply."""
    with smtp(server, tls=True) as c:
        c.login("alice@example.com", PASSWORD)
        return transaction(c, "alice@example.com", ["someone@remote.example"], message(client_id))


def confirm_and_submit(b: Browser, css: str) -> str:
    """Clicks a button marked data-confirm, accepts the browser's question, waits for the
    next page; returns the question."""
    old = b.driver.find_element(By.TAG_NAME, "html")
    b.find(css).click()
    WebDriverWait(b.driver, 10).until(expected_conditions.alert_is_present())
    alert = b.driver.switch_to.alert
    question = alert.text
    alert.accept()
    WebDriverWait(b.driver, 60).until(expected_conditions.staleness_of(old))
    return question


def value(b: Browser, name: str) -> str:
    return b.find(f'#settings [name="{name}"]').get_attribute("value")


def checked(b: Browser, name: str) -> bool:
    return b.find(f'#settings [name="{name}"]').is_selected()


def forge(b: Browser, form_css: str, action: str) -> None:
    """Points a real form of the page (with the session's token) at `action` and submits it,
    as an attacker editing the page would; waits for the answer."""
    old = b.driver.find_element(By.TAG_NAME, "html")
    b.driver.execute_script(
        "const f = document.querySelector(arguments[0]); f.setAttribute('action', arguments[1]);"
        "for (const e of f.querySelectorAll('[data-confirm]')) e.removeAttribute('data-confirm');"
        "f.requestSubmit();",
        form_css, action)
    WebDriverWait(b.driver, 60).until(expected_conditions.staleness_of(old))


def test_seed_howto_in_the_panel_then_the_tenant_walls(postern, browser, sink):  # noqa: F811
    server = postern(extra=UNTRUSTED + ["--relay-host", f"{sink.host}:{sink.port}"])
    api = Api(server)
    api.domain("example.com")
    api.domain("other.example")
    api.ok("POST", "/domains/example.com/dkim/keys", {"selector": "panel1", "algorithm": "ed25519"})
    bob = api.account("other.example", "user", "bob@other.example", PASSWORD,
                      settings={"limits": {"recipients_per_day": 7}})

    # 1-2. Log in; Outgoing > Manage accounts.
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    b.click_text("Accounts", "a")
    assert b.path == "/accounts" and b.title.startswith("Accounts")
    assert "bob@other.example" in b.find("#accounts").text

    # 3-4. Add an authenticating user for example.com: "Add and configure".
    b.click("#add-account")
    assert b.path == "/accounts/new"
    b.click("#kind-user")
    b.fill({"user": "alice@example.com", "user_password": PASSWORD, "domain": "example.com"}, "#account-add")
    b.shot("account-add")
    b.submit("#add")
    m = re.fullmatch(r"/accounts/(\d+)\?done=created", b.path)
    assert m, b.path
    account_id = int(m.group(1))
    assert "Created." in b.find(".notice").text
    assert b.find("#account-name").text == "alice@example.com"
    assert "panel1 (pending)" in b.text(), "the domain's DKIM keys are offered"

    # 5-6. Connection limits, identification method, DKIM selector; Save.
    b.fill({
        "limits.connections_per_minute": "10",
        "limits.connections_per_hour": "100",
        "limits.connections_per_day": "1000",
        "limits.recipients_per_day": "200",
        "identification.method": "header",
        "identification.headers": "X-Client-ID",
        "dkim_selector": "panel1",
        "lock.automatic": True,
        "checks.block_macros": True,
    }, "#settings")
    b.submit("#save")
    assert b.path == f"/accounts/{account_id}?done=saved", b.path
    assert "Saved." in b.find(".notice").text
    assert value(b, "limits.connections_per_minute") == "10"
    assert value(b, "limits.connections_per_hour") == "100"
    assert value(b, "limits.connections_per_day") == "1000"
    assert value(b, "limits.recipients_per_day") == "200"
    assert value(b, "identification.method") == "header"
    assert value(b, "identification.headers") == "X-Client-ID"
    assert value(b, "dkim_selector") == "panel1"
    assert checked(b, "lock.automatic") and checked(b, "checks.block_macros")
    settings = api.ok("GET", f"/accounts/{account_id}")["settings"]
    assert settings["limits"]["connections_per_minute"] == 10 and settings["limits"]["recipients_per_day"] == 200
    assert settings["identification"] == {"method": "header", "headers": ["X-Client-ID"], "strip": False}
    assert settings["dkim_selector"] == "panel1" and settings["lock"]["automatic"] is True

    # A refusal stays on the form, next to its field, with what was typed.
    b.fill({"identification.headers": "", "limits.connections_per_week": "5"}, "#settings")
    b.submit("#save")
    assert "identification by header needs at least one header name" in b.find(".field.invalid").text
    assert value(b, "limits.connections_per_week") == "5", "what was typed is kept"
    assert api.ok("GET", f"/accounts/{account_id}")["settings"]["limits"]["connections_per_week"] == 0

    # Mail with the new account is accepted and delivered; the counters count it.
    code, text = send_as_alice(server)
    assert code == 250, (code, text)
    delivered = sink.wait_messages(1)[0]
    assert delivered.mail_from == "alice@example.com" and b"X-Client-ID: client-7" in delivered.data
    b.open(f"/accounts/{account_id}")
    counters = b.find("#counters").text
    assert re.search(r"sessions/minute 1 10", counters), counters
    assert re.search(r"sessions/week 0 no limit", counters), counters
    b.shot("account")

    # The list shows it with its counters.
    b.open("/accounts?domain=example.com")
    row = b.find(f'tr[data-account="{account_id}"]').text
    assert "alice@example.com" in row and "active" in row and "sessions/minute 1 of 10" in row, row
    b.open("/accounts")
    assert len(b.find_all("#accounts tbody tr[data-account]")) == 2
    b.shot("accounts")

    # Lock in the panel: SMTP refuses it; unlock: accepted again.
    b.open(f"/accounts/{account_id}")
    question = confirm_and_submit(b, "#lock")
    assert "alice@example.com" in question
    assert b.path == f"/accounts/{account_id}?done=locked"
    assert b.find("#account-state").text == "locked"
    assert "Locked by an administrator" in b.find("#account-lock").text
    assert send_as_alice(server) == (550, LOCKED_ACCOUNT)
    b.submit("#unlock")
    assert b.path == f"/accounts/{account_id}?done=unlocked"
    assert b.find("#account-state").text == "active"
    assert send_as_alice(server)[0] == 250
    sink.wait_messages(2)

    # Identities: client-7, found by the header; lock and unlock it.
    b.click(f'a[href="/identities?account={account_id}"]')
    row = b.find("#identities tbody tr")
    assert "client-7" in row.text and "alice@example.com" in row.text, row.text
    assert row.find_element(By.CSS_SELECTOR, "td.num").text == "2"
    b.shot("identities")
    confirm_and_submit(b, "#identities tbody tr button")
    assert b.path == f"/identities?account={account_id}&done=locked"
    assert "locked" in b.find("#identities tbody tr").text
    assert send_as_alice(server) == (550, LOCKED_IDENTITY)
    assert send_as_alice(server, "client-8")[0] == 250, "another identity of the account still sends"
    b.submit("#identities tbody tr button")
    assert b.path == f"/identities?account={account_id}&done=unlocked"
    assert send_as_alice(server)[0] == 250

    # A domain admin of other.example: only its own accounts; the other tenant's is 404.
    api.ok("POST", "/admin-users", {"name": "other-admin", "password": ADMIN_PASSWORD, "role": "domain_admin",
                                    "domains": ["other.example"]})
    before = api.ok("GET", f"/accounts/{account_id}")
    d: Browser = browser(server)
    d.login("other-admin", ADMIN_PASSWORD)
    d.click_text("Accounts", "a")
    listed = d.find("#accounts").text
    assert "bob@other.example" in listed and "alice@example.com" not in listed, listed
    assert "example.com" not in d.find("#account-filters").text.replace("other.example", "")
    d.open("/identities")
    assert "client-7" not in d.text() and "alice@example.com" not in d.text()
    d.open(f"/accounts/{account_id}")
    assert d.title.startswith("404"), d.title
    assert d.find("#error-message").text == "no such account"
    assert "alice@example.com" not in d.text()

    # Forged posts: its own account's forms, pointed at the other tenant's account.
    for form, action in (("#settings", f"/accounts/{account_id}"),
                         ("form[action$='/lock']", f"/accounts/{account_id}/lock"),
                         ("form[action$='/delete']", f"/accounts/{account_id}/delete")):
        d.open(f"/accounts/{bob['id']}")
        if form == "#settings":
            d.fill({"limits.recipients_per_day": "99999", "identification.method": "sender"}, "#settings")
        forge(d, form, action)
        assert d.title.startswith("404"), (action, d.title)
        assert d.find("#error-message").text == "no such account"
    assert api.ok("GET", f"/accounts/{account_id}") == before, "nothing changed"
    assert api.ok("GET", f"/accounts/{bob['id']}")["settings"]["limits"]["recipients_per_day"] == 7
    assert send_as_alice(server)[0] == 250
