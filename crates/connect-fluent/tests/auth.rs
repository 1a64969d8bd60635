#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Token life cycle against the local Fluent emulator: one login reused,
//! proactive renewal (refresh grant or fresh login), one re-login on 401,
//! no loops on bad credentials, one login shared by concurrent callers.

use std::time::Duration;

use connect_core::config::Secret;
use connect_core::{ErrorKind, HandlerError, Retryability};
use connect_fluent::{Error, FluentClient};
use connect_testkit::Fault;
use connect_testkit::fluent::FluentEmulator;

/// A token lifetime short enough to outlive in a test.
const SHORT_LIFETIME: Duration = Duration::from_secs(1);
/// Longer than [`SHORT_LIFETIME`]: after it, the first token has expired on
/// the server and is past its renewal point in the client.
const PAST_EXPIRY: Duration = Duration::from_millis(1_100);

async fn ping(client: &FluentClient) -> Result<(), Error> {
    client
        .customer_by_ref("nobody")
        .await
        .map(|found| assert!(found.is_none()))
}

fn unauthorized_requests(emulator: &FluentEmulator) -> usize {
    emulator
        .graphql_requests()
        .iter()
        .filter(|r| !r.authorized)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_login_is_reused_by_many_calls_and_clones() {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    let clone = client.clone();
    for _ in 0..10 {
        ping(&client).await.unwrap();
        ping(&clone).await.unwrap();
    }
    assert_eq!(emulator.login_count(), 1);
    assert_eq!(emulator.token_requests(), 1);
    assert_eq!(emulator.graphql_requests().len(), 20);
    assert_eq!(unauthorized_requests(&emulator), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_share_one_login() {
    let emulator = FluentEmulator::start().await.unwrap();
    // Hold the login open so every caller arrives while it is in flight.
    emulator
        .faults()
        .inject_for("/oauth/token", Fault::Delay(Duration::from_millis(200)), 1);
    let client = FluentClient::new(emulator.config()).unwrap();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { ping(&client).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(emulator.login_count(), 1);
    assert_eq!(emulator.token_requests(), 1);
    assert_eq!(emulator.graphql_requests().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_renewed_before_expiry_by_a_fresh_login_without_refresh_token() {
    let emulator = FluentEmulator::builder()
        .token_lifetime(SHORT_LIFETIME)
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();
    ping(&client).await.unwrap();
    assert_eq!(emulator.login_count(), 1);

    tokio::time::sleep(PAST_EXPIRY).await;
    ping(&client).await.unwrap();
    assert_eq!(emulator.login_count(), 2);
    assert_eq!(emulator.refresh_count(), 0);
    // Renewed ahead of time: the expired token was never sent.
    assert_eq!(unauthorized_requests(&emulator), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_renewed_with_the_single_use_refresh_token() {
    let emulator = FluentEmulator::builder()
        .token_lifetime(SHORT_LIFETIME)
        .refresh_tokens(true)
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();

    tokio::time::sleep(PAST_EXPIRY).await;
    ping(&client).await.unwrap();
    assert_eq!((emulator.login_count(), emulator.refresh_count()), (1, 1));

    // The second renewal uses the refresh token issued by the first one
    // (the first was consumed); a reused token would fail and force a login.
    tokio::time::sleep(PAST_EXPIRY).await;
    ping(&client).await.unwrap();
    assert_eq!((emulator.login_count(), emulator.refresh_count()), (1, 2));
    assert_eq!(unauthorized_requests(&emulator), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_falls_back_to_a_fresh_login() {
    let emulator = FluentEmulator::builder()
        .token_lifetime(SHORT_LIFETIME)
        .refresh_tokens(true)
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();
    emulator.revoke_refresh_tokens();

    tokio::time::sleep(PAST_EXPIRY).await;
    ping(&client).await.unwrap();
    assert_eq!(emulator.refresh_count(), 0);
    assert_eq!(emulator.login_count(), 2);
    // login, rejected refresh, login
    assert_eq!(emulator.token_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_causes_exactly_one_relogin_then_the_call_succeeds() {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();
    emulator.expire_tokens();

    ping(&client).await.unwrap();
    assert_eq!(emulator.login_count(), 2);
    let requests = emulator.graphql_requests();
    let authorized: Vec<bool> = requests.iter().map(|r| r.authorized).collect();
    assert_eq!(authorized, vec![true, false, true]);

    // The new token is reused afterwards.
    ping(&client).await.unwrap();
    assert_eq!(emulator.login_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_uses_the_refresh_token_when_there_is_one() {
    let emulator = FluentEmulator::builder()
        .refresh_tokens(true)
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();
    emulator.expire_tokens();
    ping(&client).await.unwrap();
    assert_eq!((emulator.login_count(), emulator.refresh_count()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_share_one_relogin() {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    ping(&client).await.unwrap();
    emulator.expire_tokens();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { ping(&client).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(emulator.login_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_after_relogin_is_an_error_not_a_loop() {
    let emulator = FluentEmulator::start().await.unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    emulator.faults().inject_for(
        "/graphql",
        Fault::Status {
            status: 401,
            retry_after: None,
        },
        5,
    );
    let error = ping(&client).await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
    assert!(!error.is_retryable());
    assert!(error.is_auth());
    // One login, one re-login, two 401s consumed, nothing more.
    assert_eq!(emulator.login_count(), 2);
    assert_eq!(emulator.faults().pending(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error_after_one_request() {
    let emulator = FluentEmulator::start().await.unwrap();
    let mut config = emulator.config();
    config.password = Secret::new("not-the-password");
    let client = FluentClient::new(config).unwrap();

    let error = ping(&client).await.unwrap_err();
    match &error {
        Error::Auth { status, error, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(error.as_deref(), Some("invalid_grant"));
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("fluent.password"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(!format!("{error:?}").contains("not-the-password"));
    // Refused credentials fail every message alike: the runtime pauses
    // instead of dead-lettering (a systemic failure of `fluent`).
    let handler_error: HandlerError = error.into();
    assert_eq!(handler_error.kind(), ErrorKind::Systemic);
    assert_eq!(handler_error.dependency(), Some("fluent"));

    assert_eq!(emulator.token_requests(), 1);
    assert!(emulator.graphql_requests().is_empty());
    assert_eq!(emulator.login_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_costs_one_request_for_many_concurrent_callers() {
    let emulator = FluentEmulator::start().await.unwrap();
    emulator
        .faults()
        .inject_for("/oauth/token", Fault::Delay(Duration::from_millis(300)), 1);
    let mut config = emulator.config();
    config.password = Secret::new("wrong");
    let client = FluentClient::new(config).unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { ping(&client).await })
        })
        .collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert!(matches!(error, Error::Auth { .. }), "{error}");
    }
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_credentials_are_an_auth_error() {
    let emulator = FluentEmulator::start().await.unwrap();
    let mut config = emulator.config();
    config.client_secret = Secret::new("wrong");
    let client = FluentClient::new(config).unwrap();
    let error = client.authenticate().await.unwrap_err();
    assert!(matches!(error, Error::Auth { status: 401, .. }), "{error}");
    assert!(error.to_string().contains("invalid_client"), "{error}");
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_outages_are_retried() {
    let emulator = FluentEmulator::start().await.unwrap();
    emulator
        .faults()
        .inject_for("/oauth/token", Fault::unavailable(), 2);
    let client = FluentClient::new(emulator.config()).unwrap();
    client.authenticate().await.unwrap();
    assert_eq!(emulator.faults().pending(), 0);
    assert_eq!(emulator.login_count(), 1);
    ping(&client).await.unwrap();
    assert_eq!(emulator.login_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_never_shows_credentials_or_tokens() {
    let emulator = FluentEmulator::start().await.unwrap();
    let config = emulator.config();
    let client = FluentClient::new(config.clone()).unwrap();
    ping(&client).await.unwrap();
    let debug = format!("{client:?} {config:?}");
    assert!(!debug.contains(config.password.expose()), "{debug}");
    assert!(!debug.contains(config.client_secret.expose()), "{debug}");
    assert!(debug.contains(&config.username), "{debug}");
}
