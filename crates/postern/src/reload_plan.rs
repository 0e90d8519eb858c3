//! What a configuration reload may change while the server runs, as pure functions over
//! two [`Config`]s (SPEC.md §7: `SIGHUP` reloads the configuration).
//!
//! Live: the trusted networks and `auth.trusted_networks_check_sender`, the banner, the
//! session limits (all of `[limits]` but `max_connections`, `max_data_in_flight` and
//! `shutdown_timeout`), each listener's options and connection policy (not its
//! `max_connections`), and delivery's routes, relay hosts, rules,
//! MX overrides, port and timeouts, `[postmaster]` (the system mail's sender and
//! copies), `[metrics]` (who may read `/metrics`), `log.retention_days` (the next purge
//! uses it), and `[domain_age]` (its files are read again on every reload, changed or not).
//! Everything else (host name, data directory, listener
//! and admin addresses, TLS files, the log's format and level, counters, the store, AUTH
//! throttling and the AUTH cache, the quarantine's lifetime, the scheduler's concurrency and retry schedule, DNS servers, the engines
//! `[rspamd]`, `[spamassassin]` and `[clamav]`, the scorer's training minimum `[scorer]`, the
//! attachment checks' bounds `[attachments]`) needs a restart: [`effective`] keeps the
//! running value and [`diff`] names what differs, so the reload says so and nothing is
//! silently ignored.

use postern_config::Config;

/// The configuration to run with after a reload: `new`, except that every setting that
/// cannot change live keeps its value from `old`.
pub fn effective(old: &Config, new: &Config) -> Config {
    let mut e = new.clone();
    e.hostname = old.hostname.clone();
    e.data_dir = old.data_dir.clone();
    // The log's format and filter are set up once; its retention is read by each purge.
    e.log = postern_config::LogConfig { retention_days: new.log.retention_days, ..old.log.clone() };
    e.tls = old.tls.clone();
    e.admin = old.admin;
    e.admin_tls = old.admin_tls;
    e.counters = old.counters.clone();
    e.store = old.store.clone();
    e.quarantine = old.quarantine;
    // The scorer's models are built with the minimum at start-up.
    e.scorer = old.scorer;
    // The attachment scanner is built with its bounds at start-up.
    e.attachments = old.attachments;
    e.limits.max_connections = old.limits.max_connections;
    e.limits.shutdown_timeout = old.limits.shutdown_timeout;
    // The memory budget and the connection semaphores are sized once, at start-up.
    e.limits.max_data_in_flight = old.limits.max_data_in_flight;
    let check_sender = new.auth.trusted_networks_check_sender;
    e.auth = old.auth.clone();
    e.auth.trusted_networks_check_sender = check_sender;
    // The banner was written with `$hostname` replaced by the new host name.
    if new.hostname != old.hostname {
        e.banner = new.banner.replace(&new.hostname, &old.hostname);
        // So was the default postmaster address.
        let default = |host: &str| postern_core::system_mail::Postmaster::for_host(host).address;
        if new.postmaster.address == default(&new.hostname) {
            e.postmaster.address = default(&old.hostname);
        }
    }
    // The running listeners stay, at their addresses; their options follow the file.
    e.listeners = old
        .listeners
        .iter()
        .map(|running| match new.listeners.iter().find(|l| l.kind == running.kind) {
            Some(l) => postern_config::ListenerConfig {
                address: running.address,
                max_connections: running.max_connections,
                ..l.clone()
            },
            None => running.clone(),
        })
        .collect();
    let (d, o) = (&mut e.delivery, &old.delivery);
    d.concurrency = o.concurrency;
    d.destination_concurrency = o.destination_concurrency;
    d.retry_first = o.retry_first;
    d.retry_max = o.retry_max;
    d.max_queue_lifetime = o.max_queue_lifetime;
    d.delay_warning = o.delay_warning;
    d.dns_servers = o.dns_servers.clone();
    // The engines (spam and ClamAV) are built into the message pipeline at start-up.
    e.engines = old.engines.clone();
    e
}

/// The settings (as named in the file) whose values differ between `a` and `b`.
pub fn diff(a: &Config, b: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            out.push(name.to_string());
        }
    };
    check("hostname", a.hostname != b.hostname);
    check("banner", a.banner != b.banner);
    check("data_dir", a.data_dir != b.data_dir);
    check("trusted_networks", a.trusted_networks != b.trusted_networks);
    check("log (format, level)", (a.log.format, &a.log.level) != (b.log.format, &b.log.level));
    check("log.retention_days", a.log.retention_days != b.log.retention_days);
    check("tls", a.tls != b.tls);
    check("admin.address", a.admin != b.admin);
    check("admin.tls", a.admin_tls != b.admin_tls);
    check("counters", a.counters != b.counters);
    check("store", a.store != b.store);
    check("quarantine.lifetime_days", a.quarantine != b.quarantine);
    check("scorer (min_ham, min_spam)", a.scorer != b.scorer);
    check("attachments", a.attachments != b.attachments);
    let (la, lb) = (&a.limits, &b.limits);
    check("limits.max_connections", la.max_connections != lb.max_connections);
    check("limits.shutdown_timeout", la.shutdown_timeout != lb.shutdown_timeout);
    check("limits.max_data_in_flight", la.max_data_in_flight != lb.max_data_in_flight);
    let rest = |l: &postern_config::Limits| postern_config::Limits {
        max_connections: 0,
        max_data_in_flight: 0,
        shutdown_timeout: Default::default(),
        ..l.clone()
    };
    check("limits", rest(la) != rest(lb));
    let (aa, ab) = (&a.auth, &b.auth);
    check("auth.trusted_networks_check_sender", aa.trusted_networks_check_sender != ab.trusted_networks_check_sender);
    let throttle = |x: &postern_config::AuthConfig| (x.max_failures, x.failure_window, x.block_time, x.failure_delay);
    check("auth (failure throttling)", throttle(aa) != throttle(ab));
    check("auth (cache_size, cache_ttl)", (aa.cache_size, aa.cache_ttl) != (ab.cache_size, ab.cache_ttl));
    for kind in [
        postern_config::ListenerKind::Smtp,
        postern_config::ListenerKind::Submission,
        postern_config::ListenerKind::Smtps,
    ] {
        let (x, y) = (a.listeners.iter().find(|l| l.kind == kind), b.listeners.iter().find(|l| l.kind == kind));
        let name = kind.name();
        match (x, y) {
            (Some(x), Some(y)) => {
                check(&format!("listeners.{name}.address"), x.address != y.address);
                check(&format!("listeners.{name}.max_connections"), x.max_connections != y.max_connections);
                check(
                    &format!("listeners.{name} options"),
                    (x.add_missing_headers, x.allow_plaintext_auth) != (y.add_missing_headers, y.allow_plaintext_auth),
                );
                check(&format!("listeners.{name} connection policy"), x.policy != y.policy);
            }
            (None, None) => {}
            _ => check(&format!("listeners.{name}.address (turned on or off)"), true),
        }
    }
    let (da, db) = (&a.delivery, &b.delivery);
    check("delivery.concurrency", da.concurrency != db.concurrency);
    check("delivery.destination_concurrency", da.destination_concurrency != db.destination_concurrency);
    check(
        "delivery retry schedule (retry_first, retry_max, max_queue_lifetime, delay_warning)",
        (da.retry_first, da.retry_max, da.max_queue_lifetime, da.delay_warning)
            != (db.retry_first, db.retry_max, db.max_queue_lifetime, db.delay_warning),
    );
    check("delivery.dns_servers", da.dns_servers != db.dns_servers);
    check("postmaster", a.postmaster != b.postmaster);
    check("metrics", a.metrics != b.metrics);
    check(
        "delivery routes (relay_host, relay_hosts, default_route, rules)",
        (&da.relay_hosts, da.default_route, &da.rules) != (&db.relay_hosts, db.default_route, &db.rules),
    );
    check(
        "delivery connections (smtp_port, mx_overrides, timeouts)",
        (
            da.smtp_port,
            &da.mx_overrides,
            da.connect_timeout,
            da.command_timeout,
            da.data_timeout,
            da.connection_reuse_time,
        ) != (
            db.smtp_port,
            &db.mx_overrides,
            db.connect_timeout,
            db.command_timeout,
            db.data_timeout,
            db.connection_reuse_time,
        ),
    );
    check("rspamd", a.engines.rspamd != b.engines.rspamd);
    check("spamassassin", a.engines.spamassassin != b.engines.spamassassin);
    check("clamav", a.engines.clamav != b.engines.clamav);
    check("domain_age", a.domain_age != b.domain_age);
    out
}

#[cfg(test)]
mod tests {
    use postern_config::{Defaults, Overrides};

    use super::*;

    fn config(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("postern-reload-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.toml", text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()));
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &Overrides::default(), &Defaults { hostname: "h.example".into() }).unwrap()
    }

    #[test]
    fn live_settings_apply_and_the_rest_is_named() {
        let old = config("trusted_networks = [\"127.0.0.0/8\"]\n");
        let new = config(
            "trusted_networks = [\"127.0.0.0/8\", \"192.0.2.0/24\"]\nhostname = \"new.example\"\n\
             relay_host = \"127.0.0.1:2626\"\n[limits]\nmax_recipients = 5\nmax_connections = 7\n\
             [listeners.smtp]\naddress = \"127.0.0.1:2999\"\njunk_command_limit = 3\n[delivery]\nconcurrency = 3\n",
        );
        let e = effective(&old, &new);
        let live = diff(&old, &e);
        let restart = diff(&e, &new);
        assert_eq!(
            live,
            [
                "trusted_networks",
                "limits",
                // Each listener's policy exempts the trusted networks from per-client limits.
                "listeners.smtp connection policy",
                "listeners.submission connection policy",
                "listeners.smtps connection policy",
                "delivery routes (relay_host, relay_hosts, default_route, rules)"
            ]
        );
        assert_eq!(
            restart,
            [
                "hostname",
                "banner",
                "limits.max_connections",
                "listeners.smtp.address",
                "delivery.concurrency",
                // The default postmaster address is postmaster@<hostname>.
                "postmaster"
            ]
        );
        assert_eq!(e.hostname, "h.example");
        assert_eq!(e.banner, "h.example ESMTP Postern", "the banner keeps the running host name");
        assert_eq!(e.limits.max_recipients, 5);
        assert_eq!(e.listeners[0].address, old.listeners[0].address);
        assert_eq!(e.listeners[0].policy.junk_command_limit, 3);
    }

    #[test]
    fn the_postmaster_changes_live_and_its_default_keeps_the_running_host_name() {
        let old = config("");
        let new =
            config("hostname = \"new.example\"\n[postmaster]\nexternal = [\"pm@ops.example\"]\ncopies = [\"dsn\"]\n");
        let e = effective(&old, &new);
        assert_eq!(diff(&old, &e), ["postmaster"]);
        assert_eq!(diff(&e, &new), ["hostname", "banner", "postmaster"], "the address follows the host name");
        assert_eq!(e.postmaster.address.to_string(), "postmaster@h.example");
        assert_eq!(e.postmaster.external.len(), 1);
        let named = config("[postmaster]\naddress = \"noreply@ops.example\"\n");
        assert_eq!(effective(&old, &named).postmaster.address.to_string(), "noreply@ops.example");
    }

    #[test]
    fn the_auth_cache_needs_a_restart() {
        let old = config("");
        let new = config("[auth]\ncache_ttl = 0\n");
        let e = effective(&old, &new);
        assert!(diff(&old, &e).is_empty());
        assert_eq!(diff(&e, &new), ["auth (cache_size, cache_ttl)"]);
    }

    #[test]
    fn the_log_retention_changes_live_and_the_log_format_does_not() {
        let old = config("");
        let new = config("[log]\nretention_days = 7\nformat = \"json\"\n");
        let e = effective(&old, &new);
        assert_eq!(diff(&old, &e), ["log.retention_days"]);
        assert_eq!(diff(&e, &new), ["log (format, level)"]);
        assert_eq!((e.log.retention_days, e.log.format), (7, postern_config::LogFormat::Text));
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let old = config("[limits]\nmax_hops = 9\n");
        let e = effective(&old, &old.clone());
        assert!(diff(&old, &e).is_empty());
        assert!(diff(&e, &old).is_empty());
    }

    #[test]
    fn a_listener_turned_off_keeps_running_until_a_restart() {
        let old = config("");
        let new = config("[listeners.smtps]\naddress = \"\"\n");
        let e = effective(&old, &new);
        assert_eq!(e.listeners.len(), 3);
        assert!(diff(&old, &e).is_empty());
        // Unset in the file, the overall ceiling is the listeners' sum, so it changes too.
        assert_eq!(diff(&e, &new), ["limits.max_connections", "listeners.smtps.address (turned on or off)"]);
    }

    #[test]
    fn the_spam_engines_need_a_restart() {
        let old = config("[spamassassin]\naddress = \"127.0.0.1:783\"\n");
        let new = config("[rspamd]\non_failure = \"tempfail\"\n[spamassassin]\naddress = \"127.0.0.1:784\"\n");
        let e = effective(&old, &new);
        assert_eq!(e.engines, old.engines);
        assert!(diff(&old, &e).is_empty());
        assert_eq!(diff(&e, &new), ["rspamd", "spamassassin"]);
    }

    #[test]
    fn clamav_needs_a_restart() {
        let old = config("");
        let on = config("[clamav]\naddress = \"/run/clamav/clamd.ctl\"\n");
        let e = effective(&old, &on);
        assert_eq!(e.engines.clamav, None, "not turned on by a reload");
        assert!(diff(&old, &e).is_empty());
        assert_eq!(diff(&e, &on), ["clamav"]);
        let moved = config("[clamav]\naddress = \"127.0.0.1:3310\"\non_failure = \"tempfail\"\n");
        let e = effective(&on, &moved);
        assert_eq!(e.engines.clamav, on.engines.clamav);
        assert_eq!(diff(&e, &moved), ["clamav"]);
        assert_eq!(diff(&e, &old), ["clamav"], "nor turned off");
    }

    #[test]
    fn the_scorer_minimum_needs_a_restart() {
        let old = config("");
        let new = config("[scorer]\nmin_ham = 20\nmin_spam = 30\n");
        let e = effective(&old, &new);
        assert_eq!((e.scorer.min_ham, e.scorer.min_spam), (200, 200));
        assert!(diff(&old, &e).is_empty());
        assert_eq!(diff(&e, &new), ["scorer (min_ham, min_spam)"]);
    }

    #[test]
    fn the_domain_age_section_changes_live() {
        let old = config("");
        let new = config("[domain_age]\nrdap = false\ntimeout = 1\ncache_entries = 50\n");
        let e = effective(&old, &new);
        assert_eq!(diff(&old, &e), ["domain_age"]);
        assert!(diff(&e, &new).is_empty(), "nothing waits for a restart");
        assert!(!e.domain_age.rdap);
        assert_eq!((e.domain_age.timeout.as_secs(), e.domain_age.cache_entries), (1, 50));
    }

    #[test]
    fn the_attachment_bounds_need_a_restart() {
        let old = config("");
        let new = config("[attachments]\nmax_depth = 2\nmax_entries = 10\n");
        let e = effective(&old, &new);
        assert_eq!((e.attachments.max_depth, e.attachments.max_entries), (5, 1000));
        assert!(diff(&old, &e).is_empty());
        assert_eq!(diff(&e, &new), ["attachments"]);
    }

    #[test]
    fn the_metrics_section_changes_live() {
        let old = config("");
        let new = config("[metrics]\nallow = [\"10.0.0.0/8\"]\ntoken = \"0123456789abcdef\"\n");
        let e = effective(&old, &new);
        assert_eq!(diff(&old, &e), ["metrics"]);
        assert!(diff(&e, &new).is_empty(), "nothing waits for a restart");
        assert_eq!(e.metrics.allow.len(), 1);
    }
}
