#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! The bundled `CommercetoolsDeltaScan` job, run by the scheduler with the
//! connector's job services and a file state store: it closes the gap of
//! missed subscription events, its checkpoint survives a run that dies
//! mid-way, and an unchanged project costs one commercetools request per
//! page, one Fluent read per customer and no Fluent write.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use connect_commercetools::{CustomerDraft, CustomerUpdateAction};
use connect_core::queue::MemoryQueue;
use connect_core::runtime::Shutdown;
use connect_jobs::{
    FileStateStore, JobRegistry, JobsConfig, RunError, RunOutcome, Scheduler, StateStore,
};
use connect_runner::{BackfillOptions, Connector, DeltaCheckpoint};
use connect_testkit::Fault;
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;

const JOB: &str = "customer-delta";

/// The pipeline configuration plus a delta job on customers.
fn yaml(props: &str) -> String {
    format!(
        "{}jobs:\n  - job: {JOB}\n    handler: CommercetoolsDeltaScan\n    schedule: every 15m\n    props: {{ resource: customer{props} }}\n",
        common::yaml("")
    )
}

async fn connector(ct: &CommercetoolsEmulator, fluent: &FluentEmulator, props: &str) -> Connector {
    Harness::connector_yaml(ct, fluent, yaml(props), MemoryQueue::new("ct", 10))
        .await
        .0
}

/// A scheduler of the connector's jobs over `store` (a new "process" each
/// call).
fn scheduler(connector: &Connector, store: Arc<dyn StateStore>) -> Scheduler {
    let doc = connector.plan().document();
    let config = JobsConfig::from_document(doc).unwrap();
    let registry = JobRegistry::linked();
    config.check_handlers(doc, &registry).unwrap();
    Scheduler::build(
        &config,
        &registry,
        connector.job_services(),
        store,
        Arc::new(MemoryQueue::new("events", 10)),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .with_lease_ttl(Duration::from_secs(3))
}

fn seed(ct: &CommercetoolsEmulator, n: usize) -> Vec<String> {
    seed_from(ct, 0, n)
}

/// `n` customers numbered from `first`, created without notifications.
fn seed_from(ct: &CommercetoolsEmulator, first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let draft = CustomerDraft::new(format!("delta{i}@example.com"))
                .with_name("Delta", format!("{i}"));
            ct.insert_customer_silently(draft).unwrap().id
        })
        .collect()
}

/// Every commercetools customer is in Fluent with its names.
fn level(ct: &CommercetoolsEmulator, fluent: &FluentEmulator) -> Result<(), String> {
    for customer in ct.customers() {
        let Some(found) = fluent.customer(&customer.id) else {
            return Err(format!("{} is not in Fluent", customer.id));
        };
        if found.first_name != customer.first_name || found.last_name != customer.last_name {
            return Err(format!(
                "{}: Fluent has {:?} {:?}, commercetools {:?} {:?}",
                customer.id,
                found.first_name,
                found.last_name,
                customer.first_name,
                customer.last_name
            ));
        }
    }
    Ok(())
}

fn scanned(ct: &CommercetoolsEmulator) -> u64 {
    ct.resource_stats("customers").query_results
}

async fn checkpoint(store: &FileStateStore) -> Option<DeltaCheckpoint> {
    let state = store.load(JOB).await.unwrap()?;
    state
        .checkpoint
        .map(|value| DeltaCheckpoint::from_value(&value).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_job_alone_brings_fluent_level_after_missed_events_and_then_writes_nothing() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ids = seed(&ct, 40);
    let connector = connector(&ct, &fluent, "").await;
    let store = Arc::new(FileStateStore::new(dir.path().join("state.json")));

    // No checkpoint yet: the first run loads everything.
    let first = scheduler(&connector, store.clone())
        .run_now(JOB)
        .await
        .unwrap();
    assert!(first.is_success(), "{first:?}");
    level(&ct, &fluent).unwrap();
    let after_first = checkpoint(&store).await.expect("a checkpoint");
    assert_eq!(fluent.customers().len(), 40);

    // The subscription is down (nothing subscribes): 5 customers change and
    // 3 are created, and Fluent hears of none of it.
    for id in &ids[..5] {
        ct.update_customer(
            id,
            vec![CustomerUpdateAction::SetFirstName {
                first_name: Some("Changed".to_owned()),
            }],
        )
        .await
        .unwrap();
    }
    seed_from(&ct, 40, 3);
    assert!(level(&ct, &fluent).is_err(), "Fluent drifted");

    let second = scheduler(&connector, store.clone())
        .run_now(JOB)
        .await
        .unwrap();
    assert!(second.is_success(), "{second:?}");
    level(&ct, &fluent).unwrap_or_else(|e| panic!("after the delta run: {e}"));
    assert_eq!(fluent.customers().len(), 43);
    let after_second = checkpoint(&store).await.expect("a checkpoint");
    assert!(after_second.last_modified_at > after_first.last_modified_at);
    let RunOutcome::Succeeded(outcome) = &second.outcome else {
        unreachable!()
    };
    let text = outcome.text().unwrap_or_default();
    assert!(text.contains("created 3, updated 5"), "{text}");

    // Right after: nothing changed, so no Fluent write at all.
    let mutations = fluent.mutations().len();
    let third = scheduler(&connector, store.clone())
        .run_now(JOB)
        .await
        .unwrap();
    assert!(third.is_success(), "{third:?}");
    assert_eq!(
        fluent.mutations().len(),
        mutations,
        "a run over an unchanged project wrote to Fluent"
    );
    for id in ct.customers().iter().map(|c| c.id.clone()) {
        assert_eq!(fluent.create_count(&id), 1, "{id} created more than once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_survives_a_run_that_dies_and_the_next_repeats_at_most_the_overlap() {
    const CUSTOMERS: usize = 400;
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    seed(&ct, CUSTOMERS);
    let connector = connector(&ct, &fluent, ", overlap: 5ms, page-size: 25").await;
    let path = dir.path().join("state.json");

    // Handlers held busy: every Fluent request waits.
    fluent
        .faults()
        .inject(Fault::Delay(Duration::from_millis(20)), 100_000);
    let first = scheduler(&connector, Arc::new(FileStateStore::new(&path)));
    let run = tokio::spawn(async move { first.run_now(JOB).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    while fluent.customers().len() < 150 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Give the throttled checkpoint a chance to have been written once.
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The run dies: its future (and with it its runtime) is dropped
    // mid-way, holding the lease, as a killed process would.
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    fluent.faults().clear();
    let landed = fluent.customers().len();
    assert!(landed < CUSTOMERS, "the run finished before it was stopped");

    let store = Arc::new(FileStateStore::new(&path));
    let saved = checkpoint(&store)
        .await
        .expect("the dead run saved a checkpoint");
    // It advanced only over settled customers: each one up to it landed.
    let customers = ct.customers();
    let through: Vec<_> = customers
        .iter()
        .filter(|c| {
            (c.last_modified_at, c.id.as_str())
                <= (
                    saved.last_modified_at,
                    saved.id.as_deref().unwrap_or_default(),
                )
        })
        .collect();
    assert!(
        through.len() >= 100,
        "the checkpoint lags far behind: {}",
        through.len()
    );
    for customer in &through {
        assert!(
            fluent.customer(&customer.id).is_some(),
            "{} is before the checkpoint but not in Fluent",
            customer.id
        );
    }
    let since = saved.last_modified_at - chrono::Duration::milliseconds(5);
    let window = customers
        .iter()
        .filter(|c| c.last_modified_at >= since && c.last_modified_at <= saved.last_modified_at)
        .count();
    let after_checkpoint = CUSTOMERS - through.len();
    // What landed after the checkpoint: in flight when it died, or
    // settled since the last throttled save.
    let in_flight = landed.saturating_sub(through.len());
    assert!(
        in_flight <= 100,
        "the checkpoint lags {in_flight} customers behind what landed"
    );

    // A new process: it waits for the dead run's lease to expire, then
    // starts at checkpoint − overlap.
    let second = scheduler(&connector, store.clone());
    let before = scanned(&ct);
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        match second.run_now(JOB).await {
            Err(RunError::Busy { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert!(report.is_success(), "{report:?}");
    let rescanned = scanned(&ct) - before;
    println!(
        "delta crash: {landed} landed before the run died, checkpoint after {} customers, \
         second run scanned {rescanned} = {after_checkpoint} after the checkpoint + {} again \
         (overlap window {window}, in flight {in_flight})",
        through.len(),
        rescanned as usize - after_checkpoint,
    );
    // It repeats at most the overlap window (the checkpoint's own
    // customer included) of what the first run had settled.
    assert!(
        rescanned as usize <= after_checkpoint + window,
        "rescanned {rescanned} > {after_checkpoint} + {window}"
    );
    assert!(
        rescanned as usize >= after_checkpoint,
        "the second run skipped customers"
    );
    level(&ct, &fluent).unwrap();
    for customer in &customers {
        assert_eq!(
            fluent.create_count(&customer.id),
            1,
            "{} created twice",
            customer.id
        );
    }
}

/// `DELTA_SCAN_CUSTOMERS` customers (default 2,000).
fn project_size() -> usize {
    std::env::var("DELTA_SCAN_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_scan_of_an_unchanged_project_costs_a_request_per_page_a_read_per_customer_and_no_write()
 {
    let n = project_size();
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    seed(&ct, n);
    let connector = connector(&ct, &fluent, "").await;
    let summary = connector
        .backfill(
            "customers",
            BackfillOptions::default(),
            Shutdown::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(summary.created, n as u64);

    let queries = ct.resource_stats("customers").queries;
    let requests = fluent.graphql_requests().len();
    let mutations = fluent.mutations().len();
    let started = Instant::now();
    let scheduler = scheduler(
        &connector,
        Arc::new(FileStateStore::new(dir.path().join("s.json"))),
    );
    let report = scheduler.run_now(JOB).await.unwrap();
    let elapsed = started.elapsed();
    assert!(report.is_success(), "{report:?}");
    let ct_requests = ct.resource_stats("customers").queries - queries;
    let fluent_requests = fluent.graphql_requests().len() - requests;
    let fluent_writes = fluent.mutations().len() - mutations;
    println!(
        "delta scan of an unchanged project of {n} customers: {ct_requests} commercetools requests \
         (page size 500), {fluent_requests} Fluent reads, {fluent_writes} Fluent writes, {:.2}s",
        elapsed.as_secs_f64()
    );
    // Pages of 500, and one more when the last page is full.
    assert_eq!(ct_requests as usize, n / 500 + 1);
    assert_eq!(fluent_requests, n, "one Fluent read per customer");
    assert_eq!(fluent_writes, 0);
    let RunOutcome::Succeeded(outcome) = &report.outcome else {
        unreachable!()
    };
    assert!(
        outcome
            .text()
            .unwrap_or_default()
            .contains(&format!("unchanged {n}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_job_names_the_registered_syncs_for_an_unknown_resource() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let yaml = |resource: &str| {
        format!(
            "{}jobs:\n  - job: {JOB}\n    handler: CommercetoolsDeltaScan\n    schedule: every 15m\n    props: {{ resource: {resource}, overlap: 2m }}\n",
            common::yaml("")
        )
    };
    // Refused when the file is read (as `connect validate` does), at the
    // job's line, with the registered syncs.
    let error = Connector::builder(connect_core::config::ConfigDocument::from_yaml(
        "test.yml",
        yaml("custmer"),
    ))
    .service(ct.client().unwrap())
    .service(connect_fluent::FluentClient::new(fluent.config()).unwrap())
    .build()
    .await
    .expect_err("an unknown resource");
    let text = error.to_string();
    assert!(text.contains("test.yml:"), "{text}");
    assert!(text.contains("jobs[0].props"), "{text}");
    assert!(text.contains("`custmer`"), "{text}");
    assert!(text.contains("`customer` (`customers`)"), "{text}");
    assert!(text.contains("`category` (`categories`)"), "{text}");
    // Without the route feed among its services, the job says how to get it.
    let (connector, _) =
        Harness::connector_yaml(&ct, &fluent, yaml("customer"), MemoryQueue::new("ct", 10)).await;
    let config = JobsConfig::from_document(connector.plan().document()).unwrap();
    let error = Scheduler::build(
        &config,
        &JobRegistry::linked(),
        Arc::new(connect_core::Services::new()),
        Arc::new(connect_jobs::MemoryStateStore::new()),
        Arc::new(MemoryQueue::new("events", 10)),
    )
    .expect_err("no route feed");
    assert!(error.to_string().contains("job_services"), "{error}");
}
