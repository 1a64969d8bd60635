//! The HTTP endpoint: `/metrics`, `/health`, `/ready` (axum).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Telemetry, render};

/// The `Content-Type` of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The running endpoint. Dropping it stops the server.
#[derive(Debug)]
pub struct ObservabilityServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

struct Served {
    telemetry: Arc<Telemetry>,
    registry: Registry,
}

impl ObservabilityServer {
    /// Serves `telemetry` on `listener`.
    pub(crate) fn start(
        listener: tokio::net::TcpListener,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, std::io::Error> {
        let addr = listener.local_addr()?;
        let served = Arc::new(Served {
            registry: render::registry(Arc::clone(&telemetry)),
            telemetry,
        });
        let app = axum::Router::new()
            .route("/metrics", get(metrics))
            .route("/health", get(health))
            .route("/ready", get(ready))
            .with_state(served);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "the observability endpoint stopped with an error");
            }
        });
        tracing::info!(address = %addr, "serving /metrics, /health and /ready");
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on (with the port chosen when the
    /// configuration said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits (briefly) for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for ObservabilityServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn metrics(State(served): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let body = render::encode(&served.registry, openmetrics);
    let content_type = if openmetrics {
        OPENMETRICS
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    };
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

async fn health(State(served): State<Arc<Served>>) -> Response {
    let liveness = served.telemetry.liveness();
    let loops: Vec<_> = liveness
        .loops
        .iter()
        .map(|(name, state, since)| {
            json!({
                "name": name,
                "state": state.as_str(),
                "last_beat_seconds_ago": since.map(|s| s.as_secs_f64()),
            })
        })
        .collect();
    let status = if liveness.alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if liveness.alive { "alive" } else { "stalled" },
        "loops": loops,
    });
    (status, axum::Json(body)).into_response()
}

async fn ready(State(served): State<Arc<Served>>) -> Response {
    let readiness = served.telemetry.readiness();
    let down: Vec<_> = readiness
        .down
        .iter()
        .map(|dependency| {
            json!({
                "dependency": dependency.name,
                "since": dependency.since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "error": dependency.error,
            })
        })
        .collect();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if readiness.ready { "ready" } else { "not ready" },
        "intake": readiness.intake,
        "down": down,
    });
    (status, axum::Json(body)).into_response()
}
