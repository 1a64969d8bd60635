//! [`FluentSettingStore`]: one JSON Setting per job in Fluent, as Fluent's
//! Java SDK keeps its job state.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use connect_fluent::FluentClient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{JobState, Lease, StateError, StateStore};
use crate::clock::{Clock, to_chrono};

/// The default `state.name-prefix`.
pub const DEFAULT_NAME_PREFIX: &str = "connect.job.";

/// How long [`FluentSettingStore::try_acquire`] waits between writing a
/// lease and reading it back, by default.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// Reads one setting by name in one context.
pub const SETTING_BY_NAME: &str =
    "query JobSetting($name: [String], $context: [String], $contextId: [Int]) {
  settings(name: $name, context: $context, contextId: $contextId, first: 10) {
    edges { node { id name valueType value lobValue context contextId } }
  }
}";

/// Creates a setting.
pub const CREATE_SETTING: &str = "mutation CreateJobSetting($input: CreateSettingInput!) {
  createSetting(input: $input) { id name }
}";

/// Updates a setting, by id.
pub const UPDATE_SETTING: &str = "mutation UpdateJobSetting($input: UpdateSettingInput!) {
  updateSetting(input: $input) { id name }
}";

/// The Fluent context a job's settings live in (`state.context`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SettingContext {
    /// The account (`contextId` 0), the default.
    #[default]
    Account,
    /// The retailer of `fluent.retailer-id` (`contextId` = its id).
    Retailer,
}

impl SettingContext {
    /// `ACCOUNT` or `RETAILER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "ACCOUNT",
            Self::Retailer => "RETAILER",
        }
    }
}

/// Each job's state as a JSON Setting in Fluent (`state: { type:
/// fluent-setting, context: ACCOUNT | RETAILER, name-prefix: ... }`): no
/// infrastructure beyond the Fluent account, as in Fluent's Java SDK.
///
/// - The state of job `j` is the Setting `{prefix}j` (`valueType: JSON`,
///   the state in `lobValue`), its lease the Setting `{prefix}j.lease`, in
///   the ACCOUNT context (`contextId` 0) or the RETAILER context (the
///   retailer id of the client). Each write reads the setting first
///   (`settings(name:, context:, contextId:)`), then `createSetting` when
///   it is absent or `updateSetting` with its `id`.
/// - **What the lease guarantees, and what it does not.** Fluent has no
///   compare-and-set on settings: a write cannot be made conditional on
///   what it overwrites. Acquiring is therefore *compare, write, wait,
///   verify*: read the lease; when it is free (absent, released or
///   expired) write a record with a fresh token; wait `settle` (default
///   1 s); read it back and hold the lease only if the token is still ours.
///   Two replicas racing for a free lease both write, and the later write
///   wins for both readers, **as long as each replica's read-back comes
///   after the other's write**, i.e. their read-to-write gaps are shorter
///   than `settle`. A replica paused longer than that between its read and
///   its write (a long GC-like stall, a very slow Fluent call) can still
///   overlap with another. A create racing a create is decided by Fluent
///   itself when it refuses a second setting with the same name and
///   context. Checkpoints are only written after checking that the lease
///   is still ours, with the same caveat. For a strict guarantee, trigger
///   jobs through an SQS FIFO queue (one message group per job: a
///   message in flight blocks the group, and its visibility timeout,
///   extended by the runner's heartbeat, is the lease) or use the `file`
///   store on one host.
#[derive(Debug)]
pub struct FluentSettingStore {
    client: FluentClient,
    context: SettingContext,
    context_id: i64,
    prefix: String,
    settle: Duration,
    clock: Clock,
    ids: Mutex<HashMap<String, String>>,
}

/// One setting as read.
struct Stored {
    id: String,
    value: Option<Value>,
}

#[derive(Deserialize)]
struct SettingsData {
    settings: Option<Connection>,
}

#[derive(Deserialize)]
struct Connection {
    #[serde(default)]
    edges: Vec<Edge>,
}

#[derive(Deserialize)]
struct Edge {
    node: Option<SettingNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingNode {
    id: Value,
    name: Option<String>,
    value: Option<String>,
    lob_value: Option<Value>,
}

impl FluentSettingStore {
    /// A store using `client`, in `context`. For the RETAILER context the
    /// client's retailer id must be a number.
    pub fn new(client: FluentClient, context: SettingContext) -> Result<Self, StateError> {
        let context_id = match context {
            SettingContext::Account => 0,
            SettingContext::Retailer => {
                client
                    .retailer_id()
                    .trim()
                    .parse()
                    .map_err(|_| StateError::InvalidSetting {
                        setting: "state.context".to_owned(),
                        message: format!(
                            "the RETAILER context needs a numeric `fluent.retailer-id`, not `{}`; use `context: ACCOUNT` or fix the id",
                            client.retailer_id()
                        ),
                    })?
            }
        };
        Ok(Self {
            client,
            context,
            context_id,
            prefix: DEFAULT_NAME_PREFIX.to_owned(),
            settle: DEFAULT_SETTLE,
            clock: Clock::system(),
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// Names settings `{prefix}{job}` (default [`DEFAULT_NAME_PREFIX`]).
    #[must_use]
    pub fn with_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait between writing a lease and reading it back (see
    /// the type's documentation).
    #[must_use]
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Reads lease expiry from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The setting holding the state of `job`.
    pub fn state_setting(&self, job: &str) -> String {
        format!("{}{job}", self.prefix)
    }

    /// The setting holding the lease of `job`.
    pub fn lease_setting(&self, job: &str) -> String {
        format!("{}{job}.lease", self.prefix)
    }

    fn fluent(&self, setting: &str) -> impl FnOnce(connect_fluent::Error) -> StateError {
        let setting = setting.to_owned();
        move |source| StateError::Fluent { setting, source }
    }

    async fn read(&self, name: &str) -> Result<Option<Stored>, StateError> {
        let data: SettingsData = self
            .client
            .graphql(
                SETTING_BY_NAME,
                &json!({
                    "name": [name],
                    "context": [self.context.as_str()],
                    "contextId": [self.context_id],
                }),
            )
            .await
            .map_err(self.fluent(name))?;
        let mut nodes: Vec<SettingNode> = data
            .settings
            .map(|c| c.edges)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|edge| edge.node)
            .filter(|node| node.name.as_deref() == Some(name))
            .collect();
        // Should Fluent ever hold two, the oldest (lowest id) is the one.
        nodes.sort_by_key(|node| id_text(&node.id).parse::<u64>().unwrap_or(u64::MAX));
        let Some(node) = nodes.into_iter().next() else {
            self.ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(name);
            return Ok(None);
        };
        let id = id_text(&node.id);
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), id.clone());
        let value = match (node.lob_value, node.value) {
            (Some(value), _) if !value.is_null() => Some(value),
            (_, Some(text)) if !text.trim().is_empty() => Some(
                serde_json::from_str(&text).map_err(|error| StateError::InvalidSetting {
                    setting: name.to_owned(),
                    message: format!("its value is not JSON: {error}"),
                })?,
            ),
            _ => None,
        };
        Ok(Some(Stored { id, value }))
    }

    /// Writes `value` to setting `name`: an update when `id` is known,
    /// else a create.
    async fn write(&self, name: &str, id: Option<&str>, value: &Value) -> Result<(), StateError> {
        let mut input = json!({
            "name": name,
            "valueType": "JSON",
            "lobValue": value,
            "context": self.context.as_str(),
            "contextId": self.context_id,
        });
        match id {
            Some(id) => {
                input["id"] = Value::String(id.to_owned());
                self.client
                    .graphql_value(UPDATE_SETTING, &json!({ "input": input }))
                    .await
                    .map_err(self.fluent(name))?;
            }
            None => {
                let data = self
                    .client
                    .graphql_value(CREATE_SETTING, &json!({ "input": input }))
                    .await
                    .map_err(self.fluent(name))?;
                if let Some(id) = data.pointer("/createSetting/id") {
                    self.ids
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.to_owned(), id_text(id));
                }
            }
        }
        Ok(())
    }

    async fn read_lease(&self, job: &str) -> Result<(Option<String>, Option<Lease>), StateError> {
        let name = self.lease_setting(job);
        match self.read(&name).await? {
            None => Ok((None, None)),
            Some(stored) => {
                let lease = stored
                    .value
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    .map(|v| {
                        serde_json::from_value::<Lease>(v).map_err(|error| {
                            StateError::InvalidSetting {
                                setting: name.clone(),
                                message: format!("it is not a lease record: {error}"),
                            }
                        })
                    })
                    .transpose()?;
                Ok((Some(stored.id), lease))
            }
        }
    }

    /// The lease of `job` if `lease` is the one held now.
    async fn check(&self, lease: &Lease) -> Result<String, StateError> {
        let (id, current) = self.read_lease(&lease.job).await?;
        let now = self.clock.now();
        match (id, current) {
            (Some(id), Some(current))
                if current.token == lease.token && current.expires_at > now =>
            {
                Ok(id)
            }
            (_, current) => Err(StateError::LeaseLost {
                job: lease.job.clone(),
                holder: current.filter(|c| c.expires_at > now).map(|c| c.holder),
            }),
        }
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl StateStore for FluentSettingStore {
    async fn load(&self, job: &str) -> Result<Option<JobState>, StateError> {
        let name = self.state_setting(job);
        let Some(stored) = self.read(&name).await? else {
            return Ok(None);
        };
        stored
            .value
            .map(|value| {
                serde_json::from_value(value).map_err(|error| StateError::InvalidSetting {
                    setting: name.clone(),
                    message: error.to_string(),
                })
            })
            .transpose()
    }

    async fn save(&self, job: &str, state: &JobState) -> Result<(), StateError> {
        let name = self.state_setting(job);
        let known = self
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned();
        let id = match known {
            Some(id) => Some(id),
            None => self.read(&name).await?.map(|stored| stored.id),
        };
        let value = serde_json::to_value(state).map_err(|error| StateError::InvalidSetting {
            setting: name.clone(),
            message: error.to_string(),
        })?;
        self.write(&name, id.as_deref(), &value).await
    }

    async fn save_checkpoint(&self, lease: &Lease, checkpoint: &Value) -> Result<(), StateError> {
        self.check(lease).await?;
        let mut state = self.load(&lease.job).await?.unwrap_or_default();
        state.checkpoint = Some(checkpoint.clone());
        state.checkpoint_at = Some(self.clock.now());
        self.save(&lease.job, &state).await
    }

    async fn try_acquire(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        let name = self.lease_setting(job);
        let (id, current) = self.read_lease(job).await?;
        let now = self.clock.now();
        if current.is_some_and(|lease| lease.expires_at > now) {
            return Ok(None);
        }
        let lease = Lease {
            job: job.to_owned(),
            holder: holder.to_owned(),
            token: uuid::Uuid::new_v4().to_string(),
            expires_at: now + to_chrono(ttl),
        };
        let record = serde_json::to_value(&lease).map_err(|error| StateError::InvalidSetting {
            setting: name.clone(),
            message: error.to_string(),
        })?;
        if let Err(error) = self.write(&name, id.as_deref(), &record).await {
            // A create that lost a race with another create: whoever
            // created it holds it.
            if id.is_none() && matches!(self.read_lease(job).await, Ok((Some(_), Some(_)))) {
                return Ok(None);
            }
            return Err(error);
        }
        tokio::time::sleep(self.settle).await;
        let (_, after) = self.read_lease(job).await?;
        Ok(after
            .filter(|current| current.token == lease.token)
            .map(|_| lease))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StateError> {
        let id = match self.check(lease).await {
            Ok(id) => id,
            Err(StateError::LeaseLost { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let renewed = Lease {
            expires_at: self.clock.now() + to_chrono(ttl),
            ..lease.clone()
        };
        let name = self.lease_setting(&lease.job);
        let record =
            serde_json::to_value(&renewed).map_err(|error| StateError::InvalidSetting {
                setting: name.clone(),
                message: error.to_string(),
            })?;
        self.write(&name, Some(&id), &record).await?;
        Ok(Some(renewed))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StateError> {
        let (id, current) = self.read_lease(&lease.job).await?;
        if let (Some(id), Some(current)) = (id, current)
            && current.token == lease.token
        {
            // Fluent settings are not deleted: an empty record is free.
            self.write(&self.lease_setting(&lease.job), Some(&id), &json!({}))
                .await?;
        }
        Ok(())
    }

    async fn holder(&self, job: &str) -> Result<Option<Lease>, StateError> {
        let (_, current) = self.read_lease(job).await?;
        let now = self.clock.now();
        Ok(current.filter(|lease| lease.expires_at > now))
    }

    fn describe(&self) -> String {
        format!(
            "fluent-setting {}* in {} {}",
            self.prefix,
            self.context.as_str(),
            self.context_id
        )
    }
}

impl fmt::Display for SettingContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
