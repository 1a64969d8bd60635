//! Dry-run backfills: what a backfill would write to Fluent, writing
//! nothing.

use std::sync::Arc;

use connect_core::dead_letter::DeadLetter;
use connect_core::runtime::Shutdown;
use connect_fluent::dry_run::{DryRun, PlannedKind, PlannedWrite};

use crate::backfill::{BackfillOptions, BackfillProgress, BackfillSummary};
use crate::connector::Connector;
use crate::error::RunnerError;

/// The text the Fluent client's dry-run refusal starts with
/// ([`connect_fluent::Error::DryRun`]).
const REFUSED: &str = "dry run: `";

/// What a dry-run backfill found.
#[derive(Debug, Clone)]
pub struct DryRunReport {
    /// The backfill's summary (its `created` / `updated` count what would
    /// be created or updated).
    pub summary: BackfillSummary,
    /// Every planned write (and, with [`DryRun::new`], every unchanged or
    /// stale one), sorted by entity and ref.
    pub writes: Vec<PlannedWrite>,
    /// Resources whose handling would fail (the dead letters a real run
    /// would write; in a dry run they were kept in memory).
    pub failed: Vec<DeadLetter>,
    /// Resources whose handler sent a Fluent mutation outside
    /// `connect_fluent::upsert`: refused, so what it would write is
    /// unknown.
    pub not_dry_runnable: Vec<DeadLetter>,
}

impl DryRunReport {
    /// How many planned writes are of `kind`.
    pub fn count(&self, kind: PlannedKind) -> usize {
        self.writes.iter().filter(|w| w.kind == kind).count()
    }
}

impl Connector {
    /// The dry-run plan of a connector built with
    /// [`ConnectorBuilder::dry_run`](crate::ConnectorBuilder::dry_run).
    pub fn dry_run_plan(&self) -> Option<Arc<DryRun>> {
        self.fluent().and_then(|fluent| fluent.dry_run().cloned())
    }

    /// [`backfill`](Self::backfill) on a connector built with
    /// [`ConnectorBuilder::dry_run`](crate::ConnectorBuilder::dry_run):
    /// every resource goes through its route as usual, with 0 Fluent
    /// mutations, and the report says what would be created, updated
    /// (field by field) or left unchanged, and what would fail.
    pub async fn dry_run_backfill(
        &self,
        resource: &str,
        options: BackfillOptions,
        shutdown: Shutdown,
        progress: impl FnMut(&BackfillProgress) + Send,
    ) -> Result<DryRunReport, RunnerError> {
        let plan = self.dry_run_plan().ok_or_else(|| RunnerError::Backend {
            origin: self.plan().document().origin().to_owned(),
            message: "a dry run needs a connector built with ConnectorBuilder::dry_run and a `fluent:` block".to_owned(),
        })?;
        let summary = self.backfill(resource, options, shutdown, progress).await?;
        let mut writes = plan.take();
        writes.sort_by(|a, b| (&a.entity, &a.reference).cmp(&(&b.entity, &b.reference)));
        let (not_dry_runnable, failed) = self
            .dead_letters()
            .list()
            .await?
            .into_iter()
            .partition(|letter| letter.error.contains(REFUSED));
        Ok(DryRunReport {
            summary,
            writes,
            failed,
            not_dry_runnable,
        })
    }
}
