"""The dashboard in a real browser (headless Chromium), over real mail (issue 14): an ip
account of customer.example (127.0.0.2, spam accepted and held) and one of other.example
(127.0.0.3) send through Postern to a sink; customer.example's account also sends one
GTUBE message, which is quarantined.

- A superadmin's dashboard counts them (events reach the store in batches: the test
  reloads until they are there) and draws them: the 24-hour and 7-day charts are inline
  SVG images with a label, with non-zero bars for sent and quarantined messages; the top
  senders list both accounts; the queue by state is there. No script runs on the page
  (the charts are drawn by the server).
- other.example's admin sees its own figures only: its two messages, its account, and
  nothing of customer.example nor the queue.

Screenshots: dashboard-charts, dashboard-domain-admin.
"""

from __future__ import annotations

import uuid

import pytest

from conftest import wait_for
from panel import Browser, browser, first_password  # noqa: F401 (the browser fixture)
from test_accounts import IP_CLIENT, OTHER_CLIENT, UNTRUSTED, Api, smtp
from test_delivery import delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from test_limits import GTUBE, transaction

CUSTOMER = "customer.example"
OTHER = "other.example"
PANEL_PASSWORD = "a long panel password"


@pytest.fixture
def world(postern, sinks):  # noqa: F811
    dest = sinks("dest")
    config = delivery_config(default_route="dest", relays=[relay("dest", dest)])
    server = postern(config=config, extra=UNTRUSTED)
    api = Api(server)
    api.domain(CUSTOMER)
    api.domain(OTHER)
    api.account(CUSTOMER, "ip", IP_CLIENT, settings={"quarantine_reaction": "accept"})
    api.account(OTHER, "ip", OTHER_CLIENT)
    return server, api, dest


def send(server, source: str, sender: str, body: bytes = b"An ordinary message.") -> int:
    data = (f"From: <{sender}>\r\nTo: <someone@dest.test>\r\nSubject: dashboard\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n\r\n").encode() + body + b"\r\n"
    with smtp(server, source) as c:
        code, _ = transaction(c, sender, ["someone@dest.test"], data)
    return code


def figure(b: Browser, css: str) -> str:
    return b.find(css).text.strip()


def reload_until(b: Browser, css: str, expected: str) -> None:
    """Reloads the dashboard until `css` reads `expected` (events are stored in batches)."""
    def there():
        b.open("/")
        return figure(b, css) == expected
    wait_for(there, f"{css} = {expected} on the dashboard (last: {figure(b, css)!r})", timeout=30)


def bars(b: Browser, section: str, layer: str) -> list[float]:
    """The heights of the drawn bars of `layer` in a chart section."""
    return [float(r.get_attribute("height")) for r in b.find_all(f"{section} svg.chart g.column rect.bar.{layer}")]


def test_the_dashboard_charts_real_mail_for_each_caller(world, browser):  # noqa: F811
    server, api, dest = world
    for _ in range(3):
        assert send(server, IP_CLIENT, f"app@{CUSTOMER}") == 250
    send(server, IP_CLIENT, f"app@{CUSTOMER}", GTUBE)
    for _ in range(2):
        assert send(server, OTHER_CLIENT, f"secret@{OTHER}") == 250

    b: Browser = browser(server)
    b.login("admin", first_password(server))
    assert b.title.startswith("Dashboard"), b.title
    reload_until(b, "#sent-24h", "5")
    reload_until(b, "#quarantined-24h", "1")
    assert figure(b, "#refused-24h") == "0"
    assert figure(b, "#spam-rate") == "16.7 %", "1 spam of 6 checked"
    charts = b.find_all("svg.chart")
    assert len(charts) == 5, "24 h, 7 days, two top lists, the queue"
    for chart in charts:
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
    day_label = b.find("#hours-24h svg.chart").get_attribute("aria-label")
    assert day_label == "Messages per hour, last 24 hours: 5 sent, 0 refused, 1 quarantined", day_label
    for section in ("#hours-24h", "#hours-7d"):
        sent = bars(b, section, "sent")
        assert sent and all(h > 0 for h in sent), (section, sent)
        assert any(h > 0 for h in bars(b, section, "quarantined")), section
    # The tooltip of the current hour's column, and the figures table.
    tooltips = [t.get_attribute("textContent") for t in b.find_all("#hours-24h g.column > title")]
    assert len(tooltips) == 24 and tooltips[-1].endswith(": 5 sent, 0 refused, 1 quarantined"), tooltips[-1]
    assert len(b.find_all("#hours-7d g.column")) == 7 * 24
    accounts = b.find("#top-accounts").text
    assert "127.0.0.2/32" in accounts and "127.0.0.3/32" in accounts, accounts
    assert f"secret@{OTHER}" in b.find("#top-identities").text
    assert b.exists("#queue-states svg.chart")
    assert b.injected() == [], "no script on the page but the panel's own"
    b.shot("dashboard-charts")

    api.ok("POST", "/admin-users", {"name": "other-admin", "password": PANEL_PASSWORD, "role": "domain_admin",
                                    "domains": [OTHER]})
    other: Browser = browser(server)
    other.login("other-admin", PANEL_PASSWORD)
    assert other.title.startswith("Dashboard"), other.title
    assert figure(other, "#sent-24h") == "2"
    assert figure(other, "#quarantined-24h") == "0"
    assert "127.0.0.3/32" in other.find("#top-accounts").text
    source = other.source()
    for theirs in ("127.0.0.2", CUSTOMER, "app@", 'id="queue-states"', 'id="queued"'):
        assert theirs not in source, f"{theirs} is not other.example's"
    assert all(h > 0 for h in bars(other, "#hours-24h", "sent"))
    other.shot("dashboard-domain-admin")
