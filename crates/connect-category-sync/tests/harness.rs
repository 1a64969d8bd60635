#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Category sync as a whole connector: a full load of a category tree
//! delivered children first through the subscription (`Harness`) and
//! through `Connector::backfill("categories")`, and a burst of changes to
//! one category.

use std::time::Duration;

use connect_category_sync::HANDLER_NAME;
use connect_core::config::ConfigDocument;
use connect_core::runtime::Shutdown;
use connect_runner::{BackfillOptions, Connector};
use connect_testkit::Harness;
use connect_testkit::Sandbox;
use serde_json::{Value, json};

const YAML: &str = "
connector-name: categories
commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ${CT_CLIENT_ID}
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: ${CT_AUTH_URL}
  api-url: ${CT_API_URL}
fluent:
  base-url: ${FLUENT_BASE_URL}
  account: ${FLUENT_ACCOUNT}
  retailer-id: ${FLUENT_RETAILER_ID}
  client-id: ${FLUENT_CLIENT_ID}
  client-secret: ${FLUENT_CLIENT_SECRET}
  username: ${FLUENT_USERNAME}
  password: ${FLUENT_PASSWORD}
runtime:
  max-attempts: 10
  backoff: { initial: 20ms, max: 500ms, multiplier: 2, max-retry-after: 500ms }
route-mapping:
  category: commercetools.connect.category.upsert
routes:
  - route: commercetools.connect.category.upsert
    handler: CommercetoolsCategoryUpsert
    props:
      catalogue-ref: DEFAULT:${FLUENT_RETAILER_ID}
";

async fn harness() -> Harness {
    assert_eq!(HANDLER_NAME, "CommercetoolsCategoryUpsert");
    Harness::builder(YAML)
        .idle_timeout(Duration::from_secs(60))
        .start()
        .await
        .unwrap()
}

/// A category tree 4 levels deep: 5 roots with 3 children each, down to
/// 135 leaves, 200 categories. Ids sort deeper levels first (`a-` leaves,
/// `d-` roots), so id order meets every child before its parent.
fn tree() -> Vec<(String, String, Option<String>)> {
    let mut all = Vec::new();
    let mut level: Vec<(String, String, Option<String>)> = (0..5)
        .map(|n| (format!("d-{n:03}"), format!("root-{n}"), None))
        .collect();
    for prefix in ["c", "b", "a"] {
        let mut next = Vec::new();
        for (id, key, _) in &level {
            for child in 0..3 {
                let n = next.len();
                next.push((
                    format!("{prefix}-{n:03}"),
                    format!("{key}-{child}"),
                    Some(id.clone()),
                ));
            }
        }
        all.append(&mut level);
        level = next;
    }
    all.append(&mut level);
    all
}

fn draft(id: &str, key: &str, parent: Option<&String>) -> Value {
    let mut draft = json!({
        "id": id, "key": key,
        "name": { "en": format!("Category {key}") },
        "slug": { "en": key }
    });
    if let Some(parent) = parent {
        draft["parent"] = json!({ "typeId": "category", "id": parent });
    }
    draft
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_load_delivered_children_first_lands_every_category_under_its_parent() {
    let harness = harness().await;
    let ct = harness.commercetools();
    let tree = tree();
    assert_eq!(tree.len(), 200);
    // commercetools needs a parent before its child: seed top-down without
    // notifications, then touch every category in id order, children first.
    for (id, key, parent) in &tree {
        ct.insert_resource_silently("category", draft(id, key, parent.as_ref()))
            .unwrap();
    }
    let mut ids: Vec<&String> = tree.iter().map(|(id, _, _)| id).collect();
    ids.sort();
    assert!(ids[0].starts_with("a-"), "a leaf comes first");
    for id in ids {
        ct.modify_resource("category", id, |c| c["orderHint"] = json!("0.5"))
            .await
            .unwrap();
    }
    // Children wait for their parents through retries; idle means every
    // message settled, none waiting out a backoff.
    let metrics = harness.wait_idle().await.unwrap();
    assert_eq!(
        metrics.succeeded + metrics.dead_lettered,
        200,
        "{metrics:?}"
    );

    let fluent = harness.fluent();
    let catalogue = fluent.default_catalogue();
    let key_of = |id: &String| tree.iter().find(|(i, _, _)| i == id).unwrap().1.clone();
    for (_, key, parent) in &tree {
        let held = fluent
            .category(&catalogue, key)
            .unwrap_or_else(|| panic!("category {key} is not in Fluent"));
        let expected = parent.as_ref().map(key_of);
        assert_eq!(
            held["parentCategory"]["ref"].as_str(),
            expected.as_deref(),
            "{key}"
        );
        assert_eq!(held["name"], format!("Category {key}"));
    }
    assert!(
        harness.dead_letters().is_empty(),
        "{:?}",
        harness.dead_letters().snapshot()
    );
    assert_eq!(metrics.dead_lettered, 0);
    assert!(
        metrics.retried > 0,
        "children met before parents were retried: {metrics:?}"
    );
    assert_eq!(fluent.mutation_count("createCategory"), 200);
    harness.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_five_changes_writes_at_most_once_per_change_and_the_last_wins() {
    let harness = harness().await;
    let ct = harness.commercetools();
    let root = ct
        .insert_resource("category", draft("r-1", "apparel", None))
        .await
        .unwrap();
    harness.wait_idle().await.unwrap();
    let fluent = harness.fluent();
    let catalogue = fluent.default_catalogue();
    assert_eq!(fluent.category_create_count(&catalogue, "apparel"), 1);

    let id = root["id"].as_str().unwrap();
    for n in 1..=5 {
        ct.modify_resource("category", id, |c| {
            c["name"]["en"] = json!(format!("Apparel {n}"));
        })
        .await
        .unwrap();
    }
    let metrics = harness.wait_idle().await.unwrap();
    let updates = fluent.category_update_count(&catalogue, "apparel");
    assert!(
        (1..=5).contains(&updates),
        "{updates} updates for 5 changes"
    );
    let held = fluent.category(&catalogue, "apparel").unwrap();
    assert_eq!(held["name"], "Apparel 5", "the last version wins");
    let version = ct.resource("category", id).unwrap()["version"].clone();
    let written = held["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "commercetools.version")
        .unwrap()["value"]
        .clone();
    assert_eq!(written, version);
    assert_eq!(fluent.category_create_count(&catalogue, "apparel"), 1);
    assert_eq!(metrics.dead_lettered, 0);
    harness.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_in_id_order_lands_every_category_under_its_parent() {
    let sandbox = Sandbox::start().await.unwrap();
    let ct = &sandbox.commercetools;
    let tree = tree();
    for (id, key, parent) in &tree {
        ct.insert_resource_silently("category", draft(id, key, parent.as_ref()))
            .unwrap();
    }
    let doc = ConfigDocument::from_yaml("categories.yml", YAML).with_env(sandbox.env());
    let connector = Connector::builder(doc).build().await.unwrap();
    let options = BackfillOptions {
        page_size: 50,
        ..BackfillOptions::default()
    };
    let summary = connector
        .backfill("categories", options, Shutdown::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.type_id, "category");
    assert_eq!(summary.scanned, 200);
    assert_eq!(summary.created, 200, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(!summary.interrupted);
    assert!(connector.dead_letters().list().await.unwrap().is_empty());

    let fluent = &sandbox.fluent;
    let catalogue = fluent.default_catalogue();
    let key_of = |id: &String| tree.iter().find(|(i, _, _)| i == id).unwrap().1.clone();
    for (_, key, parent) in &tree {
        let held = fluent
            .category(&catalogue, key)
            .unwrap_or_else(|| panic!("category {key} is not in Fluent"));
        let expected = parent.as_ref().map(key_of);
        assert_eq!(
            held["parentCategory"]["ref"].as_str(),
            expected.as_deref(),
            "{key}"
        );
    }
    assert_eq!(fluent.mutation_count("createCategory"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_children_whose_parents_only_it_creates_and_matches_the_real_run() {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use connect_fluent::dry_run::{DryRun, PlannedKind};

    let sandbox = Sandbox::start().await.unwrap();
    let ct = &sandbox.commercetools;
    let tree = tree();
    for (id, key, parent) in &tree {
        ct.insert_resource_silently("category", draft(id, key, parent.as_ref()))
            .unwrap();
    }
    let doc = || ConfigDocument::from_yaml("categories.yml", YAML).with_env(sandbox.env());
    let options = || BackfillOptions {
        page_size: 50,
        ..BackfillOptions::default()
    };
    // Id order meets every child before its parent, and none is in Fluent:
    // every parent is one the dry run itself would create.
    let plan = Arc::new(DryRun::new());
    let dry = Connector::builder(doc())
        .dry_run(Arc::clone(&plan))
        .build()
        .await
        .unwrap();
    let report = dry
        .dry_run_backfill("categories", options(), Shutdown::new(), |_| {})
        .await
        .unwrap();
    assert!(sandbox.fluent.mutations().is_empty(), "0 Fluent mutations");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.not_dry_runnable.is_empty());
    assert_eq!(report.count(PlannedKind::Create), 200);
    assert_eq!(report.writes.len(), 200, "one entry per category");
    assert!(
        report.summary.outcomes.get("created") == Some(&200),
        "{:?}",
        report.summary
    );
    drop(dry);

    let real = Connector::builder(doc()).build().await.unwrap();
    let summary = real
        .backfill("categories", options(), Shutdown::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.created, 200, "{summary:?}");
    let written: BTreeMap<String, Value> = sandbox
        .fluent
        .mutations()
        .into_iter()
        .map(|m| {
            assert_eq!(m.name, "createCategory");
            (m.input["ref"].as_str().unwrap().to_owned(), m.input)
        })
        .collect();
    let planned: BTreeMap<String, Value> = report
        .writes
        .iter()
        .map(|w| {
            assert_eq!(w.entity, "category");
            (
                w.reference.clone(),
                serde_json::to_value(&w.fields).unwrap(),
            )
        })
        .collect();
    assert_eq!(planned, written, "the same creates, field for field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_of_categories_names_missing_differing_and_stale_ones_and_fix_clears_them() {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use connect_fluent::dry_run::DryRun;
    use connect_fluent::{FluentClient, UpdateCategoryInput};
    use connect_runner::DriftKind;

    let sandbox = Sandbox::start().await.unwrap();
    let ct = &sandbox.commercetools;
    for n in 0..4 {
        ct.insert_resource_silently(
            "category",
            draft(&format!("k-{n}"), &format!("cat-{n}"), None),
        )
        .unwrap();
    }
    let doc = || ConfigDocument::from_yaml("categories.yml", YAML).with_env(sandbox.env());
    let real = Connector::builder(doc()).build().await.unwrap();
    let load = real
        .backfill(
            "categories",
            BackfillOptions::default(),
            Shutdown::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(load.created, 4);
    let drift = || async {
        Connector::builder(doc())
            .dry_run(Arc::new(DryRun::changes_only()))
            .build()
            .await
            .unwrap()
            .drift("categories", BackfillOptions::default(), Shutdown::new())
            .await
            .unwrap()
    };
    assert!(drift().await.is_clean());

    // Missing: new in commercetools. Stale: renamed in commercetools, no
    // event. Differs: renamed in Fluent by hand.
    ct.insert_resource_silently("category", draft("k-9", "cat-9", None))
        .unwrap();
    ct.modify_resource("category", "k-1", |c| c["name"]["en"] = json!("Renamed"))
        .await
        .unwrap();
    let fluent = FluentClient::new(sandbox.fluent.config()).unwrap();
    let mut edit = UpdateCategoryInput::new("cat-2", sandbox.fluent.default_catalogue());
    edit.name = Some("Edited in Fluent".into());
    fluent.update_category(&edit).await.unwrap();
    let before = sandbox.fluent.mutations().len();

    let report = drift().await;
    assert_eq!(
        sandbox.fluent.mutations().len(),
        before,
        "drift writes nothing"
    );
    let found: BTreeSet<(DriftKind, String)> = report
        .entries
        .iter()
        .map(|e| (e.kind, e.resource_id.clone().unwrap()))
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            (DriftKind::Missing, "k-9".to_owned()),
            (DriftKind::Stale, "k-1".to_owned()),
            (DriftKind::Differs, "k-2".to_owned()),
        ])
    );
    assert_eq!(
        report.fluent_scanned, None,
        "only-in-Fluent: customers only"
    );
    let differs = report
        .entries
        .iter()
        .find(|e| e.kind == DriftKind::Differs)
        .unwrap();
    assert_eq!(differs.changes[0].field, "name");
    assert_eq!(differs.changes[0].old, "Edited in Fluent");
    assert_eq!(differs.changes[0].new, "Category cat-2");

    let fix = real.fix_drift(&report, Shutdown::new()).await.unwrap();
    assert_eq!(
        (fix.sent, fix.created, fix.updated, fix.failed),
        (3, 1, 2, 0)
    );
    assert!(drift().await.is_clean());
}
