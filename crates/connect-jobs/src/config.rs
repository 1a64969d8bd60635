//! The `jobs:` list and the `state:` block of the configuration file.
//!
//! ```yaml
//! jobs:
//!   - job: customer-delta                 # a-z, 0-9, '-'
//!     handler: CommercetoolsDeltaScan     # a registered job handler
//!     schedule: every 15m                 # or a 5-field cron expression, UTC
//!     props: { resource: customer, overlap: 2m }
//! state:
//!   type: file                            # the default; or fluent-setting
//!   path: ./connect-state.json
//! ```

use std::fmt;
use std::path::PathBuf;

use connect_core::config::{ConfigDocument, ConfigError};
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::registry::{JobRegistry, missing_message};
use crate::schedule::Schedule;
use crate::state::file::DEFAULT_STATE_PATH;
use crate::state::{FileStateStore, FluentSettingStore, SettingContext, StateError, StateStore};

/// The top-level keys this crate reads (for
/// [`ConfigDocument::check_sections`]).
pub const SECTIONS: &[&str] = &["jobs", "state"];

/// One entry of `jobs:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobConfig {
    /// `job`: the job's name (a-z, 0-9 and `-`).
    #[serde(deserialize_with = "job_name")]
    pub job: String,
    /// `handler`: a registered job handler name.
    pub handler: String,
    /// `schedule`: when it runs.
    pub schedule: Schedule,
    /// `props`: free-form, handed to the handler.
    #[serde(default)]
    pub props: serde_json::Map<String, serde_json::Value>,
}

impl JobConfig {
    /// A job with no props.
    pub fn new(job: impl Into<String>, handler: impl Into<String>, schedule: Schedule) -> Self {
        Self {
            job: job.into(),
            handler: handler.into(),
            schedule,
            props: serde_json::Map::new(),
        }
    }

    /// Sets one prop.
    #[must_use]
    pub fn with_prop(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.props.insert(key.into(), value);
        self
    }
}

/// Where job state lives (`state:`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateConfig {
    /// `type: file`: one JSON file (the default).
    File {
        /// `path`, default `./connect-state.json`.
        path: PathBuf,
    },
    /// `type: fluent-setting`: a JSON Setting per job in Fluent.
    FluentSetting {
        /// `context`: ACCOUNT (default) or RETAILER.
        context: SettingContext,
        /// `name-prefix`, default `connect.job.`.
        name_prefix: Option<String>,
    },
}

impl Default for StateConfig {
    fn default() -> Self {
        Self::File {
            path: PathBuf::from(DEFAULT_STATE_PATH),
        }
    }
}

impl StateConfig {
    /// Opens the store this block describes. `fluent` is the connector's
    /// Fluent client (from the `fluent:` block), needed by
    /// `type: fluent-setting` only.
    pub fn open(
        &self,
        fluent: Option<&connect_fluent::FluentClient>,
    ) -> Result<std::sync::Arc<dyn StateStore>, StateError> {
        match self {
            Self::File { path } => Ok(std::sync::Arc::new(FileStateStore::new(path))),
            Self::FluentSetting {
                context,
                name_prefix,
            } => {
                let Some(client) = fluent else {
                    return Err(StateError::InvalidSetting {
                        setting: "state".to_owned(),
                        message: "`type: fluent-setting` keeps job state in Fluent, but the file has no `fluent:` block; add it, or use `type: file`".to_owned(),
                    });
                };
                let mut store = FluentSettingStore::new(client.clone(), *context)?;
                if let Some(prefix) = name_prefix {
                    store = store.with_name_prefix(prefix.clone());
                }
                Ok(std::sync::Arc::new(store))
            }
        }
    }
}

/// The jobs of a connector and where their state lives.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct JobsConfig {
    /// `jobs:`, in file order (empty when absent).
    pub jobs: Vec<JobConfig>,
    /// `state:` (the file store when absent).
    pub state: StateConfig,
}

impl JobsConfig {
    /// Reads `jobs:` and `state:` from `doc`, strictly: unknown keys, bad
    /// names, schedules and duplicate jobs are errors with their line.
    pub fn from_document(doc: &ConfigDocument) -> Result<Self, ConfigError> {
        let jobs = doc
            .section::<Jobs>("jobs")?
            .map(|j| j.0)
            .unwrap_or_default();
        let state = match doc.section::<StateFile>("state")? {
            None => StateConfig::default(),
            Some(file) => file.into_config(doc)?,
        };
        Ok(Self { jobs, state })
    }

    /// Checks that every job's handler is registered in `registry`; the
    /// error is at the `handler:` line and names the registered job
    /// handlers.
    pub fn check_handlers(
        &self,
        doc: &ConfigDocument,
        registry: &JobRegistry,
    ) -> Result<(), ConfigError> {
        for (index, job) in self.jobs.iter().enumerate() {
            if !registry.contains(&job.handler) {
                return Err(doc.error_at(
                    &format!("jobs[{index}].handler"),
                    format!(
                        "job `{}`: {}",
                        job.job,
                        missing_message(&job.handler, &registry.names())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The job named `name`.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|job| job.job == name)
    }
}

/// `jobs:`; a job defined twice is an error.
struct Jobs(Vec<JobConfig>);

impl<'de> Deserialize<'de> for Jobs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JobsVisitor;
        impl<'de> Visitor<'de> for JobsVisitor {
            type Value = Jobs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of jobs (`- job: ... handler: ... schedule: ...`)")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Jobs, E> {
                Ok(Jobs(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Jobs, A::Error> {
                let mut jobs: Vec<JobConfig> = Vec::new();
                while let Some(job) = seq.next_element::<JobConfig>()? {
                    if let Some(first) = jobs.iter().position(|j| j.job == job.job) {
                        return Err(serde::de::Error::custom(format_args!(
                            "job `{}` is defined twice (entries {} and {}); each job name must be unique",
                            job.job,
                            first + 1,
                            jobs.len() + 1
                        )));
                    }
                    jobs.push(job);
                }
                Ok(Jobs(jobs))
            }
        }
        deserializer.deserialize_seq(JobsVisitor)
    }
}

fn job_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    connect_core::config::text_where(deserializer, |name| {
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(())
        } else {
            Err(format!(
                "job name `{name}` is invalid: use lowercase letters a-z, digits and `-` only, e.g. `customer-delta`"
            ))
        }
    })
}

/// `state:` as written; the combination of keys is checked afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StateFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    name_prefix: Option<String>,
}

impl StateFile {
    fn into_config(self, doc: &ConfigDocument) -> Result<StateConfig, ConfigError> {
        let only = |key: &str, kind: &str| {
            doc.error_at_key(
                &format!("state.{key}"),
                format!(
                    "`{key}` belongs to `type: {kind}`, not `type: {}`; remove it",
                    self.kind
                ),
            )
        };
        match self.kind.as_str() {
            "file" => {
                if self.context.is_some() {
                    return Err(only("context", "fluent-setting"));
                }
                if self.name_prefix.is_some() {
                    return Err(only("name-prefix", "fluent-setting"));
                }
                let path = self
                    .path
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_PATH));
                if path.as_os_str().is_empty() {
                    return Err(doc.error_at(
                        "state.path",
                        "`path` is empty; write a file name such as ./connect-state.json",
                    ));
                }
                Ok(StateConfig::File { path })
            }
            "fluent-setting" => {
                if self.path.is_some() {
                    return Err(only("path", "file"));
                }
                let context = match self.context.as_deref() {
                    None | Some("ACCOUNT") => SettingContext::Account,
                    Some("RETAILER") => SettingContext::Retailer,
                    Some(other) => {
                        return Err(doc.error_at(
                            "state.context",
                            format!("`context: {other}` is not a context job state can use; write ACCOUNT (the default) or RETAILER"),
                        ));
                    }
                };
                if self.name_prefix.as_deref().is_some_and(str::is_empty) {
                    return Err(doc.error_at(
                        "state.name-prefix",
                        "`name-prefix` is empty; leave it out for `connect.job.` or write a prefix",
                    ));
                }
                Ok(StateConfig::FluentSetting {
                    context,
                    name_prefix: self.name_prefix,
                })
            }
            other => Err(doc.error_at(
                "state.type",
                format!("`type: {other}` is not a state store; write `file` or `fluent-setting`"),
            )),
        }
    }
}
