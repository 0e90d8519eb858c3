"""The panel's message pages in a real browser (headless Chromium), over real mail: an ip
account of customer.example (127.0.0.2, archive on, spam accepted and held) sends through
Postern to a sink.

- A superadmin releases a GTUBE message from the quarantine (list, message page, the
  confirm prompt) and the sink receives it.
- A message is found in the log search by its subject and its timeline opened.
- The archive finds a message by full text, shows it, and exports it as mbox (downloaded
  by Chromium) and zip (fetched with the session's cookie); the files hold it.
- SECURITY (issue 14): a message whose Subject, From display name, envelope sender (a
  quoted local part), identity, another header field, text part and HTML part carry
  script, HTML and attribute-breaking payloads is opened on every page where it appears:
  quarantine list and message (preview, ARF fields), log list and timeline, archive list
  and view. No element of the payload exists in the page, no script ran, and the payload
  is there as text.
- Tenants: panel users made with POST /api/v1/admin-users. The owning domain's admin sees
  the held message without a Release button and requests its release; another domain's
  admin finds nothing, gets the HTML 404 for the message's pages, and a forged post (its
  own valid session and token) to delete the message is a 404 that changes nothing.

Screenshots: quarantine, quarantine-message, log, timeline, archive, archive-message.
"""

from __future__ import annotations

import mailbox
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from email.message import Message

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from conftest import queued_id, wait_for
from panel import Browser, browser, first_password, panel_url  # noqa: F401 (the browser fixture)
from test_accounts import IP_CLIENT, UNTRUSTED, Api, smtp
from test_delivery import delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from test_limits import GTUBE, transaction

CUSTOMER = "customer.example"
OTHER = "other.example"
PANEL_PASSWORD = "a long panel password"

PAYLOAD = "\"><img src=x onerror=alert(1) data-pwned><script id=\"pwned\">document.title='PWNED'</script>"
BREAKER = "</textarea></pre><svg onload=alert(1)>"
EVIL = f"{PAYLOAD} {BREAKER}"
# A quoted local part (RFC 5321 allows any printable character in it), at most 64 octets.
EVIL_SENDER = f'"\\"><svg onload=alert(1) data-pwned>"@{CUSTOMER}'


@pytest.fixture
def world(postern, sinks):  # noqa: F811
    dest = sinks("dest")
    config = delivery_config(default_route="dest", relays=[relay("dest", dest)])
    server = postern(config=config, extra=UNTRUSTED)
    api = Api(server)
    api.domain(CUSTOMER)
    api.domain(OTHER)
    api.account(CUSTOMER, "ip", IP_CLIENT, settings={
        "quarantine_reaction": "accept", "archive": {"enabled": True, "retention_days": 30}})
    return server, api, dest


def plain(subject: str, sender: str, body: bytes) -> bytes:
    return (f"From: <{sender}>\r\nTo: <someone@dest.test>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@customer.example>\r\n\r\n").encode() + body + b"\r\n"


def evil(spam: bool) -> bytes:
    """Payloads in the subject, the From display name, a header field and the body. The
    spam (GTUBE) has only an HTML part, with the payload raw and as entities that a
    conversion to text decodes: its preview is that HTML as text. The clean one has a text
    part and an HTML part: its preview is the text part."""
    html = (f"<html><head><script id=\"pwned\">document.title='PWNED'</script></head><body>"
            f"<p>html part</p>{EVIL}<p>&lt;script id=\"pwned\"&gt;alert(1)&lt;/script&gt;</p>"
            f"<a href=\"javascript:alert(1)\" onclick=\"alert(1)\">link</a>"
            f"{'<p>' + GTUBE.decode() + '</p>' if spam else ''}</body></html>").encode()
    head = (f"From: \"{PAYLOAD}\" <app@{CUSTOMER}>\r\nTo: <someone@dest.test>\r\nSubject: {EVIL}\r\n"
            f"X-Payload: {EVIL}\r\nMessage-ID: <{uuid.uuid4().hex}@customer.example>\r\nMIME-Version: 1.0\r\n")
    if spam:
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n").encode() + html + b"\r\n"
    text = (f"text part {EVIL}\r\nThe quarterly figures are attached as agreed in our meeting on Monday; "
            f"please review the numbers for the northern region before Friday.\r\n").encode()
    return (head + "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n").encode() + \
        b"--b1\r\nContent-Type: text/plain\r\n\r\n" + text + \
        b"--b1\r\nContent-Type: text/html\r\n\r\n" + html + b"\r\n--b1--\r\n"


def send(server, sender: str, data: bytes) -> str:
    with smtp(server, IP_CLIENT) as c:
        code, text = transaction(c, sender, ["someone@dest.test"], data)
    assert code == 250, (code, text)
    return queued_id(f"{code} {text.decode()}")


def held_id(api: Api, queue_id: str) -> int:
    def find():
        items = api.ok("GET", "/quarantine")["items"]
        return next((m["id"] for m in items if m["queue_id"] == queue_id), None)
    return wait_for(find, f"{queue_id} held")


def archived_id(api: Api, queue_id: str) -> int:
    def find():
        items = api.ok("GET", f"/archive?queue_id={queue_id}")["items"]
        return items[0]["id"] if items else None
    return wait_for(find, f"{queue_id} archived")


def log_status(api: Api, queue_id: str, status: str) -> dict:
    def find():
        rows = api.ok("GET", f"/log?queue_id={queue_id}")["items"]
        return rows[0] if rows and rows[0]["status"] == status else None
    return wait_for(find, f"{queue_id} {status} in the log", timeout=30)


def superadmin(server, browser) -> Browser:  # noqa: F811
    b: Browser = browser(server)
    b.login("admin", first_password(server))
    assert b.title.startswith("Dashboard"), b.title
    return b


def panel_user(api: Api, name: str, domains: list[str]) -> None:
    api.ok("POST", "/admin-users", {"name": name, "password": PANEL_PASSWORD, "role": "domain_admin",
                                    "domains": domains})


def submit_confirmed(b: Browser, css: str) -> None:
    """Clicks a button that asks first (data-confirm), says yes, waits for the next page."""
    old = b.find("html")
    b.click(css)
    WebDriverWait(b.driver, 10).until(expected_conditions.alert_is_present())
    b.driver.switch_to.alert.accept()
    b.wait_replaced(old)


def no_alert(b: Browser) -> bool:
    try:
        b.driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def fetch(b: Browser, path: str, form: dict | None = None) -> tuple[int, Message, bytes]:
    """A GET (or a form post) with the browser's cookies, outside the browser."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(b.base + path, data=data)
    req.add_header("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in b.driver.get_cookies()))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


# --------------------------------------------------------------------------------------


def test_a_superadmin_releases_a_held_message_and_it_is_delivered(world, browser):  # noqa: F811
    server, api, dest = world
    queue_id = send(server, f"app@{CUSTOMER}", plain("Held invoice", f"app@{CUSTOMER}", GTUBE))
    clean = send(server, f"app@{CUSTOMER}", plain("A clean one", f"app@{CUSTOMER}", b"hello"))
    dest.wait_messages(1)
    assert all(GTUBE not in m.data for m in dest.messages), "the spam is held"
    held = held_id(api, queue_id)

    b = superadmin(server, browser)
    b.click_text("Quarantine", "a")
    assert b.path == "/quarantine" and b.title.startswith("Quarantine")
    assert b.exists(f"#held tr[data-id='{held}']"), b.text()
    b.shot("quarantine")
    b.fill({"rule": "GTUBE", "state": "held"}, "#filters").submit("#filters button[type=submit]")
    assert "rule=GTUBE" in b.path and b.exists(f"#held tr[data-id='{held}']")
    b.click(f"#held tr[data-id='{held}'] a.subject")
    assert b.path == f"/quarantine/{held}", b.path
    assert b.find("#subject").text == "Held invoice"
    assert b.find("#state").text == "held"
    trace = b.find("#checks").text
    assert "gtube" in trace and "GTUBE" in trace and "spam" in trace, trace
    assert "XJS*C4JDBQADN1" in b.find("#preview").text
    assert "Feedback-Type: abuse" in b.find("#arf").text
    assert b.find("#facts").text.count(queue_id) == 1
    assert b.exists("#release[data-confirm]") and b.exists("#delete[data-confirm]") and b.exists("#confirm")
    assert not b.exists("#request-release"), "a superadmin releases itself"
    b.shot("quarantine-message")

    # Saying no to the prompt changes nothing.
    b.click("#release")
    WebDriverWait(b.driver, 10).until(expected_conditions.alert_is_present())
    b.driver.switch_to.alert.dismiss()
    time.sleep(0.5)
    assert b.path == f"/quarantine/{held}" and api.ok("GET", f"/quarantine/{held}")["state"] == "held"

    submit_confirmed(b, "#release")
    assert b.path == f"/quarantine/{held}?done=released", b.path
    assert b.find("p.notice").text == "Released."
    assert b.find("#state").text == "released"
    assert not b.exists("#release")
    spam = wait_for(lambda: [m for m in dest.messages if GTUBE in m.data], "the released message delivered", 30)
    assert len(spam) == 1 and b"Subject: Held invoice" in spam[0].data
    assert api.ok("GET", f"/quarantine/{held}")["released_by"] == "admin"
    assert clean != queue_id


def test_the_log_search_finds_a_message_and_opens_its_timeline(world, browser):  # noqa: F811
    server, api, dest = world
    subject = f"Quarterly report {uuid.uuid4().hex[:8]}"
    queue_id = send(server, f"app@{CUSTOMER}", plain(subject, f"app@{CUSTOMER}", b"numbers"))
    dest.wait_messages(1)
    log_status(api, queue_id, "delivered")

    b = superadmin(server, browser)
    b.click_text("Log search", "a")
    assert b.path == "/log" and b.exists(f"#messages tr[data-key='{queue_id}']"), b.text()
    b.fill({"subject": subject.split()[-1], "domain": CUSTOMER, "status": "delivered"}, "#filters")
    b.submit("#filters button[type=submit]")
    rows = b.find_all("#messages tbody tr[data-key]")
    assert [r.get_attribute("data-key") for r in rows] == [queue_id], b.text()
    assert "delivered" in rows[0].text and f"app@{CUSTOMER}" in rows[0].text
    b.shot("log")
    b.click(f"#messages tr[data-key='{queue_id}'] a.subject")
    assert b.path == f"/log/{queue_id}"
    assert b.find("#subject").text == subject and b.find("#status").text == "delivered"
    steps = [r.find_element("css selector", "td:nth-child(2)").text for r in b.find_all("#steps tbody tr")]
    for kind in ("connect", "checked", "queued", "delivery"):
        assert kind in steps, steps
    assert any(" ms" in r.text for r in b.find_all("#steps tbody tr")), "a delivery's duration"
    b.shot("timeline")

    # A filter the search refuses is said on the form.
    b.open("/log?client_ip=not-an-ip")
    assert "client_ip" in b.find("#filter-error").text


def test_the_archive_finds_shows_and_exports_a_message(world, browser, tmp_path):  # noqa: F811
    server, api, dest = world
    word = f"lighthouse{uuid.uuid4().hex[:6]}"
    queue_id = send(server, f"app@{CUSTOMER}", plain("Archived letter", f"app@{CUSTOMER}",
                                                      f"The {word} keeper writes.".encode()))
    send(server, f"app@{CUSTOMER}", plain("Another letter", f"app@{CUSTOMER}", b"nothing to find"))
    archived = archived_id(api, queue_id)

    b = superadmin(server, browser)
    b.click_text("Archive", "a")
    assert b.path == "/archive" and len(b.find_all("#copies tbody tr[data-id]")) == 2
    b.fill({"text": word}, "#filters").submit("#filters button[type=submit]")
    rows = b.find_all("#copies tbody tr[data-id]")
    assert [r.get_attribute("data-id") for r in rows] == [str(archived)], b.text()
    b.shot("archive")
    b.click(f"#copies tr[data-id='{archived}'] a.subject")
    assert b.path == f"/archive/{archived}"
    assert b.find("#subject").text == "Archived letter"
    assert word in b.find("#preview").text and queue_id in b.find("#facts").text
    assert "present" in b.find("#facts").text
    b.shot("archive-message")

    # The export form, downloaded by Chromium into a folder of the test's.
    b.driver.back()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    b.fill({"format": "mbox"}, "#export").click("#export-button")
    mbox_path = wait_for(lambda: next((p for p in downloads.glob("*.mbox")), None), "the mbox downloaded", 30)
    wait_for(lambda: not list(downloads.glob("*.crdownload")), "the download finished", 30)
    box = mailbox.mbox(str(mbox_path))
    messages = list(box)
    assert [m["Subject"] for m in messages] == ["Archived letter"], [m["Subject"] for m in messages]
    assert word in messages[0].get_payload()
    box.close()

    # The zip, fetched with the session's cookie: the message and its manifest.
    query = urllib.parse.urlencode({"text": word, "format": "zip"})
    status, headers, body = fetch(b, f"/archive/export?{query}")
    assert status == 200 and headers["Content-Type"] == "application/zip", (status, headers)
    assert headers["X-Postern-Archive-Count"] == "1"
    zip_path = downloads / "archive.zip"
    zip_path.write_bytes(body)
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert "manifest.json" in names and f"{archived}.eml" in names, names
        assert word.encode() in z.read(f"{archived}.eml")


def test_payloads_in_a_message_stay_text_on_every_page(world, browser):  # noqa: F811
    server, api, dest = world
    spam = send(server, EVIL_SENDER, evil(spam=True))
    clean = send(server, EVIL_SENDER, evil(spam=False))
    held = held_id(api, spam)
    archived = archived_id(api, clean)
    log_status(api, clean, "delivered")
    log_status(api, spam, "quarantined")
    assert api.ok("GET", f"/quarantine/{held}")["subject"].startswith('">'), "the payload reached the row"

    b = superadmin(server, browser)

    def inert(path: str, expect_text: str | None = "onerror=alert(1)") -> None:
        b.open(path)
        assert b.path.split("?")[0] == path.split("?")[0], (b.path, path)
        assert not b.title.startswith("404") and not b.title.startswith("500"), (path, b.title)
        assert b.injected() == [], (path, b.injected())
        assert "PWNED" not in b.title, path
        assert no_alert(b), path
        if expect_text is not None:
            assert expect_text in b.text(), f"{path}: the payload is shown as text"

    inert("/quarantine")
    inert(f"/quarantine/{held}")
    preview = b.find("#preview").text
    assert "html part" in preview and "<script id=\"pwned\">alert(1)</script>" in preview, \
        "the HTML part, converted to text: " + preview
    assert EVIL_SENDER.split("@")[0] in b.find("#arf").text, "the envelope sender in the ARF fields"
    assert b.find("#subject").text == EVIL
    inert("/quarantine?" + urllib.parse.urlencode({"sender": EVIL_SENDER[:20], "rule": EVIL}), None)
    assert b.find("#filters [name=rule]").get_attribute("value") == EVIL
    inert("/log")
    assert b.exists(f"#messages tr[data-key='{spam}']") and b.exists(f"#messages tr[data-key='{clean}']")
    inert("/log?" + urllib.parse.urlencode({"subject": PAYLOAD, "sender": EVIL_SENDER}), "onerror=alert(1)")
    inert(f"/log/{spam}")
    inert(f"/log/{clean}")
    inert("/archive")
    inert("/archive?" + urllib.parse.urlencode({"subject": BREAKER}), None)
    inert(f"/archive/{archived}")
    preview = b.find("#preview").text
    assert "text part" in preview and BREAKER in preview, "the text part: " + preview
    assert b.find("#subject").text == EVIL
    # The pages' own script still works: the title was never changed by the message.
    assert b.title.startswith("Archived message")


def test_domain_admins_see_their_own_messages_only(world, browser):  # noqa: F811
    server, api, dest = world
    spam = send(server, f"app@{CUSTOMER}", plain("Tenant spam", f"app@{CUSTOMER}", GTUBE))
    clean = send(server, f"app@{CUSTOMER}", plain("Tenant letter", f"app@{CUSTOMER}", b"letter"))
    held = held_id(api, spam)
    archived = archived_id(api, clean)
    log_status(api, clean, "delivered")
    panel_user(api, "customer-admin", [CUSTOMER])
    panel_user(api, "other-admin", [OTHER])

    # The owner: sees it, cannot release it, asks for it.
    own: Browser = browser(server)
    own.login("customer-admin", PANEL_PASSWORD)
    own.open("/quarantine")
    assert own.exists(f"#held tr[data-id='{held}']")
    own.open(f"/quarantine/{held}")
    assert not own.exists("#release") and own.exists("#request-release[data-confirm]")
    own.fill({"note": "the customer's invoice"}, "#request-form")
    submit_confirmed(own, "#request-release")
    assert own.path == f"/quarantine/{held}?done=requested"
    assert own.find("p.notice").text == "Release requested."
    assert api.ok("GET", f"/quarantine/{held}")["release_requested_by"] == "customer-admin"
    status, _, _ = fetch(own, f"/quarantine/{held}/release", {"csrf": own.find("input[name=csrf]").get_attribute("value")})
    assert status == 403, "the operation refuses a domain admin's release"
    own.open(f"/log/{clean}")
    assert own.find("#status").text == "delivered"
    own.open(f"/archive/{archived}")
    assert own.find("#subject").text == "Tenant letter"

    # Another tenant: nothing to see, the 404 page, and a forged post changes nothing.
    other: Browser = browser(server)
    other.login("other-admin", PANEL_PASSWORD)
    for path in ("/quarantine", f"/log?queue_id={clean}", "/archive"):
        other.open(path)
        assert "Tenant" not in other.text(), (path, other.text())
    for path in (f"/quarantine/{held}", f"/log/{clean}", f"/log/{spam}", f"/archive/{archived}"):
        other.open(path)
        assert other.title.startswith("404"), (path, other.title)
        assert other.find("#error-message").text == "There is no such page or object." or \
            "no such" in other.find("#error-message").text, path
        status, headers, _ = fetch(other, path)
        assert status == 404 and headers["Content-Type"].startswith("text/html"), (path, status)
    other.open("/")
    csrf = other.find("form[action='/logout'] input[name=csrf]").get_attribute("value")
    for action in ("delete", "confirm", "release", "request-release"):
        status, _, body = fetch(other, f"/quarantine/{held}/{action}", {"csrf": csrf})
        assert status == 404 and b"Tenant spam" not in body, (action, status)
    row = api.ok("GET", f"/quarantine/{held}")
    assert row["state"] == "held" and row["confirmed_by"] is None, row
    status, _, _ = fetch(other, f"/archive/export?{urllib.parse.urlencode({'domain': CUSTOMER})}")
    assert status == 404, "nothing of another tenant to export"
