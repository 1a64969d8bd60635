//! The OAuth token cache: one token per client, renewed before it
//! expires, one renewal shared by concurrent callers.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::retry::Failure;

/// The renewal margin never exceeds this.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long before its expiry a token of `lifetime` is renewed: 10% of
/// its lifetime, at most 5 minutes.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_REFRESH_MARGIN)
}

/// How a client obtains a token: client credentials, a password login, a
/// refresh grant... The [`TokenCache`] calls [`request`](Grant::request)
/// one caller at a time, so a grant may keep state between requests (a
/// single-use refresh token, say) behind a plain lock.
pub trait Grant: Send + Sync {
    /// What a refused or failed token request returns. Cloned for every
    /// caller that waited for the same renewal.
    type Error: Clone + Send + Sync;

    /// Asks the token endpoint for a new token.
    fn request(&self) -> impl Future<Output = Result<IssuedToken, Self::Error>> + Send;
}

/// A token as the token endpoint issued it. `Debug` never shows the value.
pub struct IssuedToken {
    value: Arc<str>,
    lifetime: Duration,
}

impl IssuedToken {
    /// A token valid for `lifetime` from when it was requested.
    pub fn new(value: impl Into<Arc<str>>, lifetime: Duration) -> Self {
        Self {
            value: value.into(),
            lifetime,
        }
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("value", &"***")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// A cached bearer token: cheap to clone, and `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    generation: u64,
    refresh_at: Instant,
}

impl AccessToken {
    /// The token, for an `Authorization: Bearer` header.
    pub fn bearer(&self) -> &str {
        &self.value
    }

    /// Which token this is: 1 for the first one issued, then 2...
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"***")
            .field("generation", &self.generation)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// Issues and caches the token of one client (and its clones).
///
/// - A token is reused until [`refresh_margin`] before it expires
///   (counted from when it was requested), then renewed.
/// - Concurrent callers that find no usable token wait for one renewal and
///   share its result, a failure included: a wrong secret costs one
///   request, not one per caller.
/// - [`invalidate`](Self::invalidate) forgets a token the server refused,
///   unless a newer one replaced it already, so N callers that saw the same
///   401 cause one renewal.
pub struct TokenCache<G: Grant> {
    grant: G,
    cached: RwLock<Option<AccessToken>>,
    /// Held while a token is being obtained (single flight).
    renewing: tokio::sync::Mutex<()>,
    /// Renewals finished, successful or not.
    renewals: AtomicU64,
    /// Tokens issued.
    generations: AtomicU64,
    /// The failure of the last renewal, shared with its waiters.
    last_failure: Mutex<Option<G::Error>>,
}

impl<G: Grant + fmt::Debug> fmt::Debug for TokenCache<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("grant", &self.grant)
            .field("generations", &self.generations.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<G: Grant> TokenCache<G> {
    /// An empty cache; nothing is requested until [`token`](Self::token).
    pub fn new(grant: G) -> Self {
        Self {
            grant,
            cached: RwLock::new(None),
            renewing: tokio::sync::Mutex::new(()),
            renewals: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        }
    }

    /// The grant tokens are requested with.
    pub fn grant(&self) -> &G {
        &self.grant
    }

    /// A token not due for renewal: the cached one, or a new one from one
    /// renewal shared with every concurrent caller.
    pub async fn token(&self) -> Result<AccessToken, G::Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.renewals.load(Ordering::Acquire);
        let _renewing = self.renewing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if self.renewals.load(Ordering::Acquire) != seen {
            // A renewal finished while this caller waited and left no
            // token: share its failure instead of asking again.
            let failure = self
                .last_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(error) = failure {
                return Err(error);
            }
        }
        let requested = Instant::now();
        let result = self.grant.request().await.map(|issued| {
            let token = AccessToken {
                value: issued.value,
                generation: self.generations.fetch_add(1, Ordering::AcqRel) + 1,
                refresh_at: requested
                    + issued
                        .lifetime
                        .saturating_sub(refresh_margin(issued.lifetime)),
            };
            *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
            token
        });
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = result.as_ref().err().cloned();
        self.renewals.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Forgets `token` after the server refused it, unless a newer token
    /// replaced it already.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
        if cached
            .as_ref()
            .is_some_and(|current| current.generation == token.generation)
        {
            tracing::debug!(
                generation = token.generation,
                "the access token was refused; it will be renewed"
            );
            *cached = None;
        }
    }

    /// One attempt of an authenticated call: a token, then `send` with it.
    /// When `send` fails with [`Failure::is_unauthorized`], the token is
    /// invalidated so the next attempt (see [`RetryPolicy::run`](crate::RetryPolicy::run))
    /// gets a new one.
    pub async fn with_token<T, E, F, Fut>(&self, send: F) -> Result<T, E>
    where
        E: Failure + From<G::Error>,
        F: FnOnce(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let token = self.token().await?;
        let result = send(token.clone()).await;
        if let Err(error) = &result
            && error.is_unauthorized()
        {
            self.invalidate(&token);
        }
        result
    }

    fn fresh(&self) -> Option<AccessToken> {
        let now = Instant::now();
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|token| token.is_fresh(now))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::sync::Semaphore;

    use super::*;

    /// A grant that counts its requests and answers only when the test
    /// opens its gate.
    struct FakeGrant {
        requests: AtomicUsize,
        gate: Semaphore,
        lifetime: Duration,
        refuse: bool,
    }

    impl FakeGrant {
        fn new(lifetime: Duration, open: bool) -> Self {
            Self {
                requests: AtomicUsize::new(0),
                gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
                lifetime,
                refuse: false,
            }
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    impl Grant for FakeGrant {
        type Error = String;

        async fn request(&self) -> Result<IssuedToken, String> {
            let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
            let _permit = self.gate.acquire().await.map_err(|e| e.to_string())?;
            if self.refuse {
                return Err("invalid_client".to_owned());
            }
            Ok(IssuedToken::new(format!("token-{n}"), self.lifetime))
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn refresh_margin_is_ten_percent_capped_at_five_minutes() {
        assert_eq!(
            refresh_margin(Duration::from_secs(48 * 3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
    }

    /// Every caller is polled before the gate opens (one task, joined
    /// futures are polled in order), so all of them find no token and
    /// wait for the one renewal in flight.
    #[tokio::test]
    async fn concurrent_callers_share_one_token_request() {
        let cache = TokenCache::new(FakeGrant::new(HOUR, false));
        let callers = futures_join_all((0..50).map(|_| cache.token()));
        let open = async {
            tokio::task::yield_now().await;
            assert_eq!(cache.grant().requests(), 1, "one request in flight");
            cache.grant().gate.add_permits(Semaphore::MAX_PERMITS);
        };
        let (tokens, ()) = tokio::join!(callers, open);
        for token in tokens {
            assert_eq!(
                token.map(|t| t.bearer().to_owned()),
                Ok("token-1".to_owned())
            );
        }
        assert_eq!(cache.grant().requests(), 1);
    }

    #[tokio::test]
    async fn a_refused_request_is_shared_by_its_waiters() {
        let mut grant = FakeGrant::new(HOUR, false);
        grant.refuse = true;
        let cache = TokenCache::new(grant);
        let callers = futures_join_all((0..20).map(|_| cache.token()));
        let open = async {
            tokio::task::yield_now().await;
            cache.grant().gate.add_permits(Semaphore::MAX_PERMITS);
        };
        let (results, ()) = tokio::join!(callers, open);
        for result in results {
            assert_eq!(result.err().as_deref(), Some("invalid_client"));
        }
        assert_eq!(cache.grant().requests(), 1);
        // A later call asks again.
        assert!(cache.token().await.is_err());
        assert_eq!(cache.grant().requests(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_is_renewed_before_the_expiry_margin() {
        // 100 s lifetime: renewed 10 s before expiry, at 90 s.
        let cache = TokenCache::new(FakeGrant::new(Duration::from_secs(100), true));
        let first = cache.token().await.map(|t| t.generation());
        assert_eq!(first, Ok(1));
        tokio::time::advance(Duration::from_secs(89)).await;
        assert_eq!(cache.token().await.map(|t| t.generation()), Ok(1));
        assert_eq!(cache.grant().requests(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.token().await.map(|t| t.generation()), Ok(2));
        assert_eq!(cache.grant().requests(), 2);
    }

    #[tokio::test]
    async fn invalidating_after_a_401_causes_one_new_request() {
        let cache = TokenCache::new(FakeGrant::new(HOUR, true));
        let refused = cache.token().await;
        let Ok(refused) = refused else {
            panic!("no token");
        };
        // Many callers saw the same 401.
        for _ in 0..10 {
            cache.invalidate(&refused);
            let token = cache.token().await.map(|t| t.generation());
            assert_eq!(token, Ok(2));
        }
        assert_eq!(cache.grant().requests(), 2, "one re-login");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let issued = IssuedToken::new("very-secret-token", HOUR);
        let token = AccessToken {
            value: Arc::from("very-secret-token"),
            generation: 1,
            refresh_at: Instant::now(),
        };
        for text in [format!("{issued:?}"), format!("{token:?}")] {
            assert!(!text.contains("very-secret-token"), "{text}");
        }
    }

    /// Polls every future on each wake-up, in order (a tiny `join_all`).
    async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
        let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut done = true;
            for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
                if let Some(future) = slot {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(value) => {
                            *output = Some(value);
                            *slot = None;
                        }
                        std::task::Poll::Pending => done = false,
                    }
                }
            }
            if done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        outputs.into_iter().flatten().collect()
    }
}
