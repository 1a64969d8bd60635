#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Fluent Setting store against the Fluent emulator of connect-testkit,
//! which serves the Setting subset of Fluent's schema
//! (`connect_testkit::fixtures::fluent::SCHEMA_SETTING`): every document
//! the store sends is validated against it, and the emulator keeps
//! settings with Fluent's rules (unique name per context and contextId,
//! update by id, the documented value types and contexts, contextId 0 for
//! ACCOUNT).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use connect_core::queue::MemoryQueue;
use connect_core::{Message, Services};
use connect_fluent::FluentClient;
use connect_jobs::{
    Clock, FluentSettingStore, JobConfig, JobContext, JobError, JobHandler, JobOutcome,
    JobRegistry, JobState, JobsConfig, Schedule, Scheduler, SettingContext, StateError, StateStore,
};
use connect_testkit::fluent::FluentEmulator;
use serde_json::{Value, json};

const TTL: Duration = Duration::from_secs(30);

async fn emulator() -> FluentEmulator {
    FluentEmulator::builder()
        .retailer_id("42")
        .start()
        .await
        .unwrap()
}

fn store(emulator: &FluentEmulator, context: SettingContext) -> FluentSettingStore {
    FluentSettingStore::new(FluentClient::new(emulator.config()).unwrap(), context)
        .unwrap()
        .with_settle(Duration::from_millis(100))
}

fn stored(emulator: &FluentEmulator, name: &str) -> Vec<Value> {
    emulator.settings_named(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trips_through_a_json_setting_per_job() {
    let emulator = emulator().await;
    let store = store(&emulator, SettingContext::Account);
    assert_eq!(store.load("customer-delta").await.unwrap(), None);

    let mut state = JobState::default();
    state.runs = 2;
    state.checkpoint = Some(json!({ "lastModifiedAt": "2026-03-01T11:58:00.000Z" }));
    store.save("customer-delta", &state).await.unwrap();
    assert_eq!(
        store.load("customer-delta").await.unwrap(),
        Some(state.clone())
    );
    state.runs = 3;
    store.save("customer-delta", &state).await.unwrap();
    // A fresh store (a restart) reads what the first one wrote.
    let again = self::store(&emulator, SettingContext::Account);
    assert_eq!(
        again.load("customer-delta").await.unwrap(),
        Some(state.clone())
    );

    let setting = stored(&emulator, "connect.job.customer-delta");
    assert_eq!(
        setting.len(),
        1,
        "one setting per job, updated in place: {setting:?}"
    );
    assert_eq!(setting[0]["valueType"], "JSON");
    assert_eq!(setting[0]["context"], "ACCOUNT");
    assert_eq!(setting[0]["contextId"], 0);
    assert_eq!(setting[0]["lobValue"]["runs"], 3);
    assert_eq!(emulator.mutation_count("createSetting"), 1);
    assert_eq!(emulator.mutation_count("updateSetting"), 1);
    assert!(
        emulator.mutations().iter().all(|m| m.error.is_none()),
        "{:?}",
        emulator.mutations()
    );

    // The RETAILER context uses the retailer id, and a prefix of one's own.
    let retailer = self::store(&emulator, SettingContext::Retailer).with_name_prefix("acme.");
    retailer
        .save("customer-delta", &JobState::default())
        .await
        .unwrap();
    let setting = stored(&emulator, "acme.customer-delta");
    assert_eq!(
        (
            setting[0]["context"].clone(),
            setting[0]["contextId"].clone()
        ),
        (json!("RETAILER"), json!(42))
    );
    assert_eq!(retailer.describe(), "fluent-setting acme.* in RETAILER 42");
    // ... and does not see the ACCOUNT one.
    assert_eq!(
        self::store(&emulator, SettingContext::Retailer)
            .load("customer-delta")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_exclude_expire_after_a_crash_and_fence_checkpoints() {
    let emulator = emulator().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let a = store(&emulator, SettingContext::Account).with_clock(clock.clone());
    let b = store(&emulator, SettingContext::Account).with_clock(clock.clone());

    let lease = a
        .try_acquire("job", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        b.try_acquire("job", "replica-b", TTL)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(b.holder("job").await.unwrap().unwrap().holder, "replica-a");
    a.save_checkpoint(&lease, &json!({ "n": 1 })).await.unwrap();
    assert_eq!(
        b.load("job").await.unwrap().unwrap().checkpoint,
        Some(json!({ "n": 1 }))
    );
    assert_eq!(stored(&emulator, "connect.job.job.lease").len(), 1);

    // Released: free at once.
    a.release(&lease).await.unwrap();
    assert_eq!(b.holder("job").await.unwrap(), None);
    let lease = a
        .try_acquire("job", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();

    // Replica a crashes holding it: free after the ttl, not before.
    clock.advance(Duration::from_secs(29));
    assert!(
        b.try_acquire("job", "replica-b", TTL)
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(Duration::from_secs(2));
    let taken = b
        .try_acquire("job", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();

    // The old holder can neither renew nor write a checkpoint.
    assert_eq!(a.renew(&lease, TTL).await.unwrap(), None);
    let refused = a
        .save_checkpoint(&lease, &json!({ "n": 2 }))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StateError::LeaseLost { holder: Some(h), .. } if h == "replica-b"),
        "{refused}"
    );
    assert_eq!(
        b.load("job").await.unwrap().unwrap().checkpoint,
        Some(json!({ "n": 1 }))
    );
    let renewed = b.renew(&taken, TTL).await.unwrap().unwrap();
    assert_eq!(renewed.token, taken.token);
    assert_eq!(
        stored(&emulator, "connect.job.job.lease").len(),
        1,
        "one lease setting, updated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replicas_get_one_lease_and_keep_every_jobs_state() {
    let emulator = emulator().await;
    let stores: Vec<Arc<FluentSettingStore>> = (0..6)
        .map(|_| {
            Arc::new(
                store(&emulator, SettingContext::Account).with_settle(Duration::from_millis(300)),
            )
        })
        .collect();

    // A lease nobody ever held: the create race is decided by Fluent's
    // unique name per context.
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = Arc::clone(s);
            tokio::spawn(
                async move { s.try_acquire("fresh", &format!("r{i}"), TTL).await.unwrap() },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        stores[0].holder("fresh").await.unwrap().unwrap().token,
        winners[0].token
    );

    // A released lease, raced for at once: the last write wins for every
    // replica's read-back.
    stores[0].release(&winners[0]).await.unwrap();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = Arc::clone(s);
            tokio::spawn(
                async move { s.try_acquire("fresh", &format!("r{i}"), TTL).await.unwrap() },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");

    // Replicas saving the state of different jobs at once lose nothing.
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let mut state = JobState::default();
                state.runs = i as u64;
                s.save(&format!("job-{i}"), &state).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for i in 0..stores.len() {
        let state = stores[(i + 1) % stores.len()]
            .load(&format!("job-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.runs, i as u64);
    }
    assert!(
        emulator
            .mutations()
            .iter()
            .filter_map(|m| m.error.as_deref())
            .all(|e| e.starts_with("C0409E")),
        "only lost create races are refused: {:?}",
        emulator.mutations()
    );
}

#[derive(Debug)]
struct Watermark;

#[connect_core::async_trait]
impl JobHandler for Watermark {
    async fn run(&self, ctx: &JobContext<'_>) -> Result<JobOutcome, JobError> {
        let n = ctx
            .last_checkpoint()
            .and_then(|c| c.value["n"].as_u64())
            .unwrap_or(0);
        ctx.checkpoint(json!({ "n": n + 1 })).await?;
        Ok(JobOutcome::done())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_keeps_its_run_records_in_fluent() {
    let emulator = emulator().await;
    let store = Arc::new(store(&emulator, SettingContext::Account));
    let mut config = JobsConfig::default();
    config.jobs.push(JobConfig::new(
        "watermark",
        "Watermark",
        Schedule::parse("every 1h").unwrap(),
    ));
    let scheduler = Scheduler::build(
        &config,
        &JobRegistry::new().with("Watermark", |_| Ok(Watermark)),
        Arc::new(Services::new()),
        store.clone(),
        Arc::new(MemoryQueue::<Message>::new("events", 1)),
    )
    .unwrap();
    for _ in 0..2 {
        assert!(scheduler.run_now("watermark").await.unwrap().is_success());
    }
    let state = store.load("watermark").await.unwrap().unwrap();
    assert_eq!(state.checkpoint, Some(json!({ "n": 2 })));
    assert_eq!(state.runs, 2);
    assert!(state.last_success.is_some());
    assert_eq!(store.holder("watermark").await.unwrap(), None, "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_refuses_setting_documents_that_fluent_refuses() {
    let emulator = emulator().await;
    let client = FluentClient::new(emulator.config()).unwrap();
    let create =
        "mutation($input: CreateSettingInput) { createSetting(input: $input) { id name } }";
    let input = |context: &str, context_id: i64, value_type: &str| {
        json!({ "input": {
            "name": "connect.job.x", "valueType": value_type, "lobValue": { "a": 1 },
            "context": context, "contextId": context_id,
        } })
    };
    client
        .graphql_value(create, &input("ACCOUNT", 0, "JSON"))
        .await
        .unwrap();
    for (variables, code) in [
        (input("ACCOUNT", 0, "JSON"), "C0409E"),
        (input("ACCOUNT", 7, "JSON"), "C0400E"),
        (input("PLANET", 0, "JSON"), "C0400E"),
        (input("ACCOUNT", 0, "XML"), "C0400E"),
    ] {
        let error = client.graphql_value(create, &variables).await.unwrap_err();
        assert!(error.to_string().contains(code), "{variables}: {error}");
    }
    // A field the Setting subset does not have fails validation.
    let error = client
        .graphql_value(
            "query { settings(name: [\"connect.job.x\"]) { edges { node { id colour } } } }",
            &json!({}),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("colour"), "{error}");
    assert_eq!(emulator.settings().len(), 1);
}
