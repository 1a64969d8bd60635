#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `jobs:` list and the `state:` block: the contract's keys, defaults,
//! and each mistake with its line and what to write.

use std::path::PathBuf;

use connect_core::config::ConfigDocument;
use connect_jobs::{
    JobContext, JobError, JobHandler, JobOutcome, JobRegistry, JobsConfig, SECTIONS,
    SettingContext, StateConfig,
};
use serde_json::json;

const VALID: &str = "connector-name: commercetools-connector
routes:
  - route: commercetools.connect.customer.upsert
    handler: CommercetoolsCustomerUpsert
jobs:
  - job: customer-delta
    handler: CommercetoolsDeltaScan
    schedule: every 15m
    props: { resource: customer, overlap: 2m }
  - job: nightly-2
    handler: CommercetoolsDeltaScan
    schedule: '30 2 * * *'
state:
  type: file
  path: ./connect-state.json
";

#[derive(Debug)]
struct Noop;

#[connect_core::async_trait]
impl JobHandler for Noop {
    async fn run(&self, _: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        Ok(JobOutcome::done())
    }
}

fn parse(yaml: &str) -> Result<JobsConfig, String> {
    JobsConfig::from_document(&ConfigDocument::from_yaml("app.yml", yaml))
        .map_err(|e| e.to_string())
}

#[test]
fn the_contract_reads_as_written() {
    let doc = ConfigDocument::from_yaml("app.yml", VALID);
    let config = JobsConfig::from_document(&doc).unwrap();
    assert_eq!(config.jobs.len(), 2);
    let delta = config.job("customer-delta").unwrap();
    assert_eq!(delta.handler, "CommercetoolsDeltaScan");
    assert_eq!(delta.schedule.as_str(), "every 15m");
    assert_eq!(delta.props["resource"], json!("customer"));
    assert_eq!(delta.props["overlap"], json!("2m"));
    assert_eq!(
        config.job("nightly-2").unwrap().schedule.as_str(),
        "30 2 * * *"
    );
    assert_eq!(
        config.state,
        StateConfig::File {
            path: PathBuf::from("./connect-state.json")
        }
    );
    // connect-core accepts the file once `jobs` and `state` are declared read.
    let core = doc.connector().unwrap();
    doc.check_sections(&core, SECTIONS).unwrap();
}

#[test]
fn defaults_when_blocks_are_absent() {
    let config = parse("connector-name: x\n").unwrap();
    assert!(config.jobs.is_empty());
    assert_eq!(
        config.state,
        StateConfig::File {
            path: PathBuf::from("./connect-state.json")
        }
    );
    let config = parse("state:\n  type: file\n").unwrap();
    assert_eq!(
        config.state,
        StateConfig::File {
            path: PathBuf::from("./connect-state.json")
        }
    );
    let config = parse("state:\n  type: fluent-setting\n").unwrap();
    assert_eq!(
        config.state,
        StateConfig::FluentSetting {
            context: SettingContext::Account,
            name_prefix: None
        }
    );
    let config =
        parse("state:\n  type: fluent-setting\n  context: RETAILER\n  name-prefix: acme.jobs.\n")
            .unwrap();
    assert_eq!(
        config.state,
        StateConfig::FluentSetting {
            context: SettingContext::Retailer,
            name_prefix: Some("acme.jobs.".to_owned())
        }
    );
}

#[test]
fn mistakes_have_their_line_and_say_what_to_write() {
    let job = |body: &str| format!("connector-name: x\njobs:\n  - job: a\n{body}");
    let cases: Vec<(String, &str)> = vec![
        (
            job("    handler: H\n    schedule: every 15\n"),
            "app.yml:5:15: jobs[0].schedule: schedule `every 15`: the interval `15` has no unit (s, m, h or d); write `every 15m` or a 5-field cron expression like `*/15 * * * *`",
        ),
        (
            job("    handler: H\n    schedule: '61 * * * *'\n"),
            "app.yml:5:15: jobs[0].schedule: schedule `61 * * * *`: 61 is out of range for the minute field (0-59)",
        ),
        (
            job("    handler: H\n    schedule: every 1m\n    prop: {}\n"),
            "app.yml:6:5: jobs[0]: unknown field `prop`, expected one of `job`, `handler`, `schedule`, `props`",
        ),
        (
            job("    handler: H\n"),
            "app.yml:3:5: jobs[0]: missing field `schedule`",
        ),
        (
            "connector-name: x\njobs:\n  - job: Customer_Delta\n    handler: H\n    schedule: every 1m\n".to_owned(),
            "app.yml:3:10: jobs[0].job: job name `Customer_Delta` is invalid: use lowercase letters a-z, digits and `-` only, e.g. `customer-delta`",
        ),
        (
            "connector-name: x\njobs:\n  - job: a\n    handler: H\n    schedule: every 1m\n  - job: a\n    handler: H\n    schedule: every 2m\n".to_owned(),
            "job `a` is defined twice (entries 1 and 2); each job name must be unique",
        ),
        (
            "state:\n  type: redis\n".to_owned(),
            "app.yml:2:9: state.type: `type: redis` is not a state store; write `file` or `fluent-setting`",
        ),
        (
            "state:\n  type: file\n  pth: x.json\n".to_owned(),
            "app.yml:3:3: state: unknown field `pth`, expected one of `type`, `path`, `context`, `name-prefix`",
        ),
        (
            "state:\n  type: file\n  context: ACCOUNT\n".to_owned(),
            "app.yml:3:3: state: `context` belongs to `type: fluent-setting`, not `type: file`; remove it",
        ),
        (
            "state:\n  type: fluent-setting\n  path: x.json\n".to_owned(),
            "app.yml:3:3: state: `path` belongs to `type: file`, not `type: fluent-setting`; remove it",
        ),
        (
            "state:\n  type: fluent-setting\n  context: LOCATION\n".to_owned(),
            "app.yml:3:12: state.context: `context: LOCATION` is not a context job state can use; write ACCOUNT (the default) or RETAILER",
        ),
    ];
    for (yaml, expected) in cases {
        let error = parse(&yaml).unwrap_err();
        assert!(
            error.contains(expected),
            "for\n{yaml}\ngot:      {error}\nexpected: {expected}"
        );
    }
}

#[test]
fn an_unknown_handler_is_refused_at_its_line_naming_the_registered_ones() {
    let doc = ConfigDocument::from_yaml("app.yml", VALID);
    let config = JobsConfig::from_document(&doc).unwrap();
    let registry = JobRegistry::new()
        .with("CommercetoolsDeltaScn", |_| Ok(Noop))
        .with("DriftReport", |_| Ok(Noop));
    let error = config
        .check_handlers(&doc, &registry)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "app.yml:7:14: jobs[0].handler: job `customer-delta`: no job handler is registered as `CommercetoolsDeltaScan`; registered job handlers: [CommercetoolsDeltaScn, DriftReport]. Check the spelling in `handler:`; a job handler defined in another crate must be linked into the binary with `use that_crate as _;`"
    );
    let registry = registry.with("CommercetoolsDeltaScan", |_| Ok(Noop));
    config.check_handlers(&doc, &registry).unwrap();
}

#[test]
fn the_state_block_opens_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let file = StateConfig::File { path: path.clone() }.open(None).unwrap();
    assert_eq!(file.describe(), format!("file {}", path.display()));
    let fluent = StateConfig::FluentSetting {
        context: SettingContext::Account,
        name_prefix: None,
    };
    let error = fluent.open(None).err().unwrap().to_string();
    assert!(
        error.contains("the file has no `fluent:` block; add it, or use `type: file`"),
        "{error}"
    );
    let client = connect_fluent::FluentClient::new(connect_fluent::FluentConfig::new(
        "http://127.0.0.1:9",
        "ACME",
        "7",
        "ACME",
        "secret",
        "user",
        "password",
    ))
    .unwrap();
    let store = StateConfig::FluentSetting {
        context: SettingContext::Retailer,
        name_prefix: Some("acme.".to_owned()),
    }
    .open(Some(&client))
    .unwrap();
    assert_eq!(store.describe(), "fluent-setting acme.* in RETAILER 7");
}
