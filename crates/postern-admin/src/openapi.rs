//! The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`, derived from the
//! code: every handler carries `#[utoipa::path]` and is listed in [`Derived`], and the
//! operations' input and result types derive `utoipa::ToSchema` / `IntoParams`, so the
//! document cannot drift from what a handler parses and answers. The tenant-isolation test
//! walks its paths, so an endpoint missing here is a failing test.

use axum::Json;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::ApiError;

/// Every endpoint under `/api/v1`.
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
        crate::accounts::list,
        crate::accounts::create,
        crate::accounts::show,
        crate::accounts::update,
        crate::accounts::delete,
        crate::identities::list,
        crate::identities::create,
        crate::identities::show,
        crate::identities::update,
        crate::identities::delete,
        crate::tokens::whoami,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::delete,
        crate::admin_users::list,
        crate::admin_users::create,
        crate::admin_users::show,
        crate::admin_users::update,
        crate::admin_users::delete,
        crate::delegations::list,
        crate::delegations::create,
        crate::delegations::delete,
        crate::client_blocks::list,
        crate::client_blocks::lift,
        crate::limits::account_counters,
        crate::limits::identity_counters,
        crate::limits::spam_event,
        crate::status::show,
        crate::archive::search,
        crate::archive::export,
        crate::archive::show,
        crate::archive::message,
        crate::log::search,
        crate::log::show,
    ),
    modifiers(&Bearer),
    components(schemas(ApiError))
)]
struct Derived;

/// Every operation needs a bearer token (the document itself does not).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        doc.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

pub async fn document() -> Json<Value> {
    Json(spec())
}

/// The whole document.
pub fn spec() -> Value {
    let mut doc = match serde_json::to_value(Derived::openapi()) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            return json!({"openapi": "3.1.0"});
        }
    };
    doc["info"] = json!({
        "title": "Postern admin API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Bearer tokens have a role. A superadmin sees everything; a domain admin sees its \
            own domains only: other tenants' objects answer 404, superadmin-only actions 403. \
            Errors are {\"error\": ..., \"field\": ...}; bodies are JSON of at most 64 KiB. \
            Every operation may also answer 401 (no valid token), and a JSON body 413 (too large) \
            or 415 (not JSON)."
    });
    doc["servers"] = json!([{"url": "/api/v1"}]);
    tag_operation_ids(&mut doc);
    doc
}

/// An operation's id is its handler's name, which repeats across groups (`list`, `show`);
/// prefixed with the operation's tag (`rules_list`) it is unique, as OpenAPI requires.
fn tag_operation_ids(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let tag = op["tags"][0].as_str().map(str::to_string);
        if let (Some(tag), Some(id)) = (tag, op["operationId"].as_str()) {
            op["operationId"] = Value::String(format!("{}_{id}", tag.replace('-', "_")));
        }
    }
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
        assert!(doc["paths"]["/domains/{name}"]["patch"].is_object());
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }

    #[test]
    fn derived_schemas_keep_the_constraints_of_the_settings() {
        let doc = spec();
        let schemas = &doc["components"]["schemas"];
        let range = |schema: &str, field: &str| {
            let property = &schemas[schema]["properties"][field];
            (property["minimum"].as_f64(), property["maximum"].as_f64())
        };
        assert_eq!(range("ContentChecks", "new_domain_min_age_hours"), (Some(1.0), Some(8760.0)));
        assert_eq!(range("ContentChecks", "spam_threshold"), (Some(0.5), Some(50.0)));
        assert_eq!(range("Archive", "retention_days"), (Some(1.0), Some(3650.0)));
        assert_eq!(range("LockSettings", "timeout_minutes"), (Some(0.0), Some(10080.0)));
        assert_eq!(schemas["ContentChecks"]["properties"]["block_encrypted_archives"]["default"], true);
        assert_eq!(schemas["AccountSettings"]["additionalProperties"], false, "unknown settings are refused");
        assert_eq!(schemas["AccountKind"]["enum"], json!(["ip", "user", "domain"]));
        assert_eq!(schemas["Role"]["enum"], json!(["superadmin", "domain_admin"]));
        assert_eq!(schemas["AccountCreate"]["properties"]["password"]["writeOnly"], true);
        assert_eq!(schemas["AccountCreate"]["required"], json!(["domain", "kind"]));
        let accounts = &doc["paths"]["/accounts"]["get"]["parameters"];
        let names: Vec<&str> = accounts.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["domain", "kind", "name", "locked", "limit", "offset"]);
    }

    #[test]
    fn passwords_are_write_only_and_panel_users_show_no_hash() {
        let doc = spec();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut seen = 0;
        for (name, schema) in schemas {
            let Some(properties) = schema["properties"].as_object() else { continue };
            // `has_password` (an account's) is an answer, not a secret.
            for (field, property) in properties.iter().filter(|(field, _)| *field == "password") {
                assert_eq!(property["writeOnly"], true, "{name}.{field} must be writeOnly: {property}");
                seen += 1;
            }
        }
        assert!(seen >= 3, "AccountCreate, AdminUserCreate and AdminUserUpdate have passwords");
        assert_eq!(schemas["AdminUserCreate"]["properties"]["password"]["writeOnly"], true);
        assert_eq!(schemas["AdminUserUpdate"]["properties"]["password"]["writeOnly"], true);
        let user = schemas["AdminUser"]["properties"].as_object().unwrap();
        assert!(user.keys().all(|k| !k.contains("password") && !k.contains("hash")), "{user:?}");
        let ops = &doc["paths"]["/admin-users/{id}"];
        let ids: Vec<&str> =
            ["get", "patch", "delete"].iter().map(|m| ops[m]["operationId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["admin_users_show", "admin_users_update", "admin_users_delete"]);
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = spec();
        let mut seen = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(seen.insert(id.to_string()), "{method} {path}: operationId {id} is used twice");
                }
            }
        }
        assert!(seen.contains("rules_list") && seen.contains("queue_release") && seen.contains("accounts_list"));
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
