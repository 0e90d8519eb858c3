"""The panel's domain, queue, admin user and API token pages in a real browser (headless
Chromium): a superadmin adds a domain, turns its filter on, creates a DKIM key and sees
the TXT record to publish, runs the DNS check (there is no DNS here: the record is not
found), adds a block rule; a message kept in the queue by the harness's unreachable relay
is shown, held, released, retried and deleted; a domain admin made in the panel logs in
in a fresh browser and meets the tenant walls (404 for another tenant's domain and
message, 403 for the superadmin's pages); an API token made in the panel works against
/api/v1/whoami with the secret shown once.

Screenshots: domains, domain, queue, queue-message, admin-users, tokens.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request

from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from conftest import wait_for
from panel import Browser, browser, first_password, panel_url  # noqa: F401 (the browser fixture)

DOMAIN_ADMIN_PASSWORD = "correct horse battery staple"


def submit_mail(server, sender: str, rcpts: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as c:
        c.sendmail(sender, rcpts, b"Subject: panel queue\r\n\r\nbody\r\n")


def confirm_and_wait(b: Browser, css: str) -> None:
    """Clicks a button that asks first (data-confirm), accepts, and waits for the next page."""
    old = b.driver.find_element("tag name", "html")
    b.find(css).click()
    WebDriverWait(b.driver, 10).until(expected_conditions.alert_is_present())
    b.driver.switch_to.alert.accept()
    WebDriverWait(b.driver, 20).until(expected_conditions.staleness_of(old))


def add_domain(b: Browser, name: str) -> None:
    b.open("/domains")
    b.fill({"name": name}, "#add-domain").submit("#add-domain button[type=submit]")
    assert b.path == f"/domains/{name}?done=created", b.path


def queued_id(b: Browser, sender: str, state: str = "deferred") -> str:
    """The queue id of `sender`'s message once the queue page lists it in `state`."""
    def find():
        b.open(f"/queue?sender={sender}&state={state}")
        links = b.find_all("#queue tbody a")
        return links[0].text if links else None
    return wait_for(find, f"{sender}'s message {state}", timeout=20)


def test_a_superadmin_sets_up_a_domain(postern, browser):  # noqa: F811
    server = postern()
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    add_domain(b, "shop.example")
    assert b.find("#domain-name").text == "shop.example"
    assert "Created." in b.text()
    assert "off" in b.find("#filter-state").text

    b.submit("#filter-switch")
    assert b.path == "/domains/shop.example?done=saved#settings", b.path
    assert "on" in b.find("#filter-state").text and "scanned" in b.find("#filter-state").text

    # A refused form: the operation's message at the field, what was typed kept.
    b.fill({"allowed_senders": "shop@shop.example", "ip_check": "allowlist", "allowed_ips": ""}, "#sender-form")
    b.submit("#sender-form button[type=submit]")
    assert "the allowlist check needs at least one network" in b.find("#sender-form .field-error").text
    assert b.find("#sender-form textarea[name=allowed_senders]").get_attribute("value") == "shop@shop.example"
    b.fill({"ip_check": "none"}, "#sender-form").submit("#sender-form button[type=submit]")
    assert "Saved." in b.text()

    b.fill({"selector": "s1", "key_type": "ed25519"}, "#key-form").submit("#create-key")
    assert b.path == "/domains/shop.example?done=created#dkim", b.path
    assert "pending" in b.find("#key-s1").text
    assert b.find("#dns-s1 .dns-name").text == "s1._domainkey.shop.example"
    value = b.find("#dns-value-s1").get_attribute("value")
    assert value.startswith('"v=DKIM1; k=ed25519; p=') and value.endswith('"'), value
    assert "s1._domainkey.shop.example. IN TXT" in b.find("#dns-s1 .zone-line").get_attribute("textContent")

    b.submit("#check-dns")
    check = b.find("#dns-check").text
    assert "Not every key is published" in check, check
    assert "s1._domainkey.shop.example" in check
    status = b.find("#dns-check tbody .badge").text
    assert status in ("missing", "error"), check  # no DNS here: not found, or no answer

    # Rotation checks DNS first and says what it found.
    b.fill({"grace_days": "7"}, "#rotate-form").submit("#rotate-form button[type=submit]")
    assert "is not published in DNS" in b.find("#rotate-form .error").text

    b.fill({"action": "reject", "kind": "sender_domain", "value": "Spam.Example", "comment": "<b>spam run</b>"},
           "#rule-form").submit("#rule-form button[type=submit]")
    assert b.path == "/domains/shop.example?done=created#rules", b.path
    rules = b.find("#domain-rules").text
    assert "spam.example" in rules and "sender_domain" in rules and "<b>spam run</b>" in rules, rules
    assert b.injected() == []
    b.open("/domains/shop.example?check=dns")
    b.shot("domain")

    b.open("/domains")
    assert "shop.example" in b.find("#domains").text
    b.shot("domains")
    b.click("#all-rules")
    assert "spam.example" in b.find("#rules-table").text


def test_a_queued_message_is_held_released_retried_and_deleted(postern, browser):  # noqa: F811
    server = postern()
    submit_mail(server, "alice@one.example", ["bob@two.example"])
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    queue_id = queued_id(b, "alice@one.example")
    row = b.find("#queue tbody tr").text
    assert "bob@two.example" in row and "deferred" in row, row
    b.open("/queue")
    b.shot("queue")

    b.click_text(queue_id, "a")
    assert b.path == f"/queue/{queue_id}", b.path
    assert b.find("#sender").text == "alice@one.example"
    assert b.find("#attempts").text == "1"
    assert "Connection refused" in b.find("#recipients").text, b.find("#recipients").text
    b.click("#show-headers")
    assert "Subject: panel queue" in b.find("#headers").text
    b.shot("queue-message")

    b.submit("#hold")
    assert b.find("#state").text == "held" and "Held." in b.text()
    b.submit("#release")
    assert "Released." in b.text()
    # Released means due now: a second attempt follows at once.
    wait_for(lambda: int(b.open(f"/queue/{queue_id}").find("#attempts").text) >= 2, "a second attempt")
    b.submit("#retry")
    assert "Queued for a new attempt." in b.text()

    # A message being tried cannot be deleted: the page says so; once the attempt is over
    # the delete goes through.
    def deleted():
        b.open(f"/queue/{queue_id}")
        confirm_and_wait(b, "#delete")
        return b.path == "/queue?done=deleted"
    wait_for(deleted, "the delete", timeout=20)
    assert "Deleted." in b.text() and queue_id not in b.text()
    b.open(f"/queue/{queue_id}")
    assert b.title.startswith("404")


def test_a_domain_admin_made_in_the_panel_meets_the_walls(postern, browser):  # noqa: F811
    server = postern()
    submit_mail(server, "clerk@other.example", ["someone@two.example"])
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    other_id = queued_id(b, "clerk@other.example")
    add_domain(b, "shop.example")
    add_domain(b, "other.example")

    b.open("/admin-users")
    b.fill({"name": "shopadmin", "password": DOMAIN_ADMIN_PASSWORD, "role": "domain_admin",
            "domains": "Shop.example"}, "#add-user").submit("#add-user button[type=submit]")
    assert b.path.startswith("/admin-users/") and "Created." in b.text(), b.path
    b.open("/admin-users")
    users = b.find("#admin-users").text
    assert "shopadmin" in users and "shop.example" in users, users
    b.shot("admin-users")

    # The last superadmin stays: the operation's answer on the page.
    b.click_text("admin", "a")
    confirm_and_wait(b, "#delete-user")
    assert "the last superadmin stays" in b.find("#delete-error").text

    d: Browser = browser(server)
    d.login("shopadmin", DOMAIN_ADMIN_PASSWORD)
    menu = d.find("header nav").text
    assert "Domains" in menu and "Queue" in menu and "Admin users" not in menu and "API tokens" not in menu, menu
    d.open("/domains")
    listed = d.find("#domains").text
    assert "shop.example" in listed and "other.example" not in listed, listed
    assert not d.exists("#add-domain"), "only a superadmin adds domains"
    d.open("/domains/shop.example")
    assert "Only a superadmin switches the outgoing filter." in d.text()
    for path in ("/domains/other.example", f"/queue/{other_id}"):
        d.open(path)
        assert d.title.startswith("404 Not Found"), (path, d.title)
        assert "other.example" not in d.text()
    d.open("/queue")
    assert other_id not in d.text()
    for path in ("/admin-users", "/tokens"):
        d.open(path)
        assert d.title.startswith("403 Forbidden"), (path, d.title)


def test_an_api_token_made_in_the_panel_works_with_the_secret_shown_once(postern, browser):  # noqa: F811
    server = postern()
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    add_domain(b, "shop.example")
    b.open("/tokens")
    b.fill({"name": "shop deploy", "role": "domain_admin", "domains": "shop.example"}, "#add-token")
    b.submit("#add-token button[type=submit]")
    secret = b.find("#token-secret").get_attribute("value")
    assert secret.startswith("pst_"), secret
    request = urllib.request.Request(panel_url(server) + "/api/v1/whoami",
                                     headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        me = json.loads(resp.read())
    assert (me["name"], me["role"], me["domains"]) == ("shop deploy", "domain_admin", ["shop.example"]), me

    b.open("/tokens")
    assert "shop deploy" in b.find("#tokens").text
    assert secret not in b.source(), "the secret is shown once"
    b.shot("tokens")
