//! The connector's YAML configuration (see `docs/configuration.md`).
//!
//! Parsing is strict: an unknown key is an error naming the key, the keys
//! allowed there, and the line. Every scalar may use `${VAR}` or
//! `${VAR:-default}`; a variable that is not set is an error naming it.
//!
//! The file is read with [`serde_norway`], the maintained fork of the archived
//! `serde_yaml` (same API, same behaviour, still receiving fixes).
//!
//! A document is parsed in two steps. [`ConfigDocument::connector`] reads
//! what connect-core owns (name, routes, runtime, queue kinds) and keeps the
//! names of every other top-level block in [`ConnectorConfig::sections`].
//! The layers above then read their own blocks with
//! [`ConfigDocument::section`], strictly and with line numbers, and
//! [`ConfigDocument::check_sections`] refuses a block nobody reads (a typo),
//! so that connect-core needs to know nothing about commercetools, Fluent or
//! SQS.
//!
//! ```
//! use connect_core::config::ConfigDocument;
//!
//! let yaml = r#"
//! connector-name: commercetools-connector
//! fluent:
//!   account-id: ACME
//! routes:
//!   - route: commercetools.connect.customer.upsert
//!     handler: CommercetoolsCustomerUpsert
//!     inclusion-filter: [ResourceCreated, ResourceUpdated]
//! "#;
//! let doc = ConfigDocument::from_yaml("inline.yml", yaml);
//! let config = doc.connector()?;
//! assert_eq!(config.routes[0].handler, "CommercetoolsCustomerUpsert");
//! assert_eq!(config.event_queue.kind, "in-memory");
//! assert_eq!(config.sections, ["fluent"]);
//! // The layer that reads `fluent:` accepts it; a typo would be refused.
//! doc.check_sections(&config, &["fluent"])?;
//! # Ok::<(), connect_core::config::ConfigError>(())
//! ```

mod duration;
mod interpolate;
mod locate;
mod secret;
mod suggest;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

pub use duration::{
    deserialize as duration, deserialize_option as option_duration,
    deserialize_where as duration_where, parse_duration,
};
pub use interpolate::{EnvSource, InterpolationError, ProcessEnv};
pub use secret::{Secret, required_secret, required_text, text_where};
pub use suggest::{check_names, did_you_mean, edit_distance, nearest};

use interpolate::{Interpolating, Resolver};
use locate::{Problem, Step};

/// A configuration file, ready to be read section by section.
#[derive(Clone)]
pub struct ConfigDocument {
    origin: String,
    text: String,
    env: Arc<dyn EnvSource + Send>,
}

impl fmt::Debug for ConfigDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigDocument")
            .field("origin", &self.origin)
            .field("bytes", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl ConfigDocument {
    /// Reads `path`. Variables come from the process environment.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_yaml(path.display().to_string(), text))
    }

    /// A document from YAML text; `origin` names it in errors. A UTF-8
    /// byte order mark before the text (as some Windows editors write) is
    /// dropped.
    pub fn from_yaml(origin: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text = text.into();
        if text.starts_with(BYTE_ORDER_MARK) {
            text.drain(..BYTE_ORDER_MARK.len_utf8());
        }
        Self {
            origin: origin.into(),
            text,
            env: Arc::new(ProcessEnv),
        }
    }

    /// Takes `${VAR}` values from `env` instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: impl EnvSource + Send + 'static) -> Self {
        self.env = Arc::new(env);
        self
    }

    /// The file name (or the name given to [`from_yaml`](Self::from_yaml)).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Reads connect-core's part (every other top-level block is only named
    /// in [`ConnectorConfig::sections`]), then checks
    /// what the types cannot express (the rules of `docs/configuration.md`):
    /// every mistake is an error with the file, line and column.
    pub fn connector(&self) -> Result<ConnectorConfig, ConfigError> {
        let root: RootFile =
            self.parse(PathSeed::<RootFile>::new(&[]))?
                .ok_or_else(|| ConfigError::Invalid {
                    origin: self.origin.clone(),
                    line: Some(1),
                    column: Some(1),
                    message: "the file is empty; start from examples/application-connector.yml"
                        .to_owned(),
                })?;
        let sections = self
            .section::<TopKeys>("")?
            .map(|keys| keys.0)
            .unwrap_or_default()
            .into_iter()
            .filter(|key| !CORE_KEYS.contains(&key.as_str()))
            .collect();
        let mut routes = root.routes.0;
        for (index, route) in routes.iter_mut().enumerate() {
            self.lift_props_inclusion_filter(index, route)?;
        }
        let config = ConnectorConfig {
            connector_name: root.connector_name.0,
            routes,
            sections,
            runtime: root.runtime.unwrap_or_default(),
            ct_queue: root
                .listeners
                .and_then(|l| l.ct_queue)
                .map_or_else(BackendRef::in_memory, |q| {
                    BackendRef::at(q.kind, "listeners.ct-queue")
                }),
            event_queue: root.event_queue.map_or_else(BackendRef::in_memory, |q| {
                BackendRef::at(q.kind, "event-queue")
            }),
        };
        config.problems().map_err(|problem| self.locate(&problem))?;
        Ok(config)
    }

    /// Fluent's Java connect-sdk writes a route's inclusion filter under
    /// `props` (`props: { name: customer, inclusion-filter: [...] }`): that
    /// form is read into [`RouteConfig::inclusion_filter`] exactly like the
    /// route field, and taken out of the props handlers see. Writing both
    /// is refused, naming both lines.
    fn lift_props_inclusion_filter(
        &self,
        index: usize,
        route: &mut RouteConfig,
    ) -> Result<(), ConfigError> {
        let Some(value) = route.props.remove(INCLUSION_FILTER) else {
            return Ok(());
        };
        let in_props = format!("routes[{index}].props.{INCLUSION_FILTER}");
        if route.inclusion_filter.is_some() {
            let field = format!("routes[{index}].{INCLUSION_FILTER}");
            let field_line = self
                .error_at_key(&field, "")
                .line()
                .map_or_else(String::new, |line| format!(" (line {line})"));
            return Err(self.error_at_key(
                &in_props,
                format!(
                    "route `{}` has `{INCLUSION_FILTER}` twice: on the route{field_line} and under `props` (here); keep one of them",
                    route.route
                ),
            ));
        }
        let list = match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(event_type) => Some(event_type),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>(),
            _ => None,
        };
        let Some(list) = list else {
            return Err(self.error_at(
                &in_props,
                "expected a list of event types, e.g. [ResourceCreated, ResourceUpdated]",
            ));
        };
        route.inclusion_filter = Some(list);
        route.filter_under_props = true;
        Ok(())
    }

    /// An error about the node at `path`, with that node's line and column
    /// (or those of its deepest enclosing node that exists). `path` is
    /// written like the paths in error messages: keys separated by `.`,
    /// list positions in brackets, e.g. `routes[0].props.on-delete`.
    ///
    /// For checks made after the file was read (e.g. by a handler when its
    /// route is built), so that their errors point into the file too:
    ///
    /// ```
    /// use connect_core::config::ConfigDocument;
    ///
    /// let yaml = "connector-name: x\nroutes:\n  - route: r\n    handler: H\n    props:\n      on-delete: deactivate\n";
    /// let doc = ConfigDocument::from_yaml("app.yml", yaml);
    /// let error = doc.error_at("routes[0].props.on-delete", "needs ResourceDeleted in the inclusion filter");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "app.yml:6:18: routes[0].props.on-delete: needs ResourceDeleted in the inclusion filter"
    /// );
    /// ```
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        self.locate(&Problem::at(parse_path(path), message))
    }

    /// Like [`error_at`](Self::error_at), but at the key that ends `path`
    /// rather than at its value: for a key that should not be there.
    ///
    /// ```
    /// use connect_core::config::ConfigDocument;
    ///
    /// let doc = ConfigDocument::from_yaml("app.yml", "connector-name: x\nroute-mapping:\n  custmer: r\n");
    /// let error = doc.error_at_key("route-mapping.custmer", "not a resource type id");
    /// assert_eq!(error.to_string(), "app.yml:3:3: route-mapping: not a resource type id");
    /// ```
    pub fn error_at_key(&self, path: &str, message: impl Into<String>) -> ConfigError {
        self.locate(&Problem::at_key(parse_path(path), message))
    }

    /// Refuses every top-level block of `config` that is neither
    /// connect-core's nor named in `known` (the blocks the layers above
    /// read), with the file, line and column of its key and every key
    /// allowed there: `unknown field `rutime`, expected one of ...`.
    pub fn check_sections(
        &self,
        config: &ConnectorConfig,
        known: &[&str],
    ) -> Result<(), ConfigError> {
        let Some(unknown) = config
            .sections
            .iter()
            .find(|name| !known.contains(&name.as_str()))
        else {
            return Ok(());
        };
        let expected = CORE_KEYS
            .iter()
            .chain(known)
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(self.locate(&Problem::at_key(
            vec![Step::key(unknown)],
            format!("unknown field `{unknown}`, expected one of {expected}"),
        )))
    }

    /// The error for `problem`, at the line and column of its node.
    fn locate(&self, problem: &Problem) -> ConfigError {
        match Resolver::prepare(&self.text, self.env.as_ref()) {
            Ok((text, _)) => self.yaml_error(&locate::locate(&text, problem)),
            Err(_) => self.invalid(None, problem.message.clone()),
        }
    }

    /// Reads the block at `path` (dot-separated, e.g. `commercetools` or
    /// `listeners.ct-queue`) as `T`; `Ok(None)` when the block is absent.
    pub fn section<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ConfigError> {
        let keys: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('.').collect()
        };
        self.parse(PathSeed::<T>::new(&keys))
    }

    /// Like [`section`](Self::section), but a missing block is an error.
    pub fn require_section<T: DeserializeOwned>(&self, path: &str) -> Result<T, ConfigError> {
        self.section(path)?.ok_or_else(|| {
            self.invalid(
                None,
                format!("the `{path}:` block is missing; see docs/configuration.md"),
            )
        })
    }

    /// Reads the block a [`BackendRef`] points at; `Ok(None)` when the
    /// backend was defaulted rather than written in the file.
    pub fn backend<T: DeserializeOwned>(
        &self,
        backend: &BackendRef,
    ) -> Result<Option<T>, ConfigError> {
        match &backend.section {
            Some(path) => self.section(path),
            None => Ok(None),
        }
    }

    /// An error about this document, optionally at a 1-based line.
    pub fn invalid(&self, line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.clone(),
            line,
            column: None,
            message: message.into(),
        }
    }

    fn parse<T, S>(&self, seed: S) -> Result<Option<T>, ConfigError>
    where
        S: for<'de> DeserializeSeed<'de, Value = Option<T>>,
    {
        if self.text.trim().is_empty() {
            return Ok(None);
        }
        let (text, resolver) =
            Resolver::prepare(&self.text, self.env.as_ref()).map_err(|(offset, error)| {
                let before = &self.text[..offset];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                ConfigError::Invalid {
                    origin: self.origin.clone(),
                    line: Some(line),
                    column: Some(column),
                    message: error.to_string(),
                }
            })?;
        self.check_syntax(&text)?;
        let deserializer = serde_norway::Deserializer::from_str(&text);
        seed.deserialize(Interpolating {
            inner: deserializer,
            env: &resolver,
        })
        .map_err(|error| self.yaml_error(&error))
    }

    /// Reads the whole document once before anything is interpreted, so that
    /// a syntax error is reported as one, where the parser stopped, rather
    /// than as whatever type error the part before it happens to produce.
    fn check_syntax(&self, text: &str) -> Result<(), ConfigError> {
        let Err(error) = IgnoredAny::deserialize(serde_norway::Deserializer::from_str(text)) else {
            return Ok(());
        };
        let (line, column, message) = match error.location() {
            Some(location) => (
                location.line(),
                location.column(),
                syntax_message(&error.to_string()),
            ),
            None if error.to_string().contains("more than one document") => (
                second_document_line(text),
                1,
                "the file holds more than one YAML document (a `---` line starts a second one); keep the whole configuration in one document".to_owned(),
            ),
            None => (1, 1, format!("YAML syntax error: {error}")),
        };
        Err(ConfigError::Invalid {
            origin: self.origin.clone(),
            line: Some(line),
            column: Some(column),
            message,
        })
    }

    fn yaml_error(&self, error: &serde_norway::Error) -> ConfigError {
        let text = error.to_string();
        let (line, column, message) = match error.location() {
            Some(location) => {
                let message = text
                    .rfind(" at line ")
                    .map_or(text.as_str(), |at| &text[..at]);
                (
                    Some(location.line()),
                    Some(location.column()),
                    message.to_owned(),
                )
            }
            None => (None, None, text.clone()),
        };
        ConfigError::Invalid {
            origin: self.origin.clone(),
            line,
            column,
            message,
        }
    }
}

const BYTE_ORDER_MARK: char = '\u{FEFF}';

/// `YAML syntax error: ...` from the parser's text: the first ` at line L
/// column C` is the position reported separately; later ones (where the
/// unclosed construct started) are kept in words.
fn syntax_message(text: &str) -> String {
    let mut message = String::from("YAML syntax error: ");
    let mut rest = text;
    let mut first = true;
    while let Some(at) = rest.find(" at line ") {
        let Some((line, column, after)) = line_and_column(&rest[at + " at line ".len()..]) else {
            break;
        };
        message.push_str(&rest[..at]);
        if !first {
            message.push_str(&format!(" that starts at line {line}, column {column}"));
        }
        first = false;
        rest = after;
    }
    message.push_str(rest);
    message.push_str(
        "; check that every `[`, `{` and quote is closed and that the keys of one mapping are indented alike",
    );
    message
}

/// `L column C` at the start of `text`, and what follows.
fn line_and_column(text: &str) -> Option<(&str, &str, &str)> {
    let digits = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let line_end = digits(text);
    let after_line = text[line_end..].strip_prefix(" column ")?;
    let column_end = digits(after_line);
    if line_end == 0 || column_end == 0 {
        return None;
    }
    Some((
        &text[..line_end],
        &after_line[..column_end],
        &after_line[column_end..],
    ))
}

/// The 1-based line of the `---` that starts a second document.
fn second_document_line(text: &str) -> usize {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if (trimmed == "---" || trimmed.starts_with("--- ")) && seen_content {
            return index + 1;
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "---" {
            seen_content = true;
        }
    }
    1
}

/// Deserializes the value found at a key path of the root mapping.
struct PathSeed<'p, T> {
    keys: &'p [&'p str],
    target: std::marker::PhantomData<T>,
}

impl<'p, T> PathSeed<'p, T> {
    fn new(keys: &'p [&'p str]) -> Self {
        Self {
            keys,
            target: std::marker::PhantomData,
        }
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PathSeed<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.keys.split_first() {
            None => T::deserialize(deserializer).map(Some),
            Some((first, rest)) => deserializer.deserialize_map(PathVisitor::<T> {
                key: first,
                rest,
                target: std::marker::PhantomData,
            }),
        }
    }
}

struct PathVisitor<'p, T> {
    key: &'p str,
    rest: &'p [&'p str],
    target: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PathVisitor<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mapping containing `{}`", self.key)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.key && found.is_none() {
                found = map.next_value_seed(PathSeed::<T>::new(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The top-level keys connect-core reads (or, for `extensions`, keeps free
/// for partner code, read with `section("extensions.x")`).
const CORE_KEYS: &[&str] = &[
    "connector-name",
    "listeners",
    "event-queue",
    "runtime",
    "routes",
    "extensions",
];

/// connect-core's part of the top of the file. Other blocks are skipped
/// here, named in [`ConnectorConfig::sections`] and read by the layers
/// above through [`ConfigDocument::section`].
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // `extensions` exists only to check that it is a block
struct RootFile {
    connector_name: ConnectorName,
    #[serde(default)]
    listeners: Option<ListenersFile>,
    #[serde(default)]
    event_queue: Option<KindOnly>,
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
    routes: Routes,
    #[serde(default)]
    extensions: Option<IgnoredAny>,
}

/// The top-level keys of the file, in order; values are skipped.
struct TopKeys(Vec<String>);

impl<'de> Deserialize<'de> for TopKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = TopKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of configuration blocks")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Ok(TopKeys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// The `listeners` block as connect-core reads it: the CT queue's `type`.
/// The webhook listeners' blocks (`fluent-webhook`, `external-webhook`)
/// are read, strictly, by connect-webhook; here they are only allowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ListenersFile {
    #[serde(default)]
    ct_queue: Option<KindOnly>,
    #[serde(default, rename = "fluent-webhook")]
    _fluent_webhook: Option<IgnoredAny>,
    #[serde(default, rename = "external-webhook")]
    _external_webhook: Option<IgnoredAny>,
}

/// The `type` of a backend block; its other keys are checked by the backend.
#[derive(Deserialize)]
struct KindOnly {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    _rest: BTreeMap<String, IgnoredAny>,
}

/// A validated connector name: lowercase letters and `-`.
struct ConnectorName(String);

impl<'de> Deserialize<'de> for ConnectorName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if valid {
            Ok(Self(name))
        } else {
            Err(serde::de::Error::custom(format_args!(
                "connector-name `{name}` is invalid: use lowercase letters a-z and `-` only, e.g. `commercetools-connector`"
            )))
        }
    }
}

/// The route list; a route defined twice is an error.
struct Routes(Vec<RouteConfig>);

impl<'de> Deserialize<'de> for Routes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RoutesVisitor;
        impl<'de> Visitor<'de> for RoutesVisitor {
            type Value = Routes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of routes (`- route: ...`)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Routes, A::Error> {
                let mut routes: Vec<RouteConfig> = Vec::new();
                while let Some(route) = seq.next_element::<RouteConfig>()? {
                    if let Some(first) = routes.iter().position(|r| r.route == route.route) {
                        return Err(serde::de::Error::custom(format_args!(
                            "route `{}` is defined twice (entries {} and {}); each route name must be unique",
                            route.route,
                            first + 1,
                            routes.len() + 1
                        )));
                    }
                    routes.push(route);
                }
                if routes.is_empty() {
                    return Err(serde::de::Error::custom(
                        "`routes` is empty; add at least one `- route: ... handler: ...` entry",
                    ));
                }
                Ok(Routes(routes))
            }
        }
        deserializer.deserialize_seq(RoutesVisitor)
    }
}

/// connect-core's part of the configuration file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectorConfig {
    /// `connector-name`: lowercase letters and `-`.
    pub connector_name: String,
    /// `routes`: each route and its handler.
    pub routes: Vec<RouteConfig>,
    /// The names of the other top-level blocks, in file order (e.g.
    /// `commercetools`, `fluent`, `route-mapping`, `observability`): the
    /// layers above read them with [`ConfigDocument::section`] and refuse
    /// the ones nobody reads with [`ConfigDocument::check_sections`].
    pub sections: Vec<String>,
    /// `runtime`: workers, retries, dead letters, shutdown.
    pub runtime: RuntimeConfig,
    /// `listeners.ct-queue`: where raw commercetools payloads arrive.
    pub ct_queue: BackendRef,
    /// `event-queue`: where connect messages wait for their handler.
    pub event_queue: BackendRef,
}

impl ConnectorConfig {
    /// A configuration with one route and in-memory queues, for code and
    /// tests that build their connector without a file.
    pub fn new(connector_name: impl Into<String>, routes: Vec<RouteConfig>) -> Self {
        Self {
            connector_name: connector_name.into(),
            routes,
            sections: Vec::new(),
            runtime: RuntimeConfig::default(),
            ct_queue: BackendRef::in_memory(),
            event_queue: BackendRef::in_memory(),
        }
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.route == name)
    }

    /// The first problem the types cannot express, with the node it is about.
    fn problems(&self) -> Result<(), Problem> {
        for (index, route) in self.routes.iter().enumerate() {
            self.route_problems(index, route)?;
        }
        self.runtime.problems()
    }

    fn route_problems(&self, index: usize, route: &RouteConfig) -> Result<(), Problem> {
        let props = |key: &str| {
            vec![
                Step::key("routes"),
                Step::Index(index),
                Step::key("props"),
                Step::key(key),
            ]
        };
        for key in route.props.keys() {
            if is_inclusion_filter_typo(key) {
                return Err(Problem::at_key(
                    props(key),
                    format!(
                        "`{key}` is not `{INCLUSION_FILTER}`: as written route `{}` would accept every event type; write `{INCLUSION_FILTER}:` (on the route next to `handler:`, or under `props` as Fluent's Java connect-sdk does)",
                        route.route
                    ),
                ));
            }
        }
        let Some(list) = &route.inclusion_filter else {
            return Ok(());
        };
        let mut path = vec![Step::key("routes"), Step::Index(index)];
        if route.filter_under_props {
            path.push(Step::key("props"));
        }
        path.push(Step::key(INCLUSION_FILTER));
        if list.is_empty() {
            return Err(Problem::at(
                path,
                format!(
                    "route `{}`: `{INCLUSION_FILTER}` is empty, so the route would filter out every message; list the event types to handle, e.g. [ResourceCreated, ResourceUpdated], or remove the key to accept every event type",
                    route.route
                ),
            ));
        }
        Ok(())
    }
}

/// `routes[0].props.on-delete` → `routes`, 0, `props`, `on-delete`.
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, mut rest) = segment
            .split_once('[')
            .map_or((segment, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            steps.push(Step::key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            match index.parse() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => steps.push(Step::key(index)),
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    steps
}

/// `true` for a props key that is almost certainly a misplaced, misspelt
/// `inclusion-filter` (`inclusion_filter`, `inclusionFilter`,
/// `inclusion-filters`, `inclusion-filtr`, ...).
fn is_inclusion_filter_typo(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    folded == "inclusionfilter" || edit_distance(key, INCLUSION_FILTER) <= 2
}

/// `250ms`, `30s`, `5m`: a duration as the file writes it.
fn written(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(3_600_000) && millis > 0 {
        format!("{}h", millis / 3_600_000)
    } else if millis.is_multiple_of(60_000) && millis > 0 {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1_000) {
        format!("{}s", millis / 1_000)
    } else {
        format!("{millis}ms")
    }
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteConfig {
    /// The route name messages carry in [`Message::route`](crate::Message::route).
    pub route: String,
    /// The registered handler name (see `connect handlers`).
    pub handler: String,
    /// `inclusion-filter:` the event types the route handles; the router
    /// acknowledges messages of other event types as filtered. `None` (the
    /// key left out) handles every event type; an empty list is refused.
    #[serde(default, deserialize_with = "event_types")]
    pub inclusion_filter: Option<Vec<String>>,
    /// Free-form properties handed to the handler.
    #[serde(default)]
    pub props: serde_json::Map<String, serde_json::Value>,
    /// Overrides whether queued messages for one resource may be handled once
    /// (default: what the handler declares).
    #[serde(default)]
    pub coalesce: Option<bool>,
    /// `true` when the file wrote the inclusion filter under `props`, as
    /// Fluent's Java connect-sdk does.
    #[serde(skip)]
    filter_under_props: bool,
}

impl RouteConfig {
    /// A route with no props.
    pub fn new(route: impl Into<String>, handler: impl Into<String>) -> Self {
        Self {
            route: route.into(),
            handler: handler.into(),
            inclusion_filter: None,
            props: serde_json::Map::new(),
            coalesce: None,
            filter_under_props: false,
        }
    }

    /// Where the file wrote the inclusion filter, relative to the route:
    /// `inclusion-filter`, or `props.inclusion-filter` for the form of
    /// Fluent's Java connect-sdk. For errors that point at it, e.g.
    /// `format!("routes[{index}].{}[0]", route.inclusion_filter_key())`.
    pub fn inclusion_filter_key(&self) -> &'static str {
        if self.filter_under_props {
            "props.inclusion-filter"
        } else {
            INCLUSION_FILTER
        }
    }

    /// Sets one prop.
    #[must_use]
    pub fn with_prop(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.props.insert(key.into(), value);
        self
    }

    /// Sets the [`inclusion_filter`](Self::inclusion_filter).
    #[must_use]
    pub fn with_inclusion_filter<I, S>(mut self, event_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inclusion_filter = Some(event_types.into_iter().map(Into::into).collect());
        self
    }
}

/// The key of a route's inclusion filter in the file.
pub const INCLUSION_FILTER: &str = "inclusion-filter";

/// Reads `inclusion-filter`: a list of strings, or an error saying so.
fn event_types<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    struct EventTypes;
    impl<'de> Visitor<'de> for EventTypes {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of event types, e.g. [ResourceCreated, ResourceUpdated]")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(event_type) = seq.next_element::<String>()? {
                list.push(event_type);
            }
            Ok(list)
        }
    }
    deserializer.deserialize_seq(EventTypes).map(Some)
}

/// Which backend a queue or store uses, and where its block is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRef {
    /// The `type` written in the file, e.g. `in-memory`, `sqs`, `file`.
    pub kind: String,
    /// The dotted path of the block, or `None` when defaulted.
    pub section: Option<String>,
}

impl BackendRef {
    /// The in-memory backend, not written in the file.
    pub fn in_memory() -> Self {
        Self {
            kind: "in-memory".to_owned(),
            section: None,
        }
    }

    fn at(kind: String, section: &str) -> Self {
        Self {
            kind,
            section: Some(section.to_owned()),
        }
    }
}

/// The `in-memory` queue block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MemoryQueueConfig {
    /// Always `in-memory`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Items the queue holds before senders wait (backpressure).
    #[serde(default = "default_capacity")]
    pub capacity: usize,
}

impl Default for MemoryQueueConfig {
    fn default() -> Self {
        Self {
            kind: None,
            capacity: default_capacity(),
        }
    }
}

fn default_capacity() -> usize {
    10_000
}

/// The default `runtime.startup-timeout`.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `runtime.startup-timeout` accepted.
pub const MAX_STARTUP_TIMEOUT: Duration = Duration::from_secs(600);

/// The `runtime` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RuntimeConfig {
    /// Messages handled at the same time.
    pub concurrency: usize,
    /// Messages held at once (in flight plus waiting for their resource);
    /// defaults to four times `concurrency`.
    pub prefetch: Option<usize>,
    /// Attempts before a retryable failure is dead-lettered.
    pub max_attempts: u32,
    /// Backoff between attempts.
    pub backoff: BackoffConfig,
    /// How a dependency that is down is probed (see [`BreakerConfig`]).
    pub circuit_breaker: BreakerConfig,
    /// How long shutdown waits for in-flight messages before returning them
    /// to their queue.
    #[serde(deserialize_with = "duration::deserialize")]
    pub shutdown_timeout: Duration,
    /// How long an unattended start (`connect run`, `connect backfill`, a
    /// job) keeps retrying a refused login or an unreachable dependency,
    /// with backoff, before it gives up (`0s`: try once).
    #[serde(deserialize_with = "duration::deserialize")]
    pub startup_timeout: Duration,
    /// Where failed messages go (`type: in-memory`, `type: file` with `path`).
    #[serde(deserialize_with = "deserialize_dead_letter")]
    pub dead_letter: BackendRef,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            prefetch: None,
            max_attempts: 5,
            backoff: BackoffConfig::default(),
            circuit_breaker: BreakerConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            dead_letter: BackendRef::in_memory(),
        }
    }
}

impl RuntimeConfig {
    fn problems(&self) -> Result<(), Problem> {
        let path = |keys: &[&str]| {
            std::iter::once("runtime")
                .chain(keys.iter().copied())
                .map(Step::key)
                .collect::<Vec<_>>()
        };
        if self.concurrency == 0 {
            return Err(Problem::at(
                path(&["concurrency"]),
                "`concurrency` must be at least 1 (messages handled at once), e.g. 32",
            ));
        }
        if self.max_attempts == 0 {
            return Err(Problem::at(
                path(&["max-attempts"]),
                "`max-attempts` must be at least 1 (1 = never retry), e.g. 5",
            ));
        }
        if self.prefetch == Some(0) {
            return Err(Problem::at(
                path(&["prefetch"]),
                "`prefetch` must be at least 1; leave it out for four times `concurrency`",
            ));
        }
        if self.startup_timeout > MAX_STARTUP_TIMEOUT {
            return Err(Problem::at(
                path(&["startup-timeout"]),
                format!(
                    "`startup-timeout` is {}, but it must be at most {}: it bounds how long a start retries a refused login or an unreachable dependency before it exits; e.g. startup-timeout: 30s (0s tries once)",
                    written(self.startup_timeout),
                    written(MAX_STARTUP_TIMEOUT)
                ),
            ));
        }
        let backoff = &self.backoff;
        if !(backoff.multiplier.is_finite() && backoff.multiplier >= 1.0) {
            return Err(Problem::at(
                path(&["backoff", "multiplier"]),
                format!(
                    "`multiplier` is {}, but it must be a number of at least 1 (1 keeps the delay constant, 2 doubles it per attempt)",
                    backoff.multiplier
                ),
            ));
        }
        if backoff.initial > backoff.max {
            return Err(Problem::at(
                path(&["backoff", "initial"]),
                format!(
                    "`initial` ({}) is longer than `max` ({}), so no delay could grow; make `initial` shorter than `max`, e.g. initial: 200ms with max: 60s",
                    written(backoff.initial),
                    written(backoff.max)
                ),
            ));
        }
        let breaker = &self.circuit_breaker;
        if breaker.initial.is_zero() {
            return Err(Problem::at(
                path(&["circuit-breaker", "initial"]),
                "`initial` must be longer than 0, or a dependency that is down would be probed without pause; e.g. initial: 1s",
            ));
        }
        if breaker.initial > breaker.max {
            return Err(Problem::at(
                path(&["circuit-breaker", "initial"]),
                format!(
                    "`initial` ({}) is longer than `max` ({}); make `initial` shorter than `max`, e.g. initial: 1s with max: 60s",
                    written(breaker.initial),
                    written(breaker.max)
                ),
            ));
        }
        Ok(())
    }
}

fn deserialize_dead_letter<'de, D: Deserializer<'de>>(d: D) -> Result<BackendRef, D::Error> {
    KindOnly::deserialize(d).map(|k| BackendRef::at(k.kind, "runtime.dead-letter"))
}

/// The `runtime.backoff` block: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BackoffConfig {
    /// Delay before the second attempt.
    #[serde(deserialize_with = "duration::deserialize")]
    pub initial: Duration,
    /// Upper bound of any delay (a `Retry-After` hint may exceed it up to
    /// `max-retry-after`).
    #[serde(deserialize_with = "duration::deserialize")]
    pub max: Duration,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// The longest `Retry-After` hint honoured.
    #[serde(deserialize_with = "duration::deserialize")]
    pub max_retry_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// The `runtime.circuit-breaker` block: when a dependency fails
/// systemically (refused credentials, connection refused, an outage that
/// outlasts the client's retries), intake pauses and one message probes the
/// dependency after `initial`, then after twice as long each time it is
/// still down, at most `max`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BreakerConfig {
    /// Delay before the first probe.
    #[serde(deserialize_with = "duration::deserialize")]
    pub initial: Duration,
    /// The longest delay between two probes.
    #[serde(deserialize_with = "duration::deserialize")]
    pub max: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// The `file` dead-letter block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileDeadLetterConfig {
    /// Always `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON-lines file dead letters are appended to.
    pub path: PathBuf,
}

/// A configuration error: what is wrong, where, and what to do.
///
/// `Debug` shows the same text as `Display` (plus any cause it does not
/// already name), so `fn main() -> Result<(), Box<dyn Error>>` and tests
/// that return errors print the hint, not the enum's fields.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file `{}`: {source}", path.display())]
    Read {
        /// The path that was read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not valid.
    #[error("{}", display_invalid(origin, *line, *column, message))]
    Invalid {
        /// The file name.
        origin: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and what to do.
        message: String,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::write_with_causes(self, f)
    }
}

impl ConfigError {
    /// The 1-based line of the problem, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { line, .. } => *line,
            Self::Read { .. } => None,
        }
    }
}

fn display_invalid(
    origin: &str,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{origin}:{line}:{column}: {message}"),
        (Some(line), None) => format!("{origin}:{line}: {message}"),
        _ => format!("{origin}: {message}"),
    }
}
