#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The file store: checkpoints round-trip, leases exclude and expire, and
//! the file survives a SIGKILL in the middle of a write loop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use connect_jobs::{Clock, FileStateStore, JobState, StateError, StateStore};
use serde_json::{Value, json};

const TTL: Duration = Duration::from_secs(30);

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

#[tokio::test]
async fn checkpoints_and_run_records_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connect-state.json");
    let store = FileStateStore::new(&path);
    assert_eq!(store.load("customer-delta").await.unwrap(), None);
    assert!(!path.exists(), "nothing written by a read");

    let lease = store
        .try_acquire("customer-delta", "a", TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .save_checkpoint(
            &lease,
            &json!({ "lastModifiedAt": "2026-03-01T11:58:00.000Z", "id": "c-9" }),
        )
        .await
        .unwrap();
    let mut state = store.load("customer-delta").await.unwrap().unwrap();
    assert_eq!(
        state.checkpoint,
        Some(json!({ "lastModifiedAt": "2026-03-01T11:58:00.000Z", "id": "c-9" }))
    );
    assert!(state.checkpoint_at.is_some());
    state.runs = 3;
    state.last_success = Some(start());
    store.save("customer-delta", &state).await.unwrap();
    store.save("other", &JobState::default()).await.unwrap();
    store.release(&lease).await.unwrap();

    // A second store on the same file (another process, a restart) sees it.
    let again = FileStateStore::new(&path);
    let read = again.load("customer-delta").await.unwrap().unwrap();
    assert_eq!(read, state);
    assert_eq!(read.checkpoint().unwrap().value["id"], "c-9");
    assert!(again.load("other").await.unwrap().is_some());
    assert_eq!(
        again.holder("customer-delta").await.unwrap(),
        None,
        "released"
    );

    // The file is plain JSON a person can read, with no temp file left.
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["jobs"]["customer-delta"]["runs"], 3);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_held_lease_excludes_others_until_it_expires_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let clock = Clock::manual(start());
    let a = FileStateStore::new(&path).with_clock(clock.clone());
    let b = FileStateStore::new(&path).with_clock(clock.clone());

    let lease = a
        .try_acquire("job", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, "replica-a");
    assert!(
        b.try_acquire("job", "replica-b", TTL)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        a.try_acquire("job", "replica-a", TTL)
            .await
            .unwrap()
            .is_none(),
        "not re-entrant"
    );
    assert_eq!(b.holder("job").await.unwrap().unwrap().holder, "replica-a");
    assert!(
        b.try_acquire("other-job", "replica-b", TTL)
            .await
            .unwrap()
            .is_some(),
        "per job"
    );

    // Renewing pushes the expiry.
    clock.advance(Duration::from_secs(20));
    let renewed = a.renew(&lease, TTL).await.unwrap().unwrap();
    assert_eq!(renewed.expires_at, start() + chrono::Duration::seconds(50));

    // Replica a crashes: its lease is never released.
    drop(a);
    clock.advance(Duration::from_secs(29));
    assert!(
        b.try_acquire("job", "replica-b", TTL)
            .await
            .unwrap()
            .is_none(),
        "still within its ttl"
    );
    clock.advance(Duration::from_secs(2));
    let taken = b
        .try_acquire("job", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.holder, "replica-b");

    // The crashed holder, were it to come back, can neither renew nor write.
    let revived = FileStateStore::new(&path).with_clock(clock.clone());
    assert_eq!(revived.renew(&renewed, TTL).await.unwrap(), None);
    let refused = revived
        .save_checkpoint(&renewed, &json!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StateError::LeaseLost { holder: Some(h), .. } if h == "replica-b"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("now held by `replica-b`"),
        "{refused}"
    );
    // Releasing a lease one no longer holds changes nothing.
    revived.release(&renewed).await.unwrap();
    assert_eq!(b.holder("job").await.unwrap().unwrap().token, taken.token);
    b.release(&taken).await.unwrap();
    assert_eq!(b.holder("job").await.unwrap(), None);
}

#[tokio::test]
async fn a_corrupt_file_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, "{ not json").unwrap();
    let error = FileStateStore::new(&path)
        .load("x")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not valid job state"), "{error}");
    assert!(
        error.contains("point `state.path` at another file"),
        "{error}"
    );
    let missing_dir = FileStateStore::new(dir.path().join("nope").join("state.json"));
    let error = missing_dir
        .save("x", &JobState::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("check that the directory exists"), "{error}");
}

/// The child's side of the SIGKILL test: writes states 1, 2, 3, ... for
/// ever, each with a payload big enough that a torn write would show.
const CHILD: &str = "CONNECT_JOBS_SIGKILL_CHILD";

fn state_number(n: u64) -> JobState {
    let mut state = JobState::default();
    state.runs = n;
    state.checkpoint = Some(json!({ "n": n, "padding": "x".repeat(4096 + (n as usize % 997)) }));
    state
}

#[test]
fn the_file_survives_sigkill_in_the_middle_of_a_write_loop() {
    if let Ok(path) = std::env::var(CHILD) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = FileStateStore::new(&path);
            for n in 1.. {
                store.save("job", &state_number(n)).await.unwrap();
                store
                    .save(&format!("job-{}", n % 7), &state_number(n))
                    .await
                    .unwrap();
            }
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let exe = std::env::current_exe().unwrap();
    let mut last_seen = 0;
    for round in 0..5 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "the_file_survives_sigkill_in_the_middle_of_a_write_loop",
                "--nocapture",
            ])
            .env(CHILD, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write a while (at least a few states more than before).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "round {round}: the child wrote nothing new"
            );
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(doc) = serde_json::from_str::<Value>(&text)
                && doc["jobs"]["job"]["runs"].as_u64().unwrap_or(0) >= last_seen + 20
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Whatever instant it died at, the file is one whole state.
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("round {round}: torn file ({e}): {text:.200}"));
        let n = doc["jobs"]["job"]["runs"].as_u64().unwrap();
        assert!(n >= last_seen + 20, "round {round}: {n}");
        let expected = serde_json::to_value(state_number(n)).unwrap();
        assert_eq!(
            doc["jobs"]["job"], expected,
            "round {round}: state {n} is not what was written"
        );
        let store = FileStateStore::new(&path);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let loaded = runtime.block_on(store.load("job")).unwrap().unwrap();
        assert_eq!(loaded, state_number(n));
        // The next writer sweeps any temporary file the kill left.
        runtime
            .block_on(store.save("after-kill", &JobState::default()))
            .unwrap();
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0, "round {round}");
        last_seen = n;
    }
}

#[test]
fn acquiring_is_a_compare_and_set_between_threads_with_their_own_handles() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("state.json"));
    let holders = Arc::new(AtomicU64::new(0));
    let acquired = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (path, holders, acquired) = (
                Arc::clone(&path),
                Arc::clone(&holders),
                Arc::clone(&acquired),
            );
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let store = FileStateStore::new(path.as_path());
                runtime.block_on(async {
                    for _ in 0..60 {
                        if let Some(lease) = store
                            .try_acquire("job", &format!("t{t}"), TTL)
                            .await
                            .unwrap()
                        {
                            assert_eq!(
                                holders.fetch_add(1, Ordering::SeqCst),
                                0,
                                "two holders at once"
                            );
                            acquired.fetch_add(1, Ordering::SeqCst);
                            store.save_checkpoint(&lease, &json!(t)).await.unwrap();
                            holders.fetch_sub(1, Ordering::SeqCst);
                            store.release(&lease).await.unwrap();
                        }
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(acquired.load(Ordering::SeqCst) > 0);
}
