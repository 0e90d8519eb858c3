//! The spool against a real filesystem: round trip, recovery, corruption, failures.

use std::fs;

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

#[test]
fn write_read_recover() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let env = envelope();
    spool.write_blocking(&env, &[b"Received: x\r\n", b"Subject: hi\r\n\r\nbody\r\n"]).unwrap();
    let (read_env, msg) = spool.read(env.queue_id).unwrap();
    assert_eq!(read_env, env);
    assert_eq!(msg, b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
    fs::write(dir.path().join("incoming").join("leftover"), b"partial").unwrap();
    let r = Spool::open(dir.path()).unwrap().recover().unwrap();
    assert_eq!(r.messages, vec![env.queue_id]);
    assert_eq!(r.incomplete_removed, 1);
    assert!(r.corrupt.is_empty());
}

#[test]
fn corrupt_files_move_to_corrupt_area() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let good = envelope();
    spool.write_blocking(&good, &[b"m\r\n"]).unwrap();
    let flipped = envelope();
    spool.write_blocking(&flipped, &[b"message body\r\n"]).unwrap();
    let truncated = envelope();
    spool.write_blocking(&truncated, &[b"message body\r\n"]).unwrap();
    let q = dir.path().join("queue");
    let mut bytes = fs::read(q.join(flipped.queue_id.to_string())).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    fs::write(q.join(flipped.queue_id.to_string()), &bytes).unwrap();
    let bytes = fs::read(q.join(truncated.queue_id.to_string())).unwrap();
    fs::write(q.join(truncated.queue_id.to_string()), &bytes[..bytes.len() - 4]).unwrap();
    fs::write(q.join("garbage"), b"\x00\x01").unwrap();
    // A valid file under another id's name.
    fs::copy(q.join(good.queue_id.to_string()), q.join(QueueId::generate().to_string())).unwrap();

    let r = spool.recover().unwrap();
    assert_eq!(r.messages, vec![good.queue_id]);
    let mut reasons: Vec<String> = r.corrupt.iter().map(|(_, why)| why.clone()).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "checksum mismatch"));
    assert!(reasons.iter().any(|r| r.starts_with("size mismatch")));
    assert!(reasons.iter().any(|r| r == "file name is not a queue id"));
    assert!(reasons.iter().any(|r| r.contains("does not match file name")));
    assert_eq!(fs::read_dir(dir.path().join("corrupt")).unwrap().count(), 4);
}

#[test]
fn failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    // The queue directory vanishes and a file takes its place: rename must fail.
    fs::remove_dir(dir.path().join("queue")).unwrap();
    fs::write(dir.path().join("queue"), b"").unwrap();
    let env = envelope();
    let err = spool.write_blocking(&env, &[b"m\r\n"]).unwrap_err();
    assert_eq!(err.reply().render(), "451 4.3.0 Error: queue file write error\r\n");
    assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
}

#[test]
fn concurrent_grouped_writes_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let ids: Vec<QueueId> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let spool = &spool;
                s.spawn(move || {
                    (0..20)
                        .map(|_| {
                            let env = envelope();
                            spool.write_blocking(&env, &[b"x\r\n"]).unwrap();
                            env.queue_id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let r = spool.recover().unwrap();
    assert_eq!(r.messages.len(), ids.len());
}

#[test]
fn the_health_probe_leaves_nothing_and_fails_when_the_spool_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    spool.probe_blocking().unwrap();
    spool.probe_blocking().unwrap();
    assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0, "no probe file left behind");
    // Where messages are written is no longer a directory.
    fs::remove_dir(dir.path().join("incoming")).unwrap();
    fs::write(dir.path().join("incoming"), b"").unwrap();
    let err = spool.probe_blocking().unwrap_err();
    assert!(err.to_string().starts_with("create "), "{err}");
}
