//! Rendering [`Telemetry`] for Prometheus: a `prometheus-client`
//! [`Collector`] reads the connector's counters at scrape time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use connect_core::runtime::MetricsSnapshot;
use connect_webhook::Outcome;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::Telemetry;

/// Every metric family the connector exports, as a scraper sees it (the
/// histogram as its base name; its series end in `_bucket`, `_sum` and
/// `_count`). The `connect_backfill_*` gauges appear once a backfill ran in
/// the process; the `connect_job_*` families are always described, with a
/// series per job of the file.
pub const METRIC_NAMES: &[&str] = &[
    "connect_build_info",
    "connect_messages_total",
    "connect_handler_duration_seconds",
    "connect_dead_letters_total",
    "connect_inflight_messages",
    "connect_waiting_messages",
    "connect_held_messages",
    "connect_ct_queue_received_total",
    "connect_ct_queue_malformed_total",
    "connect_ct_queue_ignored_total",
    "connect_dependency_up",
    "connect_http_requests_total",
    "connect_backfill_running",
    "connect_backfill_scanned",
    "connect_backfill_total",
    "connect_backfill_handled",
    "connect_webhook_requests_total",
    "connect_webhook_header_timeouts_total",
    "connect_job_runs_total",
    "connect_job_last_success_timestamp_seconds",
    "connect_job_last_duration_seconds",
    "connect_job_interval_seconds",
    "connect_job_running",
];

/// The `route` label of messages no route has a name for.
pub(crate) const UNROUTABLE: &str = "<unroutable>";

/// The `status` label of HTTP requests that got no response.
pub(crate) const NO_RESPONSE: &str = "error";

/// A registry holding the connector's collector.
pub(crate) fn registry(telemetry: Arc<Telemetry>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exporter(telemetry)));
    registry
}

/// Renders every metric once.
pub(crate) fn render(telemetry: Arc<Telemetry>, openmetrics: bool) -> String {
    encode(&registry(telemetry), openmetrics)
}

/// Encodes `registry` in the Prometheus text format (version 0.0.4), or
/// in the OpenMetrics text format.
pub(crate) fn encode(registry: &Registry, openmetrics: bool) -> String {
    let mut text = String::with_capacity(8 * 1024);
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(&mut text, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
    };
    if let Err(error) = result {
        // Writing to a String cannot fail; keep what was written.
        tracing::warn!(%error, "rendering the metrics failed");
    }
    text
}

/// The collector: reads everything at scrape time.
struct Exporter(Arc<Telemetry>);

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Exporter").finish_non_exhaustive()
    }
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Exporter {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let t = &self.0;
        let version = env!("CARGO_PKG_VERSION");
        let mut info = encoder.encode_descriptor(
            "connect_build_info",
            "The connector and the connect-sdk version it runs; always 1.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1).encode(
            info.encode_family(&[("connector", t.connector.as_str()), ("version", version)])?,
        )?;

        let routes: Vec<_> = t
            .router
            .routes()
            .map(|route| (route, route.metrics().snapshot()))
            .collect();
        {
            let mut family = encoder.encode_descriptor(
                "connect_messages",
                "Messages that reached an outcome, by route and handler: succeeded, filtered (by the inclusion filter), coalesced (a newer message of the resource was handled instead), retried (returned to the queue after a retryable failure), dead_lettered.",
                None,
                MetricType::Counter,
            )?;
            for (route, counts) in &routes {
                for (outcome, value) in [
                    ("succeeded", counts.succeeded),
                    ("filtered", counts.filtered),
                    ("coalesced", counts.coalesced),
                    ("retried", counts.retried),
                    ("dead_lettered", counts.dead_lettered),
                ] {
                    ConstCounter::new(value).encode(family.encode_family(&[
                        ("route", route.name()),
                        ("handler", route.handler_name()),
                        ("outcome", outcome),
                    ])?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "connect_handler_duration",
                "How long handler calls took, by route and handler (every call that returned, whatever its result).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (route, counts) in &routes {
                let histogram = &counts.duration;
                let labels = [("route", route.name()), ("handler", route.handler_name())];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        histogram.sum.as_secs_f64(),
                        histogram.count,
                        &histogram.buckets,
                        None,
                    )?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "connect_dead_letters",
                "Messages written to the dead-letter store, by route (`<unroutable>`: no route has the message's name). Malformed CT queue payloads are counted in connect_ct_queue_malformed_total.",
                None,
                MetricType::Counter,
            )?;
            for (route, counts) in &routes {
                ConstCounter::new(counts.dead_lettered)
                    .encode(family.encode_family(&[("route", route.name())])?)?;
            }
            ConstCounter::new(t.router.unroutable_dead_letters())
                .encode(family.encode_family(&[("route", UNROUTABLE)])?)?;
        }

        let runtimes = runtime_totals(t);
        gauge(
            &mut encoder,
            "connect_inflight_messages",
            "Messages whose handler is running now.",
            runtimes.in_flight,
        )?;
        gauge(
            &mut encoder,
            "connect_waiting_messages",
            "Messages waiting for a dependency that is down (their attempts untouched).",
            runtimes.waiting,
        )?;
        gauge(
            &mut encoder,
            "connect_held_messages",
            "Messages received from their queue and not settled yet (running, waiting for their resource or for a dependency).",
            runtimes.held,
        )?;

        let listener = t.listener.snapshot();
        counter(
            &mut encoder,
            "connect_ct_queue_received",
            "Raw payloads received from the CT queue.",
            listener.received,
        )?;
        counter(
            &mut encoder,
            "connect_ct_queue_malformed",
            "CT queue payloads that could not be understood, moved to the dead-letter store.",
            listener.dead_lettered,
        )?;
        counter(
            &mut encoder,
            "connect_ct_queue_ignored",
            "CT queue payloads that need no handling (no route for their resource type, another project, the subscription check), acknowledged.",
            listener.ignored,
        )?;

        {
            let mut family = encoder.encode_descriptor(
                "connect_dependency_up",
                "1 while the dependency answers, 0 while it fails systemically (refused credentials, unreachable, an outage beyond the retries): commercetools, fluent, ct-queue, event-queue, dead-letters.",
                None,
                MetricType::Gauge,
            )?;
            for dependency in t.health.dependencies() {
                ConstGauge::new(i64::from(dependency.up))
                    .encode(family.encode_family(&[("dependency", dependency.name.as_ref())])?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "connect_http_requests",
                "HTTP requests to commercetools and Fluent (API and token endpoint), by response status; `error`: no response (connection refused, timeout, connection broken).",
                None,
                MetricType::Counter,
            )?;
            for (dependency, requests) in &t.http {
                let counts = requests.snapshot();
                for (status, value) in &counts.by_status {
                    let status = status.to_string();
                    ConstCounter::new(*value).encode(family.encode_family(&[
                        ("dependency", *dependency),
                        ("status", status.as_str()),
                    ])?)?;
                }
                ConstCounter::new(counts.errors).encode(
                    family
                        .encode_family(&[("dependency", *dependency), ("status", NO_RESPONSE)])?,
                )?;
            }
        }

        // The webhook families are always described; their series appear
        // once the listener serves (every outcome, zeros included).
        let webhooks = t.webhooks();
        let snapshot = webhooks.as_ref().map(|w| w.metrics.snapshot());
        {
            let mut family = encoder.encode_descriptor(
                "connect_webhook_requests",
                "Webhook requests answered, by endpoint (fluent, external) and outcome: accepted (200, enqueued or handled), ignored (200, a name with no webhook-mapping), unauthorized (401), forbidden (403), bad_request (400), too_large (413), unavailable (503, the queue or the runtime could not take it), answer_timeout (503, not handled within answer-timeout), timeout (408, the body came too slowly).",
                None,
                MetricType::Counter,
            )?;
            if let (Some(webhooks), Some(snapshot)) = (&webhooks, &snapshot) {
                let mut endpoints = vec![("fluent", snapshot.fluent)];
                if webhooks.external {
                    endpoints.push(("external", snapshot.external));
                }
                for (endpoint, counts) in endpoints {
                    for outcome in Outcome::ALL {
                        ConstCounter::new(counts.get(outcome)).encode(family.encode_family(
                            &[("endpoint", endpoint), ("outcome", outcome.as_str())],
                        )?)?;
                    }
                }
            }
        }
        {
            let help = "Webhook connections closed because their request headers did not arrive within header-read-timeout.";
            let described = encoder.encode_descriptor(
                "connect_webhook_header_timeouts",
                help,
                None,
                MetricType::Counter,
            )?;
            if let Some(snapshot) = &snapshot {
                ConstCounter::new(snapshot.header_timeouts).encode(described)?;
            }
        }

        encode_jobs(&mut encoder, &t.jobs())?;

        if let Some(backfill) = t.backfill() {
            gauge(
                &mut encoder,
                "connect_backfill_running",
                "1 while a backfill runs, 0 once it ended.",
                u64::from(backfill.running.load(Relaxed)),
            )?;
            gauge(
                &mut encoder,
                "connect_backfill_scanned",
                "Resources the backfill read from commercetools so far.",
                backfill.scanned.load(Relaxed),
            )?;
            let total = backfill.total.load(Relaxed);
            if total != u64::MAX {
                gauge(
                    &mut encoder,
                    "connect_backfill_total",
                    "Resources the backfill will read (as commercetools counted them at its start).",
                    total,
                )?;
            }
            gauge(
                &mut encoder,
                "connect_backfill_handled",
                "Resources of the backfill whose handling finished (succeeded, filtered, coalesced or dead-lettered).",
                backfill.metrics.snapshot().settled(),
            )?;
        }
        Ok(())
    }
}

/// The job families (described always; a series per job of the file).
fn encode_jobs(
    encoder: &mut DescriptorEncoder<'_>,
    jobs: &[connect_jobs::JobMetricsSnapshot],
) -> fmt::Result {
    {
        let mut family = encoder.encode_descriptor(
            "connect_job_runs",
            "Job runs this process made, by job (`job_name`, as `job` is the scrape job's label) and outcome: succeeded, failed, stopped (shutdown or lease lost), skipped (another run held the job's lease).",
            None,
            MetricType::Counter,
        )?;
        for job in jobs {
            let succeeded = job.runs.saturating_sub(job.failures + job.stopped);
            for (outcome, value) in [
                ("succeeded", succeeded),
                ("failed", job.failures),
                ("stopped", job.stopped),
                ("skipped", job.skipped),
            ] {
                ConstCounter::new(value).encode(
                    family
                        .encode_family(&[("job_name", job.job.as_str()), ("outcome", outcome)])?,
                )?;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "connect_job_last_success_timestamp",
            "When the last successful run of the job in this process started (Unix time); absent until one succeeded. Alert on `time() - max by (job_name) (...) > 2 * connect_job_interval_seconds`.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for job in jobs {
            if let Some(at) = job.last_success {
                #[allow(clippy::cast_precision_loss)]
                let seconds = at.timestamp_millis() as f64 / 1000.0;
                ConstGauge::new(seconds)
                    .encode(family.encode_family(&[("job_name", job.job.as_str())])?)?;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "connect_job_last_duration",
            "How long the last run of the job in this process took; absent until one ran.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for job in jobs {
            if let Some(duration) = job.last_duration {
                ConstGauge::new(duration.as_secs_f64())
                    .encode(family.encode_family(&[("job_name", job.job.as_str())])?)?;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "connect_job_interval",
            "The job's schedule interval (`every`), or for a cron expression the time between its next two runs.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for job in jobs {
            ConstGauge::new(job.interval.as_secs_f64())
                .encode(family.encode_family(&[("job_name", job.job.as_str())])?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "connect_job_running",
        "1 while a run of the job is in progress in this process.",
        None,
        MetricType::Gauge,
    )?;
    for job in jobs {
        ConstGauge::new(i64::from(job.running))
            .encode(family.encode_family(&[("job_name", job.job.as_str())])?)?;
    }
    Ok(())
}

/// Gauges summed over the connector's runtime and a backfill's.
struct RuntimeTotals {
    in_flight: u64,
    waiting: u64,
    held: u64,
}

fn runtime_totals(t: &Telemetry) -> RuntimeTotals {
    let mut snapshots: Vec<MetricsSnapshot> = vec![t.runtime.snapshot()];
    if let Some(backfill) = t.backfill() {
        snapshots.push(backfill.metrics.snapshot());
    }
    RuntimeTotals {
        in_flight: snapshots.iter().map(|m| m.in_flight).sum(),
        waiting: snapshots.iter().map(|m| m.waiting).sum(),
        held: snapshots.iter().map(|m| m.held).sum(),
    }
}
