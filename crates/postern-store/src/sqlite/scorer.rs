//! [`ScorerStore`] over the `scorer_samples`, `scorer_tokens` and `scorer_totals` tables.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::Result;
use crate::scorer::{Learned, ScorerCounts, ScorerStore};

impl ScorerStore for SqliteStore {
    fn learn_sample(&self, digest: &[u8; 32], spam: bool, tokens: &[u32], source: &str) -> Result<Learned> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let before: Option<(bool, Vec<u8>)> = tx
            .query_row("SELECT spam, tokens FROM scorer_samples WHERE digest = ?1", [&digest[..]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let outcome = match &before {
            Some((was_spam, _)) if *was_spam == spam => return Ok(Learned::Known),
            Some((was_spam, old)) => {
                // Take the old label's counts back.
                let old: Vec<u32> = old.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                count(&tx, *was_spam, &old, -1)?;
                Learned::Relabelled
            }
            None => Learned::New,
        };
        count(&tx, spam, tokens, 1)?;
        let blob: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
        tx.execute(
            "INSERT INTO scorer_samples (digest, spam, tokens, source, learned_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(digest) DO UPDATE SET spam = excluded.spam, tokens = excluded.tokens,
                 source = excluded.source, learned_at_ms = excluded.learned_at_ms",
            params![&digest[..], spam, blob, source, postern_core::event::now_ms()],
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    fn scorer_counts(&self) -> Result<ScorerCounts> {
        let conn = self.conn();
        let (ham, spam): (u32, u32) =
            conn.query_row("SELECT ham, spam FROM scorer_totals WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut stmt = conn.prepare("SELECT token, ham, spam FROM scorer_tokens WHERE ham > 0 OR spam > 0")?;
        let tokens = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ScorerCounts { ham, spam, tokens })
    }

    fn scorer_totals(&self) -> Result<(u32, u32)> {
        let conn = self.conn();
        Ok(conn.query_row("SELECT ham, spam FROM scorer_totals WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }
}

/// Adds `delta` (1 or -1) to the label's total and to each token's count.
fn count(tx: &rusqlite::Transaction<'_>, spam: bool, tokens: &[u32], delta: i64) -> Result<()> {
    let column = if spam { "spam" } else { "ham" };
    tx.execute(&format!("UPDATE scorer_totals SET {column} = MAX(0, {column} + ?1) WHERE id = 1"), [delta])?;
    let (ham, spam_add) = if spam { (0, delta) } else { (delta, 0) };
    let mut stmt = tx.prepare_cached(
        "INSERT INTO scorer_tokens (token, ham, spam) VALUES (?1, MAX(0, ?2), MAX(0, ?3))
         ON CONFLICT(token) DO UPDATE SET ham = MAX(0, ham + ?2), spam = MAX(0, spam + ?3)",
    )?;
    for t in tokens {
        stmt.execute(params![i64::from(*t), ham, spam_add])?;
    }
    Ok(())
}
