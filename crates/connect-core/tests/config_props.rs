#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests of the configuration loader and `${VAR}` interpolation:
//! whatever the text, loading ends with a configuration or a positioned,
//! worded error, never a panic; values from variables never change the
//! structure of the file.

use std::collections::BTreeMap;

use connect_core::config::{ConfigDocument, ConfigError};
use proptest::prelude::*;

/// Pieces a configuration file is made of, valid and broken, so that random
/// concatenations reach deep into the loader rather than failing on line 1.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("connector-name: x\n".to_owned()),
        Just("routes:\n".to_owned()),
        Just("  - route: r\n".to_owned()),
        Just("    handler: H\n".to_owned()),
        Just("    props:\n".to_owned()),
        Just("    inclusion-filter: [ResourceCreated, ResourceUpdated]\n".to_owned()),
        Just("    inclusion-filter: []\n".to_owned()),
        Just("      inclusion-filter: [ResourceCreated]\n".to_owned()),
        Just("route-mapping:\n  customer: r\n".to_owned()),
        Just("runtime:\n  backoff: { initial: 2m, max: 1s, multiplier: 0 }\n".to_owned()),
        Just("runtime:\n  concurrency: ${N:-0}\n".to_owned()),
        Just("commercetools: { project-key: p }\n".to_owned()),
        Just("extensions:\n  a: ${A}\n".to_owned()),
        Just("\u{FEFF}".to_owned()),
        Just("---\n".to_owned()),
        Just("...\n".to_owned()),
        Just("&anchor ".to_owned()),
        Just("*anchor".to_owned()),
        Just("<<: *anchor\n".to_owned()),
        Just("!!binary ".to_owned()),
        Just("? ".to_owned()),
        Just("|\n".to_owned()),
        Just(">-\n".to_owned()),
        Just("${".to_owned()),
        Just("${MISSING}".to_owned()),
        Just("$$".to_owned()),
        Just("\u{E000}0\u{E001}".to_owned()),
        "[ \\[\\]{}:,#'\"\\-\\t\\n|>&*!%@`]{1,3}",
        "[a-z]{1,8}",
        "\\PC{0,4}",
    ]
}

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..40).prop_map(|parts| parts.concat())
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("A".to_owned(), "value: with [structure]".to_owned()),
        ("N".to_owned(), "4".to_owned()),
    ])
}

/// An error is acceptable when it says where and what.
fn assert_clear(error: &ConfigError, text: &str) {
    match error {
        ConfigError::Invalid {
            line,
            column,
            message,
            ..
        } => {
            let line = line.unwrap_or_else(|| panic!("no line: {error}\n--- for ---\n{text}"));
            assert!(column.is_some(), "no column: {error}\n--- for ---\n{text}");
            assert!(line >= 1, "{error}");
            assert!(!message.trim().is_empty(), "empty message for\n{text}");
        }
        ConfigError::Read { .. } => panic!("no file was read: {error}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_loader_answers_every_text_with_a_config_or_a_positioned_error(text in yamlish()) {
        let doc = ConfigDocument::from_yaml("fuzz.yml", text.as_str()).with_env(env());
        if let Err(error) = doc.connector() {
            assert_clear(&error, &text);
        }
        // Sections are read by other crates: they must hold up too.
        if let Err(error) = doc.section::<BTreeMap<String, serde_json::Value>>("extensions") {
            assert_clear(&error, &text);
        }
    }

    #[test]
    fn the_loader_survives_arbitrary_unicode(text in "\\PC{0,200}") {
        let doc = ConfigDocument::from_yaml("fuzz.yml", text.as_str()).with_env(env());
        if let Err(error) = doc.connector() {
            assert_clear(&error, &text);
        }
    }

    #[test]
    fn a_value_from_a_variable_never_changes_the_structure(value in "\\PC{0,40}") {
        let yaml = "connector-name: x\nextensions:\n  first: ${V}\n  second: [a, ${V}]\nroutes:\n  - route: r\n    handler: H\n";
        let doc = ConfigDocument::from_yaml("v.yml", yaml)
            .with_env(BTreeMap::from([("V".to_owned(), value.clone())]));
        let first: String = doc.require_section("extensions.first").unwrap();
        let second: Vec<String> = doc.require_section("extensions.second").unwrap();
        prop_assert_eq!(&first, &value);
        prop_assert_eq!(second, vec!["a".to_owned(), value]);
        prop_assert!(doc.connector().is_ok());
    }

    #[test]
    fn interpolation_never_panics_and_keeps_text_without_dollars(
        text in "[${}:\\-A-Z_a-z0-9 é\u{E000}]{0,40}"
    ) {
        let env = BTreeMap::from([("A".to_owned(), "alpha".to_owned())]);
        match interpolated(&text, env) {
            Ok(out) => {
                if !text.contains('$') {
                    prop_assert_eq!(out, text);
                }
            }
            Err(error) => {
                prop_assert!(text.contains("${"), "{error} for {text:?}");
                prop_assert!(error.to_string().contains("v.yml:"), "{error}");
            }
        }
    }

    #[test]
    fn variables_defaults_and_escapes_expand_exactly(
        name in "[A-Z_][A-Z0-9_]{0,8}",
        value in "\\PC{0,20}",
        default in "[a-zA-Z0-9 .-]{0,10}",
        prefix in "[a-z]{0,5}",
    ) {
        let env = || BTreeMap::from([(name.clone(), value.clone())]);
        prop_assert_eq!(
            interpolated(&format!("{prefix}${{{name}}}"), env()).unwrap(),
            format!("{prefix}{value}")
        );
        let missing = format!("{name}_UNSET");
        prop_assert_eq!(
            interpolated(&format!("${{{missing}:-{default}}}"), env()).unwrap(),
            default
        );
        prop_assert_eq!(
            interpolated(&format!("$${{{name}}}"), env()).unwrap(),
            format!("${{{name}}}")
        );
    }
}

/// `text`, written single-quoted as a value of the file, as the loader reads
/// it with `env`.
fn interpolated(text: &str, env: BTreeMap<String, String>) -> Result<String, ConfigError> {
    let yaml = format!(
        "connector-name: x\nextensions:\n  value: '{text}'\nroutes:\n  - route: r\n    handler: H\n"
    );
    ConfigDocument::from_yaml("v.yml", yaml)
        .with_env(env)
        .require_section("extensions.value")
}
