//! At connect: the daily block (too many refused recipients or failed AUTHs today), the
//! concurrent connections and the connections per minute of the client's address (Postfix
//! `anvil` semantics: a refused attempt counts too, so a client over its rate stays refused
//! for the rest of the window). Also starts the client's FCrDNS lookup, so that it runs
//! while the client says EHLO. After connect: counts refused recipients and failed AUTHs.

use postern_config::PolicyCheck;
use postern_core::event::now_ms;
use postern_core::{Reply, Stage};
use postern_policy::client::{DailyCounts, utc_day};
use tokio_util::task::AbortOnDropHandle;

use super::{ClientHostname, Refusal};
use crate::session::Session;

impl Session {
    /// The checks at connect. `Some(reply)`: answer it (`421`) and close.
    pub(crate) async fn admit(&mut self) -> Option<Reply> {
        let ip = self.client_ip();
        let listener = std::sync::Arc::clone(&self.listener);
        let protection = &listener.protection;
        let policy = &protection.policy;
        if policy.require_fcrdns {
            let lookup = protection
                .dns
                .clone()
                .map(|dns| AbortOnDropHandle::new(tokio::spawn(async move { dns.client_hostname(ip).await })));
            self.protection.hostname = Some(match lookup {
                Some(handle) => ClientHostname::Pending(handle),
                None => ClientHostname::Done(Err(postern_policy::dns_checks::DnsFailure)),
            });
        }
        if protection.exempt(ip) {
            return None;
        }
        let host = &self.listener.hostname;
        let counted = (policy.max_connections_per_ip > 0 || policy.connections_per_minute_per_ip > 0).then(|| {
            let (ticket, counts) = protection.clients.connect(ip, tokio::time::Instant::now());
            self.protection.ticket = Some(ticket);
            counts
        });

        let today = protection.clients.daily(ip, utc_day(now_ms()));
        let blocked = Reply::new(421, "4.7.0", format!("{host} Error: too many errors from {ip}; try again tomorrow"));
        let daily = [
            (
                PolicyCheck::RefusedRecipientsLimit,
                today.refused_recipients,
                policy.refused_recipients_limit,
                "recipients refused",
            ),
            (PolicyCheck::AuthFailuresLimit, today.auth_failures, policy.auth_failures_limit, "failed AUTH attempts"),
        ];
        for (check, count, limit, what) in daily {
            if limit > 0 && count > limit {
                let reason = format!("blocked for the rest of the day: {count} {what} today, limit {limit}");
                if let Some(reply) = self.enforce(check, Refusal::new(Stage::Connect, blocked.clone(), reason)).await {
                    return Some(reply);
                }
            }
        }

        let counts = counted?;
        let too_many = Reply::new(421, "4.7.0", format!("{host} Error: too many connections from {ip}"));
        let limits = [
            (
                PolicyCheck::MaxConnectionsPerIp,
                counts.concurrent,
                policy.max_connections_per_ip,
                "concurrent connections",
            ),
            (
                PolicyCheck::ConnectionsPerMinutePerIp,
                counts.per_minute,
                policy.connections_per_minute_per_ip,
                "connections this minute",
            ),
        ];
        for (check, count, limit, what) in limits {
            if limit > 0 && count > limit {
                let reason = format!("{count} {what} from {ip}, limit {limit}");
                if let Some(reply) = self.enforce(check, Refusal::new(Stage::Connect, too_many.clone(), reason)).await {
                    return Some(reply);
                }
            }
        }
        None
    }

    /// After a RCPT: a recipient refused with a `55x` reply counts toward the daily block.
    pub(crate) fn note_rcpt_reply(&self, reply: &Reply) {
        if (550..=559).contains(&reply.code) {
            self.count_daily(Daily::RefusedRecipient);
        }
    }

    /// After a failed AUTH: counts toward the daily block.
    pub(crate) fn note_auth_failure(&self) {
        self.count_daily(Daily::AuthFailure);
    }

    fn count_daily(&self, what: Daily) {
        let ip = self.client_ip();
        let protection = self.protection();
        let policy = &protection.policy;
        let limit = match what {
            Daily::RefusedRecipient => policy.refused_recipients_limit,
            Daily::AuthFailure => policy.auth_failures_limit,
        };
        if limit == 0 || protection.exempt(ip) {
            return;
        }
        // When the table is full, the blocked clients are the ones to keep.
        let blocked = |c: &DailyCounts| {
            (policy.refused_recipients_limit > 0 && c.refused_recipients > policy.refused_recipients_limit)
                || (policy.auth_failures_limit > 0 && c.auth_failures > policy.auth_failures_limit)
        };
        let day = utc_day(now_ms());
        let count = match what {
            Daily::RefusedRecipient => protection.clients.refused_recipient(ip, day, blocked).refused_recipients,
            Daily::AuthFailure => protection.clients.auth_failure(ip, day, blocked).auth_failures,
        };
        if count == limit.saturating_add(1) {
            tracing::warn!(session = self.id, client = %ip, limit, "client blocked at connect for the rest of the UTC day");
        }
    }
}

#[derive(Clone, Copy)]
enum Daily {
    RefusedRecipient,
    AuthFailure,
}
