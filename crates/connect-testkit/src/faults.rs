//! Fault injection shared by the emulators.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// One injected failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and a `Retry-After` header, when given) and
    /// the emulator's error body, without handling the request.
    Status {
        /// The HTTP status, e.g. 429 or 503.
        status: u16,
        /// The `Retry-After` value in whole seconds, as the header carries
        /// it (`Some(0)` sends `Retry-After: 0`).
        retry_after: Option<u64>,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Start a response and break the connection before the body completes.
    DropConnection,
}

impl Fault {
    /// 429 Too Many Requests with `Retry-After: <retry_after_secs>`.
    ///
    /// The header carries whole seconds (RFC 9110 §10.2.3), so the delay is
    /// given in seconds: `Fault::too_many_requests(1)` makes a client wait
    /// at least one second.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::Status {
            status: 429,
            retry_after: Some(retry_after_secs),
        }
    }

    /// 503 Service Unavailable.
    pub fn unavailable() -> Self {
        Self::Status {
            status: 503,
            retry_after: None,
        }
    }

    /// 502 Bad Gateway.
    pub fn bad_gateway() -> Self {
        Self::Status {
            status: 502,
            retry_after: None,
        }
    }
}

#[derive(Debug)]
struct Planned {
    path_prefix: Option<String>,
    fault: Fault,
    remaining: usize,
}

/// Requests an emulator is answering and has answered, for one path
/// prefix ([`Faults::requests`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCount {
    /// Requests received and not answered yet.
    pub active: usize,
    /// Requests answered (fault-injected answers included).
    pub served: u64,
}

/// A plan of faults, consumed by matching requests in order; it also counts
/// the requests going through (see [`requests`](Self::requests)).
#[derive(Debug, Default)]
pub struct Faults {
    plan: Mutex<VecDeque<Planned>>,
    /// `(path, active, served)` of every path requested.
    counts: Mutex<Vec<(String, usize, u64)>>,
}

impl Faults {
    /// Applies `fault` to the next `times` requests.
    pub fn inject(&self, fault: Fault, times: usize) {
        self.push(None, fault, times);
    }

    /// Applies `fault` to the next `times` requests whose path starts with
    /// `path_prefix` (e.g. `/oauth/token`, `/graphql`).
    pub fn inject_for(&self, path_prefix: &str, fault: Fault, times: usize) {
        self.push(Some(path_prefix.to_owned()), fault, times);
    }

    /// Removes every planned fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Faults still planned (sum of remaining repetitions).
    pub fn pending(&self) -> usize {
        self.lock().iter().map(|p| p.remaining).sum()
    }

    /// The requests to paths starting with `path_prefix` (`""`: all)
    /// being answered now and answered so far: a test can tell that a
    /// client stopped calling (nothing active, nothing more served).
    pub fn requests(&self, path_prefix: &str) -> RequestCount {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .filter(|(path, _, _)| path.starts_with(path_prefix))
            .fold(RequestCount::default(), |total, (_, active, served)| {
                RequestCount {
                    active: total.active + active,
                    served: total.served + served,
                }
            })
    }

    fn started(&self, path: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.iter_mut().find(|(p, _, _)| p == path) {
            Some(entry) => entry.1 += 1,
            None => counts.push((path.to_owned(), 1, 0)),
        }
    }

    fn finished(&self, path: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = counts.iter_mut().find(|(p, _, _)| p == path) {
            entry.1 = entry.1.saturating_sub(1);
            entry.2 += 1;
        }
    }

    fn push(&self, path_prefix: Option<String>, fault: Fault, times: usize) {
        if times > 0 {
            self.lock().push_back(Planned {
                path_prefix,
                fault,
                remaining: times,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Planned>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault for a request to `path`, if one is planned.
    pub(crate) fn take(&self, path: &str) -> Option<Fault> {
        let mut plan = self.lock();
        let index = plan.iter().position(|p| {
            p.path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
        })?;
        let planned = &mut plan[index];
        planned.remaining -= 1;
        let fault = planned.fault.clone();
        if planned.remaining == 0 {
            plan.remove(index);
        }
        Some(fault)
    }
}

/// Renders an emulator's error body for an injected status.
pub(crate) type ErrorRenderer = fn(StatusCode) -> Response;

/// State of the fault middleware.
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub(crate) faults: Arc<Faults>,
    pub(crate) render: ErrorRenderer,
}

/// Counts a request as active until it is answered, or dropped unanswered
/// (the client went away).
struct Counting<'a> {
    faults: &'a Faults,
    path: String,
}

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        self.faults.finished(&self.path);
    }
}

/// axum middleware applying planned faults; install with
/// `axum::middleware::from_fn_with_state(FaultLayer { .. }, apply)`.
pub(crate) async fn apply(
    State(layer): State<FaultLayer>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    layer.faults.started(&path);
    let _counting = Counting {
        faults: &layer.faults,
        path,
    };
    match layer.faults.take(request.uri().path()) {
        None => next.run(request).await,
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (layer.render)(status);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Some(Fault::DropConnection) => {
            let broken = futures_broken_body();
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_LENGTH, "1024"),
                ],
                broken,
            )
                .into_response()
        }
    }
}

/// A body that fails after its headers were sent, so the client sees the
/// connection break mid-response.
fn futures_broken_body() -> Body {
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
        Ok(b"{\"partial\":"),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection dropped by fault injection",
        )),
    ];
    Body::from_stream(IterStream(chunks.into_iter()))
}

/// A minimal `Stream` over an iterator.
struct IterStream<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_and_by_path() {
        let faults = Faults::default();
        faults.inject_for("/graphql", Fault::unavailable(), 1);
        faults.inject(Fault::Delay(Duration::from_millis(1)), 2);
        assert_eq!(faults.pending(), 3);
        assert_eq!(
            faults.take("/oauth/token"),
            Some(Fault::Delay(Duration::from_millis(1)))
        );
        assert_eq!(faults.take("/graphql"), Some(Fault::unavailable()));
        assert_eq!(
            faults.take("/graphql"),
            Some(Fault::Delay(Duration::from_millis(1)))
        );
        assert_eq!(faults.take("/graphql"), None);
    }
}
