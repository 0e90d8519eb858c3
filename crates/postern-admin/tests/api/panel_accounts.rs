//! The panel's Manage accounts and Manage identities pages, in process: adding an account,
//! saving every setting (and what a refusal shows), lock, unlock, delete, paging, escaping,
//! and the tenant walls — a domain admin's lists hold only its domains, another tenant's
//! account is the 404 page, and a forged post changes nothing. The same pages are walked
//! in a real browser by tests/e2e/test_panel_accounts.py.

use axum::http::StatusCode;
use postern_core::tenancy::Role;
use postern_store::{AdminUserStore, NewAdminUser};
use serde_json::{Value, json};

use crate::harness::Api;
use crate::panel::{Jar, get, hidden, location, post};

const PASSWORD: &str = "a long panel password";

/// Logs `name` in through the login form (a panel user made here if `role` is given).
async fn login(api: &Api, name: &str, role: Option<(Role, &[&str])>) -> (Jar, String) {
    let password = match role {
        Some((role, domains)) => {
            let password_hash = postern_policy::password::hash(PASSWORD).unwrap();
            let domains = domains.iter().map(|d| d.to_string()).collect();
            api.store.create_admin_user(&NewAdminUser { name: name.into(), role, domains, password_hash }).unwrap();
            PASSWORD.to_string()
        }
        None => postern_ops::panel_auth::first_superadmin(api.store.as_ref()).unwrap().unwrap().1,
    };
    let mut jar = Jar::default();
    let (_, _, page) = get(api, &mut jar, "/login").await;
    let token = hidden(&page, "csrf");
    let form = [("csrf", token.as_str()), ("name", name), ("password", &password), ("next", "/")];
    let (status, _, _) = post(api, &mut jar, "/login", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "login of {name}");
    let (_, _, page) = get(api, &mut jar, "/").await;
    let csrf = hidden(&page, "csrf");
    (jar, csrf)
}

async fn domain(api: &Api, name: &str) {
    api.ok("POST", "/domains", Some(&json!({"name": name, "filter_enabled": true})), 201).await;
}

async fn account(api: &Api, body: Value) -> Value {
    api.ok("POST", "/accounts", Some(&body), 201).await
}

async fn settings_of(api: &Api, id: i64) -> Value {
    api.ok("GET", &format!("/accounts/{id}"), None, 200).await
}

/// Every field of the settings form as the page shows it, as (name, value) pairs: inputs,
/// checked checkboxes, selected options and textareas.
fn form_of(page: &str) -> Vec<(String, String)> {
    let start = page.find("id=\"settings\"").expect("the settings form");
    let form = &page[start..page[start..].find("</form>").map_or(page.len(), |e| start + e)];
    let attr = |tag: &str, name: &str| {
        let marker = format!("{name}=\"");
        tag.find(&marker).map(|i| tag[i + marker.len()..].split('"').next().unwrap_or("").to_string())
    };
    let unescape = |s: &str| {
        s.replace("&#34;", "\"").replace("&#39;", "'").replace("&#60;", "<").replace("&#62;", ">").replace("&#38;", "&")
    };
    let mut out = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let Some(name) = attr(tag, "name") else { continue };
        if name == "csrf" || name.starts_with("password") {
            continue;
        }
        if tag.starts_with("input") {
            let checkbox = tag.contains("type=\"checkbox\"");
            if checkbox && !tag.contains(" checked") {
                continue;
            }
            out.push((name, if checkbox { "on".into() } else { unescape(&attr(tag, "value").unwrap_or_default()) }));
        } else if tag.starts_with("textarea") {
            let body = &rest[tag.len() + 1..];
            out.push((name, unescape(&body[..body.find("</textarea>").unwrap()])));
        } else if tag.starts_with("select") {
            let body = &rest[..rest.find("</select>").unwrap()];
            let selected = body.split("<option").find(|o| o.contains(" selected")).unwrap_or("");
            out.push((name, attr(selected, "value").unwrap_or_default()));
        }
    }
    out
}

fn set(form: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    form.retain(|(n, _)| n != name);
    if let Some(v) = value {
        form.push((name.into(), v.into()));
    }
}

async fn post_form(
    api: &Api,
    jar: &mut Jar,
    path: &str,
    csrf: &str,
    form: &[(String, String)],
) -> (StatusCode, String, String) {
    let mut pairs: Vec<(&str, &str)> = vec![("csrf", csrf)];
    pairs.extend(form.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let (status, headers, page) = post(api, jar, path, &pairs, None).await;
    (status, location(&headers).to_string(), page)
}

#[tokio::test]
async fn a_superadmin_adds_configures_locks_and_deletes_an_account() {
    let api = Api::new();
    domain(&api, "a.example").await;
    let (mut jar, csrf) = login(&api, "admin", None).await;

    let (status, _, page) = get(&api, &mut jar, "/accounts/new?domain=a.example").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<option value=\"a.example\" selected>"), "{page}");
    let add = |kind: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("kind".to_string(), kind.to_string()), ("domain".into(), "a.example".into())];
        form.extend(extra.into_iter().map(|(n, v)| (n.to_string(), v.to_string())));
        form
    };
    // A refusal keeps what was typed, never the password, and names the field.
    let secret = "the user's secret password";
    let form = add("user", vec![("user", "alice@b.example"), ("user_password", secret)]);
    let (status, _, page) = post_form(&api, &mut jar, "/accounts", &csrf, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("value=\"alice@b.example\"") && page.contains("must be of a.example"), "{page}");
    assert!(!page.contains(secret), "the password is never shown again");
    let form = add("user", vec![("user", "alice@a.example"), ("user_password", secret)]);
    let (status, to, _) = post_form(&api, &mut jar, "/accounts", &csrf, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id: i64 = to.strip_prefix("/accounts/").unwrap().strip_suffix("?done=created").unwrap().parse().unwrap();

    let (status, _, page) = get(&api, &mut jar, &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Created.") && page.contains("alice@a.example"), "{page}");
    assert!(page.contains("This server keeps no counters."), "the harness has no counters");
    for hint in ["Lock timeout (minutes)", "Maximum automatic unlocks", "DKIM selector", "Quarantine reaction"] {
        assert!(page.contains(hint), "{hint}");
    }
    assert!(!page.contains("Re-authentication"), "an ip account's setting is not shown for a user account");

    // Save what the page shows with a few changes: exactly those change.
    let before = settings_of(&api, id).await["settings"].clone();
    let mut form = form_of(&page);
    set(&mut form, "limits.connections_per_minute", Some("10"));
    set(&mut form, "limits.recipients_per_day", Some("500"));
    set(&mut form, "identification.method", Some("header"));
    set(&mut form, "identification.headers", Some("X-Client-ID\r\nX-AuthUser"));
    set(&mut form, "dkim_selector", Some("s2024"));
    set(&mut form, "checks.spam", None);
    set(&mut form, "archive.enabled", Some("on"));
    let (status, to, page) = post_form(&api, &mut jar, &format!("/accounts/{id}"), &csrf, &form).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, format!("/accounts/{id}?done=saved").as_str()), "{page}");
    let after = settings_of(&api, id).await["settings"].clone();
    let mut expected = before.clone();
    expected["limits"]["connections_per_minute"] = json!(10);
    expected["limits"]["recipients_per_day"] = json!(500);
    expected["identification"]["method"] = json!("header");
    expected["identification"]["headers"] = json!(["X-Client-ID", "X-AuthUser"]);
    expected["dkim_selector"] = json!("s2024");
    expected["checks"]["spam"] = json!(false);
    expected["archive"]["enabled"] = json!(true);
    assert_eq!(after, expected);
    let (_, _, page) = get(&api, &mut jar, &to).await;
    assert!(page.contains("Saved.") && page.contains("value=\"s2024\""), "{page}");

    // Refusals: a number that is not one, a header method without headers, two passwords.
    let mut bad = form_of(&page);
    set(&mut bad, "limits.connections_per_hour", Some("many"));
    set(&mut bad, "lock.template", Some("typed <b>text</b>"));
    let (status, _, page) = post_form(&api, &mut jar, &format!("/accounts/{id}"), &csrf, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("a whole number, 0 or more") && page.contains("value=\"many\""), "{page}");
    assert!(page.contains("typed &#60;b&#62;text&#60;/b&#62;"), "what was typed is kept, escaped: {page}");
    set(&mut bad, "limits.connections_per_hour", Some("0"));
    set(&mut bad, "identification.headers", Some(""));
    let (status, _, page) = post_form(&api, &mut jar, &format!("/accounts/{id}"), &csrf, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("identification by header needs at least one header name"), "{page}");
    let mut passwords = form_of(&page);
    set(&mut passwords, "identification.headers", Some("X-Client-ID"));
    set(&mut passwords, "password", Some("first new password"));
    set(&mut passwords, "password_confirm", Some("second new password"));
    let (status, _, page) = post_form(&api, &mut jar, &format!("/accounts/{id}"), &csrf, &passwords).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("the two passwords differ") && !page.contains("first new password"), "{page}");
    assert_eq!(settings_of(&api, id).await["settings"], expected, "nothing changed by a refused save");

    // Lock, unlock (with the lock shown in the list), delete.
    let path = |action: &str| format!("/accounts/{id}/{action}");
    let (status, to, _) = post_form(&api, &mut jar, &path("lock"), &csrf, &[]).await;
    assert_eq!((status, to), (StatusCode::SEE_OTHER, format!("/accounts/{id}?done=locked")));
    assert_eq!(settings_of(&api, id).await["lock"]["locked"], json!(true));
    let (_, _, page) = get(&api, &mut jar, "/accounts?locked=yes").await;
    assert!(page.contains(&format!("data-account=\"{id}\"")) && page.contains("badge bad"), "{page}");
    let (_, _, page) = get(&api, &mut jar, "/accounts?locked=no").await;
    assert!(!page.contains(&format!("data-account=\"{id}\"")), "{page}");
    let (status, to, _) = post_form(&api, &mut jar, &path("unlock"), &csrf, &[]).await;
    assert_eq!((status, to), (StatusCode::SEE_OTHER, format!("/accounts/{id}?done=unlocked")));
    assert_eq!(settings_of(&api, id).await["lock"]["locked"], json!(false));
    let (status, _, _) = post_form(&api, &mut jar, &path("delete"), "not the token", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a post without the session's token");
    let (status, to, _) = post_form(&api, &mut jar, &path("delete"), &csrf, &[]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/accounts?done=deleted"));
    assert_eq!(api.root("GET", &format!("/accounts/{id}"), None).await.status, StatusCode::NOT_FOUND);
    let (status, _, page) = get(&api, &mut jar, &format!("/accounts/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("404 Not Found") && page.contains("no such account"), "{page}");
}

#[tokio::test]
async fn lists_page_by_fifty_and_filter() {
    let api = Api::new();
    domain(&api, "a.example").await;
    domain(&api, "b.example").await;
    for i in 1..=55 {
        account(&api, json!({"domain": "a.example", "kind": "ip", "name": format!("192.0.2.{i}")})).await;
    }
    account(&api, json!({"domain": "b.example", "kind": "ip", "name": "198.51.100.7"})).await;
    let (mut jar, _) = login(&api, "admin", None).await;
    let rows = |page: &str| page.matches("data-account=\"").count();
    let (_, _, page) = get(&api, &mut jar, "/accounts?domain=a.example").await;
    assert_eq!(rows(&page), 50);
    assert!(page.contains("1–50 of 55") && page.contains("href=\"/accounts?domain=a.example&#38;page=2\""), "{page}");
    let (_, _, page) = get(&api, &mut jar, "/accounts?domain=a.example&page=2").await;
    assert_eq!(rows(&page), 5);
    assert!(page.contains("51–55 of 55") && !page.contains("id=\"page-next\""), "{page}");
    let (_, _, page) = get(&api, &mut jar, "/accounts?name=192.0.2.1&kind=ip").await;
    assert_eq!(rows(&page), 11, "192.0.2.1 and 192.0.2.10-19: {page}");
    let (status, _, page) = get(&api, &mut jar, "/accounts?kind=telepathy").await;
    assert_eq!((status, rows(&page)), (StatusCode::BAD_REQUEST, 0));
    let (_, _, page) = get(&api, &mut jar, "/accounts?page=banana").await;
    assert_eq!(rows(&page), 50, "a page that is not a number is the first");
}

#[tokio::test]
async fn a_domain_admin_sees_and_changes_only_its_own_domains() {
    let api = Api::new();
    domain(&api, "a.example").await;
    domain(&api, "b.example").await;
    let mine = account(
        &api,
        json!({"domain": "a.example", "kind": "user", "name": "u@a.example",
        "password": "a long user password"}),
    )
    .await;
    let theirs = account(
        &api,
        json!({"domain": "b.example", "kind": "user", "name": "u@b.example",
        "password": "a long user password", "settings": {"limits": {"recipients_per_day": 7}}}),
    )
    .await;
    let (mine, theirs) = (mine["id"].as_i64().unwrap(), theirs["id"].as_i64().unwrap());
    let their_identity = "\"><script>alert(1)</script>@b.example";
    let ident = |account_id: i64, name: &str| json!({"account_id": account_id, "name": name});
    let theirs_ident = api.ok("POST", "/identities", Some(&ident(theirs, their_identity)), 201).await;
    let mine_ident = api.ok("POST", "/identities", Some(&ident(mine, "<i>x</i>@a.example")), 201).await;
    let before = settings_of(&api, theirs).await;

    let (mut root, _) = login(&api, "admin", None).await;
    let (mut jar, csrf) = login(&api, "a-admin", Some((Role::DomainAdmin, &["a.example"]))).await;
    let (_, _, page) = get(&api, &mut jar, "/accounts").await;
    assert!(page.contains("u@a.example") && !page.contains("u@b.example"), "{page}");
    assert!(!page.contains("b.example"), "not even in the domain filter: {page}");
    let (_, _, page) = get(&api, &mut jar, "/accounts?domain=b.example").await;
    assert_eq!(page.matches("data-account=\"").count(), 0);
    let (_, _, page) = get(&api, &mut jar, "/accounts/new").await;
    assert!(!page.contains("b.example"), "{page}");

    let (status, _, page) = get(&api, &mut jar, &format!("/accounts/{theirs}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing = get(&api, &mut jar, "/accounts/987654").await;
    assert_eq!((status, &page), (missing.0, &missing.2), "exactly the page of an account that does not exist");
    let (status, _, mine_page) = get(&api, &mut jar, &format!("/accounts/{mine}")).await;
    assert_eq!(status, StatusCode::OK);

    // Forged posts to the other tenant's account: every one 404, nothing changed.
    let mut form = form_of(&mine_page);
    set(&mut form, "limits.recipients_per_day", Some("999"));
    set(&mut form, "password", Some("an attacker's password"));
    set(&mut form, "password_confirm", Some("an attacker's password"));
    for action in ["", "/lock", "/unlock", "/delete"] {
        let (status, _, page) = post_form(&api, &mut jar, &format!("/accounts/{theirs}{action}"), &csrf, &form).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {page}");
        assert!(!page.contains("u@b.example"));
    }
    assert_eq!(settings_of(&api, theirs).await, before);
    let add =
        [("kind", "user"), ("domain", "b.example"), ("user", "x@b.example"), ("user_password", "a long password")];
    let add: Vec<_> = add.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let (status, _, page) = post_form(&api, &mut jar, "/accounts", &csrf, &add).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("no such domain"), "{page}");
    let all = api.ok("GET", "/accounts", None, 200).await;
    assert_eq!(all["total"], json!(2), "nothing was created");

    // Identities: only its own, escaped; the other tenant's cannot be locked.
    let (_, _, page) = get(&api, &mut jar, "/identities").await;
    assert!(page.contains("&#60;i&#62;x&#60;/i&#62;@a.example") && !page.contains("<i>x</i>"), "{page}");
    assert!(!page.contains("alert(1)"), "{page}");
    let (_, _, page) = get(&api, &mut jar, &format!("/identities?account={theirs}")).await;
    assert_eq!(page.matches("data-identity=\"").count(), 0);
    let back = [("back".to_string(), "/identities".to_string())];
    let their_id = theirs_ident["id"].as_i64().unwrap();
    let (status, _, _) = post_form(&api, &mut jar, &format!("/identities/{their_id}/lock"), &csrf, &back).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let shown = api.ok("GET", &format!("/identities/{their_id}"), None, 200).await;
    assert_eq!(shown["lock"]["locked"], json!(false));
    let my_id = mine_ident["id"].as_i64().unwrap();
    let back = [("back".to_string(), format!("/identities?account={mine}"))];
    let (status, to, _) = post_form(&api, &mut jar, &format!("/identities/{my_id}/lock"), &csrf, &back).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, format!("/identities?account={mine}&done=locked").as_str())
    );
    let (_, _, page) = get(&api, &mut jar, &to).await;
    assert!(page.contains("Locked.") && page.contains("badge bad"), "{page}");
    let (_, _, page) = get(&api, &mut jar, &format!("/identities?account={mine}&locked=yes")).await;
    assert!(page.contains(&format!("data-identity=\"{my_id}\"")), "{page}");
    let evil = [("back".to_string(), "//evil.example/".to_string())];
    let (_, to, _) = post_form(&api, &mut jar, &format!("/identities/{my_id}/unlock"), &csrf, &evil).await;
    assert_eq!(to, "/identities?done=unlocked");

    // The superadmin sees the other tenant's identity, escaped.
    let (_, _, page) = get(&api, &mut root, "/identities?domain=b.example").await;
    assert!(page.contains("&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;@b.example"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
}
