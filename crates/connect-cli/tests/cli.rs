#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `connect` command without SQS: `handlers`, `validate`, `backfill
//! customers` and `dead-letters list|replay` against the local emulators,
//! with their exit codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use connect_commercetools::CustomerDraft;
use connect_core::Message;
use connect_core::ResourceRef;
use connect_core::dead_letter::{DeadLetter, DeadLetterStore, FailureKind, FileDeadLetters};
use connect_testkit::Sandbox;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/application-connector.yml"
);
const ROUTE: &str = "commercetools.connect.customer.upsert";

async fn connect(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_connect"))
        .args(args)
        .envs(env)
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "warn")
        .env_remove("CONNECT_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the connect binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

/// The example configuration, with a dead-letter file in `dir`.
fn env_for(sandbox: &Sandbox, dir: &Path) -> BTreeMap<String, String> {
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dir.join("dead-letters.jsonl").display().to_string(),
    );
    env.insert(
        "STATE_FILE".to_owned(),
        dir.join("connect-state.json").display().to_string(),
    );
    env
}

#[tokio::test]
async fn handlers_lists_the_bundled_handler() {
    let output = connect(&["handlers"], &BTreeMap::new()).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("CommercetoolsCustomerUpsert"), "{text}");
    assert!(text.contains("connect_customer_sync"), "{text}");
    // The bundled sync, with its route, scopes and scan.
    let sync = text
        .lines()
        .find(|line| line.starts_with("customers "))
        .unwrap_or_else(|| panic!("no customers sync in {text}"));
    for part in [
        "customer",
        ROUTE,
        "CommercetoolsCustomerUpsert",
        "view_customers",
        "/customers by id",
    ] {
        assert!(sync.contains(part), "{part} in {sync}");
    }
}

#[tokio::test]
async fn backfill_refuses_an_unknown_resource_and_lists_the_registered_ones() {
    let output = connect(
        &["backfill", "customerz", "--config", EXAMPLE],
        &BTreeMap::new(),
    )
    .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("invalid value 'customerz'") && text.contains("customers"),
        "{text}"
    );
}

#[tokio::test]
async fn validate_accepts_the_example_and_explains_mistakes_with_exit_code_2() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());

    let ok = connect(&["validate", "--config", EXAMPLE], &env).await;
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("is valid: connector `commercetools-connector`"),
        "{}",
        stdout(&ok)
    );
    assert!(stdout(&ok).contains("CommercetoolsCustomerUpsert"));

    let mut missing = env.clone();
    missing.remove("FLUENT_PASSWORD");
    let failed = connect(&["validate", "--config", EXAMPLE], &missing).await;
    assert_eq!(code(&failed), 2);
    assert!(
        stderr(&failed).contains("environment variable `FLUENT_PASSWORD` is not set"),
        "{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed).contains("application-connector.yml:"),
        "names the file and line"
    );

    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let typo = dir.path().join("typo.yml");
    std::fs::write(
        &typo,
        example.replace(
            "handler: CommercetoolsCustomerUpsert",
            "handler: CommercetoolsCustomerUpsrt",
        ),
    )
    .unwrap();
    let failed = connect(&["validate", "--config", typo.to_str().unwrap()], &env).await;
    assert_eq!(code(&failed), 2);
    let text = stderr(&failed);
    assert!(
        text.contains("no handler is registered as `CommercetoolsCustomerUpsrt`"),
        "{text}"
    );
    let registered = text.split("registered: [").nth(1).unwrap_or_default();
    assert!(
        registered.starts_with(
            "CommercetoolsCategoryUpsert, CommercetoolsCustomerUpsert, FluentOrderStatusUpdate]"
        ),
        "the bundled handlers are listed: {text}"
    );

    let usage = connect(&["validate"], &env).await;
    assert_eq!(code(&usage), 2, "a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_syncs_every_customer_and_a_second_run_writes_nothing() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    for i in 0..300 {
        sandbox
            .commercetools
            .insert_customer_silently(
                CustomerDraft::new(format!("backfill{i}@example.com"))
                    .with_name("Back", format!("Fill {i}")),
            )
            .unwrap();
    }

    let first = connect(
        &[
            "backfill",
            "customers",
            "--config",
            EXAMPLE,
            "--page-size",
            "120",
        ],
        &env,
    )
    .await;
    assert_eq!(code(&first), 0, "{}\n{}", stdout(&first), stderr(&first));
    let text = stdout(&first);
    assert!(text.contains("scanned         300"), "{text}");
    assert!(text.contains("created         300"), "{text}");
    assert!(text.contains("failed            0"), "{text}");
    assert_eq!(sandbox.fluent.customers().len(), 300);
    assert!(
        stderr(&first).contains("backfill: "),
        "plain progress lines off a terminal"
    );

    let second = connect(&["backfill", "customers", "--config", EXAMPLE], &env).await;
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert!(
        stdout(&second).contains("unchanged       300"),
        "{}",
        stdout(&second)
    );
    assert_eq!(sandbox.fluent.customers().len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_into_fluent() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let customer = sandbox
        .commercetools
        .insert_customer_silently(
            CustomerDraft::new("replayed@example.com").with_name("Re", "Played"),
        )
        .unwrap();
    // A message that failed earlier (say, while Fluent was down for longer
    // than the retries lasted).
    let store = FileDeadLetters::new(dir.path().join("dead-letters.jsonl"));
    let message = Message::new(ROUTE)
        .with_event_type("ResourceUpdated")
        .with_resource(ResourceRef::new("customer", customer.id.clone()).with_version(1));
    store
        .put(DeadLetter::for_message(
            message,
            FailureKind::AttemptsExhausted,
            "Fluent unavailable",
            5,
        ))
        .await
        .unwrap();

    let listed = connect(&["dead-letters", "list", "--config", EXAMPLE], &env).await;
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(
        text.contains("attempts-exhausted") && text.contains(&customer.id),
        "{text}"
    );
    assert!(text.contains("1 dead letter(s)"), "{text}");

    let unselected = connect(&["dead-letters", "replay", "--config", EXAMPLE], &env).await;
    assert_eq!(code(&unselected), 2, "replay needs a selection");
    assert!(stderr(&unselected).contains("--all"));

    let replayed = connect(
        &["dead-letters", "replay", "--config", EXAMPLE, "--all"],
        &env,
    )
    .await;
    assert_eq!(
        code(&replayed),
        0,
        "{}\n{}",
        stdout(&replayed),
        stderr(&replayed)
    );
    assert!(
        stdout(&replayed).contains("replayed 1 dead letter(s)"),
        "{}",
        stdout(&replayed)
    );
    assert!(
        stdout(&replayed).contains("1 succeeded, 0 dead-lettered again"),
        "{}",
        stdout(&replayed)
    );
    assert!(
        sandbox.fluent.customer(&customer.id).is_some(),
        "the replayed customer reached Fluent"
    );

    let empty = connect(
        &["dead-letters", "list", "--config", EXAMPLE, "--json"],
        &env,
    )
    .await;
    assert_eq!(code(&empty), 0);
    assert!(stdout(&empty).trim().is_empty(), "{}", stdout(&empty));
}
