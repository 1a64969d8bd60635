//! Backfill: every commercetools customer through the customer route.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_commercetools::{CustomerQuery, CustomerScan};
use connect_core::queue::{MemoryQueue, Sink};
use connect_core::runtime::{MetricsSnapshot, Runtime, Shutdown};
use connect_core::{Message, ResourceRef};
use futures_util::StreamExt;

use crate::connector::Connector;
use crate::error::RunnerError;

/// What to backfill.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Only customers matching this commercetools predicate, e.g.
    /// `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    pub predicate: Option<String>,
    /// Customers per page (1 to 500).
    pub page_size: u32,
    /// How often progress is reported.
    pub progress_every: Duration,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            predicate: None,
            page_size: 500,
            progress_every: Duration::from_millis(250),
        }
    }
}

/// Where a backfill is.
#[derive(Debug, Clone)]
pub struct BackfillProgress {
    /// Customers read from commercetools so far.
    pub scanned: u64,
    /// How many customers match, when commercetools said.
    pub total: Option<u64>,
    /// The runtime's counters.
    pub metrics: MetricsSnapshot,
    /// Time since the start.
    pub elapsed: Duration,
}

impl BackfillProgress {
    /// Customers whose handling finished (successfully or not).
    pub fn done(&self) -> u64 {
        self.metrics.settled()
    }
}

/// What a backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSummary {
    /// Customers read from commercetools.
    pub scanned: u64,
    /// Fluent customers created.
    pub created: u64,
    /// Fluent customers updated.
    pub updated: u64,
    /// Fluent customers already up to date.
    pub unchanged: u64,
    /// Customers that failed (now in the dead-letter store).
    pub failed: u64,
    /// Every outcome label with its count.
    pub outcomes: BTreeMap<String, u64>,
    /// How long it took.
    pub elapsed: Duration,
}

impl BackfillSummary {
    /// Customers per second.
    pub fn rate(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

impl Connector {
    /// Streams every commercetools customer (cursor paging, one page in
    /// memory) through the route `route-mapping` gives `customer`, with the
    /// route's handler, concurrency, retries and dead-letter store.
    /// `progress` is called every `options.progress_every` and at the end.
    pub async fn backfill_customers(
        &self,
        options: BackfillOptions,
        mut progress: impl FnMut(&BackfillProgress) + Send,
    ) -> Result<BackfillSummary, RunnerError> {
        let origin = self.plan().document().origin().to_owned();
        let commercetools = self.commercetools().ok_or_else(|| RunnerError::Backend {
            origin: origin.clone(),
            message: "backfill reads customers from commercetools: add the `commercetools:` block"
                .to_owned(),
        })?;
        let config = self.config();
        let route_name = config
            .route_mapping
            .get("customer")
            .ok_or_else(|| RunnerError::Backend {
                origin: origin.clone(),
                message: "backfill needs `route-mapping: { customer: <route> }`".to_owned(),
            })?
            .clone();
        let route = config
            .route(&route_name)
            .ok_or_else(|| RunnerError::Backend {
                origin: origin.clone(),
                message: format!(
                    "route-mapping points `customer` at `{route_name}`, which is not a route"
                ),
            })?;
        // The event type every backfill message carries: one the route's
        // inclusion filter lets through.
        let filter = route.inclusion_filter().map_err(|e| RunnerError::Backend {
            origin: origin.clone(),
            message: e.0,
        })?;
        let event_type = match filter {
            None => "ResourceUpdated".to_owned(),
            Some(filter) => filter
                .iter()
                .find(|t| *t == "ResourceUpdated")
                .or_else(|| filter.iter().find(|t| !t.contains("Deleted")))
                .cloned()
                .ok_or_else(|| RunnerError::Backend {
                    origin: origin.clone(),
                    message: format!(
                        "route `{route_name}`'s inclusion-filter lets no create or update event through, so backfill would send nothing"
                    ),
                })?,
        };

        let started = Instant::now();
        let total = {
            let mut query = CustomerQuery::new().limit(1).with_total(true);
            if let Some(predicate) = &options.predicate {
                query = query.predicate(predicate.clone());
            }
            match commercetools.query_customers(&query).await {
                Ok(page) => page.total,
                Err(error) => {
                    tracing::warn!(%error, "cannot count customers; progress shows no total");
                    None
                }
            }
        };

        let capacity = (config.runtime.concurrency * 4).max(64);
        let queue = MemoryQueue::<Message>::new("backfill", capacity);
        let runtime = Runtime::new(Arc::clone(self.router()), Arc::new(queue.clone()))
            .with_config(&config.runtime)
            .with_dead_letters(Arc::clone(self.dead_letters()))
            .with_services(Arc::clone(self.plan().services()))
            .with_receive(64, Duration::from_millis(50));
        let metrics = runtime.metrics();
        let running = tokio::spawn(runtime.run(Shutdown::new()));

        let mut scan = CustomerScan::all().page_size(options.page_size);
        if let Some(predicate) = &options.predicate {
            scan = scan.predicate(predicate.clone());
        }
        let mut customers = Box::pin(commercetools.scan_customers(scan));
        let mut scanned = 0u64;
        let mut last_report = Instant::now();
        let mut scan_error = None;
        while let Some(customer) = customers.next().await {
            let customer = match customer {
                Ok(customer) => customer,
                Err(error) => {
                    scan_error = Some(error);
                    break;
                }
            };
            let message = Message::new(route_name.clone())
                .with_event_type(event_type.clone())
                .with_resource(
                    ResourceRef::new("customer", customer.id).with_version(customer.version),
                )
                .with_attribute(connect_core::attributes::SOURCE, "backfill");
            if queue.send(message).await.is_err() {
                break;
            }
            scanned += 1;
            if last_report.elapsed() >= options.progress_every {
                last_report = Instant::now();
                progress(&BackfillProgress {
                    scanned,
                    total,
                    metrics: metrics.snapshot(),
                    elapsed: started.elapsed(),
                });
            }
        }
        queue.close();
        // Keep reporting while the last messages are handled.
        let mut running = running;
        let report = loop {
            tokio::select! {
                report = &mut running => break report,
                () = tokio::time::sleep(options.progress_every) => progress(&BackfillProgress {
                    scanned,
                    total,
                    metrics: metrics.snapshot(),
                    elapsed: started.elapsed(),
                }),
            }
        };
        let report = report.map_err(|e| RunnerError::Backend {
            origin,
            message: format!("the backfill runtime failed: {e}"),
        })?;
        progress(&BackfillProgress {
            scanned,
            total,
            metrics: report.metrics.clone(),
            elapsed: started.elapsed(),
        });
        if let Some(error) = scan_error {
            return Err(error.into());
        }
        let m = &report.metrics;
        Ok(BackfillSummary {
            scanned,
            created: m.outcome(connect_customer_sync::outcome::CREATED),
            updated: m.outcome(connect_customer_sync::outcome::UPDATED),
            unchanged: m.outcome(connect_customer_sync::outcome::UNCHANGED),
            failed: m.dead_lettered,
            outcomes: m.outcomes.clone(),
            elapsed: started.elapsed(),
        })
    }
}
