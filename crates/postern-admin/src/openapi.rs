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
        crate::rules::list,
        crate::rules::create,
        crate::rules::show,
        crate::rules::delete,
        crate::inbound::list,
        crate::inbound::create,
        crate::inbound::show,
        crate::inbound::delete,
        crate::dkim::list_all,
        crate::dkim::list,
        crate::dkim::create,
        crate::dkim::show,
        crate::dkim::delete,
        crate::dkim_dns::records,
        crate::dkim_dns::check_dns,
        crate::dkim_dns::rotate,
        crate::queue::list,
        crate::queue::retry_all,
        crate::queue::show,
        crate::queue::delete,
        crate::queue::content,
        crate::queue::retry,
        crate::queue::hold,
        crate::queue::release,
        crate::quarantine::list,
        crate::quarantine::show,
        crate::quarantine::delete,
        crate::quarantine::report,
        crate::quarantine::release,
        crate::quarantine::confirm,
        crate::quarantine::request_release,
        crate::training::show,
        crate::training::learn,
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
    let groups = [whoami_paths(), account_paths(), identity_paths(), limit_paths(), token_paths()];
    let more = [status_paths(), delegation_paths(), client_block_paths()];
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
    let mut derived = match serde_json::to_value(Derived::openapi()) {
        Ok(derived) => derived,
        Err(e) => {
            tracing::error!(error = %e, "the derived OpenAPI document does not serialize");
            return;
        }
    };
    tag_operation_ids(&mut derived);
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

/// A derived operation's id is its handler's name, which repeats across groups (`list`,
/// `show`); prefixed with the operation's tag (`rules_list`) it is unique, as OpenAPI
/// requires.
fn tag_operation_ids(derived: &mut Value) {
    let Some(paths) = derived["paths"].as_object_mut() else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let tag = op["tags"][0].as_str().map(str::to_string);
        if let (Some(tag), Some(id)) = (tag, op["operationId"].as_str()) {
            op["operationId"] = Value::String(format!("{tag}_{id}"));
        }
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

fn status_paths() -> Value {
    json!({
        "/status": {
            "get": operation("The server's status (superadmin): version, queue size, events stored, \
                stored after a retry, dropped and waiting", vec![], None, json!({
                "200": answer("status", schema("Status")), "403": error("not a superadmin")}))
        }
    })
}

// ---- schemas ----

fn schemas() -> Value {
    let mut all = Map::new();
    let groups = [common_schemas(), account_schemas(), settings_schemas(), token_schemas()];
    for group in groups.into_iter().chain([block_schemas()]) {
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
        "Status": {"type": "object", "properties": {
            "version": {"type": "string"},
            "queue": {"type": "object", "properties": {"messages": {"type": "integer"}}},
            "events": {"type": "object", "properties": {
                "stored": {"type": "integer"}, "retried": {"type": "integer"}, "dropped": {"type": "integer"},
                "waiting": {"type": "integer"}, "failures": {"type": "integer"}}}}}
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

    #[test]
    fn operation_ids_are_unique() {
        let doc = spec();
        let mut seen = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(seen.insert(id.to_string()), "{method} {path}: {id} is used twice");
                }
            }
        }
        assert!(seen.contains("rules_list") && seen.contains("queue_release") && seen.contains("quarantine_release"));
    }

    #[test]
    fn non_json_answers_and_enums_are_described() {
        let doc = spec();
        let paths = &doc["paths"];
        let content = &paths["/queue/{id}/content"]["get"]["responses"]["200"];
        assert!(content["content"]["message/rfc822"].is_object(), "{content}");
        assert!(content["headers"]["X-Postern-Truncated"].is_object(), "{content}");
        assert!(paths["/quarantine/{id}/arf"]["get"]["responses"]["200"]["content"]["message/rfc822"].is_object());
        let training = &paths["/training"]["post"];
        assert!(training["requestBody"]["content"]["application/mbox"].is_object(), "{training}");
        let label = &training["parameters"][0];
        assert_eq!((label["name"].as_str(), label["required"].as_bool()), (Some("label"), Some(true)));
        assert_eq!(label["schema"]["enum"], json!(["ham", "spam"]));
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["QueueEntry"]["properties"]["state"]["enum"],
            json!(["incoming", "active", "deferred", "held"])
        );
        let kinds = json!(["ip", "network", "sender", "recipient", "sender_domain"]);
        assert_eq!(schemas["ListKind"]["enum"], kinds);
        assert_eq!(schemas["DkimKeyState"]["enum"], json!(["pending", "active", "retiring", "retired"]));
        assert_eq!(schemas["RuleCreate"]["required"], json!(["kind", "value", "action"]));
        assert_eq!(schemas["InboundCreate"]["additionalProperties"], json!(false));
        assert!(schemas["DkimKeyCreate"]["properties"]["private_key_pem"]["writeOnly"].as_bool().unwrap_or(false));
        // A held message's detail is its row and more: every row field is in it.
        assert_eq!(schemas["HeldMessageDetail"]["allOf"][0]["$ref"], "#/components/schemas/HeldMessage");
    }
}
