//! The configuration blocks, read strictly from YAML with line numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use connect_core::config::ConfigDocument;
use connect_webhook::{
    ByteSize, ExternalAuth, ExternalWebhookConfig, FluentWebhookConfig, WebhookMapping,
};

fn doc(yaml: &str) -> ConfigDocument {
    ConfigDocument::from_yaml("app.yml", yaml)
}

fn fluent_block(extra: &str) -> String {
    format!(
        "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n    public-keys: [\"{}\"]\n{extra}",
        fluent_keys().bare
    )
}

#[test]
fn the_issue_block_reads_with_its_defaults() {
    let yaml = format!(
        "{}webhook-mapping:\n  OrderStatus: fluent.connect.order.status\n",
        fluent_block("    max-body: 1MiB\n")
    );
    let doc = doc(&yaml);
    let config = FluentWebhookConfig::read(&doc).unwrap().unwrap();
    assert_eq!(config.listen, "0.0.0.0:8080");
    assert_eq!(config.path, "/api/v1/fluent-connect/webhook");
    assert_eq!(config.max_body, ByteSize::mib(1));
    assert_eq!(config.public_keys, vec![fluent_keys().public()]);
    assert_eq!(config.header_read_timeout, Duration::from_secs(5));
    assert_eq!(config.body_read_timeout, Duration::from_secs(5));
    assert_eq!(config.max_connections, 256);
    assert_eq!(config.answer_timeout, Duration::from_secs(10));
    assert_eq!(config.intake_capacity, 256);
    let mapping = WebhookMapping::read(&doc).unwrap();
    assert_eq!(
        mapping.route_for("OrderStatus"),
        Some("fluent.connect.order.status")
    );
    assert!(ExternalWebhookConfig::read(&doc).unwrap().is_none());
}

#[test]
fn every_setting_can_be_written() {
    let yaml = format!(
        "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 127.0.0.1:0\n    path: /hooks/fluent\n    public-keys:\n      - \"{}\"\n      - |\n{}\n    max-body: 64KiB\n    header-read-timeout: 2s\n    body-read-timeout: 3s\n    max-connections: 8\n    answer-timeout: 9s\n    intake-capacity: 16\n",
        fluent_keys().bare,
        rotated_keys()
            .pem
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let config = FluentWebhookConfig::read(&doc(&yaml)).unwrap().unwrap();
    assert_eq!(config.path, "/hooks/fluent");
    assert_eq!(
        config.public_keys,
        vec![fluent_keys().public(), rotated_keys().public()]
    );
    assert_eq!(config.max_body, ByteSize::kib(64));
    assert_eq!(config.header_read_timeout, Duration::from_secs(2));
    assert_eq!(config.body_read_timeout, Duration::from_secs(3));
    assert_eq!(config.max_connections, 8);
    assert_eq!(config.answer_timeout, Duration::from_secs(9));
    assert_eq!(config.intake_capacity, 16);
}

fn read_error(yaml: &str) -> String {
    FluentWebhookConfig::read(&doc(yaml))
        .unwrap_err()
        .to_string()
}

#[test]
fn mistakes_point_at_their_line_and_say_what_to_write() {
    let cases = [
        (fluent_block("    max-bodi: 1MiB\n"), "app.yml:6:5: ", "unknown field `max-bodi`"),
        (fluent_block("    max-body: 1MB\n"), "app.yml:6:15: ", "write `1MiB`"),
        (fluent_block("    max-body: 1024\n"), "app.yml:6:15: ", "write `1024B`"),
        (fluent_block("    max-body: 65MiB\n"), "app.yml:6:15: ", "from `1B` to `64MiB`"),
        (fluent_block("    answer-timeout: 15s\n"), "app.yml:6:21: ", "below Fluent's 14-second retry window"),
        (fluent_block("    header-read-timeout: 5\n"), "app.yml:6:26: ", "write `5s`"),
        (fluent_block("    max-connections: 0\n"), "app.yml:6:", "must be at least 1"),
        (fluent_block("    path: api/webhook\n"), "app.yml:6:11: ", "starts with `/`"),
        (
            "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 8080\n    public-keys: [x]\n".to_owned(),
            "app.yml:4:13: ",
            "write host:port",
        ),
        (
            "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: :8080\n    public-keys: [x]\n".to_owned(),
            "app.yml:4:13: ",
            "has no host",
        ),
        (
            "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n    public-keys: []\n".to_owned(),
            "app.yml:5:",
            "`public-keys` is empty",
        ),
        (
            "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n".to_owned(),
            "app.yml:",
            "missing field `public-keys`",
        ),
    ];
    for (yaml, at, message) in cases {
        let error = read_error(&yaml);
        assert!(error.starts_with(at), "{error}");
        assert!(error.contains(message), "{error}");
    }
}

#[test]
fn a_key_that_does_not_decode_names_its_position_and_the_accepted_forms() {
    let yaml = format!(
        "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n    public-keys:\n      - \"{}\"\n      - \"bm90IGEga2V5\"\n",
        fluent_keys().bare
    );
    let error = read_error(&yaml);
    assert!(error.starts_with("app.yml:7:"), "{error}");
    assert!(error.contains("public key 2 of the list"), "{error}");
    assert!(error.contains("-----BEGIN PUBLIC KEY-----"), "{error}");
    assert!(error.contains("bare base64"), "{error}");

    let small = std::fs::read_to_string(format!(
        "{}/tests/fixtures/rsa-768.pub.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let bare: String = small.lines().filter(|l| !l.starts_with("-----")).collect();
    let yaml = format!(
        "connector-name: x\nlisteners:\n  fluent-webhook:\n    listen: 0.0.0.0:8080\n    public-keys: [\"{bare}\"]\n"
    );
    let error = read_error(&yaml);
    assert!(error.contains("public key 1 of the list: the RSA key has 768 bits; keys of 1024 to 4096 bits are accepted"), "{error}");
}

#[test]
fn the_external_block_takes_hmac_or_bearer_and_hides_its_secrets() {
    let yaml = "connector-name: x\nlisteners:\n  external-webhook:\n    path: /hooks/shop\n    auth:\n      bearer:\n        token: t0ken-value\n    max-body: 4KiB\n";
    let config = ExternalWebhookConfig::read(&doc(yaml)).unwrap().unwrap();
    assert_eq!(config.path, "/hooks/shop");
    assert_eq!(config.auth, ExternalAuth::bearer("t0ken-value"));
    assert_eq!(config.max_body, ByteSize::kib(4));
    assert!(!format!("{config:?}").contains("t0ken-value"));

    let yaml = "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      hmac-sha256:\n        secret: s3cret\n";
    let config = ExternalWebhookConfig::read(&doc(yaml)).unwrap().unwrap();
    assert_eq!(
        config.auth,
        ExternalAuth::hmac_sha256("s3cret", "x-signature")
    );
    assert!(!format!("{config:?}").contains("s3cret"));

    for (yaml, message) in [
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      hmac-sha256:\n        secret: \"\"\n",
            "the secret is empty",
        ),
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      basic:\n        user: x\n",
            "unknown field `basic`",
        ),
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      bearer: { token: x }\n      hmac-sha256: { secret: y }\n",
            "keep one of them",
        ),
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth: {}\n",
            "`auth` is empty",
        ),
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      bearer:\n        token: x\n        header: y\n",
            "unknown field `header`",
        ),
        (
            "connector-name: x\nlisteners:\n  external-webhook:\n    auth:\n      hmac-sha256:\n        secret: x\n        header: \"bad header\"\n",
            "is not a header name",
        ),
    ] {
        let error = ExternalWebhookConfig::read(&doc(yaml))
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{error}");
        assert!(error.starts_with("app.yml:"), "{error}");
    }
}

#[test]
fn an_empty_route_in_the_mapping_is_refused_at_its_line() {
    let yaml = "connector-name: x\nwebhook-mapping:\n  OrderStatus: \"\"\n";
    let error = WebhookMapping::read(&doc(yaml)).unwrap_err().to_string();
    assert!(error.starts_with("app.yml:3:"), "{error}");
    assert!(error.contains("the route is empty"), "{error}");
}
