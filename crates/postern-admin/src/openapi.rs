//! The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`: every endpoint,
//! parameter and schema. Derived from the code: each handler over the operations layer
//! carries `#[utoipa::path]` and is listed in [`Derived`], and its types derive
//! `utoipa::ToSchema` / `IntoParams`, so the document cannot drift from what the handler
//! parses and answers. Endpoints not yet moved to the operations layer are still described
//! by hand below, one function per group; the derived part is merged over them. The
//! tenant-isolation test walks the paths, so an endpoint missing here is a failing test.

use axum::Json;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::ApiError;

/// The derived part of the document: every handler that is an adapter over
/// [`postern_ops`].
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::domains::list,
        crate::domains::create,
        crate::domains::show,
        crate::domains::update,
        crate::domains::delete,
        crate::log::search,
        crate::log::show,
    ),
    components(schemas(ApiError))
)]
struct Derived;

pub async fn document() -> Json<Value> {
    Json(spec())
}

/// The whole document.
pub fn spec() -> Value {
    let mut paths = Map::new();
    let groups = [whoami_paths(), account_paths(), identity_paths(), limit_paths(), rule_paths(), token_paths()];
    let more = [queue_paths(), dkim_paths(), delegation_paths(), client_block_paths(), inbound_paths()];
    let more = more.into_iter().chain([quarantine_paths()]);
    let more = more.chain([training_paths()]);
    for group in groups.into_iter().chain(more) {
        if let Value::Object(group) = group {
            paths.extend(group);
        }
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Postern admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Bearer tokens have a role. A superadmin sees everything; a domain admin sees its \
                own domains only: other tenants' objects answer 404, superadmin-only actions 403. \
                Errors are {\"error\": ..., \"field\": ...}; bodies are JSON of at most 64 KiB."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
        "paths": paths,
    });
    merge_derived(&mut doc);
    doc
}

/// Puts the derived paths and schemas into the document (a derived one wins).
fn merge_derived(doc: &mut Value) {
    let derived = match serde_json::to_value(Derived::openapi()) {
        Ok(derived) => derived,
        Err(e) => {
            tracing::error!(error = %e, "the derived OpenAPI document does not serialize");
            return;
        }
    };
    // A path's methods join those described by hand; a derived schema replaces its namesake.
    if let (Some(from), Some(into)) = (derived["paths"].as_object(), doc["paths"].as_object_mut()) {
        for (path, methods) in from {
            let item = into.entry(path.clone()).or_insert_with(|| json!({}));
            if let (Some(item), Some(methods)) = (item.as_object_mut(), methods.as_object()) {
                item.extend(methods.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    let schemas = &derived["components"]["schemas"];
    if let (Some(from), Some(into)) = (schemas.as_object(), doc["components"]["schemas"].as_object_mut()) {
        into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

// ---- building blocks ----

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema("Error")}}})
}

fn answer(description: &str, body: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": body}}})
}

fn body(name: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema(name)}}})
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path_param(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn id_param() -> Value {
    path_param("id", json!({"type": "integer", "format": "int64", "minimum": 0}))
}

fn page_params() -> [Value; 2] {
    [
        query("limit", json!({"type": "integer", "minimum": 0, "maximum": 1000}), "page size; 0 or absent: 100"),
        query("offset", json!({"type": "integer", "minimum": 0}), "items to skip"),
    ]
}

fn paged(item: &str) -> Value {
    json!({"type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
        "items": {"type": "array", "items": schema(item)},
        "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"}}})
}

/// One operation. `responses` are added to 401 (every operation needs a token).
fn operation(summary: &str, parameters: Vec<Value>, request: Option<Value>, responses: Value) -> Value {
    let mut op = json!({"summary": summary, "parameters": parameters, "responses": responses});
    op["responses"]["401"] = error("missing or unknown token");
    if let Some(request) = request {
        op["requestBody"] = request;
        op["responses"]["400"] = error("invalid input; `field` names it");
        op["responses"]["413"] = error("body larger than 64 KiB");
        op["responses"]["415"] = error("body is not JSON");
    }
    op
}

fn list_params(filters: Vec<Value>) -> Vec<Value> {
    filters.into_iter().chain(page_params()).collect()
}

// ---- paths ----

fn whoami_paths() -> Value {
    json!({"/whoami": {"get": operation("The caller's token: id, name, role, domains", vec![], None,
        json!({"200": answer("the caller", schema("WhoAmI"))}))}})
}

fn account_paths() -> Value {
    let list = list_params(vec![
        query("domain", json!({"type": "string"}), "the account's domain"),
        query("kind", json!({"type": "string", "enum": ["ip", "user", "domain"]}), "account kind"),
        query("name", json!({"type": "string"}), "substring of the name"),
        query("locked", json!({"type": "boolean"}), "locked or not"),
    ]);
    json!({
        "/accounts": {
            "get": operation("List outgoing accounts", list, None, json!({"200": answer("accounts", paged("Account"))})),
            "post": operation("Create an outgoing account (a domain admin's ip account: inside a range delegated \
                to the domain, no wider than the configured prefix, over no trusted network or listener address)",
                vec![], Some(body("NewAccount")), json!({
                "201": answer("created", schema("Account")), "404": error("no such domain"),
                "403": error("a domain admin's ip range outside its delegations, too wide, or over a protected range"),
                "409": error("duplicate name, overlapping range (named for a superadmin only), second domain \
                    account, or a superadmin's range over a trusted network without cover_trusted")}))
        },
        "/accounts/{id}": {
            "get": operation("Show an account", vec![id_param()], None, json!({
                "200": answer("the account", schema("Account")), "404": error("no such account")})),
            "patch": operation("Change settings, password or lock of an account", vec![id_param()],
                Some(body("AccountPatch")), json!({"200": answer("changed", schema("Account")),
                    "403": error("a domain admin changing the settings of an ip account outside its delegations"),
                    "404": error("no such account")})),
            "delete": operation("Delete an account and its identities", vec![id_param()], None, json!({
                "200": answer("deleted", schema("Deleted")), "404": error("no such account")}))
        }
    })
}

fn identity_paths() -> Value {
    let list = list_params(vec![
        query("account_id", json!({"type": "integer", "format": "int64"}), "the account"),
        query("domain", json!({"type": "string"}), "the account's domain"),
        query("name", json!({"type": "string"}), "substring of the name"),
        query("locked", json!({"type": "boolean"}), "locked or not"),
    ]);
    json!({
        "/identities": {
            "get": operation("List identities", list, None, json!({"200": answer("identities", paged("Identity"))})),
            "post": operation("Register an identity before its first message", vec![], Some(body("NewIdentity")),
                json!({"201": answer("created", schema("Identity")), "404": error("no such account"),
                    "403": error("a domain admin naming it after an address outside its domains"),
                    "409": error("exists already")}))
        },
        "/identities/{id}": {
            "get": operation("Show an identity", vec![id_param()], None, json!({
                "200": answer("the identity", schema("Identity")), "404": error("no such identity")})),
            "patch": operation("Lock or unlock an identity", vec![id_param()], Some(body("IdentityPatch")), json!({
                "200": answer("changed", schema("Identity")), "404": error("no such identity")})),
            "delete": operation("Delete an identity", vec![id_param()], None, json!({
                "200": answer("deleted", schema("Deleted")), "404": error("no such identity")}))
        }
    })
}

fn limit_paths() -> Value {
    let unavailable = error("counters are not available on this server");
    json!({
        "/accounts/{id}/counters": {
            "get": operation("Live counter values of an account: its limits, spam count and lock", vec![id_param()],
                None, json!({"200": answer("counters", schema("Counters")), "404": error("no such account"),
                    "503": unavailable}))
        },
        "/identities/{id}/counters": {
            "get": operation("Live counter values of an identity", vec![id_param()], None,
                json!({"200": answer("counters", schema("Counters")), "404": error("no such identity"),
                    "503": unavailable}))
        },
        "/spam-events": {
            "post": operation("Report a spam message of an account (and identity); may lock them", vec![],
                Some(body("SpamEvent")), json!({"201": answer("counted", schema("SpamOutcome")),
                    "404": error("no such account"), "503": unavailable}))
        }
    })
}

fn rule_paths() -> Value {
    let list = list_params(vec![
        query("domain", json!({"type": "string"}), "the rules of this domain"),
        query("global", json!({"type": "boolean"}), "true: only global rules; false: only domains' rules"),
        query("kind", rule_kind(), "what the rule matches"),
        query("action", rule_action(), "what the rule does"),
        query("value", json!({"type": "string"}), "substring of the value"),
    ]);
    json!({
        "/rules": {
            "get": operation("List block and allow list rules (a domain admin: its domains' only, no global ones)",
                list, None, json!({"200": answer("rules", paged("ListRule"))})),
            "post": operation("Create a rule (without a domain: a global rule, superadmin only)", vec![],
                Some(body("NewListRule")), json!({"201": answer("created", schema("ListRule")),
                    "403": error("a global rule by a domain admin"), "404": error("no such domain"),
                    "409": error("a rule of this kind and value exists in this list")}))
        },
        "/rules/{id}": {
            "get": operation("Show a rule", vec![id_param()], None, json!({
                "200": answer("the rule", schema("ListRule")), "404": error("no such rule")})),
            "delete": operation("Delete a rule", vec![id_param()], None, json!({
                "200": answer("deleted", schema("Deleted")), "404": error("no such rule")}))
        }
    })
}

fn rule_kind() -> Value {
    json!({"type": "string", "enum": ["ip", "network", "sender", "recipient", "sender_domain"]})
}

fn rule_action() -> Value {
    json!({"type": "string", "enum": ["reject", "discard", "allow"]})
}

fn inbound_paths() -> Value {
    let name = || path_param("name", json!({"type": "string"}));
    json!({
        "/inbound-domains": {
            "get": operation("List inbound relay domains (a domain admin: those named like its domains)",
                list_params(vec![]), None, json!({"200": answer("inbound domains", paged("InboundDomain"))})),
            "post": operation("Add an inbound relay domain: mail to it is accepted from anyone and delivered to \
                its internal server (superadmin)", vec![], Some(body("NewInboundDomain")), json!({
                    "201": answer("added", schema("InboundDomain")), "403": error("not a superadmin"),
                    "409": error("exists already")}))
        },
        "/inbound-domains/{name}": {
            "get": operation("Show an inbound relay domain", vec![name()], None, json!({
                "200": answer("the inbound domain", schema("InboundDomain")), "404": error("no such inbound domain")})),
            "delete": operation("Remove an inbound relay domain (superadmin)", vec![name()], None, json!({
                "200": answer("deleted", schema("Deleted")), "403": error("not a superadmin"),
                "404": error("no such inbound domain")}))
        }
    })
}

fn inbound_schemas() -> Value {
    let tls = json!({"type": "string", "enum": ["none", "starttls", "implicit"]});
    json!({
        "InboundDomain": {"type": "object", "properties": {
            "name": {"type": "string", "description": "matched exactly against a recipient's domain (not its subdomains)"},
            "host": {"type": "string"}, "port": {"type": "integer"}, "tls": tls,
            "require_tls": {"type": "boolean"}, "comment": {"type": "string"}, "created_at_ms": {"type": "integer"}}},
        "NewInboundDomain": {"type": "object", "required": ["name", "host"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "description": "a domain name; stored lower-case without a trailing dot"},
                "host": {"type": "string", "description": "the internal server: a host name or an IP address"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 25},
                "tls": {"type": "string", "enum": ["none", "starttls", "implicit"], "default": "starttls",
                    "description": "starttls: when offered (the certificate is not verified)"},
                "require_tls": {"type": "boolean", "description": "default: true for implicit, false otherwise"},
                "comment": {"type": "string", "maxLength": 500}}}
    })
}

fn token_paths() -> Value {
    json!({
        "/tokens": {
            "get": operation("List API tokens (superadmin)", list_params(vec![]), None, json!({
                "200": answer("tokens", paged("ApiToken")), "403": error("not a superadmin")})),
            "post": operation("Create an API token; the secret is shown only here (superadmin)", vec![],
                Some(body("NewToken")), json!({"201": answer("created", schema("NewTokenAnswer")),
                    "403": error("not a superadmin"), "404": error("no such domain")}))
        },
        "/tokens/{id}": {
            "delete": operation("Delete an API token (superadmin; not the caller's own)", vec![id_param()], None,
                json!({"200": answer("deleted", schema("Deleted")), "403": error("not a superadmin"),
                    "404": error("no such token"), "409": error("the caller's own token")}))
        }
    })
}

fn delegation_paths() -> Value {
    let name = || path_param("name", json!({"type": "string"}));
    json!({
        "/domains/{name}/ip-ranges": {
            "get": operation("IP ranges delegated to a domain (a domain admin: its own domains)",
                list_params(vec![name()]), None, json!({"200": answer("delegations", paged("IpDelegation")),
                    "404": error("no such domain")})),
            "post": operation("Delegate an IP range to a domain (superadmin): its domain admins may create ip \
                accounts inside it", vec![name()], Some(body("NewIpDelegation")), json!({
                    "201": answer("delegated", schema("IpDelegation")), "403": error("not a superadmin"),
                    "404": error("no such domain"), "409": error("overlaps another delegation")}))
        },
        "/domains/{name}/ip-ranges/{id}": {
            "delete": operation("Remove a delegated range (superadmin); the ip accounts inside it stay",
                vec![name(), id_param()], None, json!({"200": answer("deleted", schema("Deleted")),
                    "403": error("not a superadmin"), "404": error("no such domain or delegation")}))
        }
    })
}

fn client_block_paths() -> Value {
    let unavailable = error("client blocks are not available on this server");
    json!({
        "/client-blocks": {
            "get": operation("Clients blocked now: AUTH failures and the listeners' daily blocks (superadmin)",
                vec![], None, json!({"200": answer("blocks", schema("ClientBlocks")),
                    "403": error("not a superadmin"), "503": unavailable.clone()}))
        },
        "/client-blocks/{ip}": {
            "delete": operation("Lift every block of a client address (superadmin)",
                vec![path_param("ip", json!({"type": "string"}))], None, json!({
                    "200": answer("lifted", schema("LiftedBlocks")), "403": error("not a superadmin"),
                    "404": error("not an address, or not blocked"), "503": unavailable}))
        }
    })
}

fn block_schemas() -> Value {
    let block = json!({"type": "object", "properties": {
        "client": {"type": "string", "description": "an IPv4 address or an IPv6 /64"},
        "kind": {"type": "string", "enum": ["auth_failures", "daily"]},
        "listener": {"type": "string"}, "reason": {"type": "string"}, "until_ms": {"type": "integer"}}});
    json!({
        "IpDelegation": {"type": "object", "properties": {
            "id": {"type": "integer"}, "domain": {"type": "string"}, "range": {"type": "string"},
            "comment": {"type": "string"}, "created_at_ms": {"type": "integer"}}},
        "NewIpDelegation": {"type": "object", "required": ["range"], "additionalProperties": false, "properties": {
            "range": {"type": "string", "description": "an address or CIDR range"},
            "comment": {"type": "string", "maxLength": 200}}},
        "ClientBlock": block,
        "ClientBlocks": {"type": "object", "properties": {
            "items": {"type": "array", "items": schema("ClientBlock")}, "total": {"type": "integer"}}},
        "LiftedBlocks": {"type": "object", "properties": {
            "client": {"type": "string"}, "lifted": {"type": "array", "items": schema("ClientBlock")}}}
    })
}

fn queue_paths() -> Value {
    let id = || path_param("id", json!({"type": "string", "pattern": "^[0-9A-F]{20}$"}));
    let action = |summary: &str| {
        json!({"post": operation(summary, vec![id()], None, json!({
            "200": answer("done", schema("QueueResult")), "404": error("no such message, or not in a state that allows this")}))})
    };
    let states = json!({"type": "string", "enum": ["incoming", "active", "deferred", "held"]});
    let list = vec![
        query("sender", json!({"type": "string"}), "envelope sender"),
        query("recipient", json!({"type": "string"}), "one of the recipients"),
        query("domain", json!({"type": "string"}), "the sender's or a recipient's domain"),
        query("state", states, "queue state"),
        query("limit", json!({"type": "integer", "minimum": 0}), "at most this many; 0 or absent: 1000"),
    ];
    json!({
        "/queue": {"get": operation("List queued messages (a domain admin: its own)", list, None, json!({
            "200": answer("messages", json!({"type": "array", "items": schema("QueueEntry")}))}))},
        "/queue/retry": {"post": operation("Retry every message not on hold now (a domain admin: its own)", vec![],
            None, json!({"200": answer("count", json!({"type": "object", "properties": {"retried": {"type": "integer"}}}))}))},
        "/queue/{id}": {
            "get": operation("Show one message", vec![id()], None, json!({
                "200": answer("the message", schema("QueueEntry")), "404": error("no such message")})),
            "delete": operation("Delete one message (no DSN)", vec![id()], None, json!({
                "200": answer("deleted", schema("QueueResult")), "404": error("no such message, or being tried")}))
        },
        "/queue/{id}/content": {
            "get": operation("A message's content as spooled (headers and body), at most 10 MiB: \
                X-Postern-Message-Size gives the whole size, X-Postern-Truncated says whether it was cut",
                vec![id()], None, json!({
                "200": {"description": "the message", "content": {"message/rfc822": {"schema": {"type": "string"}}}},
                "404": error("no such message")}))
        },
        "/status": {
            "get": operation("The server's status (superadmin): version, queue size, events stored, \
                stored after a retry, dropped and waiting", vec![], None, json!({
                "200": answer("status", schema("Status")), "403": error("not a superadmin")}))
        },
        "/queue/{id}/retry": action("Retry one message now"),
        "/queue/{id}/hold": action("Hold one message"),
        "/queue/{id}/release": action("Release a held message")
    })
}

fn dkim_paths() -> Value {
    let name = || path_param("name", json!({"type": "string"}));
    let selector = || path_param("selector", json!({"type": "string"}));
    let unavailable = || error("DKIM is not available on this server");
    let no_domain = || error("no such domain");
    json!({
        "/dkim": {
            "get": operation("List DKIM keys (a domain admin: its domains')",
                list_params(vec![query("domain", json!({"type": "string"}), "the keys of this domain")]), None,
                json!({"200": answer("keys", paged("DkimKey")), "503": unavailable()}))
        },
        "/domains/{name}/dkim/keys": {
            "get": operation("List a domain's DKIM keys", list_params(vec![name()]), None, json!({
                "200": answer("keys", paged("DkimKey")), "404": no_domain(), "503": unavailable()})),
            "post": operation("Generate (RSA-2048 default, or Ed25519) or import a DKIM key; it is pending until rotated in",
                vec![name()], Some(body("NewDkimKey")), json!({"201": answer("created", schema("DkimKey")),
                    "404": no_domain(), "409": error("the selector exists, or the domain has 10 keys"),
                    "503": unavailable()}))
        },
        "/domains/{name}/dkim/keys/{selector}": {
            "get": operation("Show a DKIM key and its DNS record", vec![name(), selector()], None, json!({
                "200": answer("the key", schema("DkimKey")), "404": error("no such domain or key"),
                "503": unavailable()})),
            "delete": operation("Remove a DKIM key (the active one only with force=true)",
                vec![name(), selector(), query("force", json!({"type": "boolean"}), "also the active key")], None,
                json!({"200": answer("deleted", schema("Deleted")), "404": error("no such domain or key"),
                    "409": error("the key is active"), "503": unavailable()}))
        },
        "/domains/{name}/dkim/dns": {
            "get": operation("The TXT records to publish: every key but the retired", vec![name()], None, json!({
                "200": answer("records", schema("DkimRecords")), "404": no_domain(), "503": unavailable()}))
        },
        "/domains/{name}/dkim/check": {
            "get": operation("Check in DNS that the records are published",
                vec![name(), query("selector", json!({"type": "string"}), "only this key")], None, json!({
                "200": answer("results", schema("DkimCheck")), "404": error("no such domain or key"),
                "503": unavailable()}))
        },
        "/domains/{name}/dkim/rotate": {
            "post": operation("Make a key the signing key of its algorithm; the previous one retires after grace_secs",
                vec![name()], Some(body("DkimRotate")), json!({"200": answer("rotated", schema("DkimRotation")),
                    "404": error("no such domain or key"), "409": error("already active, or not published in DNS"),
                    "503": unavailable()}))
        }
    })
}

// ---- schemas ----

fn schemas() -> Value {
    let mut all = Map::new();
    let groups = [common_schemas(), account_schemas(), settings_schemas(), token_schemas()];
    let more = [rule_schemas(), dkim_schemas(), block_schemas(), inbound_schemas(), quarantine_schemas()];
    let more = more.into_iter().chain([training_schemas()]);
    for group in groups.into_iter().chain(more) {
        if let Value::Object(group) = group {
            all.extend(group);
        }
    }
    Value::Object(all)
}

fn common_schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "field": {"type": "string", "description": "e.g. settings.limits.max_hops"}}},
        "Deleted": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "result": {"const": "deleted"}}},
        "LockState": {"type": "object", "properties": {
            "locked": {"type": "boolean"},
            "by": {"type": "string", "enum": ["administrator", "automatic"], "description": "who set the lock"},
            "reason": {"type": "string"}, "since_ms": {"type": "integer"},
            "until_ms": {"type": "integer"}, "automatic_unlocks": {"type": "integer"}}},
        "QueueResult": {"type": "object", "properties": {"queue_id": {"type": "string"}, "result": {"type": "string"}}},
        "Status": {"type": "object", "properties": {
            "version": {"type": "string"},
            "queue": {"type": "object", "properties": {"messages": {"type": "integer"}}},
            "events": {"type": "object", "properties": {
                "stored": {"type": "integer"}, "retried": {"type": "integer"}, "dropped": {"type": "integer"},
                "waiting": {"type": "integer"}, "failures": {"type": "integer"}}}}},
        "QueueEntry": {"type": "object", "properties": {
            "queue_id": {"type": "string"}, "sender": {"type": "string"}, "size": {"type": "integer"},
            "received_at_ms": {"type": "integer"},
            "state": {"type": "string", "enum": ["incoming", "active", "deferred", "held"]},
            "attempts": {"type": "integer"}, "next_attempt_ms": {"type": "integer"},
            "recipients": {"type": "array", "items": {"type": "object", "properties": {
                "address": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "bounced"]},
                "reply": {"type": "string"}}}}}}
    })
}

fn account_schemas() -> Value {
    let kind = json!({"type": "string", "enum": ["ip", "user", "domain"]});
    json!({
        "Account": {"type": "object", "properties": {
            "id": {"type": "integer"}, "domain": {"type": "string"}, "kind": kind,
            "name": {"type": "string", "description": "CIDR (ip), address (user) or the domain (domain)"},
            "has_password": {"type": "boolean"}, "settings": schema("AccountSettings"), "lock": schema("LockState"),
            "created_at_ms": {"type": "integer"}, "updated_at_ms": {"type": "integer"}}},
        "NewAccount": {"type": "object", "required": ["domain", "kind"], "additionalProperties": false, "properties": {
            "domain": {"type": "string"}, "kind": kind,
            "name": {"type": "string", "description": "ip: address or CIDR; user: an address of the domain; domain: the domain (optional)"},
            "password": {"type": "string", "writeOnly": true, "description": "user and domain accounts; never returned"},
            "settings": {"$ref": "#/components/schemas/AccountSettings", "description": "partial; merged over the kind's defaults"},
            "cover_trusted": {"type": "boolean", "default": false,
                "description": "ip accounts, superadmin only: the range may overlap a trusted network"}}},
        "AccountPatch": {"type": "object", "additionalProperties": false, "properties": {
            "settings": {"$ref": "#/components/schemas/AccountSettings", "description": "partial; objects merge, other values replace"},
            "password": {"type": "string", "writeOnly": true},
            "locked": {"type": "boolean", "description": "true locks by hand; false unlocks and resets automatic unlocks"}}},
        "Identity": {"type": "object", "properties": {
            "id": {"type": "integer"}, "account_id": {"type": "integer"}, "domain": {"type": "string"},
            "name": {"type": "string"}, "first_seen_ms": {"type": "integer"}, "last_seen_ms": {"type": "integer"},
            "messages": {"type": "integer"}, "lock": schema("LockState")}},
        "NewIdentity": {"type": "object", "required": ["account_id", "name"], "additionalProperties": false,
            "properties": {"account_id": {"type": "integer"}, "name": {"type": "string"}}},
        "IdentityPatch": {"type": "object", "required": ["locked"], "additionalProperties": false,
            "properties": {"locked": {"type": "boolean"}}},
        "Counters": {"type": "object", "properties": {
            "counters": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "count": {"type": "integer"},
                "limit": {"type": "integer", "description": "0: no limit"},
                "counted": {"type": "boolean", "description": "a counter counts only while its limit is set"}}}},
            "note": {"type": "string"},
            "spam": {"type": "object", "properties": {"count": {"type": "integer"},
                "threshold": {"type": "integer"}, "window_secs": {"type": "integer"}}},
            "lock": {"$ref": "#/components/schemas/LockState"}}},
        "SpamEvent": {"type": "object", "required": ["account_id"], "additionalProperties": false, "properties": {
            "account_id": {"type": "integer", "format": "int64"}, "identity": {"type": "string"}}},
        "SpamOutcome": {"type": "object", "properties": {
            "account_id": {"type": "integer"}, "identity": {"type": ["string", "null"]},
            "account_count": {"type": "integer"}, "identity_count": {"type": "integer"},
            "account_locked": {"type": "boolean"}, "identity_locked": {"type": "boolean"}}}
    })
}

fn settings_schemas() -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    let flag = json!({"type": "boolean"});
    let object = |properties: Value| json!({"type": "object", "additionalProperties": false, "properties": properties});
    json!({
        "AccountSettings": object(json!({
            "identification": object(json!({
                "method": {"type": "string", "enum": ["auth", "sender", "header"]},
                "headers": {"type": "array", "maxItems": 32, "items": {"type": "string", "maxLength": 64}},
                "regex": {"type": "string", "maxLength": 1024}, "strip": flag})),
            "allow_reauthentication": flag, "allow_foreign_sender_domains": flag,
            "quarantine_reaction": {"type": "string", "enum": ["reject", "accept"]},
            "archive": object(json!({"enabled": flag, "retention_days": {"type": "integer", "minimum": 1, "maximum": 3650}})),
            "lock": object(json!({
                "automatic": flag, "lock_identities": flag, "spam_threshold": int, "spam_window_secs": int,
                "timeout_minutes": {"type": "integer", "minimum": 0, "maximum": 10080},
                "max_automatic_unlocks": int, "template": {"type": "string", "maxLength": 512}})),
            "limits": object(json!({
                "connections_per_minute": int, "connections_per_hour": int, "connections_per_day": int,
                "connections_per_week": int, "connections_per_month": int, "messages_per_session": int,
                "recipients_per_day": int, "recipients_per_message": int, "max_message_size": int, "max_hops": int})),
            "dkim_selector": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"},
            "checks": object(json!({
                "spam": flag, "block_macros": flag, "block_dangerous_attachments": flag,
                "block_encrypted_archives": {"type": "boolean", "default": true,
                    "description": "with the attachment checks on: block an encrypted archive they cannot look into"},
                "clamav": flag, "block_new_domains": flag,
                "new_domain_min_age_hours": {"type": "integer", "minimum": 1, "maximum": 8760, "default": 24,
                    "description": "with block_new_domains: a sender domain younger than this is blocked"},
                "spam_threshold": {"type": "number", "minimum": 0.5, "maximum": 50.0, "default": 5.0,
                    "description": "the built-in scorer's threshold: a score this high or higher is spam"}})),
            "monitor_only": flag}))
    })
}

fn rule_schemas() -> Value {
    let value = "ip: an address; network: a CIDR, or an IPv4 address with a dotted mask (192.0.2.0/255.255.255.0, \
        stored as CIDR); sender, recipient: an address; sender_domain: a domain (exact, not its subdomains)";
    json!({
        "ListRule": {"type": "object", "properties": {
            "id": {"type": "integer"},
            "domain": {"type": ["string", "null"], "description": "null: a global rule"},
            "kind": rule_kind(), "value": {"type": "string", "description": "canonical"},
            "action": rule_action(), "comment": {"type": "string"}, "created_at_ms": {"type": "integer"}}},
        "NewListRule": {"type": "object", "required": ["kind", "value", "action"], "additionalProperties": false,
            "properties": {
                "domain": {"type": ["string", "null"], "description": "absent or null: a global rule (superadmin)"},
                "kind": rule_kind(), "value": {"type": "string", "description": value},
                "action": {"type": "string", "enum": ["reject", "discard", "allow"],
                    "description": "reject: 554 5.7.1; discard: 250 and dropped; allow: skips checks (seed 004), \
                        never permits relaying"},
                "comment": {"type": "string", "maxLength": 500}}}
    })
}

fn token_schemas() -> Value {
    let role = json!({"type": "string", "enum": ["superadmin", "domain_admin"],
        "description": "domain_admin is the one spelling in answers; domain-admin is accepted on input"});
    json!({
        "ApiToken": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "role": role,
            "domains": {"type": "array", "items": {"type": "string"}}, "created_at_ms": {"type": "integer"}}},
        "NewToken": {"type": "object", "required": ["name", "role"], "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "role": role,
            "domains": {"type": "array", "items": {"type": "string"}, "description": "domain_admin: at least one existing domain"}}},
        "NewTokenAnswer": {"type": "object", "properties": {
            "token": schema("ApiToken"), "secret": {"type": "string", "description": "pst_...; shown only here"}}},
        "WhoAmI": {"type": "object", "properties": {
            "token_id": {"type": "integer"}, "name": {"type": "string"}, "role": role,
            "domains": {"type": "array", "items": {"type": "string"}}}}
    })
}

fn dkim_schemas() -> Value {
    let algorithm = json!({"type": "string", "enum": ["rsa", "ed25519"]});
    let state = json!({"type": "string", "enum": ["pending", "active", "retiring", "retired"],
        "description": "pending: to publish, not signing; active: signs; retiring: replaced, still published until \
            retire_at_ms; retired: grace over, remove the record"});
    let record = json!({"type": "object", "properties": {
        "name": {"type": "string", "description": "<selector>._domainkey.<domain>"}, "type": {"const": "TXT"},
        "value": {"type": "string"},
        "strings": {"type": "array", "items": {"type": "string", "maxLength": 255}, "description": "the value in DNS strings"},
        "zone_line": {"type": "string"}}});
    json!({
        "DkimKey": {"type": "object", "properties": {
            "domain": {"type": "string"}, "selector": {"type": "string"}, "algorithm": algorithm, "state": state,
            "public_key": {"type": "string", "description": "the p= value; the private key is never returned"},
            "created_at_ms": {"type": "integer"}, "activated_at_ms": {"type": "integer"},
            "retire_at_ms": {"type": "integer"}, "dns": record}},
        "NewDkimKey": {"type": "object", "required": ["selector"], "additionalProperties": false, "properties": {
            "selector": {"type": "string", "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"},
            "algorithm": {"type": "string", "enum": ["rsa", "ed25519"], "default": "rsa"},
            "bits": {"type": "integer", "minimum": 2048, "maximum": 4096, "description": "RSA only; default 2048"},
            "private_key_pem": {"type": "string", "writeOnly": true,
                "description": "import this key (PKCS#1 or PKCS#8 PEM, RSA or Ed25519) instead of generating one"}}},
        "DkimRecords": {"type": "object", "properties": {"domain": {"type": "string"}, "records": {"type": "array",
            "items": {"type": "object", "properties": {"selector": {"type": "string"}, "algorithm": algorithm,
                "state": state, "name": {"type": "string"}, "type": {"const": "TXT"}, "value": {"type": "string"},
                "strings": {"type": "array", "items": {"type": "string"}}, "zone_line": {"type": "string"}}}}}},
        "DkimCheck": {"type": "object", "properties": {"domain": {"type": "string"},
            "all_published": {"type": "boolean"}, "results": {"type": "array", "items": {"type": "object", "properties": {
                "selector": {"type": "string"}, "state": state, "name": {"type": "string"},
                "status": {"type": "string", "enum": ["published", "missing", "mismatched", "error"]},
                "detail": {"type": "string"}, "found": {"type": "array", "items": {"type": "string"}}}}}}},
        "DkimRotate": {"type": "object", "required": ["selector"], "additionalProperties": false, "properties": {
            "selector": {"type": "string"},
            "grace_secs": {"type": "integer", "minimum": 0, "maximum": 7776000, "default": 604800},
            "force": {"type": "boolean", "default": false, "description": "skip the DNS check"}}},
        "DkimRotation": {"type": "object", "properties": {"activated": schema("DkimKey"),
            "retiring": {"type": "array", "items": schema("DkimKey")}}}
    })
}

fn quarantine_paths() -> Value {
    let states = json!({"type": "string", "enum": ["held", "releasing", "released", "purging"]});
    let filters = vec![
        query("domain", json!({"type": "string"}), "the account's domain"),
        query("account", json!({"type": "string"}), "the account's name (exact)"),
        query("identity", json!({"type": "string"}), "part of the identity"),
        query("sender", json!({"type": "string"}), "part of the envelope sender"),
        query("recipient", json!({"type": "string"}), "part of a recipient"),
        query("rule", json!({"type": "string"}), "the rule that found spam (exact)"),
        query("since_ms", json!({"type": "integer"}), "held at or after (Unix ms)"),
        query("until_ms", json!({"type": "integer"}), "held before (Unix ms)"),
        query("state", states, "held, releasing, released or purging"),
    ];
    let done = |summary: &str, extra: Value| {
        let mut responses = json!({
            "200": answer("done", schema("QuarantineResult")),
            "404": error("no such held message (or another tenant's)"),
            "409": error("not in a state that allows this")});
        if let (Value::Object(r), Value::Object(extra)) = (&mut responses, extra) {
            r.extend(extra);
        }
        json!({"post": operation(summary, vec![id_param()], None, responses)})
    };
    json!({
        "/quarantine": {"get": operation("List and search held messages, newest first (a domain admin: its \
            domains' only)", list_params(filters), None, json!({"200": answer("held messages", paged("HeldMessage"))}))},
        "/quarantine/{id}": {
            "get": operation("Show a held message: its row, header fields, a sanitised text preview (at most \
                4000 characters, control characters removed), the verdict trace and the ARF fields",
                vec![id_param()], None, json!({
                "200": answer("the message", schema("HeldMessageDetail")), "404": error("no such held message")})),
            "delete": operation("Delete a held message (not one being released)", vec![id_param()], None, json!({
                "200": answer("deleted", schema("QuarantineResult")), "404": error("no such held message"),
                "409": error("being released")}))
        },
        "/quarantine/{id}/arf": {"get": operation("The message's RFC 5965 abuse report (ARF), as sent to the \
            domain's abuse contact", vec![id_param()], None, json!({
            "200": {"description": "the report", "content": {"message/rfc822": {"schema": {"type": "string"}}}},
            "404": error("no such held message"), "409": error("released: the bytes are gone")}))},
        "/quarantine/{id}/release": done("Release (superadmin): spooled for delivery without another scan, \
            exactly once; a ham sample for training", json!({
                "403": error("not a superadmin"), "503": error("the spool refused it; it stays held")})),
        "/quarantine/{id}/confirm": done("Confirm as spam: a spam sample for training; it stays held", json!({})),
        "/quarantine/{id}/request-release": {"post": operation("Ask a superadmin to release it (shown in list \
            and show)", vec![id_param()], Some(body("ReleaseRequest")), json!({
            "200": answer("recorded", schema("QuarantineResult")), "404": error("no such held message"),
            "409": error("not held")}))}
    })
}

fn quarantine_schemas() -> Value {
    let check = json!({"type": "object", "properties": {
        "stage": {"type": "string"}, "engine": {"type": "string"}, "rule": {"type": "string"},
        "result": {"type": "string"}, "score": {"type": "number"}, "micros": {"type": "integer"}}});
    let held = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "queue_id": {"type": "string"}, "account_id": {"type": ["integer", "null"]},
        "account": {"type": ["string", "null"]}, "identity": {"type": ["string", "null"]},
        "domain": {"type": ["string", "null"]}, "sender_domain": {"type": ["string", "null"]},
        "sender": {"type": "string"}, "recipients": {"type": "array", "items": {"type": "string"}},
        "subject": {"type": "string"}, "rule": {"type": "string"},
        "checks": {"type": "array", "items": check, "description": "the verdict trace"},
        "client_ip": {"type": "string"}, "reaction": {"type": "string", "enum": ["reject", "accept"]},
        "size": {"type": "integer"}, "held_at_ms": {"type": "integer"}, "expires_at_ms": {"type": "integer"},
        "state": {"type": "string", "enum": ["held", "releasing", "released", "purging"]},
        "release_requested_by": {"type": ["string", "null"]}, "release_requested_at_ms": {"type": ["integer", "null"]},
        "release_note": {"type": ["string", "null"]}, "released_by": {"type": ["string", "null"]},
        "released_at_ms": {"type": ["integer", "null"]}, "confirmed_by": {"type": ["string", "null"]},
        "confirmed_at_ms": {"type": ["integer", "null"]}}});
    let mut detail = held.clone();
    detail["properties"]["headers"] = json!({"type": "array", "items": {"type": "array", "items": {"type": "string"}}});
    detail["properties"]["preview"] = json!({"type": ["string", "null"]});
    detail["properties"]["arf"] = json!({"type": ["string", "null"], "description": "the feedback-report fields"});
    json!({
        "HeldMessage": held,
        "HeldMessageDetail": detail,
        "QuarantineResult": {"type": "object", "properties": {
            "id": {"type": "integer"}, "result": {"type": "string"}, "queue_id": {"type": "string"},
            "by": {"type": "string"}}},
        "ReleaseRequest": {"type": "object", "additionalProperties": false, "properties": {
            "note": {"type": "string", "maxLength": 500}}}
    })
}

fn training_paths() -> Value {
    let label = json!({"name": "label", "in": "query", "required": true,
        "schema": {"type": "string", "enum": ["ham", "spam"]}, "description": "what the messages are"});
    let file = json!({"required": true, "description": "one message, or an mbox (`From ` separators, \
        `>From ` quoting) of at most 20,000 messages; at most 50 MiB", "content": {
        "message/rfc822": {"schema": {"type": "string"}}, "application/mbox": {"schema": {"type": "string"}},
        "application/octet-stream": {"schema": {"type": "string"}}}});
    let unavailable = || error("the built-in scorer is not available on this server");
    json!({"/training": {
        "get": operation("Where the built-in scorer's installation samples stand (superadmin)", vec![], None,
            json!({"200": answer("the installation's samples", schema("TrainingState")),
                "403": error("not a superadmin"), "503": unavailable()})),
        "post": {
            "summary": "Train the built-in scorer from one message or an mbox (superadmin); messages already \
                learned with the other label move to this one",
            "parameters": [label],
            "requestBody": file,
            "responses": {
                "200": answer("what was learned", schema("TrainingResult")),
                "400": error("a label other than ham or spam, or a body with no message"),
                "401": error("missing or unknown token"),
                "403": error("not a superadmin"),
                "413": error("body larger than 50 MiB or more than 20,000 messages"),
                "503": unavailable()
            }
        }
    }})
}

fn training_schemas() -> Value {
    let installation = json!({"type": "object", "properties": {
        "ham": {"type": "integer", "description": "ham samples learned"},
        "spam": {"type": "integer", "description": "spam samples learned"},
        "minimum": {"type": "object", "properties": {"ham": {"type": "integer"}, "spam": {"type": "integer"}},
            "description": "samples of each needed before the installation's model takes part ([scorer])"},
        "in_force": {"type": "boolean", "description": "whether the installation's samples take part"}}});
    json!({
        "TrainingState": {"type": "object", "properties": {"installation": installation.clone()}},
        "TrainingResult": {"type": "object", "properties": {
            "label": {"type": "string", "enum": ["ham", "spam"]},
            "messages": {"type": "integer", "description": "messages in the file"},
            "learned": {"type": "integer", "description": "messages that changed the counts"},
            "relabelled": {"type": "integer", "description": "of those, learned before with the other label"},
            "known": {"type": "integer", "description": "already learned with this label"},
            "installation": installation}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_operations_and_schemas_are_in_the_document() {
        let doc = spec();
        let domains = &doc["paths"]["/domains"];
        assert!(domains["get"].is_object() && domains["post"].is_object(), "{domains}");
        let params: Vec<&str> =
            domains["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(params, ["name", "filter_enabled", "limit", "offset"]);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["DomainCreate"]["required"], json!(["name"]));
        assert!(schemas["Error"]["properties"]["status"].is_null(), "{}", schemas["Error"]);
        // OpenAPI requires a description on every response.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (code, response) in op["responses"].as_object().unwrap() {
                    assert!(response["description"].is_string(), "{method} {path} {code}");
                }
            }
        }
        // Hand-written groups are still there, next to the derived ones.
        assert!(doc["paths"]["/accounts"]["get"].is_object());
        assert!(doc["paths"]["/domains/{name}"]["patch"].is_object());
    }
}
