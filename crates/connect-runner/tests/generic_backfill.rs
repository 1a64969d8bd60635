#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The runner names no resource: a sync declared in the test (explicit
//! registry) is backfilled through its own route and handler, with its
//! type id on every message; an unknown resource lists the registered
//! ones; a partner configuration block reaches a handler, and a misspelt
//! key in it is refused with its line and a suggestion.

use std::sync::{Arc, Mutex};

use connect_commercetools::CustomerDraft;
use connect_commercetools::sync::{ResourceSync, SyncRegistry, outcome};
use connect_core::config::ConfigDocument;
use connect_core::runtime::Shutdown;
use connect_core::{
    ConfigSections, FromRoute, HandlerContext, HandlerError, HandlerRegistry, HandlerSetup,
    Message, MessageHandler, Outcome, ResourceRef, Services, SetupError,
};
use connect_runner::{BackfillOptions, Connector, Plan, Registries};
use connect_testkit::commercetools::CommercetoolsEmulator;

/// A partner's block.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Loyalty {
    points_per_euro: u32,
}

/// Records every resource it is handed, with the partner block's setting.
#[derive(Debug)]
struct Recorder {
    seen: Arc<Mutex<Vec<ResourceRef>>>,
    points: u32,
}

#[derive(Debug, Default)]
struct Seen(Arc<Mutex<Vec<ResourceRef>>>);

impl FromRoute for Recorder {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(Self {
            seen: Arc::clone(&setup.service::<Seen>()?.0),
            points: setup.service::<Loyalty>()?.points_per_euro,
        })
    }
}

#[connect_core::async_trait]
impl MessageHandler for Recorder {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        assert_eq!(self.points, 3);
        let resource = message.resource.clone().expect("a resource");
        self.seen.lock().unwrap().push(resource);
        Ok(Outcome::labeled(outcome::CREATED))
    }
}

/// A sync the runner has never heard of: categories, declared here.
const CATEGORIES: ResourceSync = ResourceSync::new(
    "category",
    "categories",
    "partner.category.sync",
    "CategoryRecorder",
)
.scopes(&["view_categories"]);

fn yaml(ct: &CommercetoolsEmulator, loyalty: &str) -> String {
    format!(
        "connector-name: partner
commercetools:
  project-key: {project}
  client-id: {id}
  client-secret: {secret}
  auth-url: {auth}
  api-url: {api}
{loyalty}
routes:
  - route: partner.category.sync
    handler: CategoryRecorder
",
        project = ct.project_key(),
        id = ct.client_id(),
        secret = ct.client_secret(),
        auth = ct.auth_url(),
        api = ct.api_url(),
    )
}

fn registries() -> Registries {
    let mut handlers = HandlerRegistry::new();
    handlers.register::<Recorder>("CategoryRecorder", 0);
    Registries {
        handlers,
        sections: ConfigSections::new().with_required::<Loyalty>("loyalty"),
        syncs: SyncRegistry::new().with(CATEGORIES),
    }
}

async fn connector(yaml: String, seen: &Seen) -> Connector {
    let registries = registries();
    Connector::builder(ConfigDocument::from_yaml("app.yml", yaml))
        .registry(registries.handlers)
        .sections(registries.sections)
        .syncs(registries.syncs)
        .service(Seen(Arc::clone(&seen.0)))
        .build()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_sync_is_backfilled_through_its_own_route_by_its_plural() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..25 {
        let category = ct
            .insert_resource_silently(
                "category",
                serde_json::json!({
                    "key": format!("c{i}"),
                    "name": { "en": format!("Category {i}") },
                    "slug": { "en": format!("category-{i}") },
                }),
            )
            .unwrap();
        ids.push(category["id"].as_str().unwrap().to_owned());
    }
    // Customers are not categories: none of them is backfilled.
    ct.insert_customer_silently(CustomerDraft::new("not-a-category@example.com"))
        .unwrap();
    ids.sort();
    let seen = Seen::default();
    let connector = connector(yaml(&ct, "loyalty:\n  points-per-euro: 3"), &seen).await;

    // No `route-mapping`: the sync's default route, which the file defines;
    // no `scopes`: the client asks for the sync's `view_categories`.
    let options = BackfillOptions {
        page_size: 10,
        ..BackfillOptions::default()
    };
    let summary = connector
        .backfill("categories", options, Shutdown::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.plural, "categories");
    assert_eq!(summary.type_id, "category");
    assert_eq!(summary.scanned, 25);
    assert_eq!(summary.created, 25);
    assert!(!summary.interrupted);
    let seen = seen.0.lock().unwrap().clone();
    let mut seen_ids: Vec<String> = seen.iter().map(|r| r.id.clone()).collect();
    seen_ids.sort();
    assert_eq!(seen_ids, ids);
    assert!(seen.iter().all(|r| r.type_id == "category"), "{seen:?}");
    assert!(seen.iter().all(|r| r.version == Some(1)), "{seen:?}");

    // The type id names it too; `--after` resumes after an id.
    let after = BackfillOptions {
        after: Some(ids[19].clone()),
        ..BackfillOptions::default()
    };
    let resumed = connector
        .backfill("category", after, Shutdown::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(resumed.scanned, 5);
}

#[tokio::test]
async fn an_unknown_resource_lists_the_registered_ones() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let seen = Seen::default();
    let connector = connector(yaml(&ct, "loyalty:\n  points-per-euro: 3"), &seen).await;
    let error = connector
        .backfill(
            "categoriez",
            BackfillOptions::default(),
            Shutdown::new(),
            |_| {},
        )
        .await
        .map(drop)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "app.yml: no sync can backfill `categoriez`; did you mean `categories`?; the registered ones are `categories`"
    );
}

#[tokio::test]
async fn the_client_asks_for_the_scopes_of_the_routed_syncs_unless_the_file_writes_them() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let doc = ConfigDocument::from_yaml("app.yml", yaml(&ct, "loyalty:\n  points-per-euro: 3"));
    let registries = Registries {
        syncs: SyncRegistry::new().with(CATEGORIES.scopes(&["view_categories", "view_products"])),
        ..registries()
    };
    let plan =
        Plan::with_registries(doc, &registries, Services::new().with(Seen::default())).unwrap();
    let client = plan
        .services()
        .get::<connect_commercetools::CommercetoolsClient>()
        .unwrap();
    assert_eq!(
        client.config().scopes,
        [
            format!("view_categories:{}", ct.project_key()),
            format!("view_products:{}", ct.project_key())
        ]
    );

    // Written scopes are kept as written.
    let written = yaml(&ct, "loyalty:\n  points-per-euro: 3").replace(
        "  api-url:",
        &format!(
            "  scopes: [manage_categories:{}]\n  api-url:",
            ct.project_key()
        ),
    );
    let plan = Plan::with_registries(
        ConfigDocument::from_yaml("app.yml", written),
        &registries,
        Services::new().with(Seen::default()),
    )
    .unwrap();
    let client = plan
        .services()
        .get::<connect_commercetools::CommercetoolsClient>()
        .unwrap();
    assert_eq!(
        client.config().scopes,
        [format!("manage_categories:{}", ct.project_key())]
    );
}

#[tokio::test]
async fn a_partner_block_is_checked_like_the_sdk_blocks() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let plan = |loyalty: &str| {
        let doc = ConfigDocument::from_yaml("app.yml", yaml(&ct, loyalty));
        Plan::with_registries(doc, &registries(), Services::new().with(Seen::default()))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    assert_eq!(plan("loyalty:\n  points-per-euro: 3"), Ok(()));
    assert_eq!(
        plan("loyalty:\n  points-per-eur: 3"),
        Err(
            "app.yml:9:3: loyalty: unknown field `points-per-eur`, expected `points-per-euro`"
                .to_owned()
        )
    );
    let missing = plan("");
    assert!(
        missing
            .as_ref()
            .is_err_and(|e| e.contains("the `loyalty:` block is missing")),
        "{missing:?}"
    );
    // A block nobody registered is still refused as a typo.
    let unknown = plan("loyalty:\n  points-per-euro: 3\nloyality: {}");
    assert!(
        unknown
            .as_ref()
            .is_err_and(|e| e.contains("unknown field `loyality`") && e.contains("`loyalty`")),
        "{unknown:?}"
    );
}
