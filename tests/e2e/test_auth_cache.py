"""The AUTH cache end to end (issue 17): a second AUTH with the same password is answered
from the cache (the auth event says so), yet a password changed through the admin API
refuses the old password at the very next AUTH, a locked account is still refused at MAIL
FROM, a wrong password is never answered from the cache, and `cache_ttl = 0` turns it
off. Real binary, smtplib over STARTTLS, 127.0.0.1 not trusted (every relay is by AUTH)."""

from __future__ import annotations

from test_accounts import PASSWORD, UNTRUSTED, Api, auth_plain, send, smtp

NEW_PASSWORD = "a new and longer secret password"
USER = "alice@example.com"
CACHED = ", from the AUTH cache"


def auth_details(server, count: int) -> list[str]:
    """The first `count` auth events as "result: detail"."""
    events = server.wait_events(lambda ev: len(ev) >= count, kind="auth")
    return [f"{e['data']['result']}: {e['data']['detail']}" for e in events[:count]]


def gateway(postern, config: str = ""):
    server = postern(config=config, extra=UNTRUSTED) if config else postern(extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    alice = api.account("example.com", "user", USER, PASSWORD)
    api.account("example.com", "domain", password=PASSWORD)
    return server, api, alice["id"]


def authenticate(server, user: str, password: str) -> int:
    with smtp(server, tls=True) as c:
        code, _ = auth_plain(c, user, password)
        return code


def test_a_changed_password_refuses_the_cached_one_at_once(postern):
    server, api, alice = gateway(postern)
    for user in (USER, "example.com", USER, "example.com"):
        with smtp(server, tls=True) as c:
            assert auth_plain(c, user, PASSWORD)[0] == 235
            send(c, "alice@example.com")
    assert auth_details(server, 4) == [
        "success: user alice@example.com",
        "success: domain example.com",
        f"success: user alice@example.com{CACHED}",
        f"success: domain example.com{CACHED}",
    ]
    api.ok("PATCH", f"/accounts/{alice}", {"password": NEW_PASSWORD})
    assert authenticate(server, USER, PASSWORD) == 535, "the cached old password is refused"
    assert authenticate(server, USER, NEW_PASSWORD) == 235
    assert authenticate(server, USER, NEW_PASSWORD) == 235
    assert authenticate(server, "example.com", PASSWORD) == 235, "the other account keeps its entry"
    assert auth_details(server, 8)[4:] == [
        "failure: wrong password for account alice@example.com",
        "success: user alice@example.com",
        f"success: user alice@example.com{CACHED}",
        f"success: domain example.com{CACHED}",
    ]


def test_a_locked_account_is_refused_though_its_password_is_cached(postern):
    server, api, alice = gateway(postern)
    assert authenticate(server, USER, PASSWORD) == 235
    api.ok("PATCH", f"/accounts/{alice}", {"locked": True})
    with smtp(server, tls=True) as c:
        assert auth_plain(c, USER, PASSWORD)[0] == 235
        assert c.mail(USER) == (
            550, b"5.7.1 Your account has been locked by an administrator. Contact your administrator.")
    assert auth_details(server, 2)[1] == f"success: user alice@example.com{CACHED}"
    api.ok("PATCH", f"/accounts/{alice}", {"locked": False})
    with smtp(server, tls=True) as c:
        assert auth_plain(c, USER, PASSWORD)[0] == 235
        send(c, USER)


def test_a_wrong_password_is_never_answered_from_the_cache(postern):
    server, _, _ = gateway(postern)
    assert authenticate(server, USER, "a wrong long password") == 535
    assert authenticate(server, USER, PASSWORD) == 235
    assert authenticate(server, USER, "a wrong long password") == 535
    assert authenticate(server, USER, PASSWORD) == 235
    assert auth_details(server, 4) == [
        "failure: wrong password for account alice@example.com",
        "success: user alice@example.com",
        "failure: wrong password for account alice@example.com",
        f"success: user alice@example.com{CACHED}",
    ]


def test_cache_ttl_zero_turns_it_off(postern):
    server, _, _ = gateway(postern, "[auth]\ncache_ttl = 0\n")
    for _ in range(2):
        assert authenticate(server, USER, PASSWORD) == 235
    assert auth_details(server, 2) == ["success: user alice@example.com"] * 2
