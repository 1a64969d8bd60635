//! The bundled job handler `CommercetoolsDeltaScan`: every resource of one
//! type changed since the last run, through its normal route.
//!
//! ```yaml
//! jobs:
//!   - job: customer-delta
//!     handler: CommercetoolsDeltaScan
//!     schedule: every 15m
//!     props: { resource: customer, overlap: 2m, page-size: 500 }
//! ```
//!
//! - `resource`: the type id or plural of a registered sync (`customer`,
//!   `customers`, `category`, ...).
//! - `overlap` (default `2m`): how far before the checkpoint each run
//!   starts, so that a write commercetools committed with a slightly
//!   earlier `lastModifiedAt` than one already seen is not missed.
//! - `page-size` (default 500, 1 to 500): resources per commercetools
//!   request.
//!
//! A run scans `lastModifiedAt >= "<checkpoint − overlap>"` sorted by
//! `lastModifiedAt asc, id asc` (keyset paging on both, each page checked
//! to ascend), and streams each resource as one message through the
//! resource's route with the in-process runtime a backfill uses: the
//! route's handler, retries, circuit breakers and dead-letter store. It
//! never calls a handler itself. An unchanged resource costs one read of
//! the target and no write (the bundled handlers skip no-op writes).
//!
//! The checkpoint, `{ "lastModifiedAt": "...", "id": "..." }`, is the key
//! of the last resource of the contiguous settled prefix: it advances only
//! over resources whose handling finished, saved at most every
//! [`CHECKPOINT_EVERY`](crate::CHECKPOINT_EVERY) and at the end, so a run
//! that dies rescans from the last settled point (minus the overlap). A
//! run that finds nothing changed leaves it where it was.
//!
//! Without a checkpoint (the first run, or after `connect job reset <job>`
//! without `--since`), a run scans every resource of the type from the
//! beginning: a full load in `lastModifiedAt` order. `connect job reset
//! <job> --since <time>` stores `{ "lastModifiedAt": "<time>", "id": null }`
//! instead, and the next run scans from `<time>` minus the overlap.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connect_commercetools::sync::{ResourceSync, SyncRegistry, outcome};
use connect_commercetools::{ScanKey, ScanOrder};
use connect_core::async_trait;
use connect_jobs::{JobContext, JobError, JobHandler, JobOutcome, JobSetup, JobSetupError};
use serde::{Deserialize, Serialize};

use crate::backfill::{Advance, FeedCheck, FeedSpec, RouteFeed};

/// The default `overlap` prop.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(120);

/// The default `page-size` prop.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// The props a `CommercetoolsDeltaScan` job accepts.
const PROPS: &[&str] = &["resource", "overlap", "page-size"];

/// The checkpoint of a delta scan: the key of the last resource of the
/// contiguous settled prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeltaCheckpoint {
    /// Its `lastModifiedAt`.
    pub last_modified_at: DateTime<Utc>,
    /// Its id (`null` after `connect job reset --since`).
    #[serde(default)]
    pub id: Option<String>,
}

impl DeltaCheckpoint {
    /// A checkpoint at `last_modified_at` (and `id`).
    pub fn new(last_modified_at: DateTime<Utc>, id: Option<String>) -> Self {
        Self {
            last_modified_at,
            id,
        }
    }

    /// Reads a stored checkpoint: this shape, or a bare RFC 3339 time.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        if let Some(text) = value.as_str() {
            return DateTime::parse_from_rfc3339(text)
                .map(|t| Self::new(t.with_timezone(&Utc), None))
                .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"));
        }
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())
    }

    fn value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The bundled job handler `CommercetoolsDeltaScan` (see the [module
/// documentation](self)): every resource of one type changed since the
/// last run, through the resource's route, with a checkpoint that
/// advances only over settled messages. It needs the [`RouteFeed`]
/// service: build the scheduler with
/// [`Connector::job_services`](crate::Connector::job_services).
#[derive(Debug)]
pub struct CommercetoolsDeltaScan {
    sync: ResourceSync,
    overlap: Duration,
    page_size: u32,
    /// `None` when built only to check the props (no connector yet).
    feed: Option<Arc<RouteFeed>>,
}

impl CommercetoolsDeltaScan {
    /// Builds the job from its props; a setup error names the prop and the
    /// allowed values.
    pub fn from_setup(setup: &JobSetup<'_>) -> Result<Self, JobSetupError> {
        if let Some(unknown) = setup.props().keys().find(|k| !PROPS.contains(&k.as_str())) {
            return Err(setup.error(format!(
                "unknown prop `{unknown}`{}; the props are {}",
                connect_core::config::did_you_mean(unknown, PROPS.iter().copied()),
                PROPS
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let feed = setup.services().get::<RouteFeed>();
        let check = match &feed {
            Some(feed) => feed.check(),
            None => {
                let check = setup.services().get::<FeedCheck>().ok_or_else(|| {
                    setup.error(
                        "no route feed among the job services: build the scheduler with `Connector::job_services()`",
                    )
                })?;
                FeedCheck::clone(&check)
            }
        };
        let resource: String = setup.prop("resource")?.ok_or_else(|| {
            setup.error(format!(
                "props.resource is missing; name the resources to scan: {}",
                names(&check.syncs)
            ))
        })?;
        let sync = *check.syncs.find(&resource).ok_or_else(|| {
            setup.error(format!(
                "props.resource `{resource}` is not a registered sync{}; the registered ones are {}",
                connect_core::config::did_you_mean(&resource, check.syncs.names()),
                names(&check.syncs)
            ))
        })?;
        let overlap = match setup.prop::<String>("overlap")? {
            None => DEFAULT_OVERLAP,
            Some(text) => connect_core::config::parse_duration(&text)
                .map_err(|e| setup.error(format!("props.overlap: {e}")))?,
        };
        let page_size = setup.prop::<u32>("page-size")?.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=connect_commercetools::MAX_LIMIT).contains(&page_size) {
            return Err(setup.error(format!(
                "props.page-size {page_size} is out of range; use 1 to {}",
                connect_commercetools::MAX_LIMIT
            )));
        }
        // The route must exist now, not at the first run.
        check
            .route_of(&sync)
            .map_err(|e| setup.error(e.to_string()))?;
        Ok(Self {
            sync,
            overlap,
            page_size,
            feed,
        })
    }

    /// Where a run with `last` as its checkpoint starts: `last − overlap`,
    /// or the beginning without one.
    pub fn since(&self, last: Option<&DeltaCheckpoint>) -> Option<DateTime<Utc>> {
        let overlap = chrono::Duration::from_std(self.overlap).unwrap_or(chrono::Duration::MAX);
        last.map(|c| {
            c.last_modified_at
                .checked_sub_signed(overlap)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        })
    }
}

fn names(syncs: &SyncRegistry) -> String {
    syncs
        .syncs()
        .iter()
        .map(|s| format!("`{}` (`{}`)", s.type_id, s.plural))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Saves the job's checkpoint as the settled prefix advances.
struct JobSaver<'c, 'a> {
    ctx: &'c JobContext<'a>,
}

#[async_trait]
impl Advance for JobSaver<'_, '_> {
    async fn advanced(&mut self, through: &ScanKey) {
        let Some(at) = through.last_modified_at else {
            return;
        };
        let checkpoint = DeltaCheckpoint::new(at, Some(through.id.clone()));
        if let Err(error) = self.ctx.checkpoint(checkpoint.value()).await {
            tracing::warn!(job = %self.ctx.name(), %error, "cannot save the delta checkpoint; retrying at the next advance");
        }
    }
}

#[async_trait]
impl JobHandler for CommercetoolsDeltaScan {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        let plural = self.sync.plural;
        let last = match ctx.last_checkpoint() {
            None => None,
            Some(checkpoint) => Some(DeltaCheckpoint::from_value(&checkpoint.value).map_err(|e| {
                JobError::failed(format!(
                    "job `{}`: the stored checkpoint is not a delta checkpoint ({e}); set one with `connect job reset {} --since <time>`",
                    ctx.name(),
                    ctx.name()
                ))
            })?),
        };
        let since = self.since(last.as_ref());
        match since {
            Some(since) => {
                tracing::info!(job = %ctx.name(), resource = plural, since = %since, "delta scan starts");
            }
            None => {
                tracing::info!(job = %ctx.name(), resource = plural, "delta scan starts from the beginning: no checkpoint yet");
            }
        }
        let feed = self.feed.as_ref().ok_or_else(|| {
            JobError::failed(
                "this delta scan was built only to check its props; build the scheduler with `Connector::job_services()` to run it",
            )
        })?;
        let client = feed
            .require_commercetools(plural)
            .map_err(JobError::failed)?;
        let route = feed.route_of(&self.sync).map_err(JobError::failed)?;
        let spec = FeedSpec {
            sync: &self.sync,
            route,
            scan: self.sync.scan_modified(&client, since, self.page_size),
            order: ScanOrder::LastModified,
            after: None,
            source: "delta-scan",
            total: None,
            progress_every: Duration::from_secs(5),
            gauges: false,
            checkpoint_every: crate::CHECKPOINT_EVERY,
        };
        let mut saver = JobSaver { ctx };
        let fed = feed
            .feed(spec, ctx.stop().clone(), &mut |_| {}, &mut saver)
            .await
            .map_err(JobError::failed)?;
        // The settled prefix, however the run ended.
        if let Some(through) = &fed.done_through
            && let Some(at) = through.last_modified_at
        {
            ctx.checkpoint(DeltaCheckpoint::new(at, Some(through.id.clone())).value())
                .await?;
        }
        let m = &fed.metrics;
        let summary = format!(
            "scanned {} {plural}: created {}, updated {}, unchanged {}, failed {}",
            fed.scanned,
            m.outcome(outcome::CREATED),
            m.outcome(outcome::UPDATED),
            m.outcome(outcome::UNCHANGED),
            m.dead_lettered,
        );
        if let Some(refused) = fed.refused {
            return Err(JobError::failed(refused));
        }
        if let Some(error) = fed.scan_error {
            return Err(JobError::failed(format!("{error} ({summary})")));
        }
        if fed.stopped {
            return Err(JobError::Stopped);
        }
        tracing::info!(job = %ctx.name(), %summary, "delta scan finished");
        Ok(JobOutcome::summary(summary))
    }

    fn checkpoint_since(&self, since: DateTime<Utc>) -> serde_json::Value {
        DeltaCheckpoint::new(since, None).value()
    }
}

connect_jobs::register_job!("CommercetoolsDeltaScan", CommercetoolsDeltaScan::from_setup);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_its_own_shape_and_a_bare_time() {
        let at: DateTime<Utc> = "2024-03-01T10:00:00.123Z".parse().unwrap_or_default();
        let checkpoint = DeltaCheckpoint::new(at, Some("c-1".to_owned()));
        let value = checkpoint.value();
        assert_eq!(
            value,
            serde_json::json!({ "lastModifiedAt": "2024-03-01T10:00:00.123Z", "id": "c-1" })
        );
        assert_eq!(DeltaCheckpoint::from_value(&value), Ok(checkpoint));
        assert_eq!(
            DeltaCheckpoint::from_value(&serde_json::json!("2024-03-01T10:00:00.123Z")),
            Ok(DeltaCheckpoint::new(at, None))
        );
        assert!(DeltaCheckpoint::from_value(&serde_json::json!({ "done": 1 })).is_err());
    }
}
