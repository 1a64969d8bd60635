#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A backfill trusts the scan's order only after checking it: a server
//! that pages out of id order makes the backfill fail as a refused scan,
//! naming the ids seen, with no resume point, and never as an
//! interruption; an ordered scan of the same project then finishes with
//! nothing unfinished.

mod common;

use common::Harness;
use connect_commercetools::sync::{ResourceSync, ScanRequest, ScanStream};
use connect_commercetools::{CommercetoolsClient, CustomerDraft, Scan};
use connect_core::queue::MemoryQueue;
use connect_core::runtime::Shutdown;
use connect_runner::{BackfillOptions, RunnerError};
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;
use futures_util::StreamExt;

const CUSTOMERS: usize = 77;

/// `CUSTOMERS` customers in commercetools, their ids ascending.
fn seed(ct: &CommercetoolsEmulator) -> Vec<String> {
    let mut ids: Vec<String> = (0..CUSTOMERS)
        .map(|i| {
            let draft = CustomerDraft::new(format!("customer{i}@example.com"))
                .with_name("Scan", format!("{i}"));
            ct.insert_customer_silently(draft).unwrap().id
        })
        .collect();
    ids.sort();
    ids
}

fn pages_of(page_size: u32) -> BackfillOptions {
    BackfillOptions {
        page_size,
        ..BackfillOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_pages_out_of_order_fails_the_scan_not_as_an_interruption() {
    let ct = CommercetoolsEmulator::builder()
        .unordered_pages(true)
        .start()
        .await
        .unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ids = seed(&ct);
    let (connector, dead_letters) =
        Harness::connector(&ct, &fluent, "", MemoryQueue::new("ct", 10)).await;

    let result = connector
        .backfill("customers", pages_of(20), Shutdown::new(), |_| {})
        .await;
    let (summary, cause, text) = match result {
        Err(error @ RunnerError::ScanRefused { .. }) => {
            let text = error.to_string();
            let RunnerError::ScanRefused { summary, cause, .. } = error else {
                unreachable!()
            };
            (summary, cause, text)
        }
        Err(other) => panic!("expected a refused scan, got {other:?}"),
        Ok(summary) => panic!("expected a refused scan, got {summary:?}"),
    };
    assert!(cause.is_out_of_order(), "{cause:?}");
    // The first page is the 20 lowest ids, descending: the second one is
    // the first to come before the one ahead of it.
    assert!(
        text.contains(&format!("`{}` came after `{}`", ids[18], ids[19])),
        "{text}"
    );
    assert!(text.contains("customers"), "{text}");
    assert!(text.contains("ascending ids"), "{text}");
    assert!(text.contains("--after"), "{text}");
    assert!(text.contains("unsafe"), "{text}");
    // Nothing of the refused page was sent; nothing is left unfinished;
    // no id is offered as a place to resume.
    assert_eq!(summary.scanned, 0, "{summary:?}");
    assert_eq!(summary.unfinished, 0, "{summary:?}");
    assert_eq!(summary.resume_after, None, "{summary:?}");
    assert!(fluent.customers().is_empty());
    assert!(dead_letters.is_empty());

    // The same backfill against a server that keeps `sort=id asc`: every
    // customer lands, nothing is interrupted or unfinished.
    ct.set_unordered_pages(false);
    let summary = connector
        .backfill("customers", pages_of(20), Shutdown::new(), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!summary.interrupted, "{summary:?}");
    assert_eq!(summary.unfinished, 0, "{summary:?}");
    assert_eq!(summary.scanned, CUSTOMERS as u64);
    assert_eq!(summary.created, CUSTOMERS as u64, "{summary:?}");
    assert_eq!(summary.resume_after.as_ref(), ids.last());
    assert_eq!(fluent.customers().len(), CUSTOMERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_server_backfills_everything_uninterrupted_even_in_one_resource_pages() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ids = seed(&ct);
    let (connector, _) = Harness::connector(&ct, &fluent, "", MemoryQueue::new("ct", 10)).await;
    for page_size in [1, 7, 500] {
        let summary = connector
            .backfill("customers", pages_of(page_size), Shutdown::new(), |_| {})
            .await
            .unwrap_or_else(|e| panic!("page size {page_size}: {e:?}"));
        assert!(!summary.interrupted, "page size {page_size}: {summary:?}");
        assert_eq!(summary.unfinished, 0, "page size {page_size}: {summary:?}");
        assert_eq!(summary.scanned, CUSTOMERS as u64, "page size {page_size}");
        assert_eq!(summary.resume_after.as_ref(), ids.last());
    }
    assert_eq!(fluent.customers().len(), CUSTOMERS);
}

/// A custom scan whose pages each ascend but which then goes back: every
/// customer in order, then the first one again.
fn going_back(client: &CommercetoolsClient, request: &ScanRequest) -> ScanStream {
    let all = client.scan_json("customers", Scan::all().page_size(request.page_size));
    let first_again = client
        .scan_json("customers", Scan::all().page_size(1))
        .take(1);
    all.chain(first_again).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_scan_that_goes_back_is_refused_after_what_it_read_was_handled() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let ids = seed(&ct);
    let (connector, dead_letters) =
        Harness::connector(&ct, &fluent, "", MemoryQueue::new("ct", 10)).await;
    let sync = ResourceSync::new(
        "customer",
        "customers",
        common::ROUTE,
        "CommercetoolsCustomerUpsert",
    )
    .scan_with(going_back);

    let error = connector
        .backfill_sync(&sync, pages_of(10), Shutdown::new(), |_| {})
        .await
        .expect_err("the scan goes back");
    let text = error.to_string();
    let RunnerError::ScanRefused { summary, cause, .. } = error else {
        panic!("expected a refused scan, got {error:?}");
    };
    assert!(cause.is_out_of_order(), "{cause:?}");
    let last = ids.last().unwrap();
    assert!(
        text.contains(&format!("`{}` came after `{last}`", ids[0])),
        "{text}"
    );
    // Every customer read before the refusal was handled; none is
    // unfinished, and still no id is offered to resume from.
    assert_eq!(summary.scanned, CUSTOMERS as u64, "{summary:?}");
    assert_eq!(summary.created, CUSTOMERS as u64, "{summary:?}");
    assert_eq!(summary.unfinished, 0, "{summary:?}");
    assert_eq!(summary.resume_after, None, "{summary:?}");
    assert_eq!(fluent.customers().len(), CUSTOMERS);
    assert!(dead_letters.is_empty());
}
