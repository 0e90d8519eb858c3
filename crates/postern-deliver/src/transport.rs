//! [`Delivery`]: the `Transport` the queue manager calls. Resolves a job's destination
//! (an inbound relay domain's internal server, a relay host or MX), tries its addresses in order, reuses idle connections to the same
//! server, and turns replies into per-recipient results (2xx delivered, 4xx deferred,
//! 5xx bounced). Null MX and non-existent domains bounce at once; DNS trouble defers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postern_config::{Delivery as DeliveryConfig, RelayHost, Route, TlsMode};
use postern_core::{BoxFuture, Envelope, Recipient};
use postern_queue::{Job, Outcome, RcptResult, Transport};

use crate::client::{Client, ClientError, ConnectOptions, ServerReply};
use crate::dns::{Answer, Dns, Target};
use crate::route::{Hop, InboundLookup, next_hop};

const MAX_IDLE_PER_SERVER: usize = 32;

pub struct Delivery {
    /// Per relay host (same index): the roots its certificate is verified against.
    roots: Vec<Option<std::sync::Arc<rustls::RootCertStore>>>,
    config: DeliveryConfig,
    dns: Dns,
    helo: String,
    idle: Arc<IdlePool>,
    /// Inbound relay domains; `None`: there are none.
    inbound: Option<InboundLookup>,
}

impl Delivery {
    pub fn new(config: DeliveryConfig, helo: String) -> Result<Delivery, String> {
        let dns = Dns::new(&config.dns_servers, config.mx_overrides.clone(), config.smtp_port)?;
        let mut system: Option<Vec<rustls::pki_types::CertificateDer<'static>>> = None;
        let mut roots = Vec::new();
        for host in &config.relay_hosts {
            if !host.tls_verify {
                roots.push(None);
                continue;
            }
            let mut store = rustls::RootCertStore::empty();
            let native = system.get_or_insert_with(|| rustls_native_certs::load_native_certs().certs);
            store.add_parsable_certificates(native.iter().cloned());
            if let Some(path) = &host.tls_ca_file {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("relay host {}: tls_ca_file {}: {e}", host.name, path.display()))?;
                if certs.is_empty() {
                    return Err(format!("relay host {}: tls_ca_file {}: no certificate", host.name, path.display()));
                }
                store.add_parsable_certificates(certs);
            }
            roots.push(Some(std::sync::Arc::new(store)));
        }
        Ok(Delivery { roots, config, dns, helo, idle: Arc::new(Mutex::new(Idle::default())), inbound: None })
    }

    /// Mail to inbound relay domains goes to their internal servers (before every rule).
    pub fn with_inbound(mut self, lookup: InboundLookup) -> Delivery {
        self.inbound = Some(lookup);
        self
    }

    /// The next hop for one recipient.
    fn hop(&self, envelope: &Envelope, recipient: &Recipient) -> Hop {
        let domain = recipient.address.domain.as_str().to_ascii_lowercase();
        let inbound = self.inbound.as_ref().and_then(|lookup| lookup(&domain));
        next_hop(&self.config, inbound.as_ref(), envelope.sender.as_ref(), &recipient.address)
    }

    /// The relay host of a hop (`None`: MX) and the roots its certificate is checked with.
    fn relay_host<'a>(&'a self, hop: &'a Hop) -> Option<(&'a RelayHost, Option<Arc<rustls::RootCertStore>>)> {
        match hop {
            Hop::Configured(Route::Direct) => None,
            Hop::Configured(Route::Relay(i)) => {
                self.config.relay_hosts.get(*i).map(|h| (h, self.roots.get(*i).cloned().flatten()))
            }
            Hop::Inbound(host) => Some((host, None)),
        }
    }

    fn options(&self, hop: &Hop) -> ConnectOptions {
        let (tls, require_tls, auth, roots) = match self.relay_host(hop) {
            Some((h, roots)) => (h.tls, h.require_tls, h.auth.clone(), roots),
            None => (TlsMode::StartTls, false, None, None),
        };
        ConnectOptions {
            helo: self.helo.clone(),
            tls,
            require_tls,
            auth,
            connect_timeout: self.config.connect_timeout,
            command_timeout: self.config.command_timeout,
            data_timeout: self.config.data_timeout,
            roots,
        }
    }

    async fn targets(&self, hop: &Hop, domain: &str) -> Result<Answer, String> {
        let answer = match (hop, self.relay_host(hop)) {
            (Hop::Configured(Route::Direct), _) => self.dns.mx_targets(domain).await,
            (_, Some((h, _))) => self.dns.host_targets(&h.host, h.port).await,
            (_, None) => return Err("unknown relay host".into()),
        };
        answer.map_err(|e| e.0)
    }

    fn take_idle(&self, key: &str) -> Option<Client> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.servers.get_mut(key)?;
            loop {
                match list.pop() {
                    Some((since, client)) if since.elapsed() < self.config.connection_reuse_time => break Some(client),
                    Some((_, client)) => stale.push(client),
                    None => break None,
                }
            }
        };
        close_all(stale);
        found
    }

    /// Keeps a connection for reuse, and closes it (QUIT) once it has been idle for
    /// `connection_reuse_time`, whether or not another delivery comes along: one sweeper
    /// task does that for every kept connection, while there are any.
    fn put_idle(&self, key: String, client: Client) {
        let (surplus, start_sweeper) = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.servers.entry(key).or_default();
            let surplus = if list.len() < MAX_IDLE_PER_SERVER {
                list.push((Instant::now(), client));
                None
            } else {
                Some(client)
            };
            (surplus, !std::mem::replace(&mut idle.sweeping, true))
        };
        close_all(surplus);
        if start_sweeper {
            tokio::spawn(sweep(Arc::clone(&self.idle), self.config.connection_reuse_time));
        }
    }

    async fn run(&self, job: Job) -> Vec<RcptResult> {
        let envelope = &job.envelope;
        let Some(&first) = job.recipients.first() else { return Vec::new() };
        let hop = self.hop(envelope, &envelope.recipients[first]);
        let domain = envelope.recipients[first].address.domain.as_str().to_string();
        let all = |outcome: Outcome, status: &str, reply: String| -> Vec<RcptResult> {
            job.recipients
                .iter()
                .map(|&index| RcptResult {
                    index,
                    outcome,
                    status: status.to_string(),
                    reply: reply.clone(),
                    remote: None,
                    dsn_passed_on: false,
                })
                .collect()
        };
        let targets = match self.targets(&hop, &domain).await {
            Ok(Answer::Targets(t)) => t,
            Ok(Answer::NullMx) => {
                return all(Outcome::Bounced, "5.1.10", format!("{domain} does not accept mail (null MX, RFC 7505)"));
            }
            Ok(Answer::NotFound(why)) => return all(Outcome::Bounced, "5.1.2", why),
            Err(why) => return all(Outcome::Deferred, "4.4.3", why),
        };
        let options = self.options(&hop);
        let recipients: Vec<&Recipient> = job.recipients.iter().map(|&i| &envelope.recipients[i]).collect();
        let mut last_error =
            ClientError { permanent: false, status: "4.4.1".into(), message: "no server to try".into() };
        for target in &targets {
            match self.attempt(target, &options, envelope, &recipients, &job.message).await {
                Ok((remote, replies, dsn)) => {
                    return job
                        .recipients
                        .iter()
                        .zip(replies)
                        .map(|(&index, reply)| result(index, &reply, &remote, dsn))
                        .collect();
                }
                Err(e) => {
                    tracing::info!(destination = %job.destination, error = %e.message, "delivery attempt failed; trying the next server");
                    last_error = e;
                }
            }
        }
        let outcome = if last_error.permanent { Outcome::Bounced } else { Outcome::Deferred };
        all(outcome, &last_error.status, last_error.message)
    }

    async fn attempt(
        &self,
        target: &Target,
        options: &ConnectOptions,
        envelope: &Envelope,
        recipients: &[&Recipient],
        message: &[u8],
    ) -> Result<(String, Vec<ServerReply>, bool), ClientError> {
        let key = format!(
            "{}|{}|{:?}|{}",
            target.addr,
            target.name,
            options.tls,
            options.auth.as_ref().map_or("", |a| &a.username)
        );
        if let Some(mut client) = self.take_idle(&key) {
            // `None`: it no longer answers (closed or timed out while idle); a new one follows.
            if let Some(result) = client.send_reused(envelope, recipients, message).await? {
                let remote = client.remote.clone();
                self.put_idle(key, client);
                return Ok((remote, result.recipients, result.dsn));
            }
        }
        let mut client = Client::connect(&target.name, target.addr, options.clone()).await?;
        let result = client.send(envelope, recipients, message).await?;
        let remote = client.remote.clone();
        self.put_idle(key, client);
        Ok((remote, result.recipients, result.dsn))
    }
}

/// Connections kept for reuse, by server, newest last.
#[derive(Default)]
struct Idle {
    servers: HashMap<String, Vec<(Instant, Client)>>,
    /// A [`sweep`] task runs; it ends (and says so here) once nothing is kept.
    sweeping: bool,
}

type IdlePool = Mutex<Idle>;

/// Closes each kept connection once it has been idle for `reuse`, waking when the oldest
/// one is due; ends when none is left (the next [`Delivery::put_idle`] starts another).
async fn sweep(idle: Arc<IdlePool>, reuse: Duration) {
    let mut wait = reuse;
    loop {
        tokio::time::sleep(wait).await;
        let (expired, next) = {
            let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
            let (expired, oldest) = take_expired(&mut idle.servers, reuse);
            if oldest.is_none() {
                idle.sweeping = false;
            }
            (expired, oldest)
        };
        close_all(expired);
        match next {
            // Due when it has been idle for `reuse`; at least a millisecond from now.
            Some(since) => wait = reuse.saturating_sub(since.elapsed()).max(Duration::from_millis(1)),
            None => return,
        }
    }
}

/// Removes the connections idle for `reuse` or longer; also returns since when the oldest
/// of the others has been idle (`None`: none is left).
fn take_expired(
    servers: &mut HashMap<String, Vec<(Instant, Client)>>,
    reuse: Duration,
) -> (Vec<Client>, Option<Instant>) {
    let mut expired = Vec::new();
    let mut oldest: Option<Instant> = None;
    servers.retain(|_, list| {
        let (keep, old): (Vec<_>, Vec<_>) =
            std::mem::take(list).into_iter().partition(|(since, _)| since.elapsed() < reuse);
        expired.extend(old.into_iter().map(|(_, client)| client));
        if let Some(&(since, _)) = keep.first() {
            oldest = Some(oldest.map_or(since, |o| o.min(since)));
        }
        *list = keep;
        !list.is_empty()
    });
    (expired, oldest)
}

/// Says QUIT on each connection, in the background.
fn close_all(clients: impl IntoIterator<Item = Client>) {
    for client in clients {
        tokio::spawn(client.quit());
    }
}

fn result(index: usize, reply: &ServerReply, remote: &str, dsn: bool) -> RcptResult {
    let outcome = match reply.code / 100 {
        2 => Outcome::Delivered,
        5 => Outcome::Bounced,
        _ => Outcome::Deferred,
    };
    RcptResult {
        index,
        outcome,
        status: reply.status(),
        // The reply alone: `remote` says who gave it, and a DSN's Diagnostic-Code of type
        // `smtp` must be the reply itself (RFC 3464 §2.3.6).
        reply: reply.to_string(),
        remote: Some(remote.to_string()),
        dsn_passed_on: dsn,
    }
}

impl Transport for Delivery {
    fn destination(&self, envelope: &Envelope, recipient: &Recipient) -> String {
        match self.hop(envelope, recipient) {
            Hop::Configured(Route::Direct) => format!("mx:{}", recipient.address.domain.as_str().to_ascii_lowercase()),
            Hop::Configured(Route::Relay(i)) => {
                format!("relay:{}", self.config.relay_hosts.get(i).map_or("?", |h| h.name.as_str()))
            }
            Hop::Inbound(host) => host.name,
        }
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        Box::pin(self.run(job))
    }
}
