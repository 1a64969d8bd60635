//! The `route-mapping:` block: which route each commercetools resource type
//! goes to, read once into the [`SubscriptionTranslator`] and checked
//! against the routes and the commercetools names, with the file, line and
//! column of every mistake.

use std::collections::BTreeMap;

use connect_core::config::{ConfigDocument, ConfigError, ConnectorConfig, did_you_mean, nearest};

use crate::names;
use crate::translator::SubscriptionTranslator;

/// The top-level key of the block.
pub const ROUTE_MAPPING: &str = "route-mapping";

impl SubscriptionTranslator {
    /// A translator with the document's `route-mapping` (none when the
    /// block is absent), checked against `config`'s routes:
    ///
    /// - every key is a commercetools resource type id, every value a route;
    /// - a route that receives commercetools payloads filters only
    ///   commercetools event types (a near miss gets a suggestion); other
    ///   routes receive webhooks or messages handlers publish, whose event
    ///   types are free and not checked here.
    ///
    /// ```
    /// use connect_commercetools::SubscriptionTranslator;
    /// use connect_core::config::ConfigDocument;
    ///
    /// let yaml = "connector-name: x\nroute-mapping:\n  custmer: r\nroutes:\n  - route: r\n    handler: H\n";
    /// let doc = ConfigDocument::from_yaml("app.yml", yaml);
    /// let error = SubscriptionTranslator::from_document(&doc, &doc.connector()?).unwrap_err();
    /// assert!(error.to_string().starts_with("app.yml:3:3: route-mapping: `custmer` is not a commercetools resource type id"));
    /// # Ok::<(), connect_core::config::ConfigError>(())
    /// ```
    pub fn from_document(
        doc: &ConfigDocument,
        config: &ConnectorConfig,
    ) -> Result<Self, ConfigError> {
        let mapping: BTreeMap<String, String> = doc.section(ROUTE_MAPPING)?.unwrap_or_default();
        check_mapping(doc, config, &mapping)?;
        for (index, route) in config.routes.iter().enumerate() {
            // Only routes fed by commercetools payloads filter commercetools
            // event types; the others receive webhooks or messages handlers
            // publish, whose event types are theirs to name.
            if mapping.values().any(|r| *r == route.route) {
                check_event_types(doc, index, route)?;
            }
        }
        Ok(Self::new(mapping))
    }
}

fn check_mapping(
    doc: &ConfigDocument,
    config: &ConnectorConfig,
    mapping: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let known: Vec<&str> = config.routes.iter().map(|r| r.route.as_str()).collect();
    for (type_id, route) in mapping {
        let path = format!("{ROUTE_MAPPING}.{type_id}");
        if !names::is_resource_type_id(type_id) {
            return Err(doc.error_at_key(
                &path,
                format!(
                    "`{type_id}` is not a commercetools resource type id (route-mapping keys are the `resource.typeId` of subscription payloads, e.g. `customer`, `order` or `product`){}",
                    did_you_mean(type_id, names::RESOURCE_TYPE_IDS.iter().copied())
                ),
            ));
        }
        if config.route(route).is_none() {
            return Err(doc.error_at(
                &path,
                format!(
                    "`{type_id}` maps to `{route}`, which is not defined under `routes` (defined routes: {}){}",
                    known.join(", "),
                    did_you_mean(route, known.iter().copied())
                ),
            ));
        }
    }
    Ok(())
}

fn check_event_types(
    doc: &ConfigDocument,
    index: usize,
    route: &connect_core::RouteConfig,
) -> Result<(), ConfigError> {
    let Some(list) = &route.inclusion_filter else {
        return Ok(());
    };
    for (position, event_type) in list.iter().enumerate() {
        let event_type = event_type.as_str();
        if names::is_event_type(event_type) {
            continue;
        }
        let path = format!(
            "routes[{index}].{}[{position}]",
            route.inclusion_filter_key()
        );
        let suggestion = nearest(event_type, names::event_types())
            .map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
        return Err(doc.error_at(
            &path,
            format!(
                "`{event_type}` is not a commercetools notification or Message type (change notifications are ResourceCreated, ResourceUpdated and ResourceDeleted; Messages are named like CustomerCreated or CustomerEmailChanged){suggestion}"
            ),
        ));
    }
    Ok(())
}
