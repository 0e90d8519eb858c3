//! [`ScorerStore`] for [`PgStore`]: the `scorer_samples`, `scorer_tokens` and
//! `scorer_totals` tables, shared by every node, so that a sample learned through any node
//! (a release, a confirmation, a training file) counts once for the whole cluster.
//!
//! One transaction a sample. Its row is locked (`FOR UPDATE`, or inserted first) before
//! any count moves, so two nodes learning the same message count it once; the token
//! counts are one statement over the sorted hashes (rows locked in one order: two
//! samples never deadlock).

use super::{PgStore, execute, get as col, query, query_one, query_opt};
use crate::Result;
use crate::scorer::{Learned, ScorerCounts, ScorerStore};

fn token_list(tokens: &[u32]) -> Vec<i64> {
    let mut list: Vec<i64> = tokens.iter().map(|t| i64::from(*t)).collect();
    list.sort_unstable();
    list.dedup();
    list
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Adds `delta` (1 or -1) to the label's total and to each token's count, never below 0.
async fn count(tx: &deadpool_postgres::Transaction<'_>, spam: bool, tokens: &[i64], delta: i64) -> Result<()> {
    let column = if spam { "spam" } else { "ham" };
    let sql = format!("UPDATE scorer_totals SET {column} = GREATEST(0, {column} + $1) WHERE id = 1");
    execute(tx, &sql, &[&delta]).await?;
    let (ham, spam_add) = if spam { (0i64, delta) } else { (delta, 0i64) };
    let sql = "INSERT INTO scorer_tokens (token, ham, spam)
        SELECT t, GREATEST(0, $2::BIGINT), GREATEST(0, $3::BIGINT) FROM UNNEST($1::BIGINT[]) AS t ORDER BY t
        ON CONFLICT (token) DO UPDATE SET ham = GREATEST(0, scorer_tokens.ham + $2::BIGINT),
            spam = GREATEST(0, scorer_tokens.spam + $3::BIGINT)";
    execute(tx, sql, &[&tokens, &ham, &spam_add]).await?;
    Ok(())
}

impl ScorerStore for PgStore {
    fn learn_sample(&self, digest: &[u8; 32], spam: bool, tokens: &[u32], source: &str) -> Result<Learned> {
        let (digest, tokens, source) = (digest.to_vec(), token_list(tokens), source.to_owned());
        self.with_client(move |mut c| async move {
            let tx = c.transaction().await?;
            let now = postern_core::event::now_ms();
            // Claim the sample's row: a new one is inserted at once (a concurrent learner of
            // the same message waits on it, then finds it); a known one is locked.
            let inserted = query_opt(
                &tx,
                "INSERT INTO scorer_samples (digest, spam, tokens, source, learned_at_ms)
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING RETURNING 1",
                &[&digest, &spam, &tokens, &source, &now],
            )
            .await?;
            let outcome = if inserted.is_some() {
                Learned::New
            } else {
                let row = query_one(&tx, "SELECT spam, tokens FROM scorer_samples WHERE digest = $1 FOR UPDATE", &[
                    &digest,
                ])
                .await?;
                let (was_spam, old): (bool, Vec<i64>) = (col(&row, 0)?, col(&row, 1)?);
                if was_spam == spam {
                    return Ok(Learned::Known);
                }
                count(&tx, was_spam, &old, -1).await?;
                execute(
                    &tx,
                    "UPDATE scorer_samples SET spam = $2, tokens = $3, source = $4, learned_at_ms = $5 WHERE digest = $1",
                    &[&digest, &spam, &tokens, &source, &now],
                )
                .await?;
                Learned::Relabelled
            };
            count(&tx, spam, &tokens, 1).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn scorer_counts(&self) -> Result<ScorerCounts> {
        self.with_client(move |mut c| async move {
            // One snapshot: the totals and the tokens as of the same moment.
            let tx =
                c.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).start().await?;
            let totals = query_one(&tx, "SELECT ham, spam FROM scorer_totals WHERE id = 1", &[]).await?;
            let rows = query(&tx, "SELECT token, ham, spam FROM scorer_tokens WHERE ham > 0 OR spam > 0", &[]).await?;
            let mut tokens = Vec::with_capacity(rows.len());
            for r in &rows {
                let token = u32::try_from(col::<i64>(r, 0)?)
                    .map_err(|_| super::unreadable("a scorer token out of range".into()))?;
                tokens.push((token, to_u32(col(r, 1)?), to_u32(col(r, 2)?)));
            }
            tx.commit().await?;
            Ok(ScorerCounts { ham: to_u32(col(&totals, 0)?), spam: to_u32(col(&totals, 1)?), tokens })
        })
    }

    fn scorer_totals(&self) -> Result<(u32, u32)> {
        self.with_client(move |c| async move {
            let totals = query_one(&c, "SELECT ham, spam FROM scorer_totals WHERE id = 1", &[]).await?;
            Ok((to_u32(col(&totals, 0)?), to_u32(col(&totals, 1)?)))
        })
    }
}
