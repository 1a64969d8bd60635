#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The partner's own binary against emulators started here (it reaches them
//! over loopback): `backfill channels` lands every channel in Fluent and
//! writes the one Fluent refuses into the `jsonl-dir` dead-letter store;
//! `locations` prints what it manages; `validate` refuses a misspelt key
//! of the `locations:` block with its line; `handlers` lists the sync.

mod support;

use std::path::Path;
use std::process::Output;

use connect_sdk::testkit::Sandbox;
use connect_sdk::testkit::commercetools::CommercetoolsEmulator;
use connect_sdk::testkit::fluent::FluentEmulator;
use support::{channel, location, locations_extension, yaml};

async fn sandbox() -> Sandbox {
    Sandbox {
        commercetools: CommercetoolsEmulator::builder()
            .resource_type("channels", "channel")
            .start()
            .await
            .unwrap(),
        fluent: FluentEmulator::builder()
            .extension(locations_extension())
            .start()
            .await
            .unwrap(),
    }
}

async fn partner_connect(sandbox: &Sandbox, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-connect"))
        .args(args)
        .envs(sandbox.env())
        .env("NO_COLOR", "1")
        .env("CONNECT_LOG", "warn")
        .env_remove("CONNECT_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the partner binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_channels_runs_the_partner_sync_with_its_backend_block_and_subcommand() {
    let sandbox = sandbox().await;
    let ct = &sandbox.commercetools;
    for i in 0..12 {
        ct.insert_resource_silently(
            "channels",
            channel(&format!("store-{i:02}"), &format!("Store {i}")),
        )
        .unwrap();
    }
    let refused = "k".repeat(support::MAX_REF + 1);
    ct.insert_resource_silently("channels", channel(&refused, "Refused"))
        .unwrap();
    // Not a channel: a backfill of channels does not read it.
    ct.insert_resource_silently(
        "categories",
        serde_json::json!({ "name": { "en": "C" }, "slug": { "en": "cat-1" } }),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let letters = dir.path().join("dead-letters");
    let block = format!(
        "  dead-letter:\n    type: jsonl-dir\n    path: {}",
        letters.display()
    );
    let config = write(dir.path(), "app.yml", &yaml(&block));

    let out = partner_connect(
        &sandbox,
        &[
            "backfill",
            "channels",
            "--config",
            &config,
            "--page-size",
            "5",
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(3),
        "one channel failed: {stdout}\n{stderr}"
    );
    let fluent = &sandbox.fluent;
    for i in 0..12 {
        let located = location(fluent, &format!("store-{i:02}")).expect("every channel lands");
        assert_eq!(located["name"], format!("Store {i}"));
        assert_eq!(located["type"], "STORE");
    }
    assert_eq!(fluent.mutation_count("createLocation"), 12);
    let refusals = || {
        fluent
            .mutations()
            .iter()
            .filter(|m| m.error.is_some())
            .count()
    };
    assert_eq!(refusals(), 1, "the refused one, not retried");
    assert!(location(fluent, &refused).is_none());

    // The refused channel is a file of the partner's dead-letter store.
    let files: Vec<_> = std::fs::read_dir(&letters)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let letter: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!(
        letter["error"].as_str().unwrap().contains("C0400E"),
        "{letter}"
    );
    assert_eq!(
        letter["message"]["resource"]["typeId"], "channel",
        "{letter}"
    );
    // ... which `dead-letters list` reads back through the backend.
    let out = partner_connect(&sandbox, &["dead-letters", "list", "--config", &config]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains(letter["id"].as_str().unwrap()), "{listed}");

    // The partner's subcommand prints the locations it manages.
    let out = partner_connect(&sandbox, &["locations", "--config", &config]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("store-00\tSTORE\tStore 0\n"), "{stdout}");
    assert!(stdout.ends_with("12 locations\n"), "{stdout}");

    // A second backfill writes nothing: every location is up to date.
    let out = partner_connect(&sandbox, &["backfill", "channels", "--config", &config]).await;
    assert_eq!(out.status.code(), Some(3), "the refused one fails again");
    assert_eq!(fluent.mutation_count("updateLocation"), 0);
    assert_eq!(fluent.mutation_count("createLocation"), 12);
    assert_eq!(refusals(), 2);

    // `connect handlers` lists the partner's sync and its scan.
    let out = partner_connect(&sandbox, &["handlers"]).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("PartnerChannelUpsert"), "{stdout}");
    assert!(stdout.contains("/channels by id"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_refuses_a_misspelt_key_of_the_locations_block_with_its_line() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let good = yaml("");
    let config = write(dir.path(), "good.yml", &good);
    let out = partner_connect(&sandbox, &["validate", "--config", &config]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let typo = good.replace("location-type: STORE", "locaton-type: STORE");
    let line = typo
        .lines()
        .position(|l| l.contains("locaton-type"))
        .unwrap()
        + 1;
    let config = write(dir.path(), "typo.yml", &typo);
    let out = partner_connect(&sandbox, &["validate", "--config", &config]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "typo.yml:{line}:3: locations: unknown field `locaton-type`, expected `location-type`"
    );
    assert!(stderr.contains(&expected), "{expected}\n{stderr}");

    // The block is required: a file without it is refused by name.
    let missing = good.replace("locations:\n  location-type: STORE\n  locale: en\n", "");
    let config = write(dir.path(), "missing.yml", &missing);
    let out = partner_connect(&sandbox, &["validate", "--config", &config]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("locations"), "{stderr}");
}
