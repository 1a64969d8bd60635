#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `examples/application-connector.yml` builds with the category sync
//! linked: its category route, route mapping and props are accepted, and
//! both syncs serve their routes in one connector.

use connect_category_sync::{CATEGORY_ROUTE, CATEGORY_SYNC};
use connect_core::config::ConfigDocument;
use connect_runner::Connector;
use connect_testkit::Sandbox;

const EXAMPLE: &str = include_str!("../../../examples/application-connector.yml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_file_runs_both_syncs_in_one_connector() {
    let sandbox = Sandbox::start().await.unwrap();
    let mut env = sandbox.env();
    let dead_letters = std::env::temp_dir().join(format!(
        "connect-category-example-{}.jsonl",
        std::process::id()
    ));
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dead_letters.display().to_string(),
    );
    let doc = ConfigDocument::from_yaml("application-connector.yml", EXAMPLE).with_env(env);
    let connector = Connector::builder(doc)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let config = connector.config();
    let route = config.route(CATEGORY_ROUTE).expect("the category route");
    assert_eq!(route.handler, connect_category_sync::HANDLER_NAME);
    assert!(
        config
            .route("commercetools.connect.customer.upsert")
            .is_some()
    );
    assert_eq!(
        connector
            .plan()
            .translator()
            .route_for(CATEGORY_SYNC.type_id),
        Some(CATEGORY_ROUTE)
    );
    let _ = std::fs::remove_file(dead_letters);
}
