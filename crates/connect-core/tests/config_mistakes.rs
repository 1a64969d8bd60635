#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Mistaken configurations, each with the exact message a user gets.
//!
//! Every case starts from one valid file and changes one thing, the way a
//! user's edit would. The message must say where (file:line:column), what is
//! wrong, and how to fix it; the whole text is compared so that a change in
//! wording is a deliberate change of this table.

use std::collections::BTreeMap;

use connect_commercetools::{CommercetoolsConfig, SubscriptionTranslator};
use connect_core::config::{ConfigDocument, ConfigError};
use connect_fluent::FluentConfig;

/// A valid file; each case replaces one piece of it.
const VALID: &str = r#"connector-name: commercetools-connector
commercetools:
  project-key: ${CT_PROJECT_KEY}
  client-id: ct-client
  client-secret: ${CT_CLIENT_SECRET}
  auth-url: https://auth.europe-west1.gcp.commercetools.com
  api-url: https://api.europe-west1.gcp.commercetools.com
  scopes: [view_customers:${CT_PROJECT_KEY}]
fluent:
  base-url: https://acme.sandbox.api.fluentretail.com
  account: ACME
  retailer-id: 1
  client-id: ACME
  client-secret: ${FLUENT_CLIENT_SECRET}
  username: acme_api
  password: ${FLUENT_PASSWORD}
runtime:
  concurrency: 8
  max-attempts: 5
  backoff: { initial: 200ms, max: 60s, multiplier: 2 }
route-mapping:
  customer: commercetools.connect.customer.upsert
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
    inclusion-filter: [ResourceCreated, ResourceUpdated]
    props:
      username-template: "{id}"
"#;

/// Which part of the file the case reads.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// `ConfigDocument::connector`, the top-level blocks and the
    /// `route-mapping` (what `connect validate` reads first).
    Connector,
    /// The `commercetools:` block.
    Commercetools,
    /// The `fluent:` block.
    Fluent,
}

struct Case {
    name: &'static str,
    /// `(from, to)`: the edit applied to [`VALID`].
    edit: (&'static str, &'static str),
    reader: Reader,
    expected: &'static str,
}

fn env() -> BTreeMap<String, String> {
    [
        ("CT_PROJECT_KEY", "shop"),
        ("CT_CLIENT_SECRET", "ct-secret"),
        ("FLUENT_CLIENT_SECRET", "fl-secret"),
        ("FLUENT_PASSWORD", "fl-password"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The top-level blocks connect-runner reads above connect-core.
const SECTIONS: &[&str] = &["commercetools", "fluent", "route-mapping", "observability"];

fn read(reader: Reader, yaml: &str) -> Result<(), ConfigError> {
    let doc = ConfigDocument::from_yaml("app.yml", yaml).with_env(env());
    match reader {
        Reader::Connector => {
            let config = doc.connector()?;
            doc.check_sections(&config, SECTIONS)?;
            SubscriptionTranslator::from_document(&doc, &config).map(drop)
        }
        Reader::Commercetools => doc
            .require_section::<CommercetoolsConfig>("commercetools")
            .map(drop),
        Reader::Fluent => doc.require_section::<FluentConfig>("fluent").map(drop),
    }
}

const CASES: &[Case] = &[
    Case {
        name: "an unclosed flow list is a syntax error where the parser stopped",
        edit: (
            "inclusion-filter: [ResourceCreated, ResourceUpdated]",
            "inclusion-filter: [ResourceCreated, ResourceUpdated",
        ),
        reader: Reader::Connector,
        expected: "app.yml:27:10: YAML syntax error: did not find expected ',' or ']', while parsing a flow sequence that starts at line 26, column 23; check that every `[`, `{` and quote is closed and that the keys of one mapping are indented alike",
    },
    Case {
        name: "a key indented one space less is a syntax error",
        edit: (
            "    handler: CommercetoolsCustomerUpsert",
            "   handler: CommercetoolsCustomerUpsert",
        ),
        reader: Reader::Connector,
        expected: "app.yml:25:4: YAML syntax error: did not find expected '-' indicator, while parsing a block collection that starts at line 24, column 3; check that every `[`, `{` and quote is closed and that the keys of one mapping are indented alike",
    },
    Case {
        name: "a tab for indentation is a syntax error",
        edit: ("  concurrency: 8", "\tconcurrency: 8"),
        reader: Reader::Connector,
        expected: "app.yml:18:1: YAML syntax error: found character that cannot start any token, while scanning for the next token; check that every `[`, `{` and quote is closed and that the keys of one mapping are indented alike",
    },
    Case {
        name: "a second YAML document is refused",
        edit: ("runtime:\n", "---\nruntime:\n"),
        reader: Reader::Connector,
        expected: "app.yml:17:1: the file holds more than one YAML document (a `---` line starts a second one); keep the whole configuration in one document",
    },
    Case {
        name: "an unknown top-level key",
        edit: ("runtime:\n", "rutime:\n"),
        reader: Reader::Connector,
        expected: "app.yml:17:1: unknown field `rutime`, expected one of `connector-name`, `listeners`, `event-queue`, `runtime`, `routes`, `extensions`, `commercetools`, `fluent`, `route-mapping`, `observability`",
    },
    Case {
        name: "an unknown key in runtime",
        edit: ("  concurrency: 8", "  concurency: 8"),
        reader: Reader::Connector,
        expected: "app.yml:18:3: runtime: unknown field `concurency`, expected one of `concurrency`, `prefetch`, `max-attempts`, `backoff`, `circuit-breaker`, `shutdown-timeout`, `startup-timeout`, `dead-letter`",
    },
    Case {
        name: "an unknown event type in the inclusion filter",
        edit: (
            "[ResourceCreated, ResourceUpdated]",
            "[ResourceCreated, ResourceExploded]",
        ),
        reader: Reader::Connector,
        expected: "app.yml:26:41: routes[0].inclusion-filter[1]: `ResourceExploded` is not a commercetools notification or Message type (change notifications are ResourceCreated, ResourceUpdated and ResourceDeleted; Messages are named like CustomerCreated or CustomerEmailChanged); did you mean `ResourceUpdated`?",
    },
    Case {
        name: "a misspelt event type in the inclusion filter",
        edit: (
            "[ResourceCreated, ResourceUpdated]",
            "[ResourceCraeted, ResourceUpdated]",
        ),
        reader: Reader::Connector,
        expected: "app.yml:26:24: routes[0].inclusion-filter[0]: `ResourceCraeted` is not a commercetools notification or Message type (change notifications are ResourceCreated, ResourceUpdated and ResourceDeleted; Messages are named like CustomerCreated or CustomerEmailChanged); did you mean `ResourceCreated`?",
    },
    Case {
        name: "a misspelt event type in an inclusion filter under props, as Fluent writes it",
        edit: (
            "    inclusion-filter: [ResourceCreated, ResourceUpdated]\n    props:\n",
            "    props:\n      inclusion-filter: [ResourceCraeted, ResourceUpdated]\n",
        ),
        reader: Reader::Connector,
        expected: "app.yml:27:26: routes[0].props.inclusion-filter[0]: `ResourceCraeted` is not a commercetools notification or Message type (change notifications are ResourceCreated, ResourceUpdated and ResourceDeleted; Messages are named like CustomerCreated or CustomerEmailChanged); did you mean `ResourceCreated`?",
    },
    Case {
        name: "an empty inclusion filter",
        edit: ("[ResourceCreated, ResourceUpdated]", "[]"),
        reader: Reader::Connector,
        expected: "app.yml:26:23: routes[0].inclusion-filter: route `commercetools.connect.customer.upsert`: `inclusion-filter` is empty, so the route would filter out every message; list the event types to handle, e.g. [ResourceCreated, ResourceUpdated], or remove the key to accept every event type",
    },
    Case {
        name: "an inclusion filter that is not a list",
        edit: ("[ResourceCreated, ResourceUpdated]", "ResourceCreated"),
        reader: Reader::Connector,
        expected: "app.yml:26:23: routes[0].inclusion-filter: invalid type: string \"ResourceCreated\", expected a list of event types, e.g. [ResourceCreated, ResourceUpdated]",
    },
    Case {
        name: "a misspelt inclusion-filter key",
        edit: ("inclusion-filter:", "inclusion-filtr:"),
        reader: Reader::Connector,
        expected: "app.yml:26:5: routes[0]: unknown field `inclusion-filtr`, expected one of `route`, `handler`, `inclusion-filter`, `props`, `coalesce`",
    },
    Case {
        name: "an inclusion_filter key with underscores",
        edit: ("inclusion-filter:", "inclusion_filter:"),
        reader: Reader::Connector,
        expected: "app.yml:26:5: routes[0]: unknown field `inclusion_filter`, expected one of `route`, `handler`, `inclusion-filter`, `props`, `coalesce`",
    },
    Case {
        name: "a misspelt inclusion filter under props",
        edit: (
            "    inclusion-filter: [ResourceCreated, ResourceUpdated]\n    props:\n",
            "    props:\n      inclusion_filter: [ResourceCreated, ResourceUpdated]\n",
        ),
        reader: Reader::Connector,
        expected: "app.yml:27:7: routes[0].props: `inclusion_filter` is not `inclusion-filter`: as written route `commercetools.connect.customer.upsert` would accept every event type; write `inclusion-filter:` (on the route next to `handler:`, or under `props` as Fluent's Java connect-sdk does)",
    },
    Case {
        name: "a route-mapping key that is no resource type id",
        edit: ("  customer: commercetools", "  custmer: commercetools"),
        reader: Reader::Connector,
        expected: "app.yml:22:3: route-mapping: `custmer` is not a commercetools resource type id (route-mapping keys are the `resource.typeId` of subscription payloads, e.g. `customer`, `order` or `product`); did you mean `customer`?",
    },
    Case {
        name: "a route-mapping to a route that does not exist",
        edit: (
            "  customer: commercetools.connect.customer.upsert",
            "  customer: commercetools.connect.customer.upsrt",
        ),
        reader: Reader::Connector,
        expected: "app.yml:22:13: route-mapping.customer: `customer` maps to `commercetools.connect.customer.upsrt`, which is not defined under `routes` (defined routes: commercetools.connect.customer.upsert); did you mean `commercetools.connect.customer.upsert`?",
    },
    Case {
        name: "backoff initial longer than max",
        edit: ("initial: 200ms, max: 60s", "initial: 2m, max: 60s"),
        reader: Reader::Connector,
        expected: "app.yml:20:23: runtime.backoff.initial: `initial` (2m) is longer than `max` (1m), so no delay could grow; make `initial` shorter than `max`, e.g. initial: 200ms with max: 60s",
    },
    Case {
        name: "circuit-breaker initial longer than max",
        edit: (
            "backoff: { initial: 200ms, max: 60s, multiplier: 2 }",
            "backoff: { initial: 200ms, max: 60s, multiplier: 2 }\n  circuit-breaker: { initial: 5m, max: 1m }",
        ),
        reader: Reader::Connector,
        expected: "app.yml:21:31: runtime.circuit-breaker.initial: `initial` (5m) is longer than `max` (1m); make `initial` shorter than `max`, e.g. initial: 1s with max: 60s",
    },
    Case {
        name: "a circuit-breaker probing without pause",
        edit: (
            "backoff: { initial: 200ms, max: 60s, multiplier: 2 }",
            "backoff: { initial: 200ms, max: 60s, multiplier: 2 }\n  circuit-breaker: { initial: 0s }",
        ),
        reader: Reader::Connector,
        expected: "app.yml:21:31: runtime.circuit-breaker.initial: `initial` must be longer than 0, or a dependency that is down would be probed without pause; e.g. initial: 1s",
    },
    Case {
        name: "a backoff multiplier of 0",
        edit: ("multiplier: 2", "multiplier: 0"),
        reader: Reader::Connector,
        expected: "app.yml:20:52: runtime.backoff.multiplier: `multiplier` is 0, but it must be a number of at least 1 (1 keeps the delay constant, 2 doubles it per attempt)",
    },
    Case {
        name: "a concurrency of 0",
        edit: ("concurrency: 8", "concurrency: 0"),
        reader: Reader::Connector,
        expected: "app.yml:18:16: runtime.concurrency: `concurrency` must be at least 1 (messages handled at once), e.g. 32",
    },
    Case {
        name: "max-attempts of 0",
        edit: ("max-attempts: 5", "max-attempts: 0"),
        reader: Reader::Connector,
        expected: "app.yml:19:17: runtime.max-attempts: `max-attempts` must be at least 1 (1 = never retry), e.g. 5",
    },
    Case {
        name: "a concurrency that is not a number",
        edit: ("concurrency: 8", "concurrency: many"),
        reader: Reader::Connector,
        expected: "app.yml:18:16: runtime.concurrency: invalid type: string \"many\", expected usize",
    },
    Case {
        name: "a duration without a unit",
        edit: ("max: 60s", "max: 60"),
        reader: Reader::Connector,
        expected: "app.yml:20:35: runtime.backoff.max: `60` has no unit; write `60s` for seconds or `60ms` for milliseconds",
    },
    Case {
        name: "a variable that is not set",
        edit: ("${CT_PROJECT_KEY}]", "${CT_PROJEKT_KEY}]"),
        reader: Reader::Commercetools,
        expected: "app.yml:8:12: commercetools.scopes[0]: environment variable `CT_PROJEKT_KEY` is not set; export it, or give a default with `${CT_PROJEKT_KEY:-value}`",
    },
    Case {
        name: "an unterminated variable",
        edit: ("${CT_PROJECT_KEY}]", "${CT_PROJECT_KEY]"),
        reader: Reader::Connector,
        expected: "app.yml:8:27: `${` without a closing `}` in `${CT_PROJECT_KEY]`; write `$$` for a literal `$`",
    },
    Case {
        name: "a connector name with capitals",
        edit: (
            "connector-name: commercetools-connector",
            "connector-name: Commercetools_Connector",
        ),
        reader: Reader::Connector,
        expected: "app.yml:1:1: connector-name `Commercetools_Connector` is invalid: use lowercase letters a-z and `-` only, e.g. `commercetools-connector`",
    },
    Case {
        name: "a route defined twice",
        edit: (
            "routes:\n",
            "routes:\n  - route: commercetools.connect.customer.upsert\n    handler: Other\n",
        ),
        reader: Reader::Connector,
        expected: "app.yml:24:3: routes: route `commercetools.connect.customer.upsert` is defined twice (entries 1 and 2); each route name must be unique",
    },
    Case {
        name: "no routes",
        edit: ("routes:\n  - route", "routes: []\nunused:\n  - route"),
        reader: Reader::Connector,
        expected: "app.yml:23:9: routes: `routes` is empty; add at least one `- route: ... handler: ...` entry",
    },
    Case {
        name: "a commercetools api-url that is not http(s)",
        edit: (
            "  api-url: https://api.europe-west1.gcp.commercetools.com",
            "  api-url: ftp://api.europe-west1.gcp.commercetools.com",
        ),
        reader: Reader::Commercetools,
        expected: "app.yml:7:12: commercetools.api-url: `ftp://api.europe-west1.gcp.commercetools.com` is not an http(s) URL; write e.g. `https://api.europe-west1.gcp.commercetools.com` (or the auth host for auth-url), or leave both URLs out and set `region`",
    },
    Case {
        name: "an empty commercetools client-id",
        edit: ("  client-id: ct-client", "  client-id: ${EMPTY}"),
        reader: Reader::Commercetools,
        expected: "app.yml:4:14: commercetools.client-id: the value is empty; set it, e.g. from an environment variable (`${NAME}`)",
    },
    Case {
        name: "an empty commercetools client-secret",
        edit: (
            "  client-secret: ${CT_CLIENT_SECRET}",
            "  client-secret: \"\"",
        ),
        reader: Reader::Commercetools,
        expected: "app.yml:5:18: commercetools.client-secret: the secret is empty; set it, e.g. from an environment variable (`${NAME}`)",
    },
    Case {
        name: "an unknown commercetools region",
        edit: (
            "  auth-url: https://auth.europe-west1.gcp.commercetools.com\n  api-url: https://api.europe-west1.gcp.commercetools.com",
            "  region: europe-west2.gcp",
        ),
        reader: Reader::Commercetools,
        expected: "app.yml:6:11: commercetools.region: `europe-west2.gcp` is not a commercetools region; use one of: us-central1.gcp, us-east-2.aws, europe-west1.gcp, eu-central-1.aws, australia-southeast1.gcp",
    },
    Case {
        name: "a misspelt commercetools key",
        edit: ("  scopes:", "  scope:"),
        reader: Reader::Commercetools,
        expected: "app.yml:8:3: commercetools: unknown field `scope`, expected one of `project-key`, `client-id`, `client-secret`, `auth-url`, `api-url`, `region`, `scopes`, `request-timeout`, `max-retries`, `retry-initial-backoff`",
    },
    Case {
        name: "an empty scope list",
        edit: (
            "  scopes: [view_customers:${CT_PROJECT_KEY}]",
            "  scopes: []",
        ),
        reader: Reader::Commercetools,
        expected: "app.yml:8:11: commercetools.scopes: no scope is listed; list the scopes the syncs need, e.g. `view_customers:{project-key}`, or leave `scopes` out for the scopes of the syncs the routes use",
    },
    Case {
        name: "a Fluent base-url that is not http(s)",
        edit: ("  base-url: https://acme", "  base-url: ftp://acme"),
        reader: Reader::Fluent,
        expected: "app.yml:10:13: fluent.base-url: `ftp://acme.sandbox.api.fluentretail.com` is not an http(s) URL (scheme `ftp`); write it like https://ACCOUNT.sandbox.api.fluentretail.com (http:// only for a local emulator)",
    },
    Case {
        name: "a Fluent base-url without a scheme",
        edit: ("  base-url: https://acme", "  base-url: acme"),
        reader: Reader::Fluent,
        expected: "app.yml:10:13: fluent.base-url: `acme.sandbox.api.fluentretail.com` is not a valid URL (relative URL without a base); write it like https://ACCOUNT.sandbox.api.fluentretail.com (http:// only for a local emulator)",
    },
    Case {
        name: "an empty Fluent password",
        edit: ("  password: ${FLUENT_PASSWORD}", "  password: ${EMPTY}"),
        reader: Reader::Fluent,
        expected: "app.yml:16:13: fluent.password: the secret is empty; set it, e.g. from an environment variable (`${NAME}`)",
    },
    Case {
        name: "an empty Fluent retailer id",
        edit: ("  retailer-id: 1", "  retailer-id: \"\""),
        reader: Reader::Fluent,
        expected: "app.yml:12:16: fluent.retailer-id: the retailer id is empty; set it to the id of the retailer customers belong to (the `Retailer_id` of the user's token)",
    },
    Case {
        name: "a zero Fluent request timeout",
        edit: (
            "  retailer-id: 1",
            "  retailer-id: 1\n  request-timeout: 0s",
        ),
        reader: Reader::Fluent,
        expected: "app.yml:13:20: fluent.request-timeout: the timeout must be more than zero, e.g. `30s`",
    },
    Case {
        name: "a misspelt Fluent key",
        edit: ("  retailer-id: 1", "  retailer: 1"),
        reader: Reader::Fluent,
        expected: "app.yml:12:3: fluent: unknown field `retailer`, expected one of `base-url`, `account`, `retailer-id`, `client-id`, `client-secret`, `username`, `password`, `request-timeout`, `max-retries`, `retry-initial-backoff`",
    },
];

#[test]
fn the_valid_file_is_valid_for_every_reader() {
    for reader in [Reader::Connector, Reader::Commercetools, Reader::Fluent] {
        read(reader, VALID).unwrap_or_else(|e| panic!("{reader:?}: {e}"));
    }
}

#[test]
fn every_mistake_gets_its_exact_message() {
    let mut failures = Vec::new();
    for case in CASES {
        let (from, to) = case.edit;
        assert!(
            VALID.contains(from),
            "{}: the edit does not apply",
            case.name
        );
        let yaml = VALID.replacen(from, to, 1);
        match read(case.reader, &yaml) {
            Ok(()) => failures.push(format!("{}: accepted", case.name)),
            Err(error) => {
                let text = error.to_string();
                if text != case.expected {
                    failures.push(format!(
                        "{}:\n  expected: {}\n  actual:   {text}",
                        case.name, case.expected
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_byte_order_mark_before_a_valid_file_is_accepted() {
    let with_bom = format!("\u{FEFF}{VALID}");
    for reader in [Reader::Connector, Reader::Commercetools, Reader::Fluent] {
        read(reader, &with_bom).unwrap_or_else(|e| panic!("{reader:?}: {e}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.yml");
    std::fs::write(&path, with_bom.as_bytes()).unwrap();
    let config = ConfigDocument::from_file(&path)
        .unwrap()
        .with_env(env())
        .connector()
        .unwrap();
    assert_eq!(
        config.routes.len(),
        1,
        "every key is read, not only the first"
    );
    assert_eq!(config.runtime.concurrency, 8);
}

/// Set in the child process of the test below.
const CHILD: &str = "CONNECT_CONFIG_MISTAKES_CHILD";

#[test]
fn a_variable_whose_value_is_not_utf8_is_named_as_such_not_as_missing() {
    let yaml = "connector-name: x\nruntime:\n  concurrency: ${BAD_VALUE}\nroutes:\n  - route: r\n    handler: H\n";
    if std::env::var_os(CHILD).is_some() {
        // In the child: the process environment really holds the bad value.
        let error = ConfigDocument::from_yaml("app.yml", yaml)
            .connector()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.yml:3:16: runtime.concurrency: environment variable `BAD_VALUE` is set, but its value is not valid UTF-8; set it to UTF-8 text (check the encoding of the file or secret store it comes from)"
        );
        return;
    }
    // Setting a variable in this process needs `unsafe` (forbidden here), so
    // the test runs itself again with the variable set.
    use std::os::unix::ffi::OsStrExt;
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_variable_whose_value_is_not_utf8_is_named_as_such_not_as_missing",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("BAD_VALUE", std::ffi::OsStr::from_bytes(b"\xff\xfe8"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}

/// A route no `route-mapping` entry feeds receives webhooks or messages
/// handlers publish: its event types are its own, even when one is a near
/// miss of a commercetools name (`OrderStatusChanged` / `OrderStateChanged`).
#[test]
fn a_route_commercetools_does_not_feed_names_its_own_event_types() {
    let yaml = VALID.replace(
        "routes:\n",
        "routes:\n  - route: fluent.connect.order.status\n    handler: FluentOrderStatusUpdate\n    inclusion-filter: [OrderStatusChanged, BOOKED]\n",
    );
    let doc = ConfigDocument::from_yaml("app.yml", yaml).with_env(env());
    let config = doc.connector().unwrap();
    SubscriptionTranslator::from_document(&doc, &config).unwrap();
}
