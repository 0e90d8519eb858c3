//! Versioned migrations. Each runs once, in order, in its own transaction; the version is
//! recorded in `schema_migrations`, and any version not recorded runs (a gap is filled).
//! A database newer than the binary is refused.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// (version, name, SQL). Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "events",
        "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        session INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        queue_id TEXT,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_queue_id ON events(queue_id) WHERE queue_id IS NOT NULL;
    CREATE INDEX events_at ON events(at_ms);",
    ),
    (
        2,
        "directory",
        // AUTOINCREMENT: an id is never reused, so an identity sighting or an event of a
        // deleted account can never land on a newer account that took its number.
        "CREATE TABLE domains (
        name TEXT PRIMARY KEY,
        filter_enabled INTEGER NOT NULL,
        sender_security TEXT NOT NULL,
        abuse_contact TEXT,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        password_hash TEXT,
        settings TEXT NOT NULL,
        lock TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        UNIQUE (kind, name)
    );
    CREATE INDEX accounts_domain ON accounts(domain);
    CREATE UNIQUE INDEX accounts_one_domain_account ON accounts(domain) WHERE kind = 'domain';
    CREATE TABLE identities (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        messages INTEGER NOT NULL,
        lock TEXT NOT NULL,
        UNIQUE (account_id, name)
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        domains TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at_ms INTEGER NOT NULL
    );
    ALTER TABLE events ADD COLUMN domain TEXT;
    ALTER TABLE events ADD COLUMN sender_domain TEXT;
    CREATE INDEX events_domain ON events(domain) WHERE domain IS NOT NULL;
    CREATE INDEX events_sender_domain ON events(sender_domain) WHERE sender_domain IS NOT NULL;",
    ),
    (
        3,
        "list rules",
        // `domain` NULL: a global rule. One rule per (list, kind, value): the unique index
        // maps NULL to '' (no domain name is empty), since NULLs are distinct in UNIQUE.
        "CREATE TABLE list_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        domain TEXT REFERENCES domains(name) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        action TEXT NOT NULL,
        comment TEXT,
        created_at_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX list_rules_one_per_value ON list_rules(COALESCE(domain, ''), kind, value);
    CREATE INDEX list_rules_domain ON list_rules(domain);",
    ),
    (
        4,
        "dkim keys",
        // The private key only sealed (docs/DKIM.md). At most one active key per domain
        // and algorithm: a rotation retires the previous one in the same transaction.
        "CREATE TABLE dkim_keys (
        domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        public_key TEXT NOT NULL,
        sealed_private_key BLOB NOT NULL,
        master_key_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        activated_at_ms INTEGER,
        retire_at_ms INTEGER,
        PRIMARY KEY (domain, selector)
    );
    CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys(domain, algorithm) WHERE state = 'active';",
    ),
    (
        5,
        "identity locks kept",
        // The few identities whose lock state matters (locked, or automatically unlocked
        // before), found without reading the lock of every identity: the SMTP policy keeps
        // them in memory (directory snapshot).
        "ALTER TABLE identities ADD COLUMN lock_kept INTEGER NOT NULL DEFAULT 0;
    UPDATE identities SET lock_kept = 1
        WHERE json_valid(lock) AND (COALESCE(json_extract(lock, '$.locked'), 0)
            OR COALESCE(json_extract(lock, '$.automatic_unlocks'), 0) > 0);
    CREATE INDEX identities_lock_kept ON identities(account_id) WHERE lock_kept = 1;",
    ),
    (
        6,
        "ip delegations",
        // The IP ranges a superadmin delegated to a domain: a domain admin's ip accounts
        // must lie inside one. They never overlap (checked in the store's transaction).
        "CREATE TABLE ip_delegations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
        network TEXT NOT NULL,
        comment TEXT,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX ip_delegations_domain ON ip_delegations(domain);",
    ),
    (
        7,
        "inbound relay domains",
        // Not tied to `domains`: an inbound domain need not be a customer domain that sends.
        "CREATE TABLE inbound_domains (
        name TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        tls TEXT NOT NULL,
        require_tls INTEGER NOT NULL,
        comment TEXT,
        created_at_ms INTEGER NOT NULL
    );",
    ),
    (
        8,
        "quarantine",
        // Not tied to `domains` or `accounts`: a held message outlives a deleted tenant
        // until its expiry, so that nothing held disappears with a click.
        "CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id TEXT NOT NULL UNIQUE,
        account_id INTEGER,
        account TEXT,
        identity TEXT,
        domain TEXT,
        sender_domain TEXT,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        rule TEXT NOT NULL,
        checks TEXT NOT NULL,
        client_ip TEXT NOT NULL,
        reaction TEXT NOT NULL,
        size INTEGER NOT NULL,
        held_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        release_requested_by TEXT,
        release_requested_at_ms INTEGER,
        release_note TEXT,
        released_by TEXT,
        released_at_ms INTEGER,
        confirmed_by TEXT,
        confirmed_at_ms INTEGER
    );
    CREATE INDEX quarantine_domain ON quarantine(domain, held_at_ms);
    CREATE INDEX quarantine_held_at ON quarantine(held_at_ms);
    CREATE INDEX quarantine_expiry ON quarantine(expires_at_ms) WHERE state IN ('held', 'released', 'purging');",
    ),
    (
        9,
        "scorer training samples",
        // The built-in scorer's per-installation Bayes counts (postern-scorer): one row per
        // learned message (its SHA-256, label and tokens, so that relearning it with the
        // other label moves its counts), per token the ham and spam messages it was in,
        // and the totals in one row.
        "CREATE TABLE scorer_samples (
        digest BLOB PRIMARY KEY,
        spam INTEGER NOT NULL,
        tokens BLOB NOT NULL,
        source TEXT NOT NULL,
        learned_at_ms INTEGER NOT NULL
    );
    CREATE TABLE scorer_tokens (
        token INTEGER PRIMARY KEY,
        ham INTEGER NOT NULL,
        spam INTEGER NOT NULL
    );
    CREATE TABLE scorer_totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ham INTEGER NOT NULL,
        spam INTEGER NOT NULL
    );
    INSERT INTO scorer_totals (id, ham, spam) VALUES (1, 0, 0);",
    ),
    (
        10,
        "log search",
        // One row per message (or refusal without a queue id), kept by the event store in
        // the events' transaction (src/sqlite/log_ingest.rs); `phase` is how far it got,
        // `status` what log search shows (src/log_state.rs). Texts searched exactly are
        // stored lower case. Rows are found and ordered by (first_at_ms, id), the arrival,
        // which later events do not change: a delivery rewrites the row, never an index
        // entry. The session index finds a message's connection events for its timeline
        // (session numbers restart with the process: lookups are bounded by time).
        "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        queue_id TEXT,
        refused_event INTEGER,
        first_at_ms INTEGER NOT NULL,
        last_at_ms INTEGER NOT NULL,
        session INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        account TEXT,
        account_domain TEXT,
        sender_domain TEXT,
        identity TEXT,
        sender TEXT,
        message_id TEXT,
        message_key TEXT,
        subject TEXT,
        size INTEGER,
        phase TEXT NOT NULL,
        status TEXT NOT NULL,
        stage TEXT,
        rule TEXT,
        reply TEXT,
        recipient_count INTEGER NOT NULL DEFAULT 0,
        pending INTEGER NOT NULL DEFAULT 0,
        deferred INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER NOT NULL DEFAULT 0,
        bounced INTEGER NOT NULL DEFAULT 0,
        expired INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX messages_queue_id ON messages(queue_id) WHERE queue_id IS NOT NULL;
    CREATE INDEX messages_account_domain ON messages(account_domain, first_at_ms);
    CREATE INDEX messages_sender_domain ON messages(sender_domain, first_at_ms);
    CREATE INDEX messages_first_at ON messages(first_at_ms);
    CREATE INDEX messages_sender ON messages(sender, first_at_ms);
    CREATE INDEX messages_message_key ON messages(message_key) WHERE message_key IS NOT NULL;
    CREATE INDEX messages_unadopted ON messages(session, client_ip) WHERE queue_id IS NULL;
    CREATE TABLE message_recipients (
        message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        recipient TEXT NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        PRIMARY KEY (message, recipient)
    ) WITHOUT ROWID;
    CREATE INDEX message_recipients_recipient ON message_recipients(recipient);
    CREATE INDEX events_session ON events(session, client_ip, at_ms) WHERE queue_id IS NULL AND session != 0;",
    ),
    (
        11,
        "admin_users",
        "CREATE TABLE admin_users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        domains TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_login_ms INTEGER
    );
    CREATE TABLE admin_sessions (
        secret_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX admin_sessions_user ON admin_sessions(user_id);",
    ),
    (
        12,
        "message_hours",
        // The dashboard's counts per hour, written once per key and batch of events
        // (sqlite/log_ingest.rs): one row per (hour, account domain, sender domain), '' when
        // a message has none, and one total row per hour under ('*', '*'), which no domain
        // can be. A domain admin's hours sum the rows of its domains.
        "CREATE TABLE message_hours (
        hour INTEGER NOT NULL,
        account_domain TEXT NOT NULL,
        sender_domain TEXT NOT NULL,
        received INTEGER NOT NULL DEFAULT 0,
        refused INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        discarded INTEGER NOT NULL DEFAULT 0,
        checked INTEGER NOT NULL DEFAULT 0,
        spam INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER NOT NULL DEFAULT 0,
        deferred INTEGER NOT NULL DEFAULT 0,
        bounced INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hour, account_domain, sender_domain)
    ) WITHOUT ROWID;
    CREATE INDEX message_hours_account ON message_hours(account_domain, hour);
    CREATE INDEX message_hours_sender ON message_hours(sender_domain, hour);",
    ),
    (
        13,
        "locked accounts and identities",
        // The dashboard lists and counts the locked accounts and identities; a `locked`
        // column kept with the lock document, and a partial index over the few locked
        // rows, find them without reading the lock of every row.
        "ALTER TABLE accounts ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
    UPDATE accounts SET locked = 1 WHERE json_valid(lock) AND COALESCE(json_extract(lock, '$.locked'), 0);
    CREATE INDEX accounts_locked ON accounts(domain) WHERE locked = 1;
    ALTER TABLE identities ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
    UPDATE identities SET locked = 1 WHERE json_valid(lock) AND COALESCE(json_extract(lock, '$.locked'), 0);
    CREATE INDEX identities_locked ON identities(account_id) WHERE locked = 1;",
    ),
];

pub fn apply(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    // Every migration not recorded yet, in order: not only those above the highest, so that
    // migrations written in parallel (and merged in any order) are never skipped.
    let applied: std::collections::HashSet<i64> = {
        let mut stmt = conn.prepare("SELECT version FROM schema_migrations")?;
        let versions = stmt.query_map([], |r| r.get(0))?;
        versions.collect::<rusqlite::Result<_>>()?
    };
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|source| StoreError::Migration { version, name, source: source.into() })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, postern_core::event::now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "database migration applied");
    }
    Ok(())
}

pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
