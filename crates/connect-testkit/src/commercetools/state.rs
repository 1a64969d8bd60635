//! State shared by the emulator's handle and its HTTP handlers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use connect_core::queue::{RawPayload, Sink};

use super::errors::ApiError;
use super::notify::{self, Event, NotificationFormat};
use super::resources::ResourceType;
use super::store::Store;

/// What the builder configured.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) project_key: String,
    pub(super) client_id: String,
    pub(super) client_secret: String,
    /// Full scope strings the API client may request, e.g. `manage_customers:{pk}`.
    pub(super) allowed_scopes: Vec<String>,
    pub(super) token_lifetime: Duration,
    pub(super) max_limit: usize,
    pub(super) region: String,
    pub(super) account: String,
    /// Every type served, customers first.
    pub(super) resource_types: Vec<ResourceType>,
}

impl Settings {
    /// The type served at `endpoint` (`categories`) or with type id
    /// `name` (`category`).
    pub(super) fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|t| t.endpoint == name || t.type_id == name)
    }
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(super) struct IssuedToken {
    pub(super) scopes: Vec<String>,
    pub(super) expires_at: Instant,
}

/// One subscription: where its payloads go and in which format.
pub(super) struct Subscription {
    pub(super) id: u64,
    pub(super) key: String,
    pub(super) format: NotificationFormat,
    pub(super) sink: Arc<dyn Sink<RawPayload>>,
}

/// Request counters of one resource type.
#[derive(Debug, Default)]
pub(super) struct ResourceCounters {
    pub(super) gets: AtomicU64,
    pub(super) key_gets: AtomicU64,
    pub(super) queries: AtomicU64,
    /// Resources returned by queries, in all.
    pub(super) query_results: AtomicU64,
    pub(super) creates: AtomicU64,
    pub(super) updates: AtomicU64,
    pub(super) deletes: AtomicU64,
}

/// Request counters.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) http_requests: AtomicU64,
    pub(super) token_requests: AtomicU64,
    pub(super) tokens_issued: AtomicU64,
    /// By endpoint, for every type served.
    pub(super) resources: HashMap<String, ResourceCounters>,
    pub(super) unauthorized: AtomicU64,
    pub(super) forbidden: AtomicU64,
    pub(super) notifications: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a call reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

pub(super) struct Shared {
    pub(super) settings: Settings,
    pub(super) tokens: Mutex<HashMap<String, IssuedToken>>,
    pub(super) store: Mutex<Store>,
    /// Serialises writes and their notifications, so payloads leave in the
    /// order the writes happened (version order per customer).
    pub(super) writes: tokio::sync::Mutex<()>,
    pub(super) subscriptions: Mutex<Vec<Subscription>>,
    pub(super) next_subscription: AtomicU64,
    pub(super) counters: Counters,
    /// Query pages are served in reverse order.
    unordered_pages: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn new(settings: Settings) -> Self {
        let counters = Counters {
            resources: settings
                .resource_types
                .iter()
                .map(|t| (t.endpoint.clone(), ResourceCounters::default()))
                .collect(),
            ..Counters::default()
        };
        Self {
            settings,
            tokens: Mutex::new(HashMap::new()),
            store: Mutex::new(Store::default()),
            writes: tokio::sync::Mutex::new(()),
            subscriptions: Mutex::new(Vec::new()),
            next_subscription: AtomicU64::new(1),
            counters,
            unordered_pages: AtomicBool::new(false),
        }
    }

    /// Serves query pages in reverse order from now on, or not.
    pub(super) fn set_unordered_pages(&self, unordered: bool) {
        self.unordered_pages.store(unordered, Ordering::SeqCst);
    }

    /// Whether query pages are served in reverse order.
    pub(super) fn unordered_pages(&self) -> bool {
        self.unordered_pages.load(Ordering::SeqCst)
    }

    pub(super) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(super) fn tokens(&self) -> MutexGuard<'_, HashMap<String, IssuedToken>> {
        lock(&self.tokens)
    }

    pub(super) fn subscriptions(&self) -> MutexGuard<'_, Vec<Subscription>> {
        lock(&self.subscriptions)
    }

    /// Issues a token for `scopes`.
    pub(super) fn issue_token(&self, scopes: Vec<String>) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens().insert(
            token.clone(),
            IssuedToken {
                scopes,
                expires_at: Instant::now() + self.settings.token_lifetime,
            },
        );
        Counters::bump(&self.counters.tokens_issued);
        token
    }

    /// Counts a request to `endpoint` (a type the emulator serves).
    pub(super) fn count(&self, endpoint: &str, counter: fn(&ResourceCounters) -> &AtomicU64) {
        if let Some(counters) = self.counters.resources.get(endpoint) {
            Counters::bump(counter(counters));
        }
    }

    /// Checks a bearer token for `access` to `endpoint` of `project`
    /// (`view_{endpoint}` or `manage_{endpoint}` to read, `manage_{endpoint}`
    /// to write).
    pub(super) fn authorize(
        &self,
        authorization: Option<&str>,
        project: &str,
        endpoint: &str,
        access: Access,
    ) -> Result<(), ApiError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim);
        let issued = token.and_then(|t| self.tokens().get(t).cloned());
        let Some(issued) = issued.filter(|t| Instant::now() < t.expires_at) else {
            Counters::bump(&self.counters.unauthorized);
            return Err(ApiError::invalid_token());
        };
        let manage = format!("manage_{endpoint}:{project}");
        let view = format!("view_{endpoint}:{project}");
        let allowed = match access {
            Access::Read => issued.scopes.iter().any(|s| *s == manage || *s == view),
            Access::Write => issued.scopes.contains(&manage),
        };
        if !allowed || project != self.settings.project_key {
            Counters::bump(&self.counters.forbidden);
            let needed = match access {
                Access::Read => format!("view_{endpoint}, manage_{endpoint}"),
                Access::Write => format!("manage_{endpoint}"),
            };
            return Err(ApiError::insufficient_scope(&needed));
        }
        Ok(())
    }

    /// Runs a write under the write lock, then delivers its notifications
    /// before the lock is released.
    pub(super) async fn write<T>(
        &self,
        write: impl FnOnce(&mut Store) -> Result<(T, Option<Event>), ApiError>,
    ) -> Result<T, ApiError> {
        let _writing = self.writes.lock().await;
        let (value, event) = write(&mut self.store())?;
        if let Some(event) = event {
            self.publish(&event).await;
        }
        Ok(value)
    }

    async fn publish(&self, event: &Event) {
        let targets: Vec<(String, NotificationFormat, Arc<dyn Sink<RawPayload>>)> = self
            .subscriptions()
            .iter()
            .map(|s| (s.key.clone(), s.format, Arc::clone(&s.sink)))
            .collect();
        for (key, format, sink) in targets {
            let target = notify::Target {
                project_key: &self.settings.project_key,
                subscription_key: &key,
                region: &self.settings.region,
                account: &self.settings.account,
            };
            for payload in notify::render(event, format, &target) {
                let body = payload.to_string();
                match sink.send(RawPayload::new(body)).await {
                    Ok(()) => Counters::bump(&self.counters.notifications),
                    Err(error) => {
                        tracing::warn!(%error, subscription = %key, "emulator cannot deliver a subscription payload");
                    }
                }
            }
        }
    }
}
