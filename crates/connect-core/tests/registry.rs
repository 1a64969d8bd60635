#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Handler registration: `#[handler]` in another crate, YAML swaps,
//! priorities, explicit registration and startup validation.

mod common;

use std::sync::Arc;

// Without this line the linker drops the crate and its registrations.
use linked_handlers as _;

use common::{config, fast_runtime, message, run_to_completion};
use connect_core::{
    HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler, Outcome, RegistryError,
    Router, RouterError, Services, async_trait, handler,
};

/// Overrides the bundled-style `Overridable` from `linked-handlers`.
#[derive(Debug, Default)]
#[handler(name = "Overridable", priority = 10)]
struct PartnerOverridable;

#[async_trait]
impl MessageHandler for PartnerOverridable {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled("partner"))
    }
}

/// A partner handler selected by name from YAML.
#[derive(Debug, Default)]
#[handler(name = "PartnerHandler")]
struct PartnerHandler;

#[async_trait]
impl MessageHandler for PartnerHandler {
    async fn handle(&self, _: &HandlerContext<'_>, _: &Message) -> Result<Outcome, HandlerError> {
        Ok(Outcome::labeled("partner-handler"))
    }
}

fn route_yaml(handler: &str) -> String {
    format!(
        "connector-name: registry-test\nroutes:\n  - route: customer.sync\n    handler: {handler}\n    props: {{ greeting: hi }}\n"
    )
}

#[test]
fn a_handler_in_another_crate_is_registered_when_the_crate_is_linked() {
    let registry = HandlerRegistry::linked();
    assert!(registry.contains("LinkedHandler"), "{registry:?}");
    let entry = registry
        .entries()
        .into_iter()
        .find(|e| e.name == "LinkedHandler")
        .unwrap();
    assert_eq!(entry.type_name, "linked_handlers::LinkedHandler");
}

#[tokio::test]
async fn yaml_selects_the_handler_by_name() {
    let registry = HandlerRegistry::linked();
    for (handler, label) in [
        ("LinkedHandler", "linked"),
        ("PartnerHandler", "partner-handler"),
    ] {
        let config = config(&route_yaml(handler));
        let report = run_to_completion(
            &config,
            &registry,
            &fast_runtime(4, 3),
            vec![message("customer.sync", "ResourceCreated", "c-1")],
        )
        .await;
        assert_eq!(
            report.metrics.outcome(label),
            1,
            "{handler}: {:?}",
            report.metrics
        );
        assert_eq!(report.metrics.succeeded, 1);
    }
}

#[tokio::test]
async fn the_highest_priority_wins_a_shared_name() {
    let registry = HandlerRegistry::linked();
    let entry = registry
        .entries()
        .into_iter()
        .find(|e| e.name == "Overridable")
        .unwrap();
    assert_eq!(entry.priority, 10);
    assert_eq!(entry.overridden, 1);
    let report = run_to_completion(
        &config(&route_yaml("Overridable")),
        &registry,
        &fast_runtime(4, 3),
        vec![message("customer.sync", "ResourceCreated", "c-1")],
    )
    .await;
    assert_eq!(report.metrics.outcome("partner"), 1);
    assert_eq!(report.metrics.outcome("bundled"), 0);
}

#[test]
fn equal_priorities_for_one_name_are_a_startup_error() {
    let mut registry = HandlerRegistry::new();
    registry.register::<PartnerHandler>("Twice", 3);
    registry.register::<PartnerOverridable>("Twice", 3);
    let error =
        Router::build(&config(&route_yaml("Twice")), &registry, &Services::new()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(
        error,
        RouterError::Registry(RegistryError::Ambiguous { .. })
    ));
    assert!(
        text.contains("`Twice`") && text.contains("priority 3"),
        "{text}"
    );
    assert!(
        text.contains("PartnerHandler") && text.contains("PartnerOverridable"),
        "{text}"
    );
}

#[test]
fn a_missing_handler_lists_the_registered_names_and_the_linking_hint() {
    let registry = HandlerRegistry::linked();
    let error = Router::build(
        &config(&route_yaml("FluentCustomerUpsrt")),
        &registry,
        &Services::new(),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("route `customer.sync`"), "{text}");
    assert!(
        text.contains("no handler is registered as `FluentCustomerUpsrt`"),
        "{text}"
    );
    assert!(
        text.contains("LinkedHandler") && text.contains("PartnerHandler"),
        "{text}"
    );
    assert!(text.contains("use that_crate as _;"), "{text}");
}

#[tokio::test]
async fn from_route_reads_props_at_startup() {
    let registry = HandlerRegistry::linked();
    let report = run_to_completion(
        &config(&route_yaml("Greeter")),
        &registry,
        &fast_runtime(1, 1),
        vec![message("customer.sync", "ResourceCreated", "c-1")],
    )
    .await;
    assert_eq!(report.metrics.outcome("hi"), 1);

    let without_greeting = config(
        "connector-name: registry-test\nroutes:\n  - route: customer.sync\n    handler: Greeter\n",
    );
    let error = Router::build(&without_greeting, &registry, &Services::new()).unwrap_err();
    assert!(
        error.to_string().contains("props.greeting is required"),
        "{error}"
    );
}

#[tokio::test]
async fn explicit_registration_works_without_the_macro() {
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl MessageHandler for Counting {
        async fn handle(
            &self,
            _: &HandlerContext<'_>,
            _: &Message,
        ) -> Result<Outcome, HandlerError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Outcome::done())
        }
    }

    let shared = Arc::new(Counting::default());
    let mut registry = HandlerRegistry::new();
    registry.register_shared("Counting", 0, Arc::clone(&shared));
    let report = run_to_completion(
        &config(&route_yaml("Counting")),
        &registry,
        &fast_runtime(2, 1),
        (0..5)
            .map(|i| message("customer.sync", "ResourceUpdated", &format!("c-{i}")))
            .collect(),
    )
    .await;
    assert_eq!(report.metrics.succeeded, 5);
    assert_eq!(shared.0.load(std::sync::atomic::Ordering::SeqCst), 5);
}
