//! What both tests share: the Fluent location schema the connector uses
//! (a subset written from Fluent's public GraphQL reference, served by the
//! Fluent emulator as a partner extension), its resolvers, and the YAML.
#![allow(dead_code, clippy::expect_used)]

use connect_sdk::testkit::fluent::{ResolverError, SchemaExtension};
use serde_json::{Map, Value, json};

/// Fluent's `Location` subset.
pub(crate) const LOCATION_SDL: &str = "
type Location { id: ID!  ref: String!  type: String!  status: String  name: String  attributes: [Attribute] }
type LocationEdge { node: Location  cursor: String }
type LocationConnection { edges: [LocationEdge]  pageInfo: PageInfo }
input CreateLocationInput { ref: String!  type: String!  name: String!  retailer: RetailerId!  attributes: [AttributeInput] }
input UpdateLocationInput { id: ID!  type: String  name: String  attributes: [AttributeInput] }
extend type Query {
  location(ref: String!): Location
  locations(first: Int, after: String): LocationConnection
}
extend type Mutation {
  createLocation(input: CreateLocationInput!): Location
  updateLocation(input: UpdateLocationInput!): Location
}
";

/// A `ref` longer than this is refused with `C0400E`.
pub(crate) const MAX_REF: usize = 100;

fn store(state: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let locations = state.entry("locations").or_insert_with(|| json!({}));
    locations.as_object_mut().expect("locations is an object")
}

/// The SDL with resolvers keeping locations by ref in the emulator's
/// extension state (`extension_value("locations")`).
pub(crate) fn locations_extension() -> SchemaExtension {
    SchemaExtension::new(LOCATION_SDL)
        .query("location", |args, state| {
            let reference = args["ref"].as_str().unwrap_or_default();
            Ok(store(state).get(reference).cloned().unwrap_or(Value::Null))
        })
        .query("locations", |args, state| {
            let first = args["first"].as_u64().unwrap_or(100) as usize;
            let after = args["after"].as_str().unwrap_or("");
            let all: Vec<&Value> = store(state)
                .iter()
                .filter(|(reference, _)| reference.as_str() > after)
                .map(|(_, location)| location)
                .collect();
            let edges: Vec<Value> = all
                .iter()
                .take(first)
                .map(|l| json!({ "node": l, "cursor": l["ref"] }))
                .collect();
            Ok(json!({ "edges": edges, "pageInfo": { "hasNextPage": all.len() > first } }))
        })
        .mutation("createLocation", |args, state| {
            let input = &args["input"];
            let reference = input["ref"].as_str().unwrap_or_default();
            if reference.is_empty() || reference.len() > MAX_REF {
                return Err(ResolverError::new(
                    "C0400E",
                    format!("ref must be 1 to {MAX_REF} characters"),
                ));
            }
            let locations = store(state);
            if locations.contains_key(reference) {
                return Err(ResolverError::new(
                    "C0409E",
                    format!("location {reference} exists"),
                ));
            }
            let location = json!({
                "id": (locations.len() + 1).to_string(), "ref": reference, "type": input["type"],
                "status": "ACTIVE", "name": input["name"], "attributes": input["attributes"],
            });
            locations.insert(reference.to_owned(), location.clone());
            Ok(location)
        })
        .mutation("updateLocation", |args, state| {
            let input = &args["input"];
            let location = store(state)
                .values_mut()
                .find(|l| l["id"] == input["id"])
                .ok_or_else(|| {
                    ResolverError::new("C0404E", format!("no location {}", input["id"]))
                })?;
            for field in ["name", "type"] {
                if !input[field].is_null() {
                    location[field] = input[field].clone();
                }
            }
            for attribute in input["attributes"].as_array().into_iter().flatten() {
                let attributes = location["attributes"].as_array_mut().expect("attributes");
                attributes.retain(|a| a["name"] != attribute["name"]);
                attributes.push(attribute.clone());
            }
            Ok(location.clone())
        })
}

/// The connector's file; `{dead_letter}` is the `runtime.dead-letter` block.
pub(crate) fn yaml(dead_letter: &str) -> String {
    format!(
        "connector-name: partner-channels
commercetools:
  project-key: ${{CT_PROJECT_KEY}}
  client-id: ${{CT_CLIENT_ID}}
  client-secret: ${{CT_CLIENT_SECRET}}
  auth-url: ${{CT_AUTH_URL}}
  api-url: ${{CT_API_URL}}
fluent:
  base-url: ${{FLUENT_BASE_URL}}
  account: ${{FLUENT_ACCOUNT}}
  retailer-id: ${{FLUENT_RETAILER_ID}}
  client-id: ${{FLUENT_CLIENT_ID}}
  client-secret: ${{FLUENT_CLIENT_SECRET}}
  username: ${{FLUENT_USERNAME}}
  password: ${{FLUENT_PASSWORD}}
locations:
  location-type: STORE
  locale: en
route-mapping:
  channel: partner.connect.channel.upsert
routes:
  - route: partner.connect.channel.upsert
    handler: PartnerChannelUpsert
runtime:
  max-attempts: 2
{dead_letter}
"
    )
}

/// A channel draft named `name` in English.
pub(crate) fn channel(key: &str, name: &str) -> Value {
    json!({ "key": key, "roles": ["InventorySupply"], "name": { "en": name, "de": format!("{name} (de)") } })
}

/// The location of `reference` in the emulator's state.
pub(crate) fn location(
    fluent: &connect_sdk::testkit::fluent::FluentEmulator,
    reference: &str,
) -> Option<Value> {
    fluent.extension_value("locations")?.get(reference).cloned()
}
