#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Grafana dashboard, the Prometheus alert rules and
//! `docs/observability.md` use only metrics the connector exports, and the
//! guide documents every one of them, so they cannot drift apart.
//! (`tests/observability.rs` checks that `METRIC_NAMES` is exactly what a
//! connector exports.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use connect_runner::observability::METRIC_NAMES;
use serde_json::Value;

fn docs(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The metric family of a series name (histogram series end in
/// `_bucket`, `_sum` or `_count`).
fn family(name: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && METRIC_NAMES.contains(&base)
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

/// Every `connect_...` metric name in `text` (Rust paths such as
/// `connect_runner::...` and crate names are not metric names).
fn metric_names(text: &str) -> BTreeSet<String> {
    const CRATES: [&str; 10] = [
        "connect_jobs",
        "connect_core",
        "connect_runner",
        "connect_sdk",
        "connect_commercetools",
        "connect_fluent",
        "connect_testkit",
        "connect_customer_sync",
        "connect_sqs",
        "connect_macros",
    ];
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("connect_") {
        let start = from + found;
        let mut end = start + "connect_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        from = end;
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let path = text[end..].starts_with("::");
        let name = &text[start..end];
        if preceded || path || CRATES.contains(&name) {
            continue;
        }
        names.insert(family(name));
    }
    names
}

fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn assert_exported(names: &BTreeSet<String>, source: &str) {
    assert!(!names.is_empty(), "{source} uses no connector metric");
    for name in names {
        assert!(
            METRIC_NAMES.contains(&name.as_str()),
            "{source} uses `{name}`, which the connector does not export; exported: {METRIC_NAMES:?}"
        );
    }
}

#[test]
fn the_grafana_dashboard_is_valid_json_using_exported_metrics() {
    let dashboard: Value = serde_json::from_str(&docs("observability/grafana-dashboard.json"))
        .expect("the dashboard is valid JSON");
    assert!(dashboard["title"].is_string());
    assert_eq!(
        dashboard["__inputs"][0]["pluginId"], "prometheus",
        "importable with a Prometheus data source"
    );
    let panels = dashboard["panels"].as_array().unwrap();
    let mut exprs = Vec::new();
    for panel in panels {
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{panel}"));
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    let mut everything = Vec::new();
    strings(&dashboard, &mut everything);
    let names = metric_names(&everything.join("\n"));
    assert_exported(&names, "the dashboard");
    for required in [
        "connect_messages_total",
        "connect_handler_duration_seconds",
        "connect_dependency_up",
        "connect_http_requests_total",
        "connect_dead_letters_total",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(required)),
            "no panel shows {required}"
        );
    }
}

#[test]
fn the_alert_rules_are_prometheus_rules_using_exported_metrics() {
    let rules: Value = serde_norway::from_str(&docs("observability/alerts.yml")).unwrap();
    let rules: Vec<&Value> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let mut names = BTreeSet::new();
    for rule in &rules {
        let alert = rule["alert"].as_str().unwrap();
        let expr = rule["expr"].as_str().unwrap();
        assert!(rule["annotations"]["summary"].is_string(), "{alert}");
        names.extend(metric_names(expr));
    }
    assert_exported(&names, "the alert rules");
    let rule = |name: &str| {
        *rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("no rule {name}"))
    };
    assert!(
        rule("ConnectDeadLettersIncreasing")["expr"]
            .as_str()
            .unwrap()
            .contains("increase(connect_dead_letters_total")
    );
    let down = rule("ConnectDependencyDown");
    assert!(
        down["expr"]
            .as_str()
            .unwrap()
            .contains("connect_dependency_up")
    );
    assert_eq!(down["for"], "5m", "down for more than 5 minutes");
    let stuck = rule("ConnectNoProgress")["expr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stuck.contains("connect_held_messages") && stuck.contains("connect_messages_total"));
}

#[test]
fn the_guide_documents_every_exported_metric_and_no_other() {
    let guide = docs("observability.md");
    assert_exported(&metric_names(&guide), "docs/observability.md");
    for name in METRIC_NAMES {
        assert!(
            guide.contains(&format!("| `{name}")),
            "docs/observability.md has no table row for `{name}`"
        );
    }
}
