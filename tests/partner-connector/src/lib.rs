//! A partner's connector on connect-sdk: commercetools channels become
//! Fluent locations. Everything here is an SDK extension point used from
//! outside the SDK: a sync with its scan (`register_sync!`), a handler
//! (`#[handler]`), a configuration block (`config_section!`) and a
//! dead-letter backend (`register_backend!`, in `jsonl_dir`).

use connect_sdk::commercetools::sync::{ResourceSync, outcome};
use connect_sdk::commercetools::{CommercetoolsClient, LocalizedString, Resource};
use connect_sdk::fluent::FluentClient;
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

/// A commercetools channel, as far as the sync reads it.
#[derive(Debug, Deserialize)]
pub struct Channel {
    /// The channel id.
    pub id: String,
    /// Its version.
    pub version: u64,
    /// Its key (required by commercetools): the location's ref.
    pub key: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<LocalizedString>,
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

/// A Fluent location as the sync reads it back.
#[derive(Debug, Deserialize)]
struct Location {
    id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    attributes: Vec<Value>,
}

const READ: &str = "query Location($ref: String!) { location(ref: $ref) { id name type attributes { name type value } } }";
const CREATE: &str = "mutation CreateLocation($input: CreateLocationInput!) { createLocation(input: $input) { id } }";
const UPDATE: &str = "mutation UpdateLocation($input: UpdateLocationInput!) { updateLocation(input: $input) { id } }";

/// Upserts the Fluent location of a commercetools channel.
#[derive(Debug)]
#[handler(name = "PartnerChannelUpsert")]
pub struct PartnerChannelUpsert {
    location_type: String,
    locale: String,
}

impl FromRoute for PartnerChannelUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        let config = setup.service::<LocationsConfig>()?;
        setup.service::<CommercetoolsClient>()?;
        setup.service::<FluentClient>()?;
        Ok(Self {
            location_type: config.location_type.clone(),
            locale: config.locale.clone(),
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
        let fluent = ctx.service::<FluentClient>()?;
        let label = self.upsert(&fluent, &channel).await?;
        Ok(Outcome::labeled(label))
    }

    // It reads the current channel: a burst for one channel is handled once.
    fn coalesce(&self) -> bool {
        true
    }
}

impl PartnerChannelUpsert {
    /// The location's name: the configured locale, else the key.
    fn name<'a>(&self, channel: &'a Channel) -> &'a str {
        let name = channel.name.as_ref().and_then(|n| n.get(&self.locale));
        name.unwrap_or(&channel.key)
    }

    /// Reads the location, then creates it, updates what changed, or
    /// leaves it when it is up to date or newer.
    async fn upsert(
        &self,
        fluent: &FluentClient,
        channel: &Channel,
    ) -> Result<&'static str, HandlerError> {
        #[derive(Deserialize)]
        struct Read {
            location: Option<Location>,
        }
        let read: Read = fluent.graphql(READ, &json!({ "ref": channel.key })).await?;
        let version =
            json!({ "name": VERSION_ATTRIBUTE, "type": "INTEGER", "value": channel.version });
        let name = self.name(channel);
        let Some(current) = read.location else {
            let id = json!({ "name": ID_ATTRIBUTE, "type": "STRING", "value": channel.id });
            let input = json!({
                "ref": channel.key, "type": self.location_type, "name": name,
                "retailer": { "id": fluent.retailer_id() }, "attributes": [id, version],
            });
            fluent
                .graphql_value(CREATE, &json!({ "input": input }))
                .await?;
            return Ok(outcome::CREATED);
        };
        let written = current
            .attributes
            .iter()
            .find(|a| a["name"] == VERSION_ATTRIBUTE);
        if written.and_then(|a| a["value"].as_u64()) > Some(channel.version) {
            return Ok(outcome::STALE);
        }
        let mut input = json!({ "id": current.id });
        if current.name.as_deref() != Some(name) {
            input["name"] = name.into();
        }
        if current.kind.as_deref() != Some(self.location_type.as_str()) {
            input["type"] = self.location_type.as_str().into();
        }
        if input.as_object().is_some_and(|fields| fields.len() == 1) {
            return Ok(outcome::UNCHANGED);
        }
        input["attributes"] = json!([version]);
        fluent
            .graphql_value(UPDATE, &json!({ "input": input }))
            .await?;
        Ok(outcome::UPDATED)
    }
}
