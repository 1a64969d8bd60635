//! The main job, on the embedded default, with no setup:
//!
//! ```text
//! cargo run --example customer_sync
//! ```
//!
//! It starts a local commercetools and a local Fluent OMS (the testkit
//! emulators) in this process, builds the connector from
//! `examples/application-connector.yml` (in-memory CT and event queues),
//! then creates, updates and deletes customers in commercetools over HTTP.
//! Each write's subscription payload flows through the real path: CT queue →
//! listener → event queue → runtime → `CommercetoolsCustomerUpsert` →
//! Fluent. It prints what landed in Fluent, throughput and latency, and exits
//! 0 only if Fluent matches commercetools.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_sdk::commercetools::{
    Address, CustomFieldsDraft, Customer, CustomerDraft, CustomerUpdateAction, ResourceIdentifier,
};
use connect_sdk::config::ConfigDocument;
use connect_sdk::queue::{MemoryQueue, RawPayload};
use connect_sdk::runner::{Connector, QueuePair};
use connect_sdk::runtime::Shutdown;
use connect_testkit::Sandbox;
use connect_testkit::commercetools::NotificationFormat;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/application-connector.yml"
);

/// First name, last name, city, country, phone, loyalty tier.
const PEOPLE: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "Ada",
        "Lovelace",
        "London",
        "GB",
        "+44 20 7946 0101",
        "gold",
    ),
    (
        "Grace",
        "Hopper",
        "New York",
        "US",
        "+1 212 555 0102",
        "platinum",
    ),
    (
        "Alan",
        "Turing",
        "Manchester",
        "GB",
        "+44 161 496 0103",
        "silver",
    ),
    (
        "Katherine",
        "Johnson",
        "Hampton",
        "US",
        "+1 757 555 0104",
        "gold",
    ),
    (
        "Linus",
        "Torvalds",
        "Helsinki",
        "FI",
        "+358 9 4242 0105",
        "bronze",
    ),
    (
        "Margaret",
        "Hamilton",
        "Boston",
        "US",
        "+1 617 555 0106",
        "gold",
    ),
    (
        "Edsger",
        "Dijkstra",
        "Rotterdam",
        "NL",
        "+31 10 555 0107",
        "silver",
    ),
    (
        "Barbara",
        "Liskov",
        "Los Angeles",
        "US",
        "+1 213 555 0108",
        "gold",
    ),
    (
        "Donald",
        "Knuth",
        "Milwaukee",
        "US",
        "+1 414 555 0109",
        "platinum",
    ),
    (
        "Frances",
        "Allen",
        "Peru",
        "US",
        "+1 607 555 0110",
        "silver",
    ),
    (
        "Tim",
        "Berners-Lee",
        "London",
        "GB",
        "+44 20 7946 0111",
        "gold",
    ),
    ("Hedy", "Lamarr", "Vienna", "AT", "+43 1 555 0112", "bronze"),
    (
        "John",
        "von Neumann",
        "Budapest",
        "HU",
        "+36 1 555 0113",
        "gold",
    ),
    (
        "Radia",
        "Perlman",
        "Portsmouth",
        "US",
        "+1 603 555 0114",
        "silver",
    ),
    (
        "Ken",
        "Thompson",
        "New Orleans",
        "US",
        "+1 504 555 0115",
        "bronze",
    ),
    (
        "Sophie",
        "Wilson",
        "Leeds",
        "GB",
        "+44 113 496 0116",
        "gold",
    ),
    (
        "Niklaus",
        "Wirth",
        "Winterthur",
        "CH",
        "+41 52 555 0117",
        "silver",
    ),
    (
        "Adele",
        "Goldberg",
        "Cleveland",
        "US",
        "+1 216 555 0118",
        "gold",
    ),
    (
        "Bjarne",
        "Stroustrup",
        "Aarhus",
        "DK",
        "+45 86 555 0119",
        "bronze",
    ),
    (
        "Shafi",
        "Goldwasser",
        "New York",
        "US",
        "+1 212 555 0120",
        "platinum",
    ),
    (
        "Leslie",
        "Lamport",
        "New York",
        "US",
        "+1 212 555 0121",
        "gold",
    ),
    (
        "Mary Kenneth",
        "Keller",
        "Cleveland",
        "US",
        "+1 216 555 0122",
        "silver",
    ),
    (
        "Guido",
        "van Rossum",
        "Haarlem",
        "NL",
        "+31 23 555 0123",
        "gold",
    ),
    (
        "Lynn",
        "Conway",
        "Mount Vernon",
        "US",
        "+1 914 555 0124",
        "silver",
    ),
    (
        "Alan",
        "Kay",
        "Springfield",
        "US",
        "+1 413 555 0125",
        "bronze",
    ),
    (
        "Evelyn",
        "Boyd Granville",
        "Washington",
        "US",
        "+1 202 555 0126",
        "gold",
    ),
    (
        "Dennis",
        "Ritchie",
        "Bronxville",
        "US",
        "+1 914 555 0127",
        "platinum",
    ),
    (
        "Joan",
        "Clarke",
        "West Norwood",
        "GB",
        "+44 20 7946 0128",
        "gold",
    ),
    (
        "Vint",
        "Cerf",
        "New Haven",
        "US",
        "+1 203 555 0129",
        "silver",
    ),
    ("Anita", "Borg", "Chicago", "US", "+1 312 555 0130", "gold"),
];

#[tokio::main]
async fn main() -> ExitCode {
    let _ = connect_sdk::cli::init_logging(Some("warn"), connect_sdk::cli::LogFormat::Text);
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn Error>> {
    let sandbox = Sandbox::start().await?;
    let dead_letters = tempfile_path();
    let mut env = sandbox.env();
    env.insert(
        "DEAD_LETTER_FILE".to_owned(),
        dead_letters.display().to_string(),
    );

    // The in-memory CT queue the local commercetools delivers to, as a
    // Subscription delivers to SQS in production.
    let ct_queue = MemoryQueue::<RawPayload>::new("ct-queue", 10_000);
    sandbox.commercetools.subscribe(
        Arc::new(ct_queue.clone()),
        NotificationFormat::ChangeNotifications,
    );

    let connector = Connector::builder(ConfigDocument::from_file(CONFIG)?.with_env(env))
        .ct_queue(QueuePair::memory(ct_queue.clone()))
        .receive(64, Duration::from_millis(20))
        .build()
        .await?;
    let metrics = connector.metrics();
    let listener = connector.listener_metrics();
    let shutdown = Shutdown::new();
    let running = tokio::spawn(connector.run(shutdown.clone()));

    println!(
        "connect-sdk customer sync: local commercetools → in-memory queues → local Fluent OMS"
    );
    println!("  config        {CONFIG}");
    println!(
        "  commercetools {} (project {})",
        sandbox.commercetools.api_url(),
        sandbox.commercetools.project_key()
    );
    println!(
        "  Fluent        {} (retailer {})",
        sandbox.fluent.base_url(),
        sandbox.fluent.retailer_id()
    );

    let ct = sandbox.commercetools.client()?;
    let started = Instant::now();

    // Create customers over the commercetools HTTP API.
    let mut customers: Vec<Customer> = Vec::new();
    for (i, (first, last, city, country, phone, tier)) in PEOPLE.iter().enumerate() {
        let email = format!(
            "{}.{}@example.com",
            first.to_lowercase().replace(' ', "-"),
            last.to_lowercase().replace(' ', "-")
        );
        let mut draft = CustomerDraft::new(email)
            .with_password("S3cure!pass")
            .with_key(format!("cust-{:04}", 1001 + i))
            .with_name(*first, *last);
        draft.customer_number = Some(format!("{}", 1001 + i));
        let mut address = Address::new(*country);
        address.city = Some((*city).to_owned());
        address.phone = Some((*phone).to_owned());
        draft.addresses = vec![address];
        draft.default_shipping_address = Some(0);
        draft.custom = Some(CustomFieldsDraft {
            type_ref: ResourceIdentifier::by_key("type", "customer-profile"),
            fields: Some(serde_json::Map::from_iter([
                ("loyaltyTier".to_owned(), serde_json::json!(tier)),
                ("marketingOptIn".to_owned(), serde_json::json!(i % 3 == 0)),
            ])),
        });
        customers.push(ct.create_customer(&draft).await?);
    }
    println!("→ created {} customers in commercetools", customers.len());

    // Update some: new emails, corrected names, new phones, an opt-in.
    let mut updates = 0;
    for (i, customer) in customers.iter_mut().enumerate() {
        let actions = match i % 5 {
            0 => vec![CustomerUpdateAction::ChangeEmail {
                email: format!(
                    "{}@new-domain.example",
                    customer.key.clone().unwrap_or_default()
                ),
            }],
            1 => vec![CustomerUpdateAction::SetLastName {
                last_name: Some(format!(
                    "{} (verified)",
                    customer.last_name.clone().unwrap_or_default()
                )),
            }],
            2 => vec![CustomerUpdateAction::SetCustomField {
                name: "marketingOptIn".to_owned(),
                value: Some(serde_json::json!(true)),
            }],
            _ => continue,
        };
        *customer = ct
            .update_customer(&customer.id, customer.version, actions)
            .await?;
        updates += 1;
    }
    // A burst of updates to one customer: coalesced into a single sync.
    let busy = &mut customers[3];
    for n in 1..=5 {
        *busy = ct
            .update_customer(
                &busy.id,
                busy.version,
                vec![CustomerUpdateAction::SetTitle {
                    title: Some(format!("Dr {n}")),
                }],
            )
            .await?;
        updates += 1;
    }
    println!("→ made {updates} updates (emails, names, opt-ins, a burst of 5 on one customer)");

    // Delete two: acknowledged (on-delete: acknowledge keeps them in Fluent).
    let deleted: Vec<Customer> = customers.drain(customers.len() - 2..).collect();
    for customer in &deleted {
        ct.delete_customer(&customer.id, customer.version).await?;
    }
    println!("→ deleted {} customers", deleted.len());

    let snapshot =
        connect_testkit::wait_idle(&ct_queue, &listener, &metrics, Duration::from_secs(60)).await?;
    let elapsed = started.elapsed();
    shutdown.trigger();
    let report = running.await?;

    // What landed in Fluent, next to commercetools.
    println!();
    println!(
        "{:<36}  {:<34}  {:<28}  {:<7}  {:>4}  {:>6}  MATCH",
        "FLUENT USERNAME (= ct id)", "EMAIL", "NAME", "COUNTRY", "CT v", "FL v"
    );
    let mut mismatches = 0;
    for customer in &customers {
        let current = ct.customer(&customer.id).await?;
        let fluent = sandbox.fluent.customer(&current.id);
        let (ok, email, name, country, version) = match &fluent {
            Some(f) => {
                let version = f
                    .attribute("commercetools.version")
                    .and_then(|a| a.value.as_u64())
                    .unwrap_or(0);
                let opt_in = current
                    .custom_field("marketingOptIn")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false);
                // The version attribute records the commercetools version of
                // the last *write*: a change to fields Fluent does not hold
                // (or to the same value) writes nothing, so it may lag.
                let ok = f.primary_email.as_deref() == Some(current.email.as_str())
                    && f.first_name == current.first_name
                    && f.last_name == current.last_name
                    && f.title == current.title
                    && f.country.as_deref()
                        == current.addresses.first().map(|a| a.country.as_str())
                    && f.promotion_opt_in == Some(opt_in)
                    && version >= 1
                    && version <= current.version;
                let name = format!(
                    "{} {}",
                    f.first_name.clone().unwrap_or_default(),
                    f.last_name.clone().unwrap_or_default()
                );
                (
                    ok,
                    f.primary_email.clone().unwrap_or_default(),
                    name,
                    f.country.clone().unwrap_or_default(),
                    version,
                )
            }
            None => (
                false,
                "(missing)".to_owned(),
                String::new(),
                String::new(),
                0,
            ),
        };
        if !ok {
            mismatches += 1;
        }
        println!(
            "{:<36}  {:<34}  {:<28}  {:<7}  {:>4}  {:>6}  {}",
            current.id,
            truncate(&email, 34),
            truncate(&name, 28),
            country,
            current.version,
            version,
            if ok { "yes" } else { "NO" }
        );
    }
    let in_fluent = sandbox.fluent.customers().len();
    println!();
    println!(
        "{} customers in commercetools (+{} deleted, kept in Fluent), {} in Fluent, {}",
        customers.len(),
        deleted.len(),
        in_fluent,
        if mismatches == 0 {
            "all match".to_owned()
        } else {
            format!("{mismatches} MISMATCH")
        }
    );
    let l = &report.listener.metrics;
    println!(
        "pipeline: {} notifications → {} created, {} updated, {} unchanged (no write), {} filtered (deletions, not in the route's inclusion filter), {} coalesced, {} retried, {} dead-lettered",
        l.received,
        snapshot.outcome("created"),
        snapshot.outcome("updated"),
        snapshot.outcome("unchanged"),
        snapshot.filtered,
        snapshot.coalesced,
        snapshot.retried,
        snapshot.dead_lettered + l.dead_lettered,
    );
    println!(
        "throughput: {:.0} notifications/s end to end ({} in {:.2}s, including the commercetools writes); handler latency p50 ≤ {:?}, p99 ≤ {:?}, max {:?}",
        l.received as f64 / elapsed.as_secs_f64(),
        l.received,
        elapsed.as_secs_f64(),
        snapshot.latency.p50,
        snapshot.latency.p99,
        snapshot.latency.max
    );
    let _ = std::fs::remove_file(&dead_letters);
    Ok(mismatches == 0
        && in_fluent == customers.len() + deleted.len()
        && snapshot.dead_lettered == 0)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

fn tempfile_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("connect-sdk-example-{}.jsonl", std::process::id()))
}
