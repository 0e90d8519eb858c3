//! The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`.

use axum::Json;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9A-F]{20}$"}}]);
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let action = |summary: &str| json!({"post": {"summary": summary, "parameters": id_param, "responses": {"200": {"description": "done"}, "404": error, "401": error}}});
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Postern admin API", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": "string"}}},
                "QueueEntry": {"type": "object", "properties": {
                    "queue_id": {"type": "string"}, "sender": {"type": "string"}, "size": {"type": "integer"},
                    "received_at_ms": {"type": "integer"}, "state": {"type": "string", "enum": ["incoming", "active", "deferred", "held"]},
                    "attempts": {"type": "integer"}, "next_attempt_ms": {"type": "integer"},
                    "recipients": {"type": "array", "items": {"type": "object", "properties": {
                        "address": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "bounced"]}, "reply": {"type": "string"}}}}
                }}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/queue": {"get": {"summary": "List queued messages", "parameters": [
                {"name": "sender", "in": "query", "schema": {"type": "string"}},
                {"name": "recipient", "in": "query", "schema": {"type": "string"}},
                {"name": "domain", "in": "query", "schema": {"type": "string"}},
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["incoming", "active", "deferred", "held"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}
            ], "responses": {"200": {"description": "messages", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/QueueEntry"}}}}}, "400": error, "401": error}}},
            "/queue/retry": {"post": {"summary": "Retry every message now", "responses": {"200": {"description": "count"}, "401": error}}},
            "/queue/{id}": {
                "get": {"summary": "Show one message", "parameters": id_param, "responses": {"200": {"description": "the message", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueueEntry"}}}}, "404": error, "401": error}},
                "delete": {"summary": "Delete one message (no DSN)", "parameters": id_param, "responses": {"200": {"description": "deleted"}, "404": error, "401": error}}
            },
            "/queue/{id}/retry": action("Retry one message now"),
            "/queue/{id}/hold": action("Hold one message"),
            "/queue/{id}/release": action("Release a held message")
        }
    }))
}
