#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `connect backfill` against a commercetools that pages out of id order:
//! the scan is refused, the command exits 1 (a failure while running) with
//! a message naming the ids, not 130 (interrupted), and offers no
//! `--after` to resume from.

use std::collections::BTreeMap;
use std::process::Output;

use connect_commercetools::CustomerDraft;
use connect_testkit::Sandbox;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/application-connector.yml"
);

async fn connect(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"))
        .args(args)
        .envs(env)
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "off")
        .env_remove("CONNECT_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the connect binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_of_an_unordered_scan_exits_1_with_the_reason_not_130() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dir.path().join("dead-letters.jsonl").display().to_string(),
    );
    env.insert(
        "STATE_FILE".to_owned(),
        dir.path().join("connect-state.json").display().to_string(),
    );
    for i in 0..77 {
        sandbox
            .commercetools
            .insert_customer_silently(
                CustomerDraft::new(format!("order{i}@example.com")).with_name("Out", "Of Order"),
            )
            .unwrap();
    }
    sandbox.commercetools.set_unordered_pages(true);

    let output = connect(
        &[
            "backfill",
            "customers",
            "--config",
            EXAMPLE,
            "--page-size",
            "20",
        ],
        &env,
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("out of id order"), "{stderr}");
    assert!(stderr.contains("came after"), "{stderr}");
    assert!(stderr.contains("ascending ids"), "{stderr}");
    assert!(stderr.contains("--after"), "{stderr}");
    assert!(stderr.contains("unsafe"), "{stderr}");
    for wrong in [
        "interrupted",
        "unfinished",
        "completed in order",
        "resume with",
    ] {
        assert!(
            !stdout.contains(wrong) && !stderr.contains(wrong),
            "`{wrong}` in\n{stdout}\n{stderr}"
        );
    }
    assert!(sandbox.fluent.customers().is_empty());
}
