//! A partner's connector on connect-sdk: commercetools channels become
//! Fluent locations. Everything here is an SDK extension point used from
//! outside the SDK: a sync with its scan (`register_sync!`), a handler
//! (`#[handler]`), a configuration block (`config_section!`) and a
//! dead-letter backend (`register_backend!`, in `jsonl_dir`).

use connect_sdk::commercetools::sync::{ResourceSync, outcome};
use connect_sdk::commercetools::{CommercetoolsClient, LocalizedString, Resource};
use std::sync::Arc;

use connect_sdk::fluent::upsert::{FluentUpsert, upsert, version_of};
use connect_sdk::fluent::{Error as FluentError, FluentClient};
use connect_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

mod jsonl_dir;

pub use jsonl_dir::{JsonlDir, JsonlDirConfig};

/// The `locations:` block: `{ location-type: STORE, locale: en }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocationsConfig {
    /// The Fluent location type of every synced channel.
    pub location_type: String,
    /// The locale the location's name is read in (then the key).
    pub locale: String,
}

connect_sdk::config_section!("locations", LocationsConfig, required);

/// What is synced: `connect backfill channels` scans `/channels` by id.
pub const CHANNEL_SYNC: ResourceSync = ResourceSync::new(
    "channel",
    "channels",
    "partner.connect.channel.upsert",
    "PartnerChannelUpsert",
)
.scopes(&["view_channels"]);

connect_sdk::commercetools::register_sync!(CHANNEL_SYNC);

/// The attribute that holds the commercetools version last written.
pub const VERSION_ATTRIBUTE: &str = "commercetools.version";
/// The attribute that holds the commercetools channel id.
pub const ID_ATTRIBUTE: &str = "commercetools.id";

/// A commercetools channel, as far as the sync reads it (its key, required
/// by commercetools, is the location's ref).
#[derive(Debug, Deserialize)]
struct Channel {
    id: String,
    version: u64,
    key: String,
    name: Option<LocalizedString>,
}

impl Resource for Channel {
    const TYPE_ID: &'static str = "channel";
    const ENDPOINT: &'static str = "channels";
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> u64 {
        self.version
    }
}

const READ: &str = "query Location($ref: String!) { location(ref: $ref) { id name type attributes { name type value } } }";
const CREATE: &str = "mutation CreateLocation($input: CreateLocationInput!) { createLocation(input: $input) { id } }";
const UPDATE: &str = "mutation UpdateLocation($input: UpdateLocationInput!) { updateLocation(input: $input) { id } }";

/// The attribute that keeps the channel version written.
fn version(channel: &Channel) -> Value {
    json!({ "name": VERSION_ATTRIBUTE, "type": "INTEGER", "value": channel.version })
}

/// Upserts the Fluent location of a commercetools channel.
#[derive(Debug)]
#[handler(name = "PartnerChannelUpsert")]
pub struct PartnerChannelUpsert {
    config: Arc<LocationsConfig>,
}

impl FromRoute for PartnerChannelUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        setup.service::<CommercetoolsClient>()?;
        setup.service::<FluentClient>()?;
        Ok(Self {
            config: setup.service()?,
        })
    }
}

#[async_trait]
impl MessageHandler for PartnerChannelUpsert {
    async fn handle(
        &self,
        ctx: &HandlerContext<'_>,
        message: &Message,
    ) -> Result<Outcome, HandlerError> {
        let id = message
            .resource_id()
            .ok_or_else(|| HandlerError::unprocessable("the message names no channel"))?;
        let ct = ctx.service::<CommercetoolsClient>()?;
        let Some(channel) = ct.find::<Channel>(id).await? else {
            return Ok(Outcome::labeled(outcome::DELETED));
        };
        // The name in the configured locale, else the key.
        let name = channel
            .name
            .as_ref()
            .and_then(|n| n.get(&self.config.locale));
        let kind = &self.config.location_type;
        let draft = LocationDraft {
            name: name.unwrap_or(&channel.key),
            kind,
            channel: &channel,
        };
        let fluent = ctx.service::<FluentClient>()?;
        Ok(Outcome::labeled(upsert(&fluent, &draft).await?.label()))
    }

    // It reads the current channel: a burst for one channel is handled once.
    fn coalesce(&self) -> bool {
        true
    }
}

/// The location a channel maps to, written with the SDK's upsert: create,
/// or update only what changed, never with an older channel version.
struct LocationDraft<'a> {
    channel: &'a Channel,
    name: &'a str,
    kind: &'a str,
}

#[async_trait]
impl FluentUpsert for LocationDraft<'_> {
    type Current = Value; // the location as Fluent returns it
    type Update = Value;
    type Error = FluentError;

    fn reference(&self) -> &str {
        &self.channel.key
    }
    fn version(&self) -> u64 {
        self.channel.version
    }
    fn written_version(&self, current: &Value) -> Option<u64> {
        let attributes = current["attributes"].as_array()?;
        let written = attributes.iter().find(|a| a["name"] == VERSION_ATTRIBUTE)?;
        version_of(&written["value"])
    }
    fn diff(&self, current: &Value) -> Option<Value> {
        let mut input = json!({ "id": current["id"], "attributes": [version(self.channel)] });
        if current["name"] != self.name {
            input["name"] = self.name.into();
        }
        if current["type"] != self.kind {
            input["type"] = self.kind.into();
        }
        (input.as_object()?.len() > 2).then_some(input) // only what changed
    }
    async fn read(&self, fluent: &FluentClient) -> Result<Option<Value>, FluentError> {
        let data = fluent
            .graphql_value(READ, &json!({ "ref": self.channel.key }))
            .await?;
        Ok(Some(data["location"].clone()).filter(|location| !location.is_null()))
    }
    async fn create(&self, fluent: &FluentClient) -> Result<(), FluentError> {
        let id = json!({ "name": ID_ATTRIBUTE, "type": "STRING", "value": self.channel.id });
        let input = json!({
            "ref": self.channel.key, "type": self.kind, "name": self.name,
            "retailer": { "id": fluent.retailer_id() }, "attributes": [id, version(self.channel)],
        });
        fluent
            .graphql_value(CREATE, &json!({ "input": input }))
            .await?;
        Ok(())
    }
    async fn update(&self, fluent: &FluentClient, update: &Value) -> Result<(), FluentError> {
        fluent
            .graphql_value(UPDATE, &json!({ "input": update }))
            .await?;
        Ok(())
    }
}

/// A job that records each of its runs in a file: a `start` line when it
/// begins and an `end` line when it ends, each with the lease holder and
/// the time (Unix microseconds), and holds the lease for `hold-ms` in
/// between (or until it is asked to stop: it then checkpoints, records
/// its end and reports that it stopped). Registered as
/// `PartnerRecordRuns`, with `props: { file: runs.log, hold-ms: 400 }`.
#[derive(Debug)]
pub struct RecordRuns {
    file: std::path::PathBuf,
    hold: std::time::Duration,
}

fn micros_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

impl RecordRuns {
    fn append(&self, line: &str) -> Result<(), connect_sdk::jobs::JobError> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(connect_sdk::jobs::JobError::failed)?;
        // One write per line: replicas append to the same file at once.
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(connect_sdk::jobs::JobError::failed)?;
        file.sync_data()
            .map_err(connect_sdk::jobs::JobError::failed)
    }
}

#[async_trait]
impl connect_sdk::jobs::JobHandler for RecordRuns {
    async fn run(
        &self,
        ctx: &connect_sdk::jobs::JobContext<'_>,
    ) -> Result<connect_sdk::jobs::JobOutcome, connect_sdk::jobs::JobError> {
        let start = micros_now();
        self.append(&format!("start {} {start}", ctx.holder()))?;
        tokio::select! {
            () = tokio::time::sleep(self.hold) => {}
            () = ctx.stop().triggered() => {}
        }
        let runs = ctx
            .last_checkpoint()
            .and_then(|c| c.value["runs"].as_u64())
            .unwrap_or(0);
        ctx.checkpoint(json!({ "runs": runs + 1, "holder": ctx.holder() }))
            .await?;
        self.append(&format!("end {} {start} {}", ctx.holder(), micros_now()))?;
        if ctx.is_stopping() {
            return Err(connect_sdk::jobs::JobError::Stopped);
        }
        Ok(connect_sdk::jobs::JobOutcome::summary(format!(
            "run {} recorded",
            runs + 1
        )))
    }
}

connect_sdk::jobs::register_job!("PartnerRecordRuns", |setup| {
    let file: Option<std::path::PathBuf> = setup.prop("file")?;
    let file = file.ok_or_else(|| {
        setup.error("`props.file` is required: the file the runs are recorded in")
    })?;
    Ok(RecordRuns {
        file,
        hold: std::time::Duration::from_millis(setup.prop("hold-ms")?.unwrap_or(400)),
    })
});
