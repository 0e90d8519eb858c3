//! Abuse reports to a domain's abuse contact, at most one per account per window (ten
//! minutes by default), so that a blast of spam does not become a second blast of reports.
//!
//! In: each held message with its bytes ([`AbuseReports::incident`]). Out: ARF reports
//! (`arf.rs`) through the [`SystemMailer`] (kind `AbuseReport`), and a `quarantine` event
//! `abuse_report` per report sent. The first incident of an account is reported at once
//! and opens a window; the incidents that follow inside it are collected and reported
//! together when it ends, as one report with `Incidents: N` (the first of them attached,
//! all listed); a window in which nothing more came closes without a report.
//!
//! Defends against: unbounded memory in a blast (one message's bytes per account window,
//! and at most [`MOST_COLLECTED`] rows listed; the count goes on), and a stalled mailer
//! holding up the client (reports are sent on their own task). Collected incidents live
//! in memory: a restart inside a window loses that window's summary report (the messages
//! themselves stay held and visible).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_core::event::now_ms;
use postern_core::{Address, Event, EventKind, EventSink, SystemMail, SystemMailKind, SystemMailer};
use postern_queue::HeldFile;
use postern_store::HeldMessage;

use crate::arf;

/// The default window: one report per account per ten minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// The most incidents of one window kept for the list (the count covers all).
pub const MOST_COLLECTED: usize = 1000;

/// The abuse contact of a domain (`None`: no report).
pub type AbuseContact = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The incidents of one account collected in its current window.
#[derive(Default)]
struct Window {
    /// The first incident after the report that opened the window, with its bytes.
    first: Option<(HeldMessage, HeldFile)>,
    others: Vec<HeldMessage>,
    count: u32,
}

pub struct AbuseReports {
    mailer: Arc<dyn SystemMailer>,
    contact: AbuseContact,
    events: Arc<dyn EventSink>,
    hostname: String,
    window: Duration,
    /// Open windows by account (its id, or its name for a row without one).
    windows: Mutex<HashMap<String, Window>>,
}

impl AbuseReports {
    pub fn new(
        mailer: Arc<dyn SystemMailer>,
        contact: AbuseContact,
        events: Arc<dyn EventSink>,
        hostname: String,
    ) -> AbuseReports {
        AbuseReports { mailer, contact, events, hostname, window: DEFAULT_WINDOW, windows: Mutex::default() }
    }

    /// Another window than ten minutes (tests).
    pub fn with_window(mut self, window: Duration) -> AbuseReports {
        self.window = window;
        self
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One held message: reported now, or collected for the end of its account's window.
    pub async fn incident(self: &Arc<Self>, held: &HeldMessage, file: HeldFile) {
        let Some(domain) = held.message.domain.clone() else { return };
        let Some(to) = (self.contact)(&domain) else { return };
        let key = held.message.account_id.map(|id| id.to_string()).or_else(|| held.message.account.clone());
        let Some(key) = key else { return };
        let opened = {
            let mut windows = self.windows();
            match windows.get_mut(&key) {
                Some(window) => {
                    window.count = window.count.saturating_add(1);
                    if window.first.is_none() {
                        window.first = Some((held.clone(), file.clone()));
                    } else if window.others.len() < MOST_COLLECTED {
                        window.others.push(held.clone());
                    }
                    false
                }
                None => {
                    windows.insert(key.clone(), Window::default());
                    true
                }
            }
        };
        if !opened {
            return;
        }
        let this = Arc::clone(self);
        let report = arf::build(&self.hostname, held, &file, 1, &[]);
        let first = held.clone();
        tokio::spawn(async move {
            this.send(&to, &first, report, 1).await;
            this.close_windows(key, to).await;
        });
    }

    /// At each window's end: the collected incidents in one report, and another window;
    /// or, when nothing came, the window closes.
    async fn close_windows(&self, key: String, to: String) {
        loop {
            tokio::time::sleep(self.window).await;
            let collected = {
                let mut windows = self.windows();
                let Some(window) = windows.get_mut(&key) else { return };
                match window.first.take() {
                    Some(first) => {
                        let others = std::mem::take(&mut window.others);
                        let count = std::mem::take(&mut window.count);
                        Some((first, others, count))
                    }
                    None => {
                        windows.remove(&key);
                        None
                    }
                }
            };
            let Some(((held, file), others, count)) = collected else { return };
            let report = arf::build(&self.hostname, &held, &file, count, &others);
            self.send(&to, &held, report, count).await;
        }
    }

    async fn send(&self, to: &str, held: &HeldMessage, report: arf::Report, incidents: u32) {
        let Ok(address) = Address::parse(to, true) else {
            tracing::warn!(to, "the domain's abuse contact is not an address; no report sent");
            return;
        };
        let mail = SystemMail {
            kind: SystemMailKind::AbuseReport,
            to: vec![address],
            subject: report.subject,
            mime_headers: report.mime_headers,
            body: report.body,
        };
        let detail = match self.mailer.send(mail).await {
            Ok(queue_id) => {
                tracing::info!(to, report_queue_id = %queue_id, incidents, "abuse report queued");
                format!("to {to}, {incidents} incident(s), queued as {queue_id}")
            }
            Err(reply) => {
                tracing::error!(to, reply = %reply.summary(), "cannot queue the abuse report");
                format!("to {to} failed: {}", reply.summary())
            }
        };
        let kind = EventKind::Quarantine {
            action: "abuse_report".into(),
            id: held.id,
            by: None,
            domain: held.message.domain.clone(),
            detail: Some(detail),
        };
        let client_ip = held.message.client_ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        let queue_id = postern_core::QueueId::parse(&held.message.queue_id);
        self.events.emit(Event { at_ms: now_ms(), session: 0, client_ip, queue_id, kind }).await;
    }
}
