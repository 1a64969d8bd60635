//! The HTTP server: [`WebhookListener`] (what to serve) and
//! [`WebhookServer`] (the running server).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use connect_core::Message;
use connect_core::queue::Source;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::auth;
use crate::config::{ExternalAuth, ExternalWebhookConfig, FluentWebhookConfig, WebhookMapping};
use crate::intake::{Intake, Taker, WebhookSource};
use crate::metrics::{Endpoint, Outcome, WebhookMetrics};
use crate::signature::{self, SIGNATURE_HEADER, SignatureCheck, WebhookPublicKey};
use crate::webhook::{ExternalWebhook, FluentWebhook};

/// The name of the webhook listener's source (in logs and queue errors).
pub const WEBHOOK_LISTENER: &str = "fluent-webhook";

/// The in-process layout's source of messages, for the runtime.
pub type MessageSource = Arc<dyn Source<Message>>;

/// Webhook names remembered to warn once each about a missing mapping.
const MAX_WARNED_NAMES: usize = 1024;

/// How long [`WebhookServer::shutdown`] waits for open requests beyond
/// `answer-timeout`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What the webhook listener serves: the Fluent endpoint and, optionally,
/// the external one, on one listener.
///
/// ```no_run
/// use connect_core::config::ConfigDocument;
/// use connect_webhook::{ExternalWebhookConfig, FluentWebhookConfig, Intake, WebhookListener, WebhookMapping};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let doc = ConfigDocument::from_file("application-connector.yml")?;
/// let config = FluentWebhookConfig::read(&doc)?.ok_or("no listeners.fluent-webhook")?;
/// let mapping = WebhookMapping::read(&doc)?;
/// let mut listener = WebhookListener::fluent(config, mapping.clone(), "ACME", "1");
/// if let Some(external) = ExternalWebhookConfig::read(&doc)? {
///     listener = listener.external(external, mapping);
/// }
/// let tcp = listener.bind().await?;
/// let (server, source) = listener.serve(tcp, Intake::InProcess)?;
/// let source = source.ok_or("in process, the listener is a source")?;
/// // ... hand `source` to the runtime; on shutdown:
/// server.shutdown().await;
/// # drop(source);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebhookListener {
    config: FluentWebhookConfig,
    fluent: FluentEndpoint,
    external: Option<(ExternalWebhookConfig, ExternalEndpoint)>,
}

#[derive(Debug)]
struct FluentEndpoint {
    keys: Vec<WebhookPublicKey>,
    max_body: usize,
    mapping: WebhookMapping,
    account: String,
    retailer: String,
    warned: Warned,
}

#[derive(Debug)]
struct ExternalEndpoint {
    auth: ExternalAuth,
    max_body: usize,
    mapping: WebhookMapping,
    warned: Warned,
}

impl WebhookListener {
    /// Fluent webhooks per `config`, routed by `mapping`, accepted only for
    /// Fluent account `account` and retailer `retailer` (the `fluent:`
    /// block's `account` and `retailer-id`).
    pub fn fluent(
        config: FluentWebhookConfig,
        mapping: WebhookMapping,
        account: impl Into<String>,
        retailer: impl Into<String>,
    ) -> Self {
        let fluent = FluentEndpoint {
            keys: config.public_keys.clone(),
            max_body: config.max_body.as_usize(),
            mapping,
            account: account.into(),
            retailer: retailer.into(),
            warned: Warned::default(),
        };
        Self {
            config,
            fluent,
            external: None,
        }
    }

    /// Also serves other systems' webhooks per `config`, routed by
    /// `mapping` on their `name` field.
    #[must_use]
    pub fn external(mut self, config: ExternalWebhookConfig, mapping: WebhookMapping) -> Self {
        let endpoint = ExternalEndpoint {
            auth: config.auth.clone(),
            max_body: config.max_body.as_usize(),
            mapping,
            warned: Warned::default(),
        };
        self.external = Some((config, endpoint));
        self
    }

    /// Binds `listen` of the configuration.
    pub async fn bind(&self) -> Result<TcpListener, WebhookError> {
        TcpListener::bind(&self.config.listen)
            .await
            .map_err(|source| WebhookError::Bind {
                address: self.config.listen.clone(),
                source,
            })
    }

    /// Serves on `listener` (bound by [`bind`](Self::bind) or by the
    /// caller) into `intake`; returns the running server and, for
    /// [`Intake::InProcess`], the source the runtime receives the messages
    /// from. Must be called within a Tokio runtime.
    ///
    /// Connections beyond `max-connections` are not refused: they wait in
    /// the operating system's accept queue until a served one closes (a
    /// burst is delayed, not failed; the header timeout of a waiting
    /// connection starts when it is accepted).
    pub fn serve(
        self,
        listener: TcpListener,
        intake: Intake,
    ) -> Result<(WebhookServer, Option<MessageSource>), WebhookError> {
        let addr = listener.local_addr().map_err(|source| WebhookError::Bind {
            address: self.config.listen.clone(),
            source,
        })?;
        if let Some((external, _)) = &self.external
            && external.path == self.config.path
        {
            return Err(WebhookError::SamePath(external.path.clone()));
        }
        let (taker, source) = match intake {
            Intake::Durable(sink) => (Taker::Durable(sink), None),
            Intake::InProcess => {
                let (taker, source) =
                    WebhookSource::channel(WEBHOOK_LISTENER, self.config.intake_capacity);
                (taker, Some(Arc::new(source) as MessageSource))
            }
        };
        let metrics = Arc::new(WebhookMetrics::default());
        let mut router = axum::Router::new();
        let fluent_path = self.config.path.clone();
        let external_path = self.external.as_ref().map(|(c, _)| c.path.clone());
        let served = Arc::new(Served {
            fluent: self.fluent,
            external: self.external.map(|(_, endpoint)| endpoint),
            taker,
            metrics: Arc::clone(&metrics),
            body_read_timeout: self.config.body_read_timeout,
            answer_timeout: self.config.answer_timeout,
        });
        router = router.route(&fluent_path, post(fluent));
        if let Some(path) = &external_path {
            router = router.route(path, post(external));
        }
        let router = router.with_state(served);
        let (stop, stopped) = watch::channel(false);
        let limits = Limits {
            max_connections: self.config.max_connections,
            header_read_timeout: self.config.header_read_timeout,
            grace: self.config.answer_timeout + SHUTDOWN_GRACE,
        };
        let task = tokio::spawn(accept_loop(
            listener,
            router,
            limits,
            Arc::clone(&metrics),
            stopped,
        ));
        tracing::info!(address = %addr, path = %fluent_path, external = ?external_path, "serving webhooks");
        Ok((
            WebhookServer {
                addr,
                metrics,
                stop,
                task: Some(task),
            },
            source,
        ))
    }
}

/// Why the listener cannot serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The address cannot be listened on.
    #[error(
        "cannot listen for webhooks on `{address}`: {source}; check that no other process uses the port and that `listen` is an address of this machine"
    )]
    Bind {
        /// The configured address.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The two endpoints have the same path.
    #[error(
        "the Fluent and the external webhook endpoints both use the path `{0}`; give them different `path`s"
    )]
    SamePath(String),
}

/// The running webhook server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct WebhookServer {
    addr: SocketAddr,
    metrics: Arc<WebhookMetrics>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl WebhookServer {
    /// The address it listens on (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters, live.
    pub fn metrics(&self) -> Arc<WebhookMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Stops accepting connections and lets open requests finish (an
    /// in-process request still waits for its message's settlement, at most
    /// `answer-timeout`), then closes every connection. Run it *before*
    /// stopping the runtime, so that in-process requests get their answer;
    /// the source then reports [`connect_core::QueueError::Closed`].
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
    grace: Duration,
}

/// Accepts connections while fewer than `max_connections` are open, and
/// serves each with HTTP/1.1 and a header read timeout.
async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    metrics: Arc<WebhookMetrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin.
                    tracing::warn!(%error, "cannot accept a webhook connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let metrics = Arc::clone(&metrics);
        let mut stopped = stopped.clone();
        let header_read_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                if error.is_timeout() {
                    metrics.header_timeout();
                    tracing::debug!(
                        "closed a webhook connection whose headers did not arrive in time"
                    );
                } else {
                    tracing::debug!(%error, "webhook connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// What the request handlers share.
struct Served {
    fluent: FluentEndpoint,
    external: Option<ExternalEndpoint>,
    taker: Taker,
    metrics: Arc<WebhookMetrics>,
    body_read_timeout: Duration,
    answer_timeout: Duration,
}

impl Served {
    fn answer(&self, endpoint: Endpoint, outcome: Outcome, message: &str) -> Response {
        self.metrics.count(endpoint, outcome);
        let status = match outcome {
            Outcome::Accepted | Outcome::Ignored => StatusCode::OK,
            Outcome::Unauthorized => StatusCode::UNAUTHORIZED,
            Outcome::Forbidden => StatusCode::FORBIDDEN,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Unavailable | Outcome::AnswerTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::Timeout => StatusCode::REQUEST_TIMEOUT,
        };
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            status: &'a str,
            message: &'a str,
        }
        let body = serde_json::to_vec(&Answer {
            status: outcome.as_str(),
            message,
        })
        .unwrap_or_default();
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }

    /// Reads the body, bounded by `max_body` bytes and the body read
    /// timeout; `Err` is the answer.
    async fn body(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: Body,
        max_body: usize,
    ) -> Result<axum::body::Bytes, Response> {
        let too_large = || format!("the body is over the limit of {max_body} bytes");
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body as u64) {
            return Err(self.answer(endpoint, Outcome::TooLarge, &too_large()));
        }
        let read = Limited::new(body, max_body).collect();
        match tokio::time::timeout(self.body_read_timeout, read).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                Err(self.answer(endpoint, Outcome::TooLarge, &too_large()))
            }
            Ok(Err(_)) => Err(self.answer(
                endpoint,
                Outcome::BadRequest,
                "the body could not be read to its end",
            )),
            Err(_) => Err(self.answer(
                endpoint,
                Outcome::Timeout,
                "the body did not arrive within the body read timeout",
            )),
        }
    }

    /// Hands `message` to the intake and answers as the layout says.
    async fn take(&self, endpoint: Endpoint, message: Message) -> Response {
        match self.taker.take(message, self.answer_timeout).await {
            Outcome::Accepted => self.answer(endpoint, Outcome::Accepted, "accepted"),
            Outcome::AnswerTimeout => self.answer(
                endpoint,
                Outcome::AnswerTimeout,
                "not handled in time; retry later",
            ),
            outcome => self.answer(
                endpoint,
                outcome,
                "cannot take the webhook now; retry later",
            ),
        }
    }
}

/// The Fluent endpoint: size, signature (before the body is parsed),
/// fields, account and retailer, mapping, intake.
async fn fluent(State(served): State<Arc<Served>>, request: Request) -> Response {
    let endpoint = &served.fluent;
    let (parts, body) = request.into_parts();
    let Some(header) = parts.headers.get(SIGNATURE_HEADER) else {
        return served.answer(
            Endpoint::Fluent,
            Outcome::Unauthorized,
            "the fluent-signature header is missing (flex.signature alone is not accepted)",
        );
    };
    let header = header.to_str().ok().map(str::to_owned);
    let body = match served
        .body(Endpoint::Fluent, &parts.headers, body, endpoint.max_body)
        .await
    {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    match signature::verify(&endpoint.keys, header.as_deref(), &body) {
        SignatureCheck::Valid => {}
        SignatureCheck::Missing | SignatureCheck::Malformed | SignatureCheck::Invalid => {
            return served.answer(
                Endpoint::Fluent,
                Outcome::Unauthorized,
                "the fluent-signature does not verify with any configured public key",
            );
        }
    }
    let webhook = match FluentWebhook::parse(&body) {
        Ok(webhook) => webhook,
        Err(error) => {
            return served.answer(Endpoint::Fluent, Outcome::BadRequest, &error.to_string());
        }
    };
    if webhook.account_id() != endpoint.account {
        return served.answer(
            Endpoint::Fluent,
            Outcome::Forbidden,
            "the webhook is for another Fluent account",
        );
    }
    if webhook.retailer_id() != endpoint.retailer {
        return served.answer(
            Endpoint::Fluent,
            Outcome::Forbidden,
            "the webhook is for another Fluent retailer",
        );
    }
    let Some(route) = endpoint.mapping.route_for(webhook.name()) else {
        if endpoint.warned.first(webhook.name()) {
            tracing::warn!(
                webhook_name = %webhook.name(),
                "Fluent webhook with no webhook-mapping; acknowledged and ignored (add `{}: <route>` under webhook-mapping to handle it)",
                webhook.name()
            );
        }
        return served.answer(
            Endpoint::Fluent,
            Outcome::Ignored,
            "no mapping for this webhook name; ignored",
        );
    };
    let message = webhook.into_message(route);
    served.take(Endpoint::Fluent, message).await
}

/// The external endpoint: size, credentials, `name`, mapping, intake.
async fn external(State(served): State<Arc<Served>>, request: Request) -> Response {
    let Some(endpoint) = &served.external else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (parts, body) = request.into_parts();
    if !auth::has_credential(&endpoint.auth, &parts.headers) {
        return served.answer(
            Endpoint::External,
            Outcome::Unauthorized,
            "credentials are missing",
        );
    }
    let body = match served
        .body(Endpoint::External, &parts.headers, body, endpoint.max_body)
        .await
    {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    if !auth::authenticate(&endpoint.auth, &parts.headers, &body) {
        return served.answer(
            Endpoint::External,
            Outcome::Unauthorized,
            "credentials are not valid",
        );
    }
    let webhook = match ExternalWebhook::parse(&body) {
        Ok(webhook) => webhook,
        Err(error) => {
            return served.answer(Endpoint::External, Outcome::BadRequest, &error.to_string());
        }
    };
    let Some(route) = endpoint.mapping.route_for(webhook.name()) else {
        if endpoint.warned.first(webhook.name()) {
            tracing::warn!(
                webhook_name = %webhook.name(),
                "external webhook with no webhook-mapping; acknowledged and ignored"
            );
        }
        return served.answer(
            Endpoint::External,
            Outcome::Ignored,
            "no mapping for this webhook name; ignored",
        );
    };
    let message = webhook.into_message(route);
    served.take(Endpoint::External, message).await
}

/// The names already warned about, bounded.
#[derive(Debug, Default)]
struct Warned(Mutex<HashSet<String>>);

impl Warned {
    /// `true` the first time `name` is seen.
    fn first(&self, name: &str) -> bool {
        let mut names = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if names.contains(name) || names.len() >= MAX_WARNED_NAMES {
            return false;
        }
        names.insert(name.to_owned())
    }
}
