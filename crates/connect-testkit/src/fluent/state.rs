//! The emulator's shared state: settings, issued tokens, customers,
//! categories, orders, webhooks, partner state, logs.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use connect_core::config::Secret;
use serde_json::{Map, Value};

use super::categories::Categories;
use super::orders::Orders;
use super::store::Store;
use super::webhooks::Webhooks;
use super::{RecordedMutation, RecordedRequest};

/// What the emulated account accepts and issues.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) account: String,
    pub(crate) retailer_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) username: String,
    pub(crate) password: Secret,
    pub(crate) token_lifetime: Duration,
    pub(crate) refresh_tokens: bool,
    pub(crate) unknown_ref: UnknownRef,
}

/// How `customer(ref:)` answers a ref no customer has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownRef {
    /// `customer: null` (default).
    #[default]
    Null,
    /// An error with the not-found code `C0120E`, as Fluent also answers.
    NotFoundError,
}

/// Counters of the token endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TokenCounters {
    pub(crate) requests: usize,
    pub(crate) password_logins: usize,
    pub(crate) refresh_grants: usize,
}

#[derive(Debug, Default)]
struct Tokens {
    access: HashMap<String, Instant>,
    refresh: HashSet<String>,
    counters: TokenCounters,
}

#[derive(Debug, Default)]
struct Log {
    mutations: Vec<RecordedMutation>,
    requests: Vec<RecordedRequest>,
}

/// Everything the HTTP handlers and resolvers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    tokens: Mutex<Tokens>,
    store: Mutex<Store>,
    categories: Mutex<Categories>,
    orders: Mutex<Orders>,
    /// Signing and delivery of webhooks.
    pub(crate) webhooks: Webhooks,
    /// What partner resolvers keep between calls.
    extension_state: Mutex<Map<String, Value>>,
    log: Mutex<Log>,
}

/// A freshly issued token pair.
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(settings: Settings, webhooks: Webhooks) -> Self {
        Self {
            settings,
            tokens: Mutex::default(),
            store: Mutex::default(),
            categories: Mutex::default(),
            orders: Mutex::default(),
            webhooks,
            extension_state: Mutex::default(),
            log: Mutex::default(),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn categories(&self) -> MutexGuard<'_, Categories> {
        lock(&self.categories)
    }

    pub(crate) fn orders(&self) -> MutexGuard<'_, Orders> {
        lock(&self.orders)
    }

    pub(crate) fn extension_state(&self) -> MutexGuard<'_, Map<String, Value>> {
        lock(&self.extension_state)
    }

    pub(crate) fn count_token_request(&self) {
        lock(&self.tokens).counters.requests += 1;
    }

    pub(crate) fn token_counters(&self) -> TokenCounters {
        lock(&self.tokens).counters
    }

    /// Issues a token pair; `refresh` tells which grant it answers.
    pub(crate) fn issue(&self, refresh: bool) -> Issued {
        let access_token = uuid::Uuid::new_v4().to_string();
        let refresh_token = self
            .settings
            .refresh_tokens
            .then(|| uuid::Uuid::new_v4().to_string());
        let mut tokens = lock(&self.tokens);
        tokens.access.insert(
            access_token.clone(),
            Instant::now() + self.settings.token_lifetime,
        );
        if let Some(refresh_token) = &refresh_token {
            tokens.refresh.insert(refresh_token.clone());
        }
        if refresh {
            tokens.counters.refresh_grants += 1;
        } else {
            tokens.counters.password_logins += 1;
        }
        Issued {
            access_token,
            refresh_token,
        }
    }

    /// Uses up a refresh token; `false` when unknown or used already.
    pub(crate) fn redeem_refresh_token(&self, token: &str) -> bool {
        lock(&self.tokens).refresh.remove(token)
    }

    /// `true` when `token` was issued and has not expired.
    pub(crate) fn access_token_valid(&self, token: &str) -> bool {
        lock(&self.tokens)
            .access
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    pub(crate) fn expire_access_tokens(&self) {
        lock(&self.tokens).access.clear();
    }

    pub(crate) fn revoke_refresh_tokens(&self) {
        lock(&self.tokens).refresh.clear();
    }

    pub(crate) fn record_request(&self, request: RecordedRequest) {
        lock(&self.log).requests.push(request);
    }

    pub(crate) fn record_mutation(&self, mutation: RecordedMutation) {
        lock(&self.log).mutations.push(mutation);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).requests.clone()
    }

    pub(crate) fn mutations(&self) -> Vec<RecordedMutation> {
        lock(&self.log).mutations.clone()
    }

    /// Successful executions of the mutation field `name`.
    pub(crate) fn mutation_count(&self, name: &str) -> usize {
        lock(&self.log)
            .mutations
            .iter()
            .filter(|m| m.name == name && m.error.is_none())
            .count()
    }
}
