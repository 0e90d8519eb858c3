//! Listeners and connections. `serve` takes already-bound listeners (so tests bind port 0),
//! accepts until shutdown, bounds concurrent connections (per listener, so that idle
//! connections on one port never lock out another's clients, and over all listeners),
//! and on shutdown waits for sessions in flight up to the configured time.
//!
//! [`handle_connection`] drives one session over any stream: the checks at connect (with
//! implicit TLS after the handshake, so the client can read the `421`), STARTTLS upgrades,
//! and the events at both ends. Tests call it over in-memory pipes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postern_config::ListenerKind;
use postern_core::{Live, Reply, TlsInfo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_util::task::TaskTracker;

use crate::context::{ListenerContext, Services};
use crate::io::SmtpStream;
use crate::session::{Outcome, Session};

pub struct Listener {
    pub socket: TcpListener,
    /// Read at each accept: a configuration reload replaces it for new connections, and a
    /// session keeps the settings it started with.
    pub context: Arc<Live<ListenerContext>>,
}

/// Runs every listener until `services.shutdown` is cancelled (each with its own
/// connection limit, `max_connections` over all of them), then waits up to
/// `shutdown_timeout` for open sessions (idle ones are told 421 at once; transactions in
/// flight may finish). Returns the number of sessions that were still open at the end.
pub async fn serve(
    listeners: Vec<Listener>,
    services: Arc<Services>,
    max_connections: usize,
    shutdown_timeout: Duration,
) -> usize {
    let tracker = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(max_connections));
    let ids = Arc::new(AtomicU64::new(1));
    let mut accepting = JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(
            listener,
            Arc::clone(&services),
            tracker.clone(),
            Arc::clone(&permits),
            Arc::clone(&ids),
        ));
    }
    services.shutdown.cancelled().await;
    accepting.abort_all();
    while accepting.join_next().await.is_some() {}
    tracker.close();
    if tokio::time::timeout(shutdown_timeout, tracker.wait()).await.is_err() {
        tracing::warn!(
            sessions = tracker.len(),
            "shutdown timeout reached; closing remaining sessions (none of their messages was acknowledged)"
        );
    }
    tracker.len()
}

async fn accept_loop(
    listener: Listener,
    services: Arc<Services>,
    tracker: TaskTracker,
    permits: Arc<Semaphore>,
    ids: Arc<AtomicU64>,
) {
    // Sized once: a reload that changes it is named as needing a restart (reload_plan.rs).
    let own_permits = Arc::new(Semaphore::new(listener.context.load().max_connections));
    loop {
        let (tcp, peer) = match listener.socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: slow down instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let context = listener.context.load();
        let services = Arc::clone(&services);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let permit = match Arc::clone(&own_permits).try_acquire_owned() {
            Ok(own) => Arc::clone(&permits).try_acquire_owned().map(|all| (own, all)).map_err(|_| "over all listeners"),
            Err(_) => Err("on this listener"),
        };
        tracker.spawn(async move {
            match permit {
                Ok(_permits) => handle_connection(tcp, peer, context, services, id).await,
                Err(scope) => {
                    let mut tcp = tcp;
                    let reply =
                        Reply::new(421, "4.3.2", format!("{} Too many connections, try again later", context.hostname));
                    let _ = tcp.write_all(reply.render().as_bytes()).await;
                    tracing::warn!(client = %peer, listener = context.kind.name(), "connection refused: too many connections {scope}");
                }
            }
        });
    }
}

/// One connection, start to end.
pub async fn handle_connection<S>(
    stream: S,
    peer: SocketAddr,
    context: Arc<ListenerContext>,
    services: Arc<Services>,
    id: u64,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let shutdown = services.shutdown.clone();
    // Counted until this function returns or its task is dropped, whatever ends it.
    let _open = services.open_sessions.enter();
    let mut session = Session::new(Arc::clone(&context), services, id, peer);
    // This future lives in the connection's task from accept to close, idle or not: what
    // runs once (connect, greeting, TLS) or only while a command runs is boxed, so that
    // its state is allocated for that while and not kept by every idle connection.
    Box::pin(session.connected()).await;
    let reason = if context.kind == ListenerKind::Smtps {
        Box::pin(run_tls(&mut session, &context, stream, &shutdown, true)).await
    } else {
        let mut plain = SmtpStream::new(stream);
        if let Some(reason) = Box::pin(session.open(&mut plain)).await {
            Box::pin(session.disconnected(reason)).await;
            return;
        }
        match session.run(&mut plain).await {
            Outcome::Closed(reason) => reason.to_string(),
            Outcome::StartTls => Box::pin(run_tls(&mut session, &context, plain.into_inner(), &shutdown, false)).await,
        }
    };
    Box::pin(session.disconnected(&reason)).await;
}

/// TLS on the connection, then the session over it. Implicit TLS (port 465) greets once
/// the handshake is done (`greet`); after STARTTLS the client goes on without a greeting.
async fn run_tls<S>(
    session: &mut Session,
    context: &ListenerContext,
    stream: S,
    shutdown: &tokio_util::sync::CancellationToken,
    greet: bool,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = match tls_accept(context, stream, shutdown).await {
        Ok((tls, info)) => {
            session.tls_started(info).await;
            tls
        }
        Err(reason) => return reason,
    };
    let mut secure = SmtpStream::new(tls);
    if greet && let Some(reason) = session.open(&mut secure).await {
        return reason.to_string();
    }
    outcome_reason(session.run(&mut secure).await)
}

fn outcome_reason(outcome: Outcome) -> String {
    match outcome {
        Outcome::Closed(reason) => reason.to_string(),
        Outcome::StartTls => "STARTTLS inside TLS".to_string(),
    }
}

async fn tls_accept<S>(
    context: &ListenerContext,
    stream: S,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(TlsStream<S>, TlsInfo), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(acceptor) = &context.tls else {
        return Err("TLS not configured".to_string());
    };
    // A handshake that has not finished is idle: shutdown does not wait for it.
    let handshake = tokio::time::timeout(context.limits.command_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Err(_) => return Err("TLS handshake timed out".to_string()),
        },
        _ = shutdown.cancelled() => return Err("shutdown during TLS handshake".to_string()),
    };
    let connection = tls.get_ref().1;
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let cipher = connection
        .negotiated_cipher_suite()
        .map(|s| s.suite().as_str().map(str::to_string).unwrap_or_else(|| format!("{:?}", s.suite())))
        .unwrap_or_else(|| "unknown".to_string());
    Ok((tls, TlsInfo { version, cipher }))
}
