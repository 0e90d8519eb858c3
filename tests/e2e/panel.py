"""The web panel in a real browser: Debian's headless Chromium driven by Selenium.

`browser` (a factory fixture) opens a fresh Chromium (empty profile, no network but
loopback) on a started Server's admin listener; `Browser.login` logs in through the login
form. `Browser.shot(name)` saves a screenshot of the whole page to the screenshot folder
(`POSTERN_SCREENSHOTS`, default `target/panel-screenshots`), which the docs use.

Only the panel's own pages are opened: Chromium's background networking, component
updates and sync are off, so it makes no connection but to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("POSTERN_SCREENSHOTS", REPO / "target" / "panel-screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def first_password(server) -> str:
    """The first superadmin's password, as the first start wrote it."""
    return (server.data_dir / "admin-password").read_text().strip()


def panel_url(server) -> str:
    return (server.data_dir / "admin.url").read_text().strip()


class Browser:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.profile = tempfile.mkdtemp(prefix="postern-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={self.profile}",
                     # The panel over TLS uses the server's self-signed certificate.
                     "--ignore-certificate-errors"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(60)

    # -- navigation ---------------------------------------------------------------------

    def open(self, path: str) -> "Browser":
        self.driver.get(self.base + path)
        return self

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base):] if url.startswith(self.base) else url

    @property
    def title(self) -> str:
        return self.driver.title

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def source(self) -> str:
        return self.driver.page_source

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def exists(self, css: str) -> bool:
        try:
            self.driver.find_element(By.CSS_SELECTOR, css)
            return True
        except NoSuchElementException:
            return False

    def click(self, css: str) -> "Browser":
        self.find(css).click()
        return self

    def click_text(self, text: str, tag: str = "*") -> "Browser":
        """Clicks the first element of `tag` whose visible text is `text` (links, buttons)."""
        self.driver.find_element(By.XPATH, f"//{tag}[normalize-space(.)={xpath_literal(text)}]").click()
        return self

    def fill(self, fields: dict[str, str], form: str = "form") -> "Browser":
        """Types into the named inputs (text, password, textarea) or picks a select's option
        by value, in `form` (a CSS selector)."""
        root = self.find(form)
        for name, value in fields.items():
            element = root.find_element(By.CSS_SELECTOR, f"[name={css_literal(name)}]")
            if element.tag_name == "select":
                element.find_element(By.CSS_SELECTOR, f"option[value={css_literal(value)}]").click()
            elif element.get_attribute("type") == "checkbox":
                if element.is_selected() != bool(value):
                    element.click()
            else:
                element.clear()
                element.send_keys(value)
        return self

    def submit(self, css: str = "form button[type=submit]") -> "Browser":
        """Clicks a submit button and waits for the next page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.find(css).click()
        self.wait_replaced(old)
        return self

    def wait_replaced(self, old) -> None:
        """Waits until `old` (an element of the page before) belongs to no document: the next
        page is there. Chromium, asked in the middle of the navigation, may say so with a
        generic error ("does not belong to the document") instead of a stale element."""
        def replaced(_driver) -> bool:
            try:
                old.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise
        WebDriverWait(self.driver, 60).until(replaced)

    def login(self, name: str, password: str) -> "Browser":
        self.open("/login")
        self.fill({"name": name, "password": password}, "form[action='/login']")
        return self.submit("#login")

    def logout(self) -> "Browser":
        return self.submit("form[action='/logout'] button")

    def shot(self, name: str) -> Path:
        """A screenshot of the whole page (the window grown to the page's height)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        # The window's own bars take part of its height: add them, so the whole page shows.
        bars = self.driver.execute_script("return Math.max(0, window.outerHeight - window.innerHeight)")
        self.driver.set_window_size(1280, max(700, min(int(height) + int(bars), 6000)))
        self.driver.execute_script("window.scrollTo(0, 0)")
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1280, 900)
        return path

    def injected(self) -> list[str]:
        """Elements a test's payload might have injected: any element carrying the marker
        attribute or id, any <script> that is not the panel's own, any inline handler."""
        return self.driver.execute_script(
            """
            const found = [];
            for (const e of document.querySelectorAll('*')) {
              for (const a of e.getAttributeNames()) {
                if (a.startsWith('on') || a === 'data-pwned') found.push(e.tagName + ' ' + a);
              }
              if (e.id === 'pwned') found.push(e.tagName + '#pwned');
            }
            for (const s of document.querySelectorAll('script')) {
              if (s.getAttribute('src') !== '/static/panel.js') found.push('script ' + s.outerHTML.slice(0, 80));
            }
            for (const t of ['iframe', 'object', 'embed', 'img[src^="x"]', 'svg script', 'style:not([data-panel])']) {
              for (const e of document.querySelectorAll(t)) found.push(e.outerHTML.slice(0, 80));
            }
            return found;
            """
        )

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat('" + text.replace("'", "', \"'\", '") + "')"


def css_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def browser():
    """Factory: browser(server) -> a Browser on the server's admin listener."""
    opened: list[Browser] = []

    def make(server) -> Browser:
        b = Browser(panel_url(server))
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.quit()
