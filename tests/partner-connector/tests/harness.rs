#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The partner's sync through a whole connector (`Harness`): channels
//! written in the commercetools emulator land as Fluent locations in a
//! Fluent emulator extended with the location schema; a change updates
//! only what changed, an older version never overwrites a newer one, and a
//! channel Fluent refuses is dead-lettered.

mod support;

use connect_sdk::testkit::commercetools::CommercetoolsEmulator;
use connect_sdk::testkit::fluent::FluentEmulator;
use connect_sdk::testkit::{Harness, Sandbox};
use partner_connector as _; // links the handler, sync, block and backend
use partner_connector::{ID_ATTRIBUTE, VERSION_ATTRIBUTE};
use serde_json::json;
use support::{channel, location, locations_extension, yaml};

async fn harness() -> Harness {
    let sandbox = Sandbox {
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
    };
    let dir = std::env::temp_dir().join("partner-connector-harness-unused");
    let dead_letter = format!(
        "  dead-letter:\n    type: jsonl-dir\n    path: {}",
        dir.display()
    );
    Harness::builder(yaml(&dead_letter))
        .sandbox(sandbox)
        .start()
        .await
        .unwrap()
}

fn attribute(location: &serde_json::Value, name: &str) -> serde_json::Value {
    let attributes = location["attributes"].as_array().unwrap();
    attributes
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| a["value"].clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_land_as_fluent_locations_and_only_changes_are_written() {
    let harness = harness().await;
    let ct = harness.commercetools();
    let berlin = ct
        .insert_resource("channels", channel("berlin", "Berlin"))
        .await
        .unwrap();
    ct.insert_resource("channels", channel("hamburg", "Hamburg"))
        .await
        .unwrap();
    let metrics = harness.wait_idle().await.unwrap();
    assert_eq!(metrics.outcome("created"), 2);

    let fluent = harness.fluent();
    let located = location(fluent, "berlin").expect("berlin in Fluent");
    assert_eq!(located["name"], "Berlin", "the configured locale");
    assert_eq!(located["type"], "STORE", "the configured type");
    assert_eq!(attribute(&located, ID_ATTRIBUTE), berlin["id"]);
    assert_eq!(attribute(&located, VERSION_ATTRIBUTE), 1);

    // A real change: one update with the name (and the version) only.
    let id = berlin["id"].as_str().unwrap();
    ct.modify_resource("channels", id, |c| c["name"]["en"] = json!("Berlin Mitte"))
        .await
        .unwrap();
    // Not a change of anything synced: no write.
    ct.modify_resource("channels", id, |c| {
        c["roles"] = json!(["ProductDistribution"])
    })
    .await
    .unwrap();
    let metrics = harness.wait_idle().await.unwrap();
    // (The two may be coalesced into one handling of the latest channel.)
    assert_eq!(metrics.outcome("updated"), 1, "{metrics:?}");
    assert_eq!(fluent.mutation_count("updateLocation"), 1);
    let update = fluent
        .mutations()
        .into_iter()
        .find(|m| m.name == "updateLocation")
        .unwrap();
    assert_eq!(update.input["name"], "Berlin Mitte");
    assert!(
        update.input.get("type").is_none(),
        "unchanged fields are not sent: {}",
        update.input
    );
    let located = location(fluent, "berlin").unwrap();
    assert_eq!(located["name"], "Berlin Mitte");
    let written = attribute(&located, VERSION_ATTRIBUTE).as_u64().unwrap();
    assert!(written >= 2, "the version written: {written}");

    // Fluent holds a newer version than commercetools says: never regress.
    let mut newer = fluent.extension_value("locations").unwrap();
    newer["hamburg"]["attributes"] =
        json!([{ "name": VERSION_ATTRIBUTE, "type": "INTEGER", "value": 99 }]);
    newer["hamburg"]["name"] = json!("Hamburg (newer)");
    fluent.set_extension_value("locations", newer);
    let hamburg = ct.resource_by_key("channels", "hamburg").unwrap();
    ct.modify_resource("channels", hamburg["id"].as_str().unwrap(), |c| {
        c["name"]["en"] = json!("Old")
    })
    .await
    .unwrap();
    let metrics = harness.wait_idle().await.unwrap();
    assert_eq!(metrics.outcome("stale"), 1);
    assert_eq!(
        location(fluent, "hamburg").unwrap()["name"],
        "Hamburg (newer)"
    );

    // A key Fluent refuses as a ref (over 100 characters): dead-lettered at once.
    let long = "k".repeat(support::MAX_REF + 1);
    ct.insert_resource("channels", channel(&long, "Too long"))
        .await
        .unwrap();
    harness.wait_idle().await.unwrap();
    let letters = harness.dead_letters().snapshot();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].error.contains("C0400E"), "{}", letters[0].error);
    assert_eq!(letters[0].attempts, 1, "refused, not retried");

    let report = harness.shutdown().await.unwrap();
    assert_eq!(report.runtime.metrics.dead_lettered, 1);
}
