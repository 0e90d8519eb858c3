//! `GET /metrics`: the Prometheus text format, outside `/api/v1` and its tokens: the
//! `[metrics]` section decides who may read it (a peer in `allow`, or its own bearer
//! token).
//!
//! In: a request, its peer address (the server is run with connect info) and its
//! `Authorization` header. Out: the metrics text (`postern_metrics`), with the queue by
//! state, the open sessions and the event writer's counts read at this moment; 403 for a
//! peer outside `allow` without a token, 401 for a wrong token (a short text body, nothing
//! about why beyond that). A server built without metrics answers 404.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use postern_config::MetricsConfig;
use postern_core::Live;
use postern_metrics::{Access, EventFigures, Metrics, Scraped};

use crate::{AdminState, ApiError};

/// What `/metrics` serves, and who may read it.
pub struct MetricsEndpoint {
    pub metrics: Arc<Metrics>,
    /// `[metrics]`; a configuration reload replaces it.
    pub access: Arc<Live<MetricsConfig>>,
    /// SMTP sessions open now.
    pub open_sessions: Arc<dyn Fn() -> u64 + Send + Sync>,
}

pub async fn show(State(state): State<AdminState>, request: Request) -> Response {
    let Some(endpoint) = &state.metrics else { return ApiError::not_found("no such endpoint").into_response() };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match postern_metrics::check_access(&endpoint.access.load(), peer, authorization) {
        Access::Granted => {}
        Access::BadToken => {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
            return (StatusCode::UNAUTHORIZED, challenge, "wrong metrics token\n").into_response();
        }
        Access::NotAllowed => {
            return (StatusCode::FORBIDDEN, "not allowed from this address; use the metrics token\n").into_response();
        }
    }
    let queue = state.queue.counts_by_state();
    let scraped = Scraped {
        queue: vec![
            ("incoming", queue.incoming),
            ("active", queue.active),
            ("deferred", queue.deferred),
            ("held", queue.held),
        ],
        sessions_open: (endpoint.open_sessions)(),
        events: state.events.as_ref().map(|stats| {
            let c = stats.counts();
            EventFigures {
                stored: c.stored,
                retried: c.retried,
                dropped: c.dropped,
                waiting: c.waiting,
                failures: c.failures,
            }
        }),
    };
    match endpoint.metrics.render(&scraped) {
        Ok(text) => ([(header::CONTENT_TYPE, postern_metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
