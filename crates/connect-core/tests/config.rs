#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The configuration file: the whole DESIGN §3 shape, strictness, line
//! numbers, interpolation and secret redaction.

use std::collections::BTreeMap;
use std::time::Duration;

use connect_core::config::{
    ConfigDocument, ConfigError, FileDeadLetterConfig, MemoryQueueConfig, Secret,
};
use serde::Deserialize;

const FULL: &str = r#"connector-name: commercetools-connector
commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ${CT_CLIENT_ID}
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: https://auth.europe-west1.gcp.commercetools.com
  api-url: https://api.europe-west1.gcp.commercetools.com
  scopes: [view_customers:${CT_PROJECT_KEY}]
fluent:
  base-url: https://${FLUENT_ACCOUNT}.sandbox.api.fluentretail.com
  account: ${FLUENT_ACCOUNT}
listeners:
  ct-queue:
    type: sqs
    queue-url: ${CT_QUEUE_URL}
    region: eu-west-1
    endpoint-url: ${AWS_ENDPOINT_URL:-}
event-queue:
  type: in-memory
  capacity: ${EVENT_CAPACITY:-500}
runtime:
  concurrency: ${CONCURRENCY}
  max-attempts: 5
  backoff: { initial: 50ms, max: 10s }
  shutdown-timeout: 15s
  dead-letter: { type: file, path: ./dead-letters.jsonl }
route-mapping:
  customer: commercetools.connect.customer.upsert
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
    props:
      name: customer
      username-template: "{id}"
"#;

fn env() -> BTreeMap<String, String> {
    [
        ("CT_PROJECT_KEY", "fluent-ct-dev"),
        ("CT_CLIENT_ID", "ct-client"),
        ("CT_CLIENT_SECRET", "ct-very-secret"),
        ("FLUENT_ACCOUNT", "acme"),
        ("CT_QUEUE_URL", "http://127.0.0.1:5000/123/ct"),
        ("CONCURRENCY", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn doc(yaml: &str) -> ConfigDocument {
    ConfigDocument::from_yaml("application-connector.yml", yaml).with_env(env())
}

fn invalid(yaml: &str) -> ConfigError {
    doc(yaml).connector().unwrap_err()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CtBlock {
    project_key: String,
    client_id: String,
    client_secret: Secret,
    auth_url: String,
    api_url: String,
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SqsBlock {
    #[serde(rename = "type")]
    kind: String,
    queue_url: String,
    endpoint_url: String,
}

#[test]
fn the_whole_design_file_parses_with_interpolation() {
    let doc = doc(FULL);
    let config = doc.connector().unwrap();
    assert_eq!(config.connector_name, "commercetools-connector");
    assert_eq!(config.runtime.concurrency, 8);
    assert_eq!(config.runtime.backoff.initial, Duration::from_millis(50));
    assert_eq!(config.runtime.shutdown_timeout, Duration::from_secs(15));
    let translator =
        connect_commercetools::SubscriptionTranslator::from_document(&doc, &config).unwrap();
    assert_eq!(
        translator.route_for("customer"),
        Some("commercetools.connect.customer.upsert")
    );
    let route = &config.routes[0];
    assert_eq!(route.handler, "CommercetoolsCustomerUpsert");
    assert_eq!(
        route.inclusion_filter,
        Some(vec![
            "ResourceCreated".to_owned(),
            "ResourceUpdated".to_owned()
        ])
    );
    assert_eq!(route.props["username-template"], "{id}");

    assert_eq!(config.ct_queue.kind, "sqs");
    let sqs: SqsBlock = doc.backend(&config.ct_queue).unwrap().unwrap();
    assert_eq!(sqs.kind, "sqs");
    assert_eq!(sqs.queue_url, "http://127.0.0.1:5000/123/ct");
    assert_eq!(
        sqs.endpoint_url, "",
        "an empty default expands to an empty string"
    );

    let memory: MemoryQueueConfig = doc.backend(&config.event_queue).unwrap().unwrap();
    assert_eq!(memory.capacity, 500);

    assert_eq!(config.runtime.dead_letter.kind, "file");
    let file: FileDeadLetterConfig = doc.backend(&config.runtime.dead_letter).unwrap().unwrap();
    assert_eq!(file.path.to_str(), Some("./dead-letters.jsonl"));

    let ct: CtBlock = doc.require_section("commercetools").unwrap();
    assert_eq!(ct.project_key, "fluent-ct-dev");
    assert_eq!(ct.client_id, "ct-client");
    assert_eq!(ct.scopes, ["view_customers:fluent-ct-dev"]);
    assert_eq!(ct.client_secret.expose(), "ct-very-secret");
    assert!(ct.auth_url.starts_with("https://auth.") && ct.api_url.starts_with("https://api."));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let ct: CtBlock = doc(FULL).require_section("commercetools").unwrap();
    let debug = format!("{ct:?}");
    assert!(!debug.contains("ct-very-secret"), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");
}

#[test]
fn defaults_apply_when_blocks_are_absent() {
    let config = doc("connector-name: minimal\nroutes:\n  - route: r\n    handler: H\n")
        .connector()
        .unwrap();
    assert_eq!(config.runtime.concurrency, 32);
    assert_eq!(config.runtime.max_attempts, 5);
    assert_eq!(config.event_queue.kind, "in-memory");
    assert_eq!(config.event_queue.section, None);
    assert_eq!(config.ct_queue.kind, "in-memory");
    assert_eq!(config.runtime.dead_letter.kind, "in-memory");
}

#[test]
fn an_unknown_top_level_key_names_the_key_the_allowed_keys_and_the_line() {
    let doc = doc(
        "connector-name: x\nroutes:\n  - route: r\n    handler: H\nrutime:\n  concurrency: 3\n",
    );
    // connect-core keeps other blocks for the layers above; the runner
    // refuses those it does not read.
    let config = doc.connector().unwrap();
    assert_eq!(config.sections, ["rutime"]);
    let error = doc.check_sections(&config, &["commercetools"]).unwrap_err();
    let text = error.to_string();
    assert_eq!(error.line(), Some(5), "{text}");
    assert!(text.starts_with("application-connector.yml:5:"), "{text}");
    assert!(text.contains("unknown field `rutime`"), "{text}");
    assert!(text.contains("`runtime`"), "{text}");
}

#[test]
fn an_unknown_key_inside_a_route_is_reported_at_its_line() {
    let error = invalid(
        "connector-name: x\nroutes:\n  - route: r\n    handler: H\n  - route: s\n    handlr: H\n",
    );
    let text = error.to_string();
    assert_eq!(error.line(), Some(6), "{text}");
    assert!(
        text.contains("routes[1]") && text.contains("unknown field `handlr`"),
        "{text}"
    );
    assert!(text.contains("`handler`"), "{text}");
}

#[test]
fn an_unknown_key_inside_a_section_is_reported_by_the_section_reader() {
    let yaml = FULL.replace("  scopes:", "  scope:");
    let error = doc(&yaml).section::<CtBlock>("commercetools").unwrap_err();
    let text = error.to_string();
    assert_eq!(error.line(), Some(8), "{text}");
    assert!(
        text.contains("commercetools.scope") || text.contains("unknown field `scope`"),
        "{text}"
    );
}

#[test]
fn a_missing_environment_variable_is_named_with_its_line() {
    let yaml = FULL.replace("${CONCURRENCY}", "${WORKERS}");
    let error = invalid(&yaml);
    let text = error.to_string();
    assert!(
        text.contains("environment variable `WORKERS` is not set"),
        "{text}"
    );
    assert!(text.contains("${WORKERS:-value}"), "{text}");
    assert_eq!(error.line(), Some(22), "{text}");
}

#[test]
fn a_variable_that_is_not_a_number_where_a_number_is_expected_says_so() {
    let error = ConfigDocument::from_yaml(
        "c.yml",
        "connector-name: x\nruntime:\n  concurrency: ${N}\nroutes:\n  - route: r\n    handler: H\n",
    )
    .with_env(BTreeMap::from([("N".to_owned(), "many".to_owned())]))
    .connector()
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected a non-negative integer"),
        "{error}"
    );
    assert_eq!(error.line(), Some(3));
}

#[test]
fn the_connector_name_is_checked() {
    let error =
        invalid("connector-name: Commercetools_Connector\nroutes:\n  - route: r\n    handler: H\n");
    let text = error.to_string();
    assert!(
        text.contains("lowercase letters a-z and `-` only"),
        "{text}"
    );
    assert_eq!(error.line(), Some(1));
}

#[test]
fn duplicate_routes_are_rejected() {
    let error = invalid(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n  - route: r\n    handler: B\n",
    );
    let text = error.to_string();
    assert!(
        text.contains("route `r` is defined twice (entries 1 and 2)"),
        "{text}"
    );
}

#[test]
fn route_mapping_must_point_at_a_route() {
    let doc = doc(
        "connector-name: x\nroute-mapping:\n  customer: customer.upsert\nroutes:\n  - route: r\n    handler: A\n",
    );
    let config = doc.connector().unwrap();
    let error =
        connect_commercetools::SubscriptionTranslator::from_document(&doc, &config).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("`customer` maps to `customer.upsert`"),
        "{text}"
    );
    assert!(text.contains("defined routes: r"), "{text}");
}

#[test]
fn durations_need_a_unit() {
    let error = invalid(
        "connector-name: x\nruntime:\n  shutdown-timeout: 30\nroutes:\n  - route: r\n    handler: A\n",
    );
    assert!(error.to_string().contains("write `30s`"), "{error}");
    assert_eq!(error.line(), Some(3));
}

#[test]
fn the_inclusion_filter_must_be_a_list_of_strings() {
    let error = invalid(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n    inclusion-filter: ResourceCreated\n",
    );
    let message = error.to_string();
    assert!(
        message.contains("routes[0].inclusion-filter")
            && message.contains("expected a list of event types"),
        "{error}"
    );
}

/// Fluent's route block for the Java connect-sdk, verbatim
/// (`shared/fixtures/fluent/application-connector-route.yml`).
const FLUENT_ROUTE_BLOCK: &str = include_str!("fixtures/application-connector-route.yml");

#[test]
fn fluents_own_route_block_is_accepted_unchanged() {
    let yaml = format!("connector-name: commercetools-connector\n{FLUENT_ROUTE_BLOCK}");
    let config = doc(&yaml).connector().unwrap();
    let route = &config.routes[0];
    assert_eq!(route.route, "commercetools.connect.customer.upsert");
    assert_eq!(route.handler, "CommercetoolsCustomerUpsert");
    assert_eq!(
        route.inclusion_filter.as_deref(),
        Some(&["ResourceUpdated".to_owned(), "ResourceCreated".to_owned()][..])
    );
    // Handlers see their own props, not the filter the router applies.
    assert_eq!(
        serde_json::Value::Object(route.props.clone()),
        serde_json::json!({ "name": "customer" })
    );
}

#[test]
fn the_inclusion_filter_reads_the_same_under_props_and_on_the_route() {
    let under_props = doc(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n    props: { name: customer, inclusion-filter: [ResourceCreated] }\n",
    )
    .connector()
    .unwrap();
    let on_route = doc(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n    inclusion-filter: [ResourceCreated]\n    props: { name: customer }\n",
    )
    .connector()
    .unwrap();
    let (a, b) = (&under_props.routes[0], &on_route.routes[0]);
    assert_eq!(
        (&a.inclusion_filter, &a.props),
        (&b.inclusion_filter, &b.props)
    );
    assert_eq!(a.inclusion_filter_key(), "props.inclusion-filter");
    assert_eq!(b.inclusion_filter_key(), "inclusion-filter");
    assert_eq!(
        under_props.routes[0].inclusion_filter.as_deref(),
        Some(&["ResourceCreated".to_owned()][..])
    );
}

#[test]
fn an_inclusion_filter_both_on_the_route_and_under_props_names_both_lines() {
    let error = invalid(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n    inclusion-filter: [ResourceCreated]\n    props:\n      inclusion-filter: [ResourceUpdated]\n",
    );
    assert_eq!(
        error.to_string(),
        "application-connector.yml:7:7: routes[0].props: route `r` has `inclusion-filter` twice: on the route (line 5) and under `props` (here); keep one of them"
    );
}

#[test]
fn an_inclusion_filter_under_props_must_be_a_list_of_strings() {
    let error = invalid(
        "connector-name: x\nroutes:\n  - route: r\n    handler: A\n    props:\n      inclusion-filter: ResourceCreated\n",
    );
    assert_eq!(
        error.to_string(),
        "application-connector.yml:6:25: routes[0].props.inclusion-filter: expected a list of event types, e.g. [ResourceCreated, ResourceUpdated]"
    );
}

#[test]
fn a_yaml_syntax_error_has_a_location() {
    let error = invalid("connector-name: x\nroutes:\n  - route: r\n   handler: [A\n");
    assert!(error.line().is_some(), "{error}");
}

#[test]
fn reading_a_missing_file_names_it() {
    let error = ConfigDocument::from_file("/nonexistent/app.yml").unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/app.yml"),
        "{error}"
    );
}

#[test]
fn debug_shows_the_same_hint_as_display() {
    // What `fn main() -> Result<(), Box<dyn Error>>` and a failing test
    // print: the message with its hint, not the enum's fields.
    let error = ConfigDocument::from_yaml("app.yml", "connector-name: ${NOT_SET_ANYWHERE}\n")
        .with_env(BTreeMap::new())
        .connector()
        .unwrap_err();
    let display = error.to_string();
    assert!(display.contains("export it"), "{display}");
    assert_eq!(format!("{error:?}"), display);
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert_eq!(format!("{boxed:?}"), display);

    let error = ConfigDocument::from_file("/nonexistent/app.yml").unwrap_err();
    let debug = format!("{error:?}");
    assert!(debug.starts_with(&error.to_string()), "{debug}");
    assert!(!debug.contains("Read {"), "{debug}");
}

#[test]
fn error_at_points_at_the_node_or_its_deepest_existing_parent() {
    let doc = doc(FULL);
    let at = |path: &str| {
        let error = doc.error_at(path, "checked later");
        (error.line(), error.to_string())
    };
    let (line, text) = at("routes[0].props.username-template");
    assert_eq!(line, Some(35), "{text}");
    assert!(
        text.ends_with(": routes[0].props.username-template: checked later"),
        "{text}"
    );
    assert_eq!(at("runtime.backoff.max").0, Some(24));
    // A key that is not written: its enclosing block.
    let (line, text) = at("routes[0].props.on-delete");
    assert_eq!(line, Some(34), "the props block: {text}");
    // A position past the end of a list: the list.
    assert_eq!(at("routes[5]").0, Some(30));
}
