//! [`QuarantineStore`] for [`PgStore`]: the `quarantine` table.
//!
//! In: [`NewHeld`] rows from the pipeline of any node, claims from the admin API and the
//! purge. Out: [`HeldMessage`] values. Recipients and the verdict trace are JSON text; a
//! row this binary cannot read is an error naming it, never a panic. Every claim is one
//! update of a row locked since it was read in the state it expects, so two callers, on
//! one node or two, can never both win.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{PgStore, execute, get as col, is_duplicate, query, query_one, query_opt, unreadable};
use crate::directory::{Page, Paged, Scope};
use crate::quarantine::{HeldBodyStore, HeldMessage, HeldState, NewHeld, QuarantineFilter, QuarantineStore};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, queue_id, account_id, account, identity, domain, sender_domain, sender, recipients, \
    subject, rule, checks, client_ip, reaction, size, held_at_ms, expires_at_ms, state, release_requested_by, \
    release_requested_at_ms, release_note, released_by, released_at_ms, confirmed_by, confirmed_at_ms";

fn decode(r: &Row) -> Result<HeldMessage> {
    let id: i64 = col(r, 0)?;
    let state_name: String = col(r, 17)?;
    let state = HeldState::parse(&state_name)
        .ok_or_else(|| unreadable(format!("quarantine row {id}: unknown state {state_name:?}")))?;
    Ok(HeldMessage {
        id,
        message: NewHeld {
            queue_id: col(r, 1)?,
            account_id: col(r, 2)?,
            account: col(r, 3)?,
            identity: col(r, 4)?,
            domain: col(r, 5)?,
            sender_domain: col(r, 6)?,
            sender: col(r, 7)?,
            recipients: serde_json::from_str(col(r, 8)?)?,
            subject: col(r, 9)?,
            rule: col(r, 10)?,
            checks: serde_json::from_str(col(r, 11)?)?,
            client_ip: col(r, 12)?,
            reaction: col(r, 13)?,
            size: u64::try_from(col::<i64>(r, 14)?).unwrap_or(0),
            held_at_ms: col(r, 15)?,
            expires_at_ms: col(r, 16)?,
        },
        state,
        release_requested_by: col(r, 18)?,
        release_requested_at_ms: col(r, 19)?,
        release_note: col(r, 20)?,
        released_by: col(r, 21)?,
        released_at_ms: col(r, 22)?,
        confirmed_by: col(r, 23)?,
        confirmed_at_ms: col(r, 24)?,
    })
}

async fn hold(c: &impl GenericClient, new: &NewHeld) -> Result<HeldMessage> {
    let recipients = serde_json::to_string(&new.recipients)?;
    let checks = serde_json::to_string(&new.checks)?;
    let size = i64::try_from(new.size).unwrap_or(i64::MAX);
    let inserted = query_one(
        c,
        &format!(
            "INSERT INTO quarantine (queue_id, account_id, account, identity, domain, sender_domain, sender,
                recipients, subject, rule, checks, client_ip, reaction, size, held_at_ms, expires_at_ms, state)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'held')
                RETURNING {COLUMNS}"
        ),
        &[
            &new.queue_id,
            &new.account_id,
            &new.account,
            &new.identity,
            &new.domain,
            &new.sender_domain,
            &new.sender,
            &recipients,
            &new.subject,
            &new.rule,
            &checks,
            &new.client_ip,
            &new.reaction,
            &size,
            &new.held_at_ms,
            &new.expires_at_ms,
        ],
    )
    .await;
    match inserted {
        Ok(row) => decode(&row),
        Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("message {} is held already", new.queue_id))),
        Err(e) => Err(e),
    }
}

/// Moves row `id` from one of `from` to `to` (marking who releases it) and returns it as
/// it was before, or `None` when it is not in one of `from`. The row stays locked from its
/// read to the update: of two claims, on one node or two, the second sees the first's state.
async fn claim(
    client: &mut deadpool_postgres::Client,
    id: i64,
    from: &[HeldState],
    to: HeldState,
    by: Option<&str>,
) -> Result<Option<HeldMessage>> {
    let tx = client.transaction().await?;
    let row = query_opt(&tx, &format!("SELECT {COLUMNS} FROM quarantine WHERE id = $1 FOR UPDATE"), &[&id]).await?;
    let Some(held) = row.as_ref().map(decode).transpose()? else { return Ok(None) };
    if !from.contains(&held.state) {
        return Ok(None);
    }
    match (to, by) {
        (HeldState::Releasing, Some(by)) => {
            let sql = "UPDATE quarantine SET state = $1, released_by = $2, released_at_ms = $3 WHERE id = $4";
            execute(&tx, sql, &[&to.name(), &by, &now_ms(), &id]).await?
        }
        _ => execute(&tx, "UPDATE quarantine SET state = $1 WHERE id = $2", &[&to.name(), &id]).await?,
    };
    tx.commit().await?;
    Ok(Some(held))
}

impl QuarantineStore for PgStore {
    fn hold(&self, new: &NewHeld) -> Result<HeldMessage> {
        let new = new.clone();
        self.with_client(move |c| async move { hold(&c, &new).await })
    }

    fn held(&self, id: i64) -> Result<Option<HeldMessage>> {
        self.with_client(move |c| async move {
            let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE id = $1");
            query_opt(&c, &sql, &[&id]).await?.as_ref().map(decode).transpose()
        })
    }

    fn held_by_queue_id(&self, queue_id: &str) -> Result<Option<HeldMessage>> {
        let queue_id = queue_id.to_owned();
        self.with_client(move |c| async move {
            let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE queue_id = $1");
            query_opt(&c, &sql, &[&queue_id]).await?.as_ref().map(decode).transpose()
        })
    }

    fn list_held(&self, scope: &Scope, filter: &QuarantineFilter, page: Page) -> Result<Paged<HeldMessage>> {
        let mut f = Filter::default();
        f.scope("domain", scope);
        if let Some(domain) = &filter.domain {
            f.equals("domain", domain.clone());
        }
        if let Some(account) = &filter.account {
            f.equals("account", account.clone());
        }
        if let Some(identity) = &filter.identity {
            f.contains("identity", identity);
        }
        if let Some(sender) = &filter.sender {
            f.contains("sender", sender);
        }
        if let Some(recipient) = &filter.recipient {
            f.contains("recipients", recipient);
        }
        if let Some(rule) = &filter.rule {
            f.equals("rule", rule.clone());
        }
        if let Some(since) = filter.since_ms {
            let mark = f.bind(since);
            f.clause(format!("held_at_ms >= {mark}"));
        }
        if let Some(until) = filter.until_ms {
            let mark = f.bind(until);
            f.clause(format!("held_at_ms < {mark}"));
        }
        if let Some(state) = filter.state {
            f.equals("state", state.name().to_string());
        }
        self.with_client(move |c| async move {
            let query = ListQuery {
                columns: COLUMNS,
                from: "quarantine",
                count_from: None,
                order: "held_at_ms DESC, id DESC",
                filter: &f,
            };
            paged(&c, query, page, decode).await
        })
    }

    fn claim_release(&self, id: i64, by: &str) -> Result<Option<HeldMessage>> {
        let by = by.to_owned();
        self.with_client(move |mut c| async move {
            claim(&mut c, id, &[HeldState::Held], HeldState::Releasing, Some(&by)).await
        })
    }

    fn finish_release(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move {
            let sql =
                "UPDATE quarantine SET state = 'released', released_at_ms = $1 WHERE id = $2 AND state = 'releasing'";
            Ok(execute(&c, sql, &[&now_ms(), &id]).await? == 1)
        })
    }

    fn abort_release(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move {
            let sql = "UPDATE quarantine SET state = 'held', released_by = NULL, released_at_ms = NULL
                WHERE id = $1 AND state = 'releasing'";
            Ok(execute(&c, sql, &[&id]).await? == 1)
        })
    }

    fn request_release(&self, id: i64, by: &str, note: Option<&str>) -> Result<bool> {
        let (by, note) = (by.to_owned(), note.map(str::to_owned));
        self.with_client(move |c| async move {
            let sql = "UPDATE quarantine SET release_requested_by = $1, release_requested_at_ms = $2, release_note = $3
                WHERE id = $4 AND state = 'held'";
            Ok(execute(&c, sql, &[&by, &now_ms(), &note, &id]).await? == 1)
        })
    }

    fn confirm(&self, id: i64, by: &str) -> Result<bool> {
        let by = by.to_owned();
        self.with_client(move |c| async move {
            let sql = "UPDATE quarantine SET confirmed_by = $1, confirmed_at_ms = $2 WHERE id = $3 AND state = 'held'";
            Ok(execute(&c, sql, &[&by, &now_ms(), &id]).await? == 1)
        })
    }

    fn claim_delete(&self, id: i64) -> Result<Option<HeldMessage>> {
        self.with_client(move |mut c| async move {
            claim(&mut c, id, &[HeldState::Held, HeldState::Released], HeldState::Purging, None).await
        })
    }

    fn claim_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<HeldMessage>> {
        self.with_client(move |mut c| async move {
            let tx = c.transaction().await?;
            execute(
                &tx,
                "UPDATE quarantine SET state = 'purging' WHERE state IN ('held', 'released') AND expires_at_ms <= $1",
                &[&now_ms],
            )
            .await?;
            let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE state = 'purging' ORDER BY id LIMIT $1");
            let rows = query(&tx, &sql, &[&i64::from(limit)]).await?;
            tx.commit().await?;
            rows.iter().map(decode).collect()
        })
    }

    fn forget(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move {
            Ok(execute(&c, "DELETE FROM quarantine WHERE id = $1 AND state = 'purging'", &[&id]).await? == 1)
        })
    }
}

impl HeldBodyStore for PgStore {
    fn put_held_body(&self, key: &str, bytes: &[u8], at_ms: i64) -> Result<()> {
        let (key, bytes) = (key.to_owned(), bytes.to_vec());
        self.with_client(move |c| async move {
            let sql = "INSERT INTO quarantine_bodies (queue_id, body, written_at_ms) VALUES ($1, $2, $3)";
            match execute(&c, sql, &[&key, &bytes, &at_ms]).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("held message {key}"))),
                Err(e) => Err(e),
            }
        })
    }

    fn held_body(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let key = key.to_owned();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.with_client(move |c| async move {
            // The size first, and the bytes only when within the bound.
            let sql =
                "SELECT octet_length(body)::BIGINT, CASE WHEN octet_length(body)::BIGINT <= $2::BIGINT THEN body END
                FROM quarantine_bodies WHERE queue_id = $1 AND NOT corrupt";
            let Some(row) = query_opt(&c, sql, &[&key, &limit]).await? else { return Ok(None) };
            let size: i64 = col(&row, 0)?;
            match col::<Option<Vec<u8>>>(&row, 1)? {
                Some(body) => Ok(Some(body)),
                None => Err(unreadable(format!("held message {key}: {size} octets, more than the {max} allowed"))),
            }
        })
    }

    fn remove_held_body(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.with_client(move |c| async move {
            execute(&c, "DELETE FROM quarantine_bodies WHERE queue_id = $1", &[&key]).await?;
            Ok(())
        })
    }

    fn held_body_keys(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
        self.with_client(move |c| async move {
            let sql = "SELECT queue_id FROM quarantine_bodies WHERE NOT corrupt AND written_at_ms < $1
                ORDER BY written_at_ms LIMIT $2";
            let rows = query(&c, sql, &[&before_ms, &i64::from(limit)]).await?;
            rows.iter().map(|r| col(r, 0)).collect()
        })
    }

    fn set_held_body_corrupt(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.with_client(move |c| async move {
            execute(&c, "UPDATE quarantine_bodies SET corrupt = TRUE WHERE queue_id = $1", &[&key]).await?;
            Ok(())
        })
    }
}
