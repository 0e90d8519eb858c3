//! `postern serve`: config -> data directory -> TLS -> spool recovery -> store (and DKIM
//! keys) -> quarantine and archive recovery -> listeners, then run until SIGTERM or Ctrl-C, and shut down without losing an
//! acknowledged message. SIGHUP reloads the configuration (`reload`). Every event passes
//! the metrics tee (`postern_metrics::MetricsSink`) on its way to the log and the store;
//! the admin listener serves `/metrics` and `/health` (`health.rs` builds its checks).
//! Background tasks: the quarantine's purge, the log's retention purge (`log_retention`),
//! memory trimming.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use postern_config::{Config, CountersConfig, ListenerKind};
use postern_core::tenancy::Role;
use postern_counters::embedded::EmbeddedCounters;
use postern_counters::redis::RedisCounters;
use postern_counters::{Clock, Counters, SystemClock};
use postern_deliver::Delivery;
use postern_dkim::Signer;
use postern_policy::RelayPolicy;
use postern_policy::spf::SpfResolver;
use postern_policy::{AuthCache, AuthCacheConfig, GuardConfig, Limits, Locks};
use postern_queue::{QueueManager, SchedulerConfig, Spool};
use postern_smtp::{Listener, Services};
use postern_store::{ClusterChange, DirectoryChange, DirectoryStore, DkimStore, EventWriter, NewToken, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::events::EventLog;
use crate::reload::{self, LiveTransport};
use crate::{config_file, convergence, directory, dkim, logging, memory, tls};

pub fn main(args: ServeArgs) -> ExitCode {
    let config = match config_file::load(args.config.as_deref(), &args.overrides()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("postern: config error: {e}");
            return ExitCode::from(2);
        }
    };
    let in_file = args.config.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default();
    if let Err(e) = logging::init(&config.log) {
        eprintln!("postern: config error: {in_file}{e}");
        return ExitCode::from(2);
    }
    memory::tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postern: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, args.config.clone(), args.overrides())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postern: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, file: Option<std::path::PathBuf>, overrides: postern_config::Overrides) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("data directory {}", config.data_dir.display()))?;
    let tls = tls::load(config.tls.as_ref(), &config.data_dir, &config.hostname)?;
    let spool = Spool::open(&config.data_dir.join("spool")).context("spool")?;
    let recovery = spool.recover().context("spool recovery")?;
    let store = Arc::new(SqliteStore::open(&config.data_dir.join("postern.db")).context("database")?);
    let SharedStores {
        directory: directory_store,
        dkim: dkim_store,
        admin_users: admin_user_store,
        quarantine,
        scorer: scorer_store,
        events: event_store,
        log: log_store,
        archive: archive_store,
        cluster,
    } = shared_stores(&config.store, &store)?;
    // A cluster node notes the change feed's last row before it loads anything: what is
    // published meanwhile is applied again (convergence.rs).
    let feed_start = cluster.as_ref().map(|c| convergence::start_point(&c.store)).transpose()?;
    let publisher = match &cluster {
        Some(c) => convergence::Publisher::new(Arc::clone(&c.store), convergence::node_name(&config.hostname)),
        None => convergence::Publisher::none(),
    };
    let readiness = match &cluster {
        Some(_) => postern_policy::Readiness::following(convergence::STALE_AFTER),
        None => postern_policy::Readiness::always(),
    };
    let master_key = dkim::master_key(&config.data_dir)?;
    let signer = Arc::new(Signer::new(dkim::load(dkim_store.as_ref(), &master_key).context("DKIM keys")?));
    let directory = Arc::new(directory::open(directory_store.as_ref()).context("directory")?);
    let health_store = Arc::clone(&store);
    let panel_auth = Arc::new(postern_ops::panel_auth::PanelAuth::new(admin_user_store, session_rules(&config.panel)));
    let log_retention = Arc::new(postern_core::Live::new(config.log.retention_days));
    let events = Arc::new(EventLog::new(EventWriter::with_identities(event_store, Arc::clone(&directory_store), 4096)));
    // Every event is counted for /metrics, then logged and stored.
    let metrics = Arc::new(postern_metrics::Metrics::new());
    let events_sink: Arc<dyn postern_core::EventSink> =
        Arc::new(postern_metrics::MetricsSink::new(Arc::clone(&metrics), Arc::clone(&events) as _));
    let health_spool = spool.clone();
    let shutdown = CancellationToken::new();
    let directory_for_routes = Arc::clone(&directory);
    let inbound: postern_deliver::InboundLookup =
        Arc::new(move |domain: &str| directory_for_routes.load().inbound_domain(domain).cloned());
    let delivery = Delivery::new(config.delivery.clone(), config.hostname.clone())
        .map_err(|e| anyhow::anyhow!("delivery: {e}"))?
        .with_inbound(Arc::clone(&inbound));
    let transport = Arc::new(LiveTransport(postern_core::Live::new(delivery)));
    let d = &config.delivery;
    let queue = QueueManager::new(
        spool,
        Arc::clone(&transport) as Arc<dyn postern_queue::Transport>,
        Arc::clone(&events_sink),
        SchedulerConfig {
            hostname: config.hostname.clone(),
            concurrency: d.concurrency,
            destination_concurrency: d.destination_concurrency,
            retry_first: d.retry_first,
            retry_max: d.retry_max,
            max_queue_lifetime: d.max_queue_lifetime,
            delay_warning: d.delay_warning,
        },
    )
    .context("queue manager")?;
    queue.adopt(&recovery.messages);
    // Everything Postern writes itself (DSNs, lock notices, abuse reports): `[postmaster]`.
    queue.postmaster().store(config.postmaster.clone());
    let system_mail: Arc<dyn postern_core::SystemMailer> = Arc::new(queue.system_mailer());
    let spf = SpfResolver::new(&config.delivery.dns_servers, std::time::Duration::from_secs(5))
        .context("SPF resolver")?
        .with_receiver(config.hostname.clone());
    let policy = RelayPolicy::new(config.trusted_networks.clone())
        .with_directory(Arc::clone(&directory))
        .with_auth_guard(GuardConfig {
            max_failures: config.auth.max_failures,
            failure_window: config.auth.failure_window,
            block_time: config.auth.block_time,
            failure_delay: config.auth.failure_delay,
        })
        // Dovecot's auth cache: a client that reconnects for every message pays argon2id
        // once per `cache_ttl`, not once per message.
        .with_auth_cache(
            AuthCache::new(AuthCacheConfig { max_entries: config.auth.cache_size, ttl: config.auth.cache_ttl })
                .map_err(anyhow::Error::msg)?,
        )
        .with_spf(spf)
        .with_readiness(readiness.clone())
        .check_trusted_senders(config.auth.trusted_networks_check_sender);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let counters = open_counters(&config, Arc::clone(&clock)).await?;
    let limits = Arc::new(Limits::new(Arc::clone(&counters)));
    let locks = Arc::new(Locks::new(
        Arc::clone(&counters),
        Arc::new(directory::StoreLocks::new(Arc::clone(&directory_store), Arc::clone(&directory), publisher.clone())),
        Arc::clone(&clock),
    ));
    // Compromise detection by behaviour: per identity profiles in the counters backend.
    let behaviour = Arc::new(postern_policy::behaviour::Detector::new(Arc::clone(&locks), clock));
    // ... and the way back: an account's permanent delivery failures to its profiles.
    let directory_for_feedback = Arc::clone(&directory);
    let accounts: postern_pipeline::AccountLookup =
        Arc::new(move |id| directory_for_feedback.load().account(id).map(|entry| entry.account.clone()));
    queue.set_feedback(Arc::new(postern_pipeline::BehaviourFeedback::new(
        Arc::clone(&behaviour),
        accounts,
        Arc::clone(&events_sink),
        Some(Arc::clone(&system_mail)),
    )));
    let policy = policy.with_limits(Arc::clone(&limits)).with_locks(Arc::clone(&locks));
    // The built-in scorer: the shipped model, plus the installation's samples once they
    // reach the minimum. The trainer is where quarantine decisions and training files go.
    let scorer_trainer = scorer(scorer_store, config.scorer)?;
    // Abuse reports go out through the system mailer, to the domains' abuse contacts;
    // a release is a ham sample and a confirmation a spam sample for the scorer.
    let quarantine = open_quarantine(
        &config,
        quarantine,
        &queue,
        &events_sink,
        &directory,
        Some(Arc::clone(&system_mail)),
        Arc::clone(&scorer_trainer) as Arc<dyn postern_core::Trainer>,
    )?;
    recover_quarantine(&quarantine, &recovery).await;
    // Copies of archived accounts' messages, made before their 250 (`archive.rs`).
    let archive = crate::archive::open(&config.data_dir, archive_store)?;
    // The message pipeline between the end of DATA and the spool (postern-pipeline).
    let pipeline = postern_pipeline::Pipeline::new(Arc::new(queue.clone()), Arc::clone(&events_sink))
        .with_dkim(Some(Arc::clone(&signer)))
        .with_counters(policy.limits().cloned(), policy.locks().cloned())
        .with_behaviour(Some(behaviour))
        .with_system_mail(Some(Arc::clone(&system_mail)))
        .with_quarantine(Some(Arc::clone(&quarantine)))
        .with_archiver(Some(Arc::new(archive.clone()) as Arc<dyn postern_core::Archiver>))
        .with_scanner(scorer_scanner(&scorer_trainer))
        .with_scanner(attachment_scanner(&config.attachments));
    let engines = engine_scanners(&config.engines);
    let pipeline = engines.iter().cloned().fold(pipeline, |p, s| p.with_scanner(s));
    // Always wired: it looks anything up only for accounts with checks.block_new_domains.
    let domain_age = crate::domain_age::start(&config.domain_age)?;
    let pipeline = pipeline.with_scanner(Arc::new(postern_pipeline::DomainAgeScanner::new(Arc::clone(&domain_age))));
    // This node's memory, for its own changes and its peers' alike.
    let dkim_reload = dkim::reloader(Arc::clone(&dkim_store), Arc::clone(&master_key), Arc::clone(&signer));
    let apply_change =
        convergence::applier(Arc::clone(&directory_store), Arc::clone(&directory), Arc::clone(&dkim_reload));
    if let (Some(cluster), Some(start)) = (&cluster, feed_start) {
        let follower = convergence::Follower {
            config: cluster.config.clone(),
            apply: Arc::clone(&apply_change),
            publisher: publisher.clone(),
            readiness: readiness.clone(),
        };
        tokio::spawn(follower.run(start, shutdown.clone()));
    }
    let services = Arc::new(Services {
        policy,
        pipeline: Arc::new(pipeline),
        events: events_sink,
        memory: postern_smtp::MemoryBudget::new(config.limits.max_data_in_flight),
        shutdown: shutdown.clone(),
        open_sessions: Default::default(),
    });

    // One resolver (delivery.dns_servers) for every listener's DNS checks, when any has one.
    let dns_checks = if config.listeners.iter().any(|l| l.policy.uses_dns()) {
        let servers = &config.delivery.dns_servers;
        let lookup = postern_policy::dns_checks::HickoryLookup::new(servers, reload::DNS_TIMEOUT)
            .context("DNS resolver for the listeners' checks")?;
        Some(postern_policy::dns_checks::DnsChecks::new(Arc::new(lookup)))
    } else {
        None
    };
    let mut listeners = Vec::new();
    let mut contexts = Vec::new();
    let mut bound: Vec<(ListenerKind, SocketAddr)> = Vec::new();
    for l in &config.listeners {
        let socket = TcpListener::bind(l.address)
            .await
            .with_context(|| format!("listeners.{}: cannot listen on {}", l.kind.name(), l.address))?;
        bound.push((l.kind, socket.local_addr().unwrap_or(l.address)));
        let protection = postern_smtp::Protection::new(l.policy.clone(), dns_checks.clone());
        let context =
            Arc::new(postern_core::Live::new(reload::listener_context(l, &config, tls.acceptor.clone(), protection)));
        contexts.push((l.kind, Arc::clone(&context)));
        listeners.push(Listener { socket, context });
    }

    // Listen for signals before announcing that we are up, so that a SIGTERM sent as soon
    // as the summary appears is always a graceful shutdown.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    // SIGHUP reloads the configuration; it never stops the server.
    let metrics_access = Arc::new(postern_core::Live::new(config.metrics.clone()));
    reload::on_sighup(Arc::new(reload::Reloader {
        file,
        overrides,
        current: std::sync::Mutex::new(config.clone()),
        services: Arc::clone(&services),
        listeners: contexts,
        transport,
        inbound,
        tls: tls.acceptor.clone(),
        postmaster: queue.postmaster(),
        domain_age,
        metrics_access: Arc::clone(&metrics_access),
        log_retention: Arc::clone(&log_retention),
        panel: Arc::clone(&panel_auth),
    }))
    .context("SIGHUP handler")?;
    let admin = match config.admin {
        Some(addr) => {
            admin_token(&config.data_dir, directory_store.as_ref())?;
            first_panel_user(&config.data_dir, panel_auth.users.as_ref())?;
            // Applied here before the API answers, then told to the other nodes.
            let dkim_changed: Arc<dyn Fn() + Send + Sync> = {
                let publisher = publisher.clone();
                Arc::new(move || {
                    // A failed reload is logged; the keys are stored all the same.
                    let _ = dkim_reload();
                    publisher.publish(ClusterChange::DkimKeys);
                })
            };
            let dkim_admin = dkim::admin(dkim_store, master_key, dkim_changed, &config.delivery.dns_servers)?;
            let on_change: Arc<dyn Fn(&DirectoryChange) + Send + Sync> = {
                let publisher = publisher.clone();
                Arc::new(move |change| {
                    // A deleted domain takes its keys along: the signer forgets them at once.
                    let change = ClusterChange::Directory(change.clone());
                    if let Err(e) = apply_change(&change) {
                        tracing::error!(error = %e, "directory reload failed; the previous version stays in use");
                    }
                    publisher.publish(change);
                })
            };
            let socket =
                TcpListener::bind(addr).await.with_context(|| format!("admin.address: cannot listen on {addr}"))?;
            let local = socket.local_addr().unwrap_or(addr);
            let scheme = if config.admin_tls { "https" } else { "http" };
            write_private(&config.data_dir.join("admin.url"), format!("{scheme}://{local}\n").as_bytes())?;
            let state = postern_admin::AdminState::new(postern_admin::Ops {
                queue: queue.clone(),
                directory: Arc::clone(&directory_store),
                on_change,
                limits: Some(Arc::clone(&limits)),
                locks: Some(Arc::clone(&locks)),
                dkim: Some(dkim_admin),
                ip_rules: ip_rules(&config, &bound),
                client_blocks: Some(Arc::new(client_blocks(&services.policy, &listeners))),
                events: Some(events.stats()),
                system_mail: Some(Arc::clone(&system_mail)),
                quarantine: Some(Arc::clone(&quarantine)),
                scorer: Some(Arc::clone(&scorer_trainer)),
                archive: Some(archive.clone()),
                log: Some(Arc::clone(&log_store)),
                panel: Some(Arc::clone(&panel_auth)),
            })
            .with_health(Some(Arc::new(postern_admin::health::Health::new(crate::health::checks(
                &health_spool,
                &health_store,
                cluster.is_some().then(|| readiness.clone()),
                matches!(config.counters, CountersConfig::Redis { .. }).then(|| Arc::clone(&counters)),
                &engines,
            )))))
            .with_tls(config.admin_tls)
            .with_metrics(Some(Arc::new(postern_admin::metrics::MetricsEndpoint {
                metrics: Arc::clone(&metrics),
                access: Arc::clone(&metrics_access),
                open_sessions: {
                    let open = Arc::clone(&services.open_sessions);
                    Arc::new(move || open.count())
                },
            })));
            let router = postern_admin::router(state);
            Some((socket, router, local))
        }
        None => None,
    };
    print_summary(&config, &bound, &tls, &recovery);
    if let Some((_, _, local)) = &admin {
        let scheme = if config.admin_tls { "https" } else { "http" };
        println!(
            "web panel: {scheme}://{local}/ (user admin; first password in {}/admin-password)",
            config.data_dir.display()
        );
        println!("admin API: {scheme}://{local}/api/v1 (token: {}/admin-token)", config.data_dir.display());
        println!(
            "manage it: postern domain add example.com --enable --data-dir {}   (see postern --help)",
            config.data_dir.display()
        );
    }
    tracing::info!(
        messages = recovery.messages.len(),
        incomplete_removed = recovery.incomplete_removed,
        corrupt = recovery.corrupt.len(),
        "spool recovered"
    );

    let signal_token = shutdown.clone();
    let grace = config.limits.shutdown_timeout;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new connections; transactions in flight may finish"
        );
        signal_token.cancel();
    });

    tokio::spawn(memory::trim_until(shutdown.clone()));
    // Other nodes' scorer samples, when the samples are shared.
    if matches!(config.store, postern_config::StoreConfig::Postgres { .. }) {
        tokio::spawn(refresh_scorer(Arc::clone(&scorer_trainer)));
    }
    // Expired held messages go; the check runs often enough for a short lifetime.
    let purge_every =
        (config.quarantine.lifetime / 10).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60));
    let purge = tokio::spawn(Arc::clone(&quarantine).purge_every(purge_every));
    crate::archive::verify_in_background(archive.clone());
    let archive_purge =
        tokio::spawn(crate::archive::purge_every(archive, Arc::clone(&directory), crate::archive::PURGE_EVERY));
    // Events and log search rows past `log.retention_days`: now and every ten minutes.
    let retention = tokio::spawn(crate::log_retention::purge_every(
        Arc::clone(&log_store),
        log_retention,
        crate::log_retention::EVERY,
        shutdown.clone(),
    ));
    let queue_task = tokio::spawn({
        let queue = queue.clone();
        let shutdown = shutdown.clone();
        async move { queue.run(shutdown, grace).await }
    });
    let admin_tls = config.admin_tls.then(|| tls.acceptor.clone());
    let admin_task = admin.map(|(socket, router, _)| {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let stop = async move { shutdown.cancelled().await };
            // With each request's peer address: `[metrics] allow` is checked against it.
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let served = match admin_tls {
                Some(acceptor) => match crate::admin_tls::TlsListener::new(socket, acceptor) {
                    // `tap_io` only so that axum hands the peer address to `ConnectInfo`.
                    Ok(listener) => axum::serve(listener.tap_io(|_| {}), service).with_graceful_shutdown(stop).await,
                    Err(e) => Err(e),
                },
                None => axum::serve(socket, service).with_graceful_shutdown(stop).await,
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "admin API stopped");
            }
        })
    });
    let left = postern_smtp::serve(listeners, services, config.limits.max_connections, grace).await;
    purge.abort();
    archive_purge.abort();
    retention.abort();
    let _ = queue_task.await;
    if let Some(task) = admin_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    if let Err(e) = counters.flush().await {
        tracing::error!(error = %e, "counters not flushed at shutdown");
    }
    events.stop().await;
    tracing::info!(sessions_cut = left, "stopped");
    Ok(())
}

/// The built-in scorer (docs/SCORING.md) with the model shipped in the binary and the
/// installation's samples from the store. It scores every account with `checks.spam` on
/// against its `checks.spam_threshold`, and mail from trusted networks against the default
/// threshold.
fn scorer(
    store: Arc<dyn postern_store::ScorerStore>,
    config: postern_config::ScorerConfig,
) -> Result<Arc<postern_scorer::ScorerTrainer>> {
    let minimum = postern_scorer::TrainingMinimum { ham: config.min_ham, spam: config.min_spam };
    let models =
        postern_scorer::Models::shipped(minimum).map_err(|e| anyhow::anyhow!("the scorer's shipped model: {e}"))?;
    let analyzer = Arc::new(postern_scorer::Analyzer::default());
    let trainer = postern_scorer::ScorerTrainer::open(analyzer, Arc::new(models), store)
        .context("the scorer's training samples")?;
    Ok(Arc::new(trainer))
}

/// How often a node of a cluster looks for scorer samples other nodes learned, and how
/// many looks make a full read (a pair of relabellings can leave the totals unchanged).
const SCORER_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);
const SCORER_FULL_READ_EVERY: u32 = 20;

/// Takes in the samples other nodes learned (docs/CLUSTER.md), until the task is dropped.
async fn refresh_scorer(trainer: Arc<postern_scorer::ScorerTrainer>) {
    let mut ticks = tokio::time::interval(SCORER_REFRESH);
    ticks.tick().await;
    for look in 1u32.. {
        ticks.tick().await;
        let trainer = Arc::clone(&trainer);
        let always = look % SCORER_FULL_READ_EVERY == 0;
        match tokio::task::spawn_blocking(move || trainer.refresh(always)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read other nodes' scorer samples; tried again later"),
            Err(e) => tracing::error!(error = %e, "scorer refresh task failed"),
        }
    }
}

fn scorer_scanner(trainer: &postern_scorer::ScorerTrainer) -> Arc<dyn postern_pipeline::Scanner> {
    Arc::new(trainer.scanner())
}

/// The attachment checks (macros, dangerous attachments, archives) with the installation's
/// bounds; each account's settings say which of its rules apply.
fn attachment_scanner(config: &postern_config::AttachmentsConfig) -> Arc<dyn postern_pipeline::Scanner> {
    let bounds = postern_attachments::Bounds {
        max_depth: config.max_depth,
        max_unpacked_bytes: config.max_unpacked_bytes,
        max_entries: config.max_entries,
        max_ratio: config.max_ratio,
        max_message_bytes: usize::try_from(config.max_message_bytes).unwrap_or(usize::MAX),
    };
    Arc::new(postern_attachments::AttachmentScanner::new(bounds))
}

/// What limits ip account ranges in the admin API: the trusted networks, the listeners'
/// own addresses (a wildcard listener's are the loopback addresses; its other interface
/// addresses are not enumerated), and the prefix limits of `[admin]`.
fn ip_rules(config: &Config, bound: &[(ListenerKind, SocketAddr)]) -> postern_admin::IpAccountRules {
    let mut own: Vec<ipnet::IpNet> = Vec::new();
    for (_, addr) in bound {
        let nets: Vec<ipnet::IpNet> = if addr.ip().is_unspecified() {
            ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect()
        } else {
            vec![ipnet::IpNet::from(addr.ip().to_canonical())]
        };
        for net in nets {
            if !own.contains(&net) {
                own.push(net);
            }
        }
    }
    postern_admin::IpAccountRules {
        trusted_networks: config.trusted_networks.clone(),
        own_addresses: own,
        widest_ipv4: config.ip_accounts.widest_ipv4,
        widest_ipv6: config.ip_accounts.widest_ipv6,
    }
}

/// The AUTH failure blocks and every listener's daily blocks, for the admin API.
fn client_blocks(policy: &RelayPolicy, listeners: &[Listener]) -> postern_policy::ClientBlocks {
    let daily = listeners
        .iter()
        .map(|l| {
            // The tracker is carried over by a reload, so this handle stays the live one.
            let context = l.context.load();
            let protection = &context.protection;
            postern_policy::ListenerBlocks {
                listener: context.kind.name().to_string(),
                tracker: Arc::clone(&protection.clients),
                refused_recipients_limit: protection.policy.refused_recipients_limit,
                auth_failures_limit: protection.policy.auth_failures_limit,
            }
        })
        .collect();
    postern_policy::ClientBlocks::new(policy.auth_guard(), daily)
}

/// The counters backend of `[counters]`: embedded (persisted in the data directory) or Redis.
async fn open_counters(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<dyn Counters>> {
    Ok(match &config.counters {
        CountersConfig::Embedded => {
            let path = config.data_dir.join("counters");
            Arc::new(EmbeddedCounters::open(&path, clock).with_context(|| format!("counters in {}", path.display()))?)
        }
        CountersConfig::Redis { url, prefix } => Arc::new(
            RedisCounters::connect(url, prefix, clock).await.with_context(|| format!("counters.redis_url: {url}"))?,
        ),
    })
}

fn print_summary(
    config: &Config,
    bound: &[(ListenerKind, SocketAddr)],
    tls: &tls::LoadedTls,
    recovery: &postern_queue::Recovery,
) {
    println!("Postern {} is running as {}", env!("CARGO_PKG_VERSION"), config.hostname);
    println!("data directory: {}", config.data_dir.display());
    for (kind, addr) in bound {
        let what = match kind {
            ListenerKind::Smtp => "relay, STARTTLS offered",
            ListenerKind::Submission => "submission, STARTTLS offered",
            ListenerKind::Smtps => "implicit TLS",
        };
        println!("listening: {} {} ({})", kind.name(), addr, what);
    }
    let nets: Vec<String> = config.trusted_networks.iter().map(|n| n.to_string()).collect();
    let route = match (config.delivery.default_route, config.delivery.relay_hosts.first()) {
        (postern_config::Route::Relay(i), _) => {
            let h = &config.delivery.relay_hosts[i];
            format!("relay host {}:{} ({})", h.host, h.port, h.name)
        }
        (postern_config::Route::Direct, _) => "direct (MX lookup)".to_string(),
    };
    println!("delivery: {route}, {} routing rule(s)", config.delivery.rules.len());
    println!("trusted networks (may relay without authentication): {}", nets.join(", "));
    let origin = if tls.generated { "self-signed, generated now" } else { "loaded" };
    println!("TLS certificate: {} ({})", tls.certificate.display(), origin);
    println!(
        "spool: {} message(s) waiting, {} incomplete removed, {} corrupt moved aside",
        recovery.messages.len(),
        recovery.incomplete_removed,
        recovery.corrupt.len()
    );
    if let Some((_, addr)) = bound.iter().find(|(k, _)| *k == ListenerKind::Smtp) {
        println!("try it: swaks --server {} --port {} --to someone@example.com", addr.ip(), addr.port());
    }
}

/// The stores `[store]` places: the directory, the DKIM keys, the panel's users, the
/// quarantine (rows and bytes), the scorer's samples, the event log and log search in the
/// node's SQLite file and disk, or in a PostgreSQL that several nodes share (then with the
/// [`Cluster`] whose change feed keeps the nodes converged, and any node's log search
/// finds every node's messages), and the archive (rows and copies: any node's export holds
/// every node's messages).
struct SharedStores {
    directory: Arc<dyn DirectoryStore>,
    dkim: Arc<dyn DkimStore>,
    admin_users: Arc<dyn postern_store::AdminUserStore>,
    quarantine: QuarantineStores,
    scorer: Arc<dyn postern_store::ScorerStore>,
    events: Arc<dyn postern_store::EventStore>,
    log: Arc<dyn postern_store::LogSearch>,
    /// `None`: the archive is files and an SQLite index in the node's data directory.
    archive: Option<Arc<dyn postern_store::ArchiveStore>>,
    cluster: Option<Cluster>,
}

/// The quarantine's rows, and where its bytes are: `None`, the node's own disk.
struct QuarantineStores {
    rows: Arc<dyn postern_store::QuarantineStore>,
    bodies: Option<Arc<dyn postern_store::HeldBodyStore>>,
}

/// A node of a cluster: the shared store, and where its change feed's listener connects.
struct Cluster {
    store: Arc<postern_store::PgStore>,
    config: postern_store::PgConfig,
}

fn shared_stores(config: &postern_config::StoreConfig, sqlite: &Arc<SqliteStore>) -> Result<SharedStores> {
    match config {
        postern_config::StoreConfig::Sqlite => Ok(SharedStores {
            directory: sqlite.clone(),
            dkim: sqlite.clone(),
            admin_users: sqlite.clone(),
            quarantine: QuarantineStores { rows: sqlite.clone(), bodies: None },
            scorer: sqlite.clone(),
            events: sqlite.clone(),
            log: sqlite.clone(),
            archive: None,
            cluster: None,
        }),
        postern_config::StoreConfig::Postgres { url, pool_size, ca_file } => {
            let pg = postern_store::PgConfig {
                url: url.clone(),
                pool_size: *pool_size,
                schema: None,
                ca_file: ca_file.clone(),
            };
            let store = Arc::new(postern_store::PgStore::open(&pg).context("PostgreSQL store ([store] url)")?);
            tracing::info!(
                pool_size,
                "directory, DKIM keys, panel users, quarantine, scorer samples, event log, log search and archive in PostgreSQL"
            );
            Ok(SharedStores {
                directory: store.clone(),
                dkim: store.clone(),
                admin_users: store.clone(),
                quarantine: QuarantineStores { rows: store.clone(), bodies: Some(store.clone()) },
                scorer: store.clone(),
                events: store.clone(),
                log: store.clone(),
                archive: Some(store.clone()),
                cluster: Some(Cluster { store, config: pg }),
            })
        }
    }
}

/// The first superadmin token, kept in the data directory (mode 0600) for the CLI on this
/// machine; only its hash is in the database. A token file the database does not know yet
/// (a data directory from before tokens were stored) is registered as it is, so scripts
/// that use it keep working. Never printed.
fn admin_token(data_dir: &std::path::Path, store: &dyn DirectoryStore) -> Result<()> {
    let path = data_dir.join("admin-token");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim();
        if secret.len() >= 32 {
            let hash = postern_admin::secret_hash(secret);
            if store.token_by_secret_hash(&hash).context("admin token")?.is_none() {
                register_superadmin(store, hash)?;
            }
            return Ok(());
        }
    }
    let (secret, hash) = postern_admin::try_new_token_secret().map_err(|e| anyhow::anyhow!("random token: {e}"))?;
    register_superadmin(store, hash)?;
    write_private(&path, format!("{secret}\n").as_bytes())
}

/// On first start (no panel user yet): the superadmin `admin` with a random password,
/// written to `admin-password` in the data directory (mode 0600) and printed there only.
/// Delete the file once the password is changed.
fn first_panel_user(data_dir: &std::path::Path, users: &dyn postern_store::AdminUserStore) -> Result<()> {
    match postern_ops::panel_auth::first_superadmin(users) {
        Ok(Some((name, password))) => {
            let path = data_dir.join("admin-password");
            write_private(&path, format!("{password}\n").as_bytes())?;
            tracing::warn!(user = %name, file = %path.display(), "web panel superadmin created; change its password");
            Ok(())
        }
        Ok(None) => Ok(()),
        // Another node on the same PostgreSQL made it first.
        Err(e) if e.kind == postern_ops::ErrorKind::Conflict => Ok(()),
        Err(e) => Err(anyhow::anyhow!("web panel superadmin: {e}")),
    }
}

pub fn session_rules(c: &postern_config::PanelConfig) -> postern_ops::panel_auth::SessionRules {
    postern_ops::panel_auth::SessionRules { idle: c.session_idle, lifetime: c.session_lifetime }
}

fn register_superadmin(store: &dyn DirectoryStore, secret_hash: String) -> Result<()> {
    let new =
        NewToken { name: "superadmin (data directory)".into(), role: Role::Superadmin, domains: vec![], secret_hash };
    store.create_token(&new).context("admin token")?;
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("create {}", temp.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("rename to {}", path.display()))
}

/// The engines that are configured (`[rspamd]`, `[spamassassin]`, then `[clamav]`), as
/// content checks.
fn engine_scanners(engines: &postern_config::Engines) -> Vec<Arc<dyn postern_pipeline::Scanner>> {
    use postern_pipeline::engines::{
        ClamavScanner, EngineSettings, RspamdScanner, RspamdSettings, SpamdScanner, SpamdSettings,
    };
    let settings = |name: &str, address: String, timeout, failure, max_message_size| {
        let on_failure = match failure {
            postern_config::EngineFailure::Skip => postern_pipeline::OnFailure::Skip,
            postern_config::EngineFailure::Tempfail => postern_pipeline::OnFailure::Tempfail,
        };
        tracing::info!(engine = name, address = address.as_str(), on_failure = on_failure.name(), "engine on");
        EngineSettings { address, timeout, on_failure, max_message_size }
    };
    let host_port = |a: &postern_config::HostPort| {
        if a.host.contains(':') { format!("[{}]:{}", a.host, a.port) } else { format!("{}:{}", a.host, a.port) }
    };
    let spam_engine = |name: &str, e: &postern_config::EngineConfig| {
        settings(name, host_port(&e.address), e.timeout, e.on_failure, e.max_message_size)
    };
    let mut scanners: Vec<Arc<dyn postern_pipeline::Scanner>> = Vec::new();
    if let Some(r) = &engines.rspamd {
        let engine = spam_engine("rspamd", &r.engine);
        scanners.push(Arc::new(RspamdScanner::new(RspamdSettings { engine, spam_actions: r.spam_actions.clone() })));
    }
    if let Some(s) = &engines.spamassassin {
        let engine = spam_engine("spamassassin", &s.engine);
        scanners.push(Arc::new(SpamdScanner::new(SpamdSettings { engine, threshold: s.threshold })));
    }
    if let Some(c) = &engines.clamav {
        // A Unix socket's path starts with `/`: the scanner tells the two apart so.
        let address = match &c.address {
            postern_config::ClamdAddress::Tcp(a) => host_port(a),
            postern_config::ClamdAddress::Unix(path) => path.to_string_lossy().into_owned(),
        };
        let engine = settings("clamav", address, c.timeout, c.on_failure, c.max_message_size);
        scanners.push(Arc::new(ClamavScanner::new(engine)));
    }
    scanners
}

/// Settles what a crash left in the quarantine, against the recovered spool: before the
/// queue delivers, the listeners hold or the admin API releases anything. A failure is
/// logged and the server starts (what was left stays for the next start).
async fn recover_quarantine(quarantine: &postern_pipeline::Quarantine, spool: &postern_queue::Recovery) {
    let messages = &spool.messages;
    let spooled = |id: postern_core::QueueId| messages.binary_search(&id).is_ok();
    match quarantine.recover(&spooled).await {
        Ok(done) if done.is_empty() => {}
        Ok(done) => tracing::info!(
            releases_finished = done.finished.len(),
            held_again = done.held_again.len(),
            orphans_removed = done.orphans_removed.len(),
            leftovers_removed = done.leftovers_removed.len(),
            corrupt = done.corrupt.len(),
            "quarantine recovered"
        ),
        Err(e) => tracing::error!(error = %e, "quarantine recovery failed; tried again at the next start"),
    }
}

/// The quarantine: held messages' bytes under `<data_dir>/quarantine` (or in the shared
/// store of a cluster), their rows in the store, abuse reports to the domains' abuse
/// contacts through `mailer` (none without it). Releases and confirmations are training
/// samples for `trainer` (the scorer).
fn open_quarantine(
    config: &Config,
    stores: QuarantineStores,
    queue: &QueueManager,
    events: &Arc<dyn postern_core::EventSink>,
    directory: &Arc<postern_policy::Directory>,
    mailer: Option<Arc<dyn postern_core::SystemMailer>>,
    trainer: Arc<dyn postern_core::Trainer>,
) -> Result<Arc<postern_pipeline::Quarantine>> {
    let bodies = match stores.bodies {
        Some(shared) => postern_pipeline::HeldBodies::Shared(shared),
        None => postern_queue::QuarantineDir::open(&config.data_dir.join("quarantine")).context("quarantine")?.into(),
    };
    let abuse = mailer.map(|mailer| {
        let directory = Arc::clone(directory);
        let contact: postern_pipeline::AbuseContact =
            Arc::new(move |domain: &str| directory.load().domain(domain).and_then(|d| d.abuse_contact.clone()));
        Arc::new(postern_pipeline::AbuseReports::new(mailer, contact, Arc::clone(events), config.hostname.clone()))
    });
    let quarantine = postern_pipeline::Quarantine::new(
        bodies,
        stores.rows,
        Arc::new(queue.clone()),
        Arc::clone(events),
        config.hostname.clone(),
    )
    .with_lifetime(config.quarantine.lifetime)
    .with_trainer(Some(trainer))
    .with_abuse_reports(abuse);
    Ok(Arc::new(quarantine))
}
