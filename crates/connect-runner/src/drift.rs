//! Drift: where Fluent no longer matches commercetools under a route's
//! mapping, found with a dry-run backfill, and fixed with a real one.

use std::collections::BTreeMap;
use std::time::Duration;

use connect_commercetools::Query;
use connect_commercetools::sync::ResourceSync;
use connect_core::dead_letter::DeadLetter;
use connect_core::runtime::Shutdown;
use connect_fluent::dry_run::{FieldChange, PlannedKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backfill::{BackfillOptions, BackfillSummary};
use crate::connector::Connector;
use crate::error::RunnerError;

/// Resources per `id in (...)` backfill of [`Connector::fix_drift`].
const FIX_BATCH: usize = 100;

/// How one resource drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// In commercetools, not in Fluent.
    Missing,
    /// In both, with the same commercetools version (or none) in Fluent,
    /// but some mapped field differs (Fluent was changed outside the
    /// connector, or the mapping changed).
    Differs,
    /// Fluent holds an older commercetools version than commercetools has,
    /// and some mapped field differs (an update was missed).
    Stale,
    /// In Fluent (written by the connector: it carries the commercetools
    /// id), but no longer in commercetools.
    OnlyInFluent,
}

impl DriftKind {
    /// `missing`, `differs`, `stale` or `only-in-fluent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Differs => "differs",
            Self::Stale => "stale",
            Self::OnlyInFluent => "only-in-fluent",
        }
    }

    /// Every kind, in report order.
    pub const ALL: [Self; 4] = [
        Self::Missing,
        Self::Differs,
        Self::Stale,
        Self::OnlyInFluent,
    ];
}

/// One drifted resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftEntry {
    /// How it drifted.
    pub kind: DriftKind,
    /// The commercetools id.
    pub resource_id: Option<String>,
    /// The Fluent ref.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commercetools version (not for only-in-Fluent).
    pub version: Option<u64>,
    /// The commercetools version Fluent holds, when it says.
    pub written_version: Option<u64>,
    /// What differs, field by field (old is Fluent's, new is what the
    /// route's mapping makes of commercetools).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// What a drift check found.
#[derive(Debug, Clone)]
pub struct DriftReport {
    /// The resource type id, e.g. `customer`.
    pub type_id: String,
    /// Its plural, e.g. `customers`.
    pub plural: String,
    /// commercetools resources compared.
    pub scanned: u64,
    /// Fluent entities paged through for only-in-Fluent ones; `None` when
    /// this resource type has no such check (only customers have one).
    pub fluent_scanned: Option<u64>,
    /// Every drifted resource, by kind then ref.
    pub entries: Vec<DriftEntry>,
    /// Resources the comparison could not map or read (in memory only).
    pub failed: Vec<DeadLetter>,
    /// How long it took.
    pub elapsed: Duration,
}

impl DriftReport {
    /// How many resources drifted this way.
    pub fn count(&self, kind: DriftKind) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }

    /// `true` when nothing drifted and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.entries.is_empty() && self.failed.is_empty()
    }

    /// The commercetools ids `--fix` sends through the route: missing,
    /// differing and stale resources.
    pub fn fixable_ids(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.kind != DriftKind::OnlyInFluent)
            .filter_map(|e| e.resource_id.clone())
            .collect()
    }
}

/// What [`Connector::fix_drift`] did: the summaries of its backfills.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftFix {
    /// Resources sent through the route.
    pub sent: u64,
    /// Created in Fluent.
    pub created: u64,
    /// Updated in Fluent.
    pub updated: u64,
    /// Already up to date when handled.
    pub unchanged: u64,
    /// Failed (in the dead-letter store).
    pub failed: u64,
}

#[derive(Deserialize)]
struct CustomersPage {
    customers: Option<Connection>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    #[serde(default)]
    edges: Vec<Edge>,
    page_info: Option<PageInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: Option<bool>,
}

#[derive(Deserialize)]
struct Edge {
    cursor: Option<String>,
    node: Option<Node>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(rename = "ref")]
    reference: Option<String>,
    retailer: Option<Retailer>,
    #[serde(default)]
    attributes: Option<Vec<NodeAttribute>>,
}

#[derive(Deserialize)]
struct Retailer {
    id: Option<Value>,
}

#[derive(Deserialize)]
struct NodeAttribute {
    name: String,
    value: Value,
}

/// One page of Fluent customers, with what identifies their commercetools
/// counterpart.
const CUSTOMERS_PAGE: &str = "query DriftCustomers($first: Int, $after: String) { customers(first: $first, after: $after) { edges { cursor node { ref retailer { id } attributes { name value } } } pageInfo { hasNextPage } } }";

impl Connector {
    /// Compares every commercetools resource of `resource` with Fluent
    /// under its route's mapping, on a connector built with
    /// [`ConnectorBuilder::dry_run`](crate::ConnectorBuilder::dry_run)
    /// (use [`DryRun::changes_only`](connect_fluent::dry_run::DryRun::changes_only)
    /// so memory grows with the drift, not the project): a dry-run
    /// backfill classifies each resource (a would-be create is missing, a
    /// would-be update differs, or is stale when Fluent holds an older
    /// commercetools version), then Fluent's entities are paged through,
    /// one page in memory, each page's commercetools ids looked up in one
    /// query, for the ones only in Fluent (customers only).
    pub async fn drift(
        &self,
        resource: &str,
        options: BackfillOptions,
        shutdown: Shutdown,
    ) -> Result<DriftReport, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let sync = *self
            .plan()
            .syncs()
            .find(resource)
            .ok_or_else(|| RunnerError::Backend {
                origin: origin.clone(),
                message: self.plan().syncs().unknown(resource),
            })?;
        let page_size = options.page_size;
        let started = std::time::Instant::now();
        let dry = self
            .dry_run_backfill(sync.plural, options, shutdown.clone(), |_| {})
            .await?;
        let mut entries: Vec<DriftEntry> = dry
            .writes
            .into_iter()
            .filter_map(|write| {
                let kind = match write.kind {
                    PlannedKind::Create => DriftKind::Missing,
                    PlannedKind::Update
                        if write.written_version.is_some_and(|w| w < write.version) =>
                    {
                        DriftKind::Stale
                    }
                    PlannedKind::Update => DriftKind::Differs,
                    PlannedKind::Unchanged | PlannedKind::Stale => return None,
                };
                Some(DriftEntry {
                    kind,
                    resource_id: write.resource_id,
                    reference: write.reference,
                    version: Some(write.version),
                    written_version: write.written_version,
                    changes: write.changes,
                })
            })
            .collect();
        let fluent_scanned = if sync.type_id == "customer" && !shutdown.is_triggered() {
            Some(
                self.customers_only_in_fluent(&sync, page_size, &mut entries)
                    .await?,
            )
        } else {
            None
        };
        entries.sort_by(|a, b| (a.kind, &a.reference).cmp(&(b.kind, &b.reference)));
        let mut failed = dry.failed;
        failed.extend(dry.not_dry_runnable);
        Ok(DriftReport {
            type_id: sync.type_id.to_owned(),
            plural: sync.plural.to_owned(),
            scanned: dry.summary.scanned,
            fluent_scanned,
            entries,
            failed,
            elapsed: started.elapsed(),
        })
    }

    /// Pages through the Fluent customers of `fluent.retailer-id` that carry
    /// a commercetools id (`<attribute-prefix>id`), looks each page's ids up
    /// in commercetools with one `id in (...)` query, and adds the ones
    /// commercetools no longer has. Returns how many Fluent customers were
    /// read.
    async fn customers_only_in_fluent(
        &self,
        sync: &ResourceSync,
        page_size: u32,
        entries: &mut Vec<DriftEntry>,
    ) -> Result<u64, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let missing_client = |name: &str| RunnerError::Backend {
            origin: origin.clone(),
            message: format!("drift reads {name}: add the `{name}:` block"),
        };
        let fluent = self.fluent().ok_or_else(|| missing_client("fluent"))?;
        let commercetools = self
            .commercetools()
            .ok_or_else(|| missing_client("commercetools"))?;
        let route = self
            .plan()
            .translator()
            .route_for(sync.type_id)
            .unwrap_or(sync.route)
            .to_owned();
        let prefix = self
            .config()
            .route(&route)
            .and_then(|r| r.props.get("attribute-prefix"))
            .and_then(Value::as_str)
            .unwrap_or("commercetools.")
            .to_owned();
        let id_attribute = format!("{prefix}id");
        let retailer = fluent.retailer_id().to_owned();
        let mut after: Option<String> = None;
        let mut read = 0u64;
        loop {
            let page: CustomersPage = fluent
                .graphql(
                    CUSTOMERS_PAGE,
                    &serde_json::json!({ "first": page_size, "after": after }),
                )
                .await?;
            let Some(connection) = page.customers else {
                break;
            };
            let has_next = connection
                .page_info
                .and_then(|p| p.has_next_page)
                .unwrap_or(false);
            let mut ours: BTreeMap<String, String> = BTreeMap::new();
            let mut last_cursor = None;
            for edge in connection.edges {
                last_cursor = edge.cursor.or(last_cursor);
                let Some(node) = edge.node else { continue };
                read += 1;
                let same_retailer = node
                    .retailer
                    .and_then(|r| r.id)
                    .is_some_and(|id| id_text(&id) == retailer);
                let ct_id = node
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .find(|a| a.name == id_attribute)
                    .and_then(|a| a.value.as_str().map(str::to_owned));
                if let (true, Some(ct_id), Some(reference)) = (same_retailer, ct_id, node.reference)
                {
                    ours.insert(ct_id, reference);
                }
            }
            if !ours.is_empty() {
                let ids: Vec<String> = ours.keys().map(|id| quoted(id)).collect();
                let limit = u32::try_from(ours.len()).unwrap_or(u32::MAX).min(500);
                let query = Query::new()
                    .predicate(format!("id in ({})", ids.join(", ")))
                    .limit(limit)
                    .with_total(false);
                let found = commercetools.query_json(sync.endpoint, &query).await?;
                for resource in found.results {
                    if let Some(id) = resource.get("id").and_then(Value::as_str) {
                        ours.remove(id);
                    }
                }
                entries.extend(ours.into_iter().map(|(id, reference)| DriftEntry {
                    kind: DriftKind::OnlyInFluent,
                    resource_id: Some(id),
                    reference,
                    version: None,
                    written_version: None,
                    changes: Vec::new(),
                }));
            }
            match (has_next, last_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        Ok(read)
    }

    /// Sends the missing, differing and stale resources of `report`
    /// through their route: backfills restricted to `id in (...)`, 100 ids
    /// each, on this (writing) connector, so the route's retries, circuit
    /// breakers and dead-letter store apply as in any backfill.
    /// Only-in-Fluent entities are not touched (see docs/operations.md).
    pub async fn fix_drift(
        &self,
        report: &DriftReport,
        shutdown: Shutdown,
    ) -> Result<DriftFix, RunnerError> {
        let mut fix = DriftFix::default();
        let ids = report.fixable_ids();
        for batch in ids.chunks(FIX_BATCH) {
            if shutdown.is_triggered() {
                break;
            }
            let quoted: Vec<String> = batch.iter().map(|id| quoted(id)).collect();
            let options = BackfillOptions {
                predicate: Some(format!("id in ({})", quoted.join(", "))),
                ..BackfillOptions::default()
            };
            let summary: BackfillSummary = self
                .backfill(&report.plural, options, shutdown.clone(), |_| {})
                .await?;
            fix.sent += summary.scanned;
            fix.created += summary.created;
            fix.updated += summary.updated;
            fix.unchanged += summary.unchanged;
            fix.failed += summary.failed;
        }
        Ok(fix)
    }
}

/// A commercetools predicate string literal.
fn quoted(id: &str) -> String {
    format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\""))
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_quoted_for_predicates() {
        assert_eq!(quoted("a-1"), "\"a-1\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(id_text(&serde_json::json!(12)), "12");
        assert_eq!(id_text(&serde_json::json!("12")), "12");
    }
}
