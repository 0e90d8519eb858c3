//! `SIGHUP`: read the configuration file again (with the same flags on top) and apply it.
//!
//! An invalid file changes nothing: one error line, and the running configuration stays.
//! A valid one is applied as far as it can be while running (`reload_plan`): the trusted
//! networks (policy), each listener's settings (the next connection reads them; open
//! sessions keep theirs), delivery (a new `Delivery` behind [`LiveTransport`]) and
//! `[postmaster]` (the system mailer reads it for each message), `[metrics]` (read by each
//! request to `/metrics`); `[domain_age]` and its
//! files (the feed, the bootstrap) are read again on every SIGHUP, changed or not. Every
//! changed setting that needs a restart is logged by name, one warning each.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use postern_config::{Config, ListenerConfig, ListenerKind, Overrides};
use postern_core::{BoxFuture, Envelope, Live, Recipient};
use postern_deliver::Delivery;
use postern_policy::dns_checks::{DnsChecks, HickoryLookup};
use postern_queue::{Job, RcptResult, Transport};
use postern_smtp::{ListenerContext, Protection, Services};
use tokio_rustls::TlsAcceptor;

use crate::{config_file, reload_plan};

/// The delivery in use, replaced by a reload; an attempt keeps the one it started with.
pub struct LiveTransport(pub Live<Delivery>);

impl Transport for LiveTransport {
    fn destination(&self, envelope: &Envelope, recipient: &Recipient) -> String {
        self.0.load().destination(envelope, recipient)
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        let delivery = self.0.load();
        Box::pin(async move { delivery.deliver(job).await })
    }
}

/// A listener's session settings from the configuration; `protection` carries its
/// per-client counts (kept across reloads) and DNS checks.
pub fn listener_context(
    l: &ListenerConfig,
    config: &Config,
    tls: TlsAcceptor,
    protection: Protection,
) -> ListenerContext {
    ListenerContext {
        kind: l.kind,
        hostname: config.hostname.clone(),
        banner: config.banner.clone(),
        limits: config.limits.clone(),
        add_missing_headers: l.add_missing_headers,
        allow_plaintext_auth: l.allow_plaintext_auth,
        max_connections: l.max_connections,
        tls: Some(tls),
        protection,
    }
}

/// Resolver timeout of the listeners' DNS checks.
pub const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Reloader {
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
    /// The configuration in effect.
    pub current: Mutex<Config>,
    pub services: Arc<Services>,
    pub listeners: Vec<(ListenerKind, Arc<Live<ListenerContext>>)>,
    pub transport: Arc<LiveTransport>,
    /// Inbound relay domains' internal servers: a rebuilt delivery keeps routing there.
    pub inbound: postern_deliver::InboundLookup,
    pub tls: TlsAcceptor,
    /// `[postmaster]`, read by the system mailer for each message.
    pub postmaster: Arc<Live<postern_core::system_mail::Postmaster>>,
    /// The sender domain age lookup: its files are read again on every reload.
    pub domain_age: Arc<postern_policy::domain_age::DomainAge>,
    /// `[metrics]`, read by `/metrics` for each request.
    pub metrics_access: Arc<Live<postern_config::MetricsConfig>>,
    /// `log.retention_days`, read by the log retention purge before each run.
    pub log_retention: Arc<Live<u32>>,
    /// The web panel's session rules (`[panel]`).
    pub panel: Arc<postern_ops::panel_auth::PanelAuth>,
}

/// Installs the SIGHUP handler (at once, so that a SIGHUP never stops the server) and
/// reloads on each signal, one at a time, off the async threads.
pub fn on_sighup(reloader: Arc<Reloader>) -> std::io::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            let reloader = Arc::clone(&reloader);
            if let Err(e) = tokio::task::spawn_blocking(move || reloader.reload()).await {
                tracing::error!(error = %e, "configuration reload failed; the running configuration stays");
            }
        }
    });
    Ok(())
}

impl Reloader {
    /// One reload, on a blocking thread (it reads files and may build resolvers).
    pub fn reload(&self) {
        let Some(file) = self.file.as_deref() else {
            tracing::warn!("SIGHUP: no configuration file (--config) to reload; nothing changed");
            return;
        };
        let new = match config_file::load(Some(file), &self.overrides) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!("configuration reload refused, the running configuration stays: {e}");
                return;
            }
        };
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let effective = reload_plan::effective(&current, &new);
        for setting in reload_plan::diff(&effective, &new) {
            tracing::warn!(
                setting = setting.as_str(),
                "configuration reload: this change needs a restart; the running value stays until then"
            );
        }
        let live = reload_plan::diff(&current, &effective);
        if live.is_empty() {
            // The feed and the bootstrap are files of their own: read again even when the
            // configuration did not change.
            crate::domain_age::reload(&self.domain_age, &effective.domain_age);
            tracing::info!(file = %file.display(), "configuration reloaded: nothing to change live");
            return;
        }
        if let Err(e) = self.apply(&current, &effective) {
            tracing::error!("configuration reload refused, the running configuration stays: {e}");
            return;
        }
        crate::domain_age::reload(&self.domain_age, &effective.domain_age);
        tracing::info!(file = %file.display(), changed = live.join(", ").as_str(), "configuration reloaded");
        *current = effective;
    }

    /// Builds everything that can fail first, then swaps; a failure changes nothing.
    fn apply(&self, old: &Config, new: &Config) -> Result<(), String> {
        let delivery = if new.delivery != old.delivery {
            let delivery =
                Delivery::new(new.delivery.clone(), new.hostname.clone()).map_err(|e| format!("delivery: {e}"))?;
            Some(delivery.with_inbound(Arc::clone(&self.inbound)))
        } else {
            None
        };
        let mut contexts = Vec::new();
        for (kind, live) in &self.listeners {
            let Some(l) = new.listeners.iter().find(|l| l.kind == *kind) else { continue };
            let running = live.load();
            let mut dns = running.protection.dns.clone();
            if dns.is_none() && l.policy.uses_dns() {
                let lookup = HickoryLookup::new(&new.delivery.dns_servers, DNS_TIMEOUT)
                    .map_err(|e| format!("DNS resolver for listeners.{}: {e}", kind.name()))?;
                dns = Some(DnsChecks::new(Arc::new(lookup)));
            }
            let protection =
                Protection { policy: l.policy.clone(), clients: Arc::clone(&running.protection.clients), dns };
            contexts.push((Arc::clone(live), listener_context(l, new, self.tls.clone(), protection)));
        }
        self.services.policy.set_trusted(new.trusted_networks.clone(), new.auth.trusted_networks_check_sender);
        for (live, context) in contexts {
            live.store(context);
        }
        if let Some(delivery) = delivery {
            self.transport.0.store(delivery);
        }
        if new.postmaster != old.postmaster {
            self.postmaster.store(new.postmaster.clone());
        }
        if new.metrics != old.metrics {
            self.metrics_access.store(new.metrics.clone());
        }
        if new.panel != old.panel {
            self.panel.set_rules(crate::serve::session_rules(&new.panel));
        }
        if new.log.retention_days != old.log.retention_days {
            self.log_retention.store(new.log.retention_days);
        }
        Ok(())
    }
}
