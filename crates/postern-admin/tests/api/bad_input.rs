//! Bad input of every kind is a 4xx JSON answer naming the field; nothing panics.

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use crate::harness::Api;

/// method, path, content type, body, expected status, expected field (None: no field).
type Row = (&'static str, String, Option<&'static str>, Vec<u8>, u16, Option<&'static str>);

fn row(method: &'static str, path: &str, body: &str, status: u16, field: Option<&'static str>) -> Row {
    (method, path.to_string(), Some("application/json"), body.as_bytes().to_vec(), status, field)
}

async fn setup() -> (Api, i64, i64) {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    let account = api
        .ok("POST", "/accounts", Some(&json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.1"})), 201)
        .await;
    let account_id = account["id"].as_i64().expect("id");
    let identity = api.ok("POST", "/identities", Some(&json!({"account_id": account_id, "name": "x"})), 201).await;
    (api, account_id, identity["id"].as_i64().expect("id"))
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field() {
    let (api, account, identity) = setup().await;
    let ip = |settings: &str| {
        format!(r#"{{"domain":"example.com","kind":"ip","name":"198.51.100.1","settings":{settings}}}"#)
    };
    let huge = format!(r#"{{"name":"{}.example"}}"#, "a".repeat(70 * 1024));
    let rows: Vec<Row> = vec![
        // Wrong types, unknown and missing fields, invalid JSON.
        row("POST", "/domains", r#"{"name":5}"#, 400, Some("name")),
        row("POST", "/domains", r#"{"name":"x.example","filter_enabled":"yes"}"#, 400, Some("filter_enabled")),
        row("POST", "/domains", r#"{"name":"x.example","colour":"red"}"#, 400, Some("colour")),
        row("POST", "/domains", r#"{}"#, 400, Some("name")),
        row("POST", "/domains", r#"{"name":"x.example","#, 400, Some("body")),
        row("POST", "/domains", r#"{"name":"x.example"} {}"#, 400, Some("body")),
        row("POST", "/domains", r#"["x.example"]"#, 400, Some("body")),
        row("POST", "/domains", "", 400, Some("body")),
        row("POST", "/domains", r#"{"name":"localhost"}"#, 400, Some("name")),
        row(
            "POST",
            "/domains",
            r#"{"name":"x.example","sender_security":{"ip_check":"dns"}}"#,
            400,
            Some("sender_security.ip_check"),
        ),
        row(
            "POST",
            "/domains",
            r#"{"name":"x.example","sender_security":{"allowed_ips":["300.1.1.1"]}}"#,
            400,
            Some("sender_security.allowed_ips[0]"),
        ),
        row(
            "POST",
            "/domains",
            r#"{"name":"x.example","sender_security":{"ip_check":"allowlist"}}"#,
            400,
            Some("sender_security.allowed_ips"),
        ),
        row("POST", "/domains", r#"{"name":"x.example","abuse_contact":"not an address"}"#, 400, Some("abuse_contact")),
        row("PATCH", "/domains/example.com", r#"{"filter_enabled":1}"#, 400, Some("filter_enabled")),
        row("PATCH", "/domains/example.com", r#"{"name":"other.example"}"#, 400, Some("name")),
        row("POST", "/accounts", r#"{"domain":"example.com","kind":"robot"}"#, 400, Some("kind")),
        row("POST", "/accounts", r#"{"kind":"ip","name":"192.0.2.9"}"#, 400, Some("domain")),
        row("POST", "/accounts", r#"{"domain":"not a domain","kind":"ip","name":"192.0.2.9"}"#, 400, Some("domain")),
        row("POST", "/accounts", r#"{"domain":"example.com","kind":"ip","name":"192.0.2.300"}"#, 400, Some("name")),
        row("POST", "/accounts", r#"{"domain":"example.com","kind":"ip"}"#, 400, Some("name")),
        row(
            "POST",
            "/accounts",
            r#"{"domain":"example.com","kind":"user","name":"a@example.com"}"#,
            400,
            Some("password"),
        ),
        row(
            "POST",
            "/accounts",
            r#"{"domain":"example.com","kind":"user","name":"a@example.com","password":7}"#,
            400,
            Some("password"),
        ),
        row(
            "POST",
            "/accounts",
            &ip(r#"{"limits":{"recipients_per_message":"many"}}"#),
            400,
            Some("settings.limits.recipients_per_message"),
        ),
        row(
            "POST",
            "/accounts",
            &ip(r#"{"limits":{"recipients_per_message":-1}}"#),
            400,
            Some("settings.limits.recipients_per_message"),
        ),
        row("POST", "/accounts", &ip(r#"{"limits":{"bogus":1}}"#), 400, Some("settings.limits.bogus")),
        row(
            "POST",
            "/accounts",
            &ip(r#"{"identification":{"regex":"("}}"#),
            400,
            Some("settings.identification.regex"),
        ),
        row(
            "POST",
            "/accounts",
            &ip(r#"{"identification":{"method":"header","headers":["X Bad"]}}"#),
            400,
            Some("settings.identification.headers[0]"),
        ),
        row(
            "POST",
            "/accounts",
            &ip(r#"{"lock":{"timeout_minutes":99999}}"#),
            400,
            Some("settings.lock.timeout_minutes"),
        ),
        row("POST", "/accounts", &ip(r#"{"dkim_selector":"a b"}"#), 400, Some("settings.dkim_selector")),
        row("POST", "/accounts", &ip(r#""everything""#), 400, Some("settings")),
        row("PATCH", &format!("/accounts/{account}"), r#"{"locked":"yes"}"#, 400, Some("locked")),
        row(
            "PATCH",
            &format!("/accounts/{account}"),
            r#"{"password":"Correct-Horse-Battery-9"}"#,
            400,
            Some("password"),
        ),
        row(
            "PATCH",
            &format!("/accounts/{account}"),
            r#"{"settings":{"archive":{"retention_days":0}}}"#,
            400,
            Some("settings.archive.retention_days"),
        ),
        row("PATCH", &format!("/accounts/{account}"), r#"{"kind":"user"}"#, 400, Some("kind")),
        row("POST", "/identities", r#"{"account_id":"one","name":"x"}"#, 400, Some("account_id")),
        row("POST", "/identities", r#"{"account_id":1}"#, 400, Some("name")),
        row("PATCH", &format!("/identities/{identity}"), r#"{}"#, 400, Some("locked")),
        row("POST", "/tokens", r#"{"name":"x","role":"god"}"#, 400, Some("role")),
        row("POST", "/tokens", r#"{"name":"x","role":"domain_admin","domains":"example.com"}"#, 400, Some("domains")),
        row("POST", "/tokens", r#"{"name":"","role":"superadmin"}"#, 400, Some("name")),
        row("POST", "/admin-users", r#"{"name":"x","password":"a long password","role":"god"}"#, 400, Some("role")),
        row(
            "POST",
            "/admin-users",
            r#"{"name":"x","password":"a long password","role":"superadmin","colour":1}"#,
            400,
            Some("colour"),
        ),
        row("POST", "/admin-users", r#"{"name":"x","role":"superadmin"}"#, 400, Some("password")),
        row(
            "POST",
            "/admin-users",
            r#"{"name":"x","password":12345678901,"role":"superadmin"}"#,
            400,
            Some("password"),
        ),
        row("PATCH", "/admin-users/1", r#"{"password_hash":"$argon2id$"}"#, 400, Some("password_hash")),
        row("PATCH", "/admin-users/1", r#"{"domains":"example.com"}"#, 400, Some("domains")),
        row("POST", "/rules", r#"{"kind":"robot","value":"192.0.2.1","action":"reject"}"#, 400, Some("kind")),
        row("POST", "/rules", r#"{"kind":"ip","value":"192.0.2.1","action":"block"}"#, 400, Some("action")),
        row("POST", "/rules", r#"{"kind":"ip","action":"reject"}"#, 400, Some("value")),
        row("POST", "/rules", r#"{"kind":"ip","value":["192.0.2.1"],"action":"reject"}"#, 400, Some("value")),
        row("POST", "/rules", r#"{"kind":"ip","value":"192.0.2.0/24","action":"reject"}"#, 400, Some("value")),
        row(
            "POST",
            "/rules",
            r#"{"kind":"network","value":"192.0.2.0/255.0.255.0","action":"reject"}"#,
            400,
            Some("value"),
        ),
        row("POST", "/rules", r#"{"kind":"network","value":"192.0.2.300/24","action":"reject"}"#, 400, Some("value")),
        row("POST", "/rules", r#"{"kind":"sender","value":"not an address","action":"allow"}"#, 400, Some("value")),
        row("POST", "/rules", r#"{"kind":"recipient","value":"a@b@c.example","action":"allow"}"#, 400, Some("value")),
        row("POST", "/rules", r#"{"kind":"sender_domain","value":"localhost","action":"allow"}"#, 400, Some("value")),
        row(
            "POST",
            "/rules",
            r#"{"domain":"not a domain","kind":"ip","value":"192.0.2.1","action":"reject"}"#,
            400,
            Some("domain"),
        ),
        row(
            "POST",
            "/rules",
            r#"{"kind":"ip","value":"192.0.2.1","action":"reject","comment":5}"#,
            400,
            Some("comment"),
        ),
        row(
            "POST",
            "/rules",
            r#"{"kind":"ip","value":"192.0.2.1","action":"reject","comment":"a\nb"}"#,
            400,
            Some("comment"),
        ),
        row("POST", "/rules", r#"{"kind":"ip","value":"192.0.2.1","action":"reject","colour":1}"#, 400, Some("colour")),
        // Unknown or malformed query parameters.
        row("GET", "/domains?bogus=1", "", 400, Some("bogus")),
        row("GET", "/domains?filter_enabled=maybe", "", 400, Some("filter_enabled")),
        row("GET", "/accounts?locked=maybe", "", 400, Some("locked")),
        row("GET", "/accounts?kind=robot", "", 400, Some("kind")),
        row("GET", "/accounts?limit=abc", "", 400, Some("limit")),
        row("GET", "/accounts?limit=5000", "", 400, Some("limit")),
        row("GET", "/accounts?offset=-3", "", 400, Some("offset")),
        row("GET", "/identities?account_id=x", "", 400, Some("account_id")),
        row("GET", "/tokens?limit=1&limit=2", "", 400, Some("limit")),
        row("GET", "/admin-users?limit=5000", "", 400, Some("limit")),
        row("GET", "/admin-users?name=x", "", 400, Some("name")),
        row("GET", "/rules?kind=robot", "", 400, Some("kind")),
        row("GET", "/rules?action=maybe", "", 400, Some("action")),
        row("GET", "/rules?global=perhaps", "", 400, Some("global")),
        row("GET", "/rules?domain=a&domain=b", "", 400, Some("domain")),
        row("POST", "/domains/example.com/dkim/keys", r#"{}"#, 400, Some("selector")),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"a.b"}"#, 400, Some("selector")),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"-s1"}"#, 400, Some("selector")),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"s1","algorithm":"dsa"}"#, 400, Some("algorithm")),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"s1","bits":1024}"#, 400, Some("bits")),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"s1","bits":"big"}"#, 400, Some("bits")),
        row(
            "POST",
            "/domains/example.com/dkim/keys",
            r#"{"selector":"s1","algorithm":"ed25519","bits":2048}"#,
            400,
            Some("bits"),
        ),
        row(
            "POST",
            "/domains/example.com/dkim/keys",
            r#"{"selector":"s1","private_key_pem":"not a key"}"#,
            400,
            Some("private_key_pem"),
        ),
        row(
            "POST",
            "/domains/example.com/dkim/keys",
            r#"{"selector":"s1","private_key_pem":"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}"#,
            400,
            Some("private_key_pem"),
        ),
        row("POST", "/domains/example.com/dkim/keys", r#"{"selector":"s1","public_key":"x"}"#, 400, Some("public_key")),
        row("POST", "/domains/example.com/dkim/rotate", r#"{}"#, 400, Some("selector")),
        row(
            "POST",
            "/domains/example.com/dkim/rotate",
            r#"{"selector":"s1","grace_secs":-1}"#,
            400,
            Some("grace_secs"),
        ),
        row(
            "POST",
            "/domains/example.com/dkim/rotate",
            r#"{"selector":"s1","grace_secs":99999999999}"#,
            400,
            Some("grace_secs"),
        ),
        row("POST", "/domains/example.com/dkim/rotate", r#"{"selector":"nope","force":true}"#, 404, Some("selector")),
        row("GET", "/domains/example.com/dkim/check?colour=red", "", 400, Some("colour")),
        row("GET", "/domains/example.com/dkim/check?selector=nope", "", 404, None),
        row("DELETE", "/domains/example.com/dkim/keys/s1?force=maybe", "", 400, Some("force")),
        row("GET", "/domains/example.com/dkim/keys/a.b", "", 404, None),
        row("GET", "/domains/example.com/dkim/keys/%FF", "", 404, None),
        row("GET", "/dkim?limit=5000", "", 400, Some("limit")),
        row("GET", "/queue?state=frozen", "", 400, Some("state")),
        row("GET", "/queue?limit=x", "", 400, Some("limit")),
        row("GET", "/queue?scope=a.example", "", 400, Some("scope")),
        // Ids that are not ids.
        row("GET", "/accounts/abc", "", 404, None),
        row("GET", "/accounts/-1", "", 404, None),
        row("GET", "/accounts/99999999999999999999999", "", 404, None),
        row("PATCH", "/accounts/1.5", r#"{"locked":true}"#, 404, None),
        row("GET", "/identities/%FF", "", 404, None),
        row("DELETE", "/tokens/x", "", 404, None),
        row("GET", "/admin-users/x", "", 404, None),
        row("PUT", "/admin-users/1", "", 405, None),
        row("GET", "/rules/abc", "", 404, None),
        row("DELETE", "/rules/-1", "", 404, None),
        row("PATCH", "/rules/1", r#"{"action":"allow"}"#, 405, None),
        row("GET", "/queue/not-a-queue-id", "", 404, None),
        row("GET", "/domains/not%20a%20domain", "", 404, None),
        row("GET", "/nothing/here", "", 404, None),
        row("PUT", "/domains", "", 405, None),
        // Size and type of the body.
        (("POST"), "/domains".into(), Some("application/json"), huge.into_bytes(), 413, Some("body")),
        ("POST", "/domains".into(), Some("text/plain"), br#"{"name":"x.example"}"#.to_vec(), 415, Some("body")),
        ("POST", "/domains".into(), None, br#"{"name":"x.example"}"#.to_vec(), 415, Some("body")),
        ("POST", "/domains".into(), Some("application/json"), b"{\"name\":\"\xff\xfe\"}".to_vec(), 400, Some("body")),
    ];
    for (method, path, content_type, body, status, field) in rows {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header("authorization", format!("Bearer {}", api.root_secret));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let what = format!("{method} {path} {}", String::from_utf8_lossy(&body[..body.len().min(200)]));
        let answer = api.send(request.body(Body::from(body)).expect("request")).await;
        assert_eq!(answer.status.as_u16(), status, "{what}: {}", answer.text);
        assert!(answer.json["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {}", answer.text);
        assert_eq!(answer.field(), field, "{what}: {}", answer.text);
    }
    // A declared length over the limit is refused before the body is read.
    let request = Request::post("/api/v1/domains")
        .header("authorization", format!("Bearer {}", api.root_secret))
        .header("content-type", "application/json")
        .header("content-length", "1000000")
        .body(Body::from(r#"{"name":"x.example"}"#))
        .expect("request");
    let answer = api.send(request).await;
    assert_eq!((answer.status.as_u16(), answer.field()), (413, Some("body")), "{}", answer.text);
    // Nothing was created by any of it.
    assert_eq!(api.ok("GET", "/domains", None, 200).await["total"], 1);
    assert_eq!(api.ok("GET", "/accounts", None, 200).await["total"], 1);
    assert_eq!(api.ok("GET", "/rules", None, 200).await["total"], 0);
    assert_eq!(api.ok("GET", "/dkim", None, 200).await["total"], 0);
    assert_eq!(api.ok("GET", "/admin-users", None, 200).await["total"], 0);
}

/// Random mutations of valid bodies: never a 5xx, always a JSON answer.
#[tokio::test]
async fn mangled_bodies_never_break_the_server() {
    let (api, account, _) = setup().await;
    let seeds = [
        ("POST", "/domains".to_string(), r#"{"name":"x.example","sender_security":{"allowed_ips":["10.0.0.0/8"]}}"#),
        (
            "POST",
            "/accounts".to_string(),
            r#"{"domain":"example.com","kind":"ip","name":"10.1.2.3","settings":{"limits":{"max_hops":3}}}"#,
        ),
        (
            "PATCH",
            format!("/accounts/{account}"),
            r#"{"settings":{"identification":{"method":"header","headers":["X-Id"],"regex":"(\\w+)"}},"locked":true}"#,
        ),
        ("POST", "/tokens".to_string(), r#"{"name":"t","role":"domain_admin","domains":["example.com"]}"#),
        (
            "POST",
            "/rules".to_string(),
            r#"{"domain":"example.com","kind":"network","value":"10.0.0.0/255.0.0.0","action":"reject","comment":"c"}"#,
        ),
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"{}[]\":,0123456789-.eE truefalsnul\\ux\x00\xff";
    for round in 0..400 {
        let (method, path, seed) = &seeds[round % seeds.len()];
        let mut body = seed.as_bytes().to_vec();
        for _ in 0..=(next() % 3) {
            let at = (next() as usize) % body.len();
            let byte = alphabet[(next() as usize) % alphabet.len()];
            match next() % 3 {
                0 => body[at] = byte,
                1 => body.insert(at, byte),
                _ => {
                    body.remove(at);
                }
            }
        }
        let request = Request::builder()
            .method(*method)
            .uri(format!("/api/v1{path}"))
            .header("authorization", format!("Bearer {}", api.root_secret))
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .expect("request");
        let answer = api.send(request).await;
        let shown = String::from_utf8_lossy(&body);
        assert!(answer.status.as_u16() < 500, "{method} {path} {shown}: {}", answer.text);
        assert!(answer.json.is_object(), "{method} {path} {shown}: {}", answer.text);
    }
}
