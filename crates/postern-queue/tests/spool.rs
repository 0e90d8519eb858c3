//! The spool against a real filesystem: round trip, recovery after a cut at every byte of
//! the last record, corruption in the middle, compaction, failures.

use std::fs;
use std::path::{Path, PathBuf};

use postern_core::test_support::{self, client};
use postern_core::{Envelope, QueueId};
use postern_queue::Spool;

fn envelope() -> Envelope {
    Envelope {
        received_at_ms: 1,
        client: client("127.0.0.1:1", "smtp"),
        size: 10,
        ..test_support::envelope(Some("a@example.com"), &["b@example.net"])
    }
}

fn segments(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("journal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// The newest segment holding a record. Not simply the newest file: a busy spool prepares
/// the next segment ahead on a thread (only its header is written), and it may appear at
/// any moment.
fn last_with_records(root: &Path) -> PathBuf {
    let newest_first = segments(root).into_iter().rev();
    newest_first.into_iter().find(|p| used(p) > postern_queue::journal::SEGMENT_HEADER).unwrap()
}

/// One past the last non-zero octet of a file.
fn used(path: &Path) -> usize {
    let bytes = fs::read(path).unwrap();
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}

fn write(spool: &Spool, body: &[u8]) -> QueueId {
    let env = envelope();
    spool.write_blocking(&env, &[body]).unwrap();
    env.queue_id
}

fn sorted(mut v: Vec<QueueId>) -> Vec<QueueId> {
    v.sort();
    v
}

#[test]
fn write_read_recover() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let env = envelope();
    spool.write_blocking(&env, &[b"Received: x\r\n", b"Subject: hi\r\n\r\nbody\r\n"]).unwrap();
    let (read_env, msg) = spool.read(env.queue_id).unwrap();
    assert_eq!(read_env, env);
    assert_eq!(msg, b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
    // A segment left half-prepared by a crash is removed.
    fs::write(dir.path().join("journal").join("00000000000000ff.new"), b"partial").unwrap();
    drop(spool);
    let spool = Spool::open(dir.path()).unwrap();
    let r = spool.recover().unwrap();
    assert_eq!(r.messages, vec![env.queue_id]);
    assert!(r.corrupt.is_empty());
    assert!(!dir.path().join("journal").join("00000000000000ff.new").exists());
    assert_eq!(spool.read(env.queue_id).unwrap().1, msg);
}

#[test]
fn removed_messages_stay_removed_and_new_writes_go_to_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let ids: Vec<QueueId> = (0..10).map(|i| write(&spool, format!("m{i}\r\n").as_bytes())).collect();
    for id in &ids[..4] {
        spool.remove(*id).unwrap();
    }
    spool.remove(ids[0]).unwrap(); // twice: not an error
    assert!(spool.read(ids[0]).is_err());
    drop(spool);
    let spool = Spool::open(dir.path()).unwrap();
    let r = spool.recover().unwrap();
    assert_eq!(r.messages, sorted(ids[4..].to_vec()));
    let more = write(&spool, b"after\r\n");
    spool.remove(ids[5]).unwrap();
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    let mut want = ids[4..].to_vec();
    want.retain(|i| *i != ids[5]);
    want.push(more);
    assert_eq!(r.messages, sorted(want));
}

/// Copies the spool at `from` to a fresh directory, lets `cut` change its last segment,
/// and recovers it.
fn recover_copy(from: &Path, cut: impl FnOnce(&mut Vec<u8>)) -> (postern_queue::Recovery, tempfile::TempDir) {
    let to = tempfile::tempdir().unwrap();
    fs::create_dir_all(to.path().join("journal")).unwrap();
    for seg in segments(from) {
        fs::copy(&seg, to.path().join("journal").join(seg.file_name().unwrap())).unwrap();
    }
    let last = last_with_records(to.path());
    let mut bytes = fs::read(&last).unwrap();
    cut(&mut bytes);
    fs::write(&last, &bytes).unwrap();
    let r = Spool::open(to.path()).unwrap().recover().unwrap();
    (r, to)
}

#[test]
fn a_cut_at_every_octet_of_the_last_record_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 64 << 10).unwrap();
    let acked: Vec<QueueId> = (0..5).map(|i| write(&spool, format!("message {i}\r\n").as_bytes())).collect();
    spool.remove(acked[1]).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let before = used(&seg);
    let last = write(&spool, b"the last record, cut anywhere\r\n");
    let after = used(&seg);
    let size = fs::metadata(&seg).unwrap().len() as usize;
    let mut want: Vec<QueueId> = acked.clone();
    want.retain(|i| *i != acked[1]);
    let want = sorted(want);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for cut in before..=after {
        // The file ends at the cut (not preallocated), or zeros follow (preallocated), or
        // garbage follows (a torn page).
        for variant in 0..3 {
            let (r, copy) = recover_copy(dir.path(), |b| match variant {
                0 => b.truncate(cut),
                1 => b[cut..].fill(0),
                _ => {
                    let end = (cut + 1 + (next() % 700) as usize).min(size);
                    for x in &mut b[cut..end] {
                        *x = next() as u8 | 1;
                    }
                }
            });
            let mut expect = want.clone();
            if cut == after && variant != 2 {
                expect.push(last);
                expect.sort();
            }
            if variant == 2 && cut == after {
                // Garbage after a complete record: the record stands, the garbage is a torn tail.
                expect.push(last);
                expect.sort();
            }
            assert_eq!(r.messages, expect, "cut at {cut} (record {before}..{after}), variant {variant}");
            assert!(r.corrupt.is_empty(), "cut at {cut}: a torn tail is not corruption: {:?}", r.corrupt);
            let torn = if variant == 2 { cut < size } else { cut != before && cut != after };
            assert_eq!(r.incomplete_removed, usize::from(torn), "cut at {cut}, variant {variant}");
            // Recovery zeroed the torn tail: a second recovery finds it clean and the same.
            let again = Spool::open(copy.path()).unwrap().recover().unwrap();
            assert_eq!(again.messages, expect);
            assert_eq!(again.incomplete_removed, 0, "cut at {cut}, variant {variant}");
        }
    }
}

#[test]
fn random_cuts_and_garbage_in_a_busy_journal() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 32 << 10).unwrap();
    let mut live = Vec::new();
    for i in 0..200 {
        live.push(write(&spool, format!("message {i} {}\r\n", "x".repeat(i % 97)).as_bytes()));
        if i % 3 == 0 {
            let id = live.remove(i % live.len());
            spool.remove(id).unwrap();
        }
    }
    let seg = last_with_records(dir.path());
    let end = used(&seg);
    let want = sorted(live.clone());
    // Garbage or zeros after the end of the durable part never change what is recovered.
    let mut seed = 7u64;
    for _ in 0..50 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = (seed >> 33) as usize % 3000 + 1;
        let (r, _copy) = recover_copy(dir.path(), |b| {
            b.resize(b.len().max(end + len), 0);
            for (k, x) in b[end..end + len].iter_mut().enumerate() {
                *x = (seed >> (k % 56)) as u8 ^ k as u8;
            }
        });
        assert_eq!(r.messages, want);
        assert!(r.corrupt.is_empty());
    }
}

#[test]
fn a_flipped_octet_in_a_middle_record_is_copied_aside_never_delivered() {
    for place in ["body", "header"] {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::with_segment_size(dir.path(), 64 << 10).unwrap();
        let first = write(&spool, b"first\r\n");
        let seg = segments(dir.path()).pop().unwrap();
        let start = used(&seg);
        let bad = write(&spool, b"the middle one\r\n");
        let end = used(&seg);
        let third = write(&spool, b"third\r\n");
        drop(spool);
        let mut bytes = fs::read(&seg).unwrap();
        let at = if place == "body" { end - 5 } else { start + 30 };
        bytes[at] ^= 0x20;
        fs::write(&seg, &bytes).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let r = spool.recover().unwrap();
        assert_eq!(r.messages, sorted(vec![first, third]), "{place}");
        assert_eq!(r.corrupt.len(), 1, "{place}: {:?}", r.corrupt);
        let (name, reason) = &r.corrupt[0];
        if place == "body" {
            assert_eq!(name, &bad.to_string());
            assert_eq!(reason, "checksum mismatch");
        } else {
            assert!(name.ends_with(&format!("-{start}")), "{name}");
            assert_eq!(reason, "bad record header");
        }
        let saved = fs::read(dir.path().join("corrupt").join(name)).unwrap();
        assert_eq!(saved.len(), end - start, "{place}: the whole record is kept");
        assert!(spool.read(bad).is_err());
        // Neutralized in place: the next start finds nothing new.
        let again = Spool::open(dir.path()).unwrap().recover().unwrap();
        assert_eq!(again.messages, sorted(vec![first, third]));
        assert!(again.corrupt.is_empty(), "{place}: {:?}", again.corrupt);
        assert_eq!(fs::read_dir(dir.path().join("corrupt")).unwrap().count(), 1);
    }
}

#[test]
fn a_record_hidden_in_a_message_is_never_taken_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 64 << 10).unwrap();
    let first = write(&spool, b"first\r\n");
    let seg = segments(dir.path()).pop().unwrap();
    let start = used(&seg);
    // A sender's message that carries a record of its own (sealed with a guessed salt).
    let forged_env = Envelope { received_at_ms: 2, ..envelope() };
    let mut forged = postern_queue::journal::encode_message(&forged_env, &[b"forged\r\n"]).unwrap();
    postern_queue::journal::seal(&mut forged, 0);
    forged.extend_from_slice(b"forged\r\n");
    let carrier = write(&spool, &forged);
    let third = write(&spool, b"third\r\n");
    drop(spool);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[start] ^= 0xff; // the carrier's header is destroyed: the scan looks for the next
    fs::write(&seg, &bytes).unwrap();
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    assert_eq!(r.messages, sorted(vec![first, third]));
    assert!(!r.messages.contains(&forged_env.queue_id) && !r.messages.contains(&carrier));
    assert_eq!(r.corrupt.len(), 1);
}

#[test]
fn compaction_deletes_finished_segments_and_moves_long_lived_survivors() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 8 << 10).unwrap();
    let body = vec![b'y'; 900];
    // One message in every few stays (deferred for days); the rest are delivered at once.
    let mut kept = Vec::new();
    for i in 0..400 {
        let id = write(&spool, &body);
        if i % 40 == 0 {
            kept.push(id);
        } else {
            spool.remove(id).unwrap();
        }
    }
    let stats = spool.stats();
    assert_eq!(stats.messages, kept.len());
    assert!(
        stats.bytes_on_disk <= 2 * stats.live_bytes + 4 * (8 << 10),
        "the journal holds {} octets for {} live: {stats:?}",
        stats.bytes_on_disk,
        stats.live_bytes
    );
    assert!(segments(dir.path()).len() <= stats.segments + 1, "files on disk match the segments known");
    for id in &kept {
        assert_eq!(spool.read(*id).unwrap().1, body, "a survivor moved forward still reads back");
    }
    drop(spool);
    let spool = Spool::with_segment_size(dir.path(), 8 << 10).unwrap();
    let r = spool.recover().unwrap();
    assert_eq!(r.messages, sorted(kept.clone()));
    assert!(r.corrupt.is_empty());
    // Once they are delivered too, everything but the current segment goes.
    for id in &kept {
        spool.remove(*id).unwrap();
    }
    for _ in 0..20 {
        let id = write(&spool, &body);
        spool.remove(id).unwrap();
    }
    assert!(spool.stats().segments <= 3, "{:?}", spool.stats());
    assert!(Spool::open(dir.path()).unwrap().recover().unwrap().messages.is_empty());
}

#[test]
fn a_message_larger_than_a_segment_gets_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 8 << 10).unwrap();
    let small = write(&spool, b"small\r\n");
    let big_body = vec![b'z'; 50_000];
    let big = write(&spool, &big_body);
    let after = write(&spool, b"after\r\n");
    spool.remove(small).unwrap();
    assert_eq!(spool.read(big).unwrap().1, big_body);
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    assert_eq!(r.messages, sorted(vec![big, after]));
}

#[test]
fn failed_write_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    // Where segments are created is no longer a directory.
    fs::remove_dir(dir.path().join("journal")).unwrap();
    fs::write(dir.path().join("journal"), b"").unwrap();
    let env = envelope();
    let err = spool.write_blocking(&env, &[b"m\r\n"]).unwrap_err();
    assert_eq!(err.reply().render(), "451 4.3.0 Error: queue file write error\r\n");
    assert!(spool.read(env.queue_id).is_err());
}

#[test]
fn concurrent_grouped_writes_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 16 << 10).unwrap();
    let ids: Vec<QueueId> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let spool = &spool;
                s.spawn(move || {
                    (0..50)
                        .map(|_| {
                            let env = envelope();
                            spool.write_blocking(&env, &[&[b'x'; 300]]).unwrap();
                            env.queue_id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    assert_eq!(r.messages, sorted(ids.clone()));
    // And recovering the live spool in place gives the same.
    assert_eq!(spool.recover().unwrap().messages, sorted(ids));
}

#[test]
fn the_health_probe_leaves_nothing_and_fails_when_the_spool_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    spool.probe_blocking().unwrap();
    spool.probe_blocking().unwrap();
    assert_eq!(fs::read_dir(dir.path().join("journal")).unwrap().count(), 0, "no probe file left behind");
    // Where messages are written is no longer a directory.
    fs::remove_dir(dir.path().join("journal")).unwrap();
    fs::write(dir.path().join("journal"), b"").unwrap();
    let err = spool.probe_blocking().unwrap_err();
    assert!(err.to_string().starts_with("create "), "{err}");
}

/// Sessions write through `Enqueue` (appended on the runtime's threads, waiting for a sync
/// as tasks) while blocking writers (system mail, released quarantine) write at the same
/// time; small segments make some of the async writes take the blocking path (rotation).
/// Every acknowledged message is found by a recovery, readable and whole.
#[test]
fn async_and_blocking_writers_share_syncs_and_every_acknowledged_message_lands() {
    use postern_core::Enqueue;
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_segment_size(dir.path(), 32 << 10).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (async_ids, blocking_ids) = std::thread::scope(|s| {
        let blocking = s.spawn(|| {
            (0..100)
                .map(|i| {
                    let env = envelope();
                    spool.write_blocking(&env, &[format!("blocking {i}\r\n").as_bytes()]).unwrap();
                    env.queue_id
                })
                .collect::<Vec<_>>()
        });
        let sessions = runtime.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|t| {
                    let spool = spool.clone();
                    tokio::spawn(async move {
                        let mut ids = Vec::new();
                        for i in 0..30 {
                            let env = envelope();
                            let id = env.queue_id;
                            let body =
                                format!("session {t} message {i}\r\n{}\r\n", "y".repeat(200 + 40 * i)).into_bytes();
                            spool.enqueue(env, b"Received: by test\r\n".to_vec(), body).await.unwrap();
                            ids.push(id);
                        }
                        ids
                    })
                })
                .collect();
            let mut ids = Vec::new();
            for t in tasks {
                ids.extend(t.await.unwrap());
            }
            ids
        });
        (sessions, blocking.join().unwrap())
    });
    assert!(segments(dir.path()).len() > 3, "the writes crossed segments");
    for id in &async_ids {
        let (envelope, message) = spool.read(*id).unwrap();
        assert_eq!(envelope.queue_id, *id);
        assert!(message.starts_with(b"Received: by test\r\nsession "), "{:?}", String::from_utf8_lossy(&message));
    }
    let mut all: Vec<QueueId> = async_ids.into_iter().chain(blocking_ids).collect();
    all.sort();
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    assert_eq!(r.messages, all);
}
