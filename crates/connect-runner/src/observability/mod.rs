//! Operations endpoints: Prometheus metrics, liveness and readiness over
//! HTTP (the `observability:` block of the configuration file).
//!
//! ```yaml
//! observability:
//!   listen: 0.0.0.0:9464        # host:port; port 0 picks a free port
//!   liveness-timeout: 30s       # /health fails when a loop is stuck this long
//! ```
//!
//! - `GET /metrics`: every counter of the connector in the Prometheus text
//!   format (OpenMetrics when the scraper asks for it), rendered from the
//!   runtime's own counters at scrape time: nothing is recorded twice and
//!   the message path never looks up a label. See `docs/observability.md`.
//! - `GET /health` (liveness): 200 while every running loop (the runtime's
//!   dispatcher, the CT queue listener, the webhook listener, a backfill)
//!   beat within
//!   `liveness-timeout`; 503 when one is stuck.
//! - `GET /ready` (readiness): 200 while intake runs and every dependency
//!   is up; 503 otherwise, with a JSON body naming each dependency that is
//!   down, since when and why.
//!
//! [`Connector::serve_observability`](crate::Connector::serve_observability)
//! starts the endpoint; [`Telemetry`] is what it serves, for embedding in
//! a server of your own.

mod render;
mod server;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use connect_core::Router;
use connect_core::config::{duration_where, text_where};
use connect_core::listener::ListenerMetrics;
use connect_core::runtime::{DependencyStatus, Health, Heartbeat, LoopState, Metrics};
use connect_core::telemetry::HttpRequests;
use connect_webhook::WebhookMetrics;
use serde::Deserialize;

pub use render::METRIC_NAMES;
pub use server::ObservabilityServer;

/// The `observability` block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObservabilityConfig {
    /// `host:port` to serve `/metrics`, `/health` and `/ready` on, e.g.
    /// `0.0.0.0:9464` (every interface) or `127.0.0.1:9464`; port 0 picks a
    /// free port (see [`ObservabilityServer::local_addr`]).
    #[serde(deserialize_with = "listen_address")]
    pub listen: String,
    /// How long a running loop may go without a heartbeat before `/health`
    /// answers 503 (loops beat every second).
    #[serde(
        default = "default_liveness_timeout",
        deserialize_with = "liveness_timeout"
    )]
    pub liveness_timeout: Duration,
}

impl ObservabilityConfig {
    /// Serves on `listen` with the default liveness timeout.
    pub fn new(listen: impl Into<String>) -> Self {
        Self {
            listen: listen.into(),
            liveness_timeout: default_liveness_timeout(),
        }
    }
}

/// The default `liveness-timeout`.
pub const DEFAULT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(30);

fn default_liveness_timeout() -> Duration {
    DEFAULT_LIVENESS_TIMEOUT
}

fn liveness_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_where(d, |timeout| {
        if timeout < Duration::from_secs(2) {
            Err(format!(
                "`liveness-timeout` must be at least 2s: loops beat once a second, so a shorter timeout would report healthy loops as stuck; e.g. {}s",
                DEFAULT_LIVENESS_TIMEOUT.as_secs()
            ))
        } else {
            Ok(())
        }
    })
}

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_where(d, |text| check_listen(text).map(drop))
}

/// Splits `host:port` (`[::1]:9464` for IPv6), or says how to write it.
pub(crate) fn check_listen(text: &str) -> Result<(&str, u16), String> {
    let bad = || {
        format!(
            "`{text}` is not host:port; write the address to serve /metrics, /health and /ready on, e.g. `0.0.0.0:9464` (every interface), `127.0.0.1:9464` (this machine only) or `[::]:9464` (IPv6)"
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    let valid_host = bracketed
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if valid_host {
        Ok((host, port))
    } else {
        Err(bad())
    }
}

/// Everything the endpoints report, read live from the connector's parts.
/// Built by the [`Connector`](crate::Connector); get it with
/// [`Connector::telemetry`](crate::Connector::telemetry).
pub struct Telemetry {
    connector: String,
    router: Arc<Router>,
    health: Arc<Health>,
    runtime: Arc<Metrics>,
    listener: Arc<ListenerMetrics>,
    http: Vec<(&'static str, Arc<HttpRequests>)>,
    loops: Mutex<Vec<Arc<Heartbeat>>>,
    backfill: Mutex<Option<Arc<BackfillGauges>>>,
    webhooks: Mutex<Option<WebhookCounters>>,
    jobs: Mutex<Option<Arc<connect_jobs::Scheduler>>>,
    liveness_timeout: Duration,
}

/// The webhook listener's counters, once it serves, and whether it serves
/// the external endpoint too.
#[derive(Clone)]
pub(crate) struct WebhookCounters {
    pub(crate) metrics: Arc<WebhookMetrics>,
    pub(crate) external: bool,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("connector", &self.connector)
            .field("liveness_timeout", &self.liveness_timeout)
            .finish_non_exhaustive()
    }
}

/// The parts a [`Telemetry`] reads.
pub(crate) struct Sources {
    pub(crate) connector: String,
    pub(crate) router: Arc<Router>,
    pub(crate) health: Arc<Health>,
    pub(crate) runtime: Arc<Metrics>,
    pub(crate) listener: Arc<ListenerMetrics>,
    pub(crate) http: Vec<(&'static str, Arc<HttpRequests>)>,
    pub(crate) liveness_timeout: Duration,
}

/// What `/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Intake runs and every dependency is up.
    pub ready: bool,
    /// `starting`, `running`, `stopping` or `stopped`.
    pub intake: &'static str,
    /// The dependencies that are down.
    pub down: Vec<DependencyStatus>,
}

/// What `/health` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// No running loop is stuck.
    pub alive: bool,
    /// Each loop: its name, state, and the time since its last beat.
    pub loops: Vec<(String, LoopState, Option<Duration>)>,
}

impl Telemetry {
    pub(crate) fn new(sources: Sources) -> Self {
        Self {
            connector: sources.connector,
            router: sources.router,
            health: sources.health,
            runtime: sources.runtime,
            listener: sources.listener,
            http: sources.http,
            loops: Mutex::new(Vec::new()),
            backfill: Mutex::new(None),
            webhooks: Mutex::new(None),
            jobs: Mutex::new(None),
            liveness_timeout: sources.liveness_timeout,
        }
    }

    /// Watches a loop that starts now (the runtime's dispatcher, a
    /// listener, a backfill) for liveness and readiness, forgetting loops
    /// that ended before (an earlier backfill).
    pub(crate) fn watch(&self, heartbeat: Arc<Heartbeat>) {
        let mut loops = self.loops.lock().unwrap_or_else(PoisonError::into_inner);
        loops.retain(|l| l.state() != LoopState::Stopped);
        loops.push(heartbeat);
    }

    pub(crate) fn backfill_started(&self, gauges: Arc<BackfillGauges>) {
        *self.backfill.lock().unwrap_or_else(PoisonError::into_inner) = Some(gauges);
    }

    /// The webhook listener serves: `/metrics` exports its counters.
    pub(crate) fn webhooks_serving(&self, metrics: Arc<WebhookMetrics>, external: bool) {
        *self.webhooks.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(WebhookCounters { metrics, external });
    }

    /// The connector has jobs: `/metrics` exports their gauges.
    pub(crate) fn jobs_scheduled(&self, scheduler: Arc<connect_jobs::Scheduler>) {
        *self.jobs.lock().unwrap_or_else(PoisonError::into_inner) = Some(scheduler);
    }

    pub(crate) fn jobs(&self) -> Vec<connect_jobs::JobMetricsSnapshot> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| s.metrics())
            .unwrap_or_default()
    }

    pub(crate) fn webhooks(&self) -> Option<WebhookCounters> {
        self.webhooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn loops(&self) -> Vec<Arc<Heartbeat>> {
        self.loops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn backfill(&self) -> Option<Arc<BackfillGauges>> {
        self.backfill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Intake runs (every watched loop that has not ended is running) and
    /// every dependency is up.
    pub fn readiness(&self) -> Readiness {
        let states: Vec<LoopState> = self.loops().iter().map(|l| l.state()).collect();
        let intake = if states.is_empty() {
            "starting"
        } else if states.contains(&LoopState::Stopping) {
            "stopping"
        } else if states.iter().all(|s| *s == LoopState::Stopped) {
            "stopped"
        } else if states
            .iter()
            .all(|s| matches!(s, LoopState::Running | LoopState::Stopped))
        {
            "running"
        } else {
            "starting"
        };
        let down = self.health.down_list();
        Readiness {
            ready: intake == "running" && down.is_empty(),
            intake,
            down,
        }
    }

    /// No running loop went without a heartbeat for longer than
    /// `liveness-timeout`.
    pub fn liveness(&self) -> Liveness {
        let loops = self.loops();
        Liveness {
            alive: !loops.iter().any(|l| l.is_stalled(self.liveness_timeout)),
            loops: loops
                .iter()
                .map(|l| (l.name().to_owned(), l.state(), l.since_last_beat()))
                .collect(),
        }
    }

    /// Every metric in the Prometheus text format (version 0.0.4), or in
    /// the OpenMetrics text format.
    pub fn render(self: &Arc<Self>, openmetrics: bool) -> String {
        render::render(Arc::clone(self), openmetrics)
    }
}

/// A backfill's progress, read by `/metrics` while it runs (and after).
#[derive(Debug)]
pub(crate) struct BackfillGauges {
    pub(crate) scanned: AtomicU64,
    /// `u64::MAX` while unknown.
    pub(crate) total: AtomicU64,
    pub(crate) running: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
}

impl BackfillGauges {
    pub(crate) fn new(total: Option<u64>, metrics: Arc<Metrics>) -> Self {
        Self {
            scanned: AtomicU64::new(0),
            total: AtomicU64::new(total.unwrap_or(u64::MAX)),
            running: AtomicBool::new(true),
            metrics,
        }
    }

    pub(crate) fn scanned(&self, scanned: u64) {
        self.scanned.store(scanned, Relaxed);
    }

    pub(crate) fn finished(&self) {
        self.running.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use connect_core::{
        ConnectorConfig, HandlerContext, HandlerError, HandlerRegistry, Message, MessageHandler,
        Outcome, RouteConfig, Services,
    };

    use super::*;

    #[derive(Default)]
    struct Noop;

    #[connect_core::async_trait]
    impl MessageHandler for Noop {
        async fn handle(
            &self,
            _: &HandlerContext<'_>,
            _: &Message,
        ) -> Result<Outcome, HandlerError> {
            Ok(Outcome::done())
        }
    }

    fn telemetry(health: Arc<Health>) -> Telemetry {
        let config = ConnectorConfig::new("t", vec![RouteConfig::new("r", "Noop")]);
        let mut registry = HandlerRegistry::new();
        registry.register::<Noop>("Noop", 0);
        Telemetry::new(Sources {
            connector: "t".to_owned(),
            router: Arc::new(Router::build(&config, &registry, &Services::new()).unwrap()),
            health,
            runtime: Arc::new(Metrics::new()),
            listener: Arc::new(ListenerMetrics::default()),
            http: Vec::new(),
            liveness_timeout: Duration::from_secs(5),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_stops_beating_fails_liveness_and_readiness_follows_the_loops() {
        let health = Arc::new(Health::new());
        health.register("fluent");
        let telemetry = telemetry(Arc::clone(&health));
        assert_eq!(telemetry.readiness().intake, "starting");
        assert!(!telemetry.readiness().ready);
        assert!(telemetry.liveness().alive);

        let runtime = Arc::new(Heartbeat::new("runtime"));
        let listener = Arc::new(Heartbeat::new("ct-queue listener"));
        telemetry.watch(Arc::clone(&runtime));
        telemetry.watch(Arc::clone(&listener));
        runtime.set_state(LoopState::Running);
        assert_eq!(
            telemetry.readiness().intake,
            "starting",
            "the listener is not up yet"
        );
        listener.set_state(LoopState::Running);
        assert!(telemetry.readiness().ready);

        health.down("fluent", "HTTP 401");
        let readiness = telemetry.readiness();
        assert!(!readiness.ready);
        assert_eq!(readiness.intake, "running");
        assert_eq!(readiness.down[0].name, "fluent");
        health.up("fluent");

        tokio::time::advance(Duration::from_secs(4)).await;
        runtime.beat();
        tokio::time::advance(Duration::from_secs(2)).await;
        let liveness = telemetry.liveness();
        assert!(!liveness.alive, "the listener has not beaten for 6s");
        assert_eq!(liveness.loops[1].0, "ct-queue listener");
        assert_eq!(liveness.loops[1].2, Some(Duration::from_secs(6)));
        listener.beat();
        assert!(telemetry.liveness().alive);

        runtime.set_state(LoopState::Stopping);
        assert_eq!(telemetry.readiness().intake, "stopping");
        runtime.set_state(LoopState::Stopped);
        listener.set_state(LoopState::Stopped);
        assert_eq!(telemetry.readiness().intake, "stopped");
        assert!(!telemetry.readiness().ready);

        // A loop started later replaces the ended ones.
        let backfill = Arc::new(Heartbeat::new("backfill"));
        telemetry.watch(Arc::clone(&backfill));
        backfill.set_state(LoopState::Running);
        assert!(telemetry.readiness().ready);
        assert_eq!(telemetry.liveness().loops.len(), 1);
    }

    #[test]
    fn listen_is_host_and_port() {
        for good in [
            "0.0.0.0:9464",
            "127.0.0.1:0",
            "localhost:9464",
            "[::]:9464",
            "[::1]:80",
            "metrics.internal:9464",
        ] {
            assert!(check_listen(good).is_ok(), "{good}");
        }
        for bad in [
            "9464",
            ":9464",
            "0.0.0.0",
            "0.0.0.0:",
            "0.0.0.0:99999",
            "http://0.0.0.0:9464",
            "::1:9464",
            "host name:9464",
        ] {
            let error = check_listen(bad).unwrap_err();
            assert!(error.contains("is not host:port"), "{bad}: {error}");
        }
    }
}
