#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `connect_cli::App` in process: a partner's service reaches its handler
//! in `backfill categories` (a sync registered in this test binary), an
//! unknown resource is refused with exit code 2, a partner subcommand runs
//! with the context, and a partner block is checked by `validate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Subcommand;
use connect_cli::{App, ConfigArg, Context, EXIT_CONFIG, EXIT_OK};
use connect_commercetools::CustomerDraft;
use connect_commercetools::sync::ResourceSync;
use connect_core::{
    FromRoute, HandlerContext, HandlerError, HandlerSetup, Message, MessageHandler, Outcome,
    SetupError,
};
use connect_testkit::commercetools::CommercetoolsEmulator;

/// The partner's shared service: counts what its handler handled.
#[derive(Debug, Default)]
struct Counter(AtomicU64);

/// The partner's configuration block.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Loyalty {
    points_per_euro: u64,
}

connect_core::config_section!("loyalty", Loyalty);

/// A sync of this test binary: categories, which the SDK's runner and CLI
/// know nothing about.
const CATEGORIES: ResourceSync = ResourceSync::new(
    "category",
    "categories",
    "partner.category.count",
    "CategoryCount",
)
.scopes(&["view_categories"]);

connect_commercetools::register_sync!(CATEGORIES);

#[connect_core::handler(name = "CategoryCount")]
struct CategoryCount {
    counter: Arc<Counter>,
    points: u64,
}

impl FromRoute for CategoryCount {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(Self {
            counter: setup.service::<Counter>()?,
            points: setup.service::<Loyalty>().map_or(1, |l| l.points_per_euro),
        })
    }
}

#[connect_core::async_trait]
impl MessageHandler for CategoryCount {
    async fn handle(
        &self,
        _ctx: &HandlerContext<'_>,
        _message: &Message,
    ) -> Result<Outcome, HandlerError> {
        self.counter.0.fetch_add(self.points, Ordering::SeqCst);
        Ok(Outcome::labeled("created"))
    }
}

#[derive(Debug, Subcommand)]
enum Partner {
    /// Count the routes of a file.
    CountRoutes {
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn write_config(dir: &Path, ct: &CommercetoolsEmulator, loyalty: &str) -> PathBuf {
    let path = dir.join("app.yml");
    let yaml = format!(
        "connector-name: partner
commercetools:
  project-key: {project}
  client-id: {id}
  client-secret: {secret}
  auth-url: {auth}
  api-url: {api}
{loyalty}
routes:
  - route: partner.category.count
    handler: CategoryCount
",
        project = ct.project_key(),
        id = ct.client_id(),
        secret = ct.client_secret(),
        auth = ct.auth_url(),
        api = ct.api_url(),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn app(counter: &Arc<Counter>) -> App {
    App::new()
        .service_arc(Arc::clone(counter))
        .subcommand::<Partner, _, _>(|command, ctx: Context| async move {
            let Partner::CountRoutes { config } = command;
            assert!(ctx.services().get::<Counter>().is_some());
            let plan = ctx.plan(&config)?;
            Ok(u8::try_from(plan.config().routes.len() + 40).unwrap())
        })
}

#[test]
fn a_partner_app_backfills_its_resource_with_its_service_and_runs_its_subcommand() {
    let emulators = tokio::runtime::Runtime::new().unwrap();
    let ct = emulators.block_on(CommercetoolsEmulator::start()).unwrap();
    for i in 0..7 {
        ct.insert_resource_silently(
            "category",
            serde_json::json!({
                "name": { "en": format!("Category {i}") },
                "slug": { "en": format!("category-{i}") },
            }),
        )
        .unwrap();
    }
    ct.insert_customer_silently(CustomerDraft::new("not-a-category@example.com"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &ct, "loyalty:\n  points-per-euro: 2");
    let config = config.to_str().unwrap();

    // A service handed to the App is the one the handler gets.
    let counter = Arc::new(Counter::default());
    let code = app(&counter).run_from([
        "connect",
        "backfill",
        "categories",
        "--config",
        config,
        "--page-size",
        "3",
    ]);
    assert_eq!(code, EXIT_OK);
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        14,
        "7 categories × 2 points"
    );

    // Unknown resource: clap lists the registered ones, exit code 2.
    let code = app(&counter).run_from(["connect", "backfill", "categoriez", "--config", config]);
    assert_eq!(code, EXIT_CONFIG);

    // The partner's subcommand, with the context's helpers.
    let code = app(&counter).run_from(["connect", "count-routes", "--config", config]);
    assert_eq!(code, 41);

    // `validate` checks the partner's block.
    assert_eq!(
        app(&counter).run_from(["connect", "validate", "--config", config]),
        EXIT_OK
    );
    let typo = write_config(dir.path(), &ct, "loyalty:\n  points-per-eur: 2");
    assert_eq!(
        app(&counter).run_from(["connect", "validate", "--config", typo.to_str().unwrap()]),
        EXIT_CONFIG
    );
    drop(emulators);
}
