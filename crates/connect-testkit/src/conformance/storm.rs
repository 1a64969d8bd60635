//! One seeded storm, then the checks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_commercetools::CommercetoolsClient;
use connect_core::config::ConfigDocument;
use connect_core::dead_letter::MemoryDeadLetters;
use connect_core::queue::{MemoryQueue, RawPayload};
use connect_core::runtime::Shutdown;
use connect_fluent::{FluentClient, WithHttpSettings};
use connect_runner::{Connector, QueuePair, RunReport};
use serde_json::Value;

use super::expect_impl::{id_of, version_field};
use super::ledger::{Key, Ledger, ObservedSink, ObservedSource};
use super::{Check, Conformance, Failure, Report};
use crate::chaos::{ChaosSink, DeliveryChaos};
use crate::commercetools::NotificationFormat;
use crate::{Fault, Sandbox};

/// How long a graceful stop may take.
pub(super) const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restart waits for the stopped connector's last requests.
pub(super) const DRAIN: Duration = Duration::from_secs(3);
/// How long the emulators must stay quiet after a graceful stop.
pub(super) const QUIET: Duration = Duration::from_millis(200);
/// How long the pipeline must stay idle, unconverged, before the checks are
/// made anyway (nothing is left to happen).
pub(super) const SETTLED: Duration = Duration::from_secs(3);
/// The most lines of history a failure prints.
pub(super) const HISTORY_LINES: usize = 40;

/// The connector under test, restarted at will.
pub(super) struct Pipeline<'a> {
    pub(super) conf: &'a Conformance,
    pub(super) env: BTreeMap<String, String>,
    /// The CT queue, for subscription routes.
    pub(super) ct_queue: Option<QueuePair<RawPayload>>,
    pub(super) dead_letters: Arc<MemoryDeadLetters>,
    pub(super) commercetools: CommercetoolsClient,
    pub(super) fluent: FluentClient,
    pub(super) running: Option<(Shutdown, tokio::task::JoinHandle<RunReport>)>,
}

impl<'a> Pipeline<'a> {
    /// A pipeline of `conf`'s connector against `sandbox`, with the kit's
    /// clients (short timeouts, so that faults bite) and no CT queue.
    pub(super) fn new(
        conf: &'a Conformance,
        sandbox: &Sandbox,
        dead_letters: &Arc<MemoryDeadLetters>,
    ) -> Result<Self, String> {
        let commercetools = CommercetoolsClient::new(
            sandbox
                .commercetools
                .config()
                .with_request_timeout(Duration::from_millis(500))
                .with_max_retries(2)
                .with_retry_initial_backoff(Duration::from_millis(10)),
        )
        .map_err(|e| format!("cannot build the commercetools client: {e}"))?;
        let fluent = FluentClient::new(
            sandbox
                .fluent
                .config()
                .with_request_timeout(Duration::from_secs(2))
                .with_max_retries(2),
        )
        .map_err(|e| format!("cannot build the Fluent client: {e}"))?;
        let mut env = sandbox.env();
        if let Ok(key) = sandbox.fluent.public_key_base64() {
            env.insert(super::PUBLIC_KEY_VAR.to_owned(), key);
        }
        env.extend(conf.env.clone());
        Ok(Self {
            conf,
            env,
            ct_queue: None,
            dead_letters: Arc::clone(dead_letters),
            commercetools,
            fluent,
            running: None,
        })
    }

    /// Builds and starts the connector; returns the URL of its Fluent
    /// webhook listener when the YAML has one.
    pub(super) async fn start(&mut self) -> Result<Option<String>, String> {
        let doc = ConfigDocument::from_yaml("application-connector.yml", self.conf.yaml.clone())
            .with_env(self.env.clone());
        let mut builder = Connector::builder(doc)
            .service(self.commercetools.clone())
            .service(self.fluent.clone())
            .dead_letters(Arc::clone(&self.dead_letters) as _)
            .receive(32, Duration::from_millis(20));
        if let Some(queue) = &self.ct_queue {
            builder = builder.ct_queue(queue.clone());
        }
        if let Some(registry) = &self.conf.registry {
            builder = builder.registry(registry());
        }
        let mut connector = builder.build().await.map_err(|e| format!("{e:?}"))?;
        let url = match connector.serve_webhooks().await {
            Ok(Some(addr)) => {
                let path = connector
                    .plan()
                    .webhooks()
                    .map(|w| w.fluent().path.clone())
                    .unwrap_or_default();
                Some(format!("http://{addr}{path}"))
            }
            Ok(None) => None,
            Err(e) => return Err(format!("cannot serve webhooks: {e}")),
        };
        let shutdown = Shutdown::new();
        let running = tokio::spawn(connector.run(shutdown.clone()));
        self.running = Some((shutdown, running));
        Ok(url)
    }

    /// Stops gracefully: in-flight work finishes or goes back to the queue.
    pub(super) async fn stop(&mut self) -> Result<Option<RunReport>, String> {
        let Some((shutdown, running)) = self.running.take() else {
            return Ok(None);
        };
        shutdown.trigger();
        match tokio::time::timeout(STOP_TIMEOUT, running).await {
            Err(_) => Err(format!(
                "a graceful stop did not end within {}s",
                STOP_TIMEOUT.as_secs()
            )),
            Ok(Err(panicked)) => Err(format!("the connector's task failed: {panicked}")),
            Ok(Ok(report)) => Ok(Some(report)),
        }
    }

    /// Drops everything mid-flight, settling nothing (a crash).
    pub(super) async fn crash(&mut self) {
        if let Some((_, running)) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }
}

#[derive(Default)]
pub(super) struct Tally {
    pub(super) ops: BTreeMap<String, u64>,
    pub(super) faults: BTreeMap<String, u64>,
    pub(super) restarts: BTreeMap<String, u64>,
}

impl Tally {
    pub(super) fn op(&mut self, what: String) {
        *self.ops.entry(what).or_default() += 1;
    }
    pub(super) fn restart(&mut self, what: &str) {
        *self.restarts.entry(what.to_owned()).or_default() += 1;
    }
}

/// Runs one seed.
pub(super) async fn run(conf: &Conformance, seed: u64, ops: usize) -> Result<Report, Failure> {
    let started = Instant::now();
    let replay = conf.replay_command(seed, ops);
    let setup = |problem: String| Failure::setup(seed, ops, replay.clone(), problem);
    if conf.expectations.is_empty() {
        return Err(setup(
            "no expectation: add one per resource type the connector syncs, e.g. `.expect(expect::customers())`, or one per webhook route, e.g. `.expect_webhooks(expect::order_statuses(settings))`".to_owned(),
        ));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let sandbox = Arc::new(
        Sandbox::start()
            .await
            .map_err(|e| setup(format!("cannot start the emulators on loopback: {e}")))?,
    );
    let ct = &sandbox.commercetools;
    let fluent = &sandbox.fluent;
    let queue = MemoryQueue::<RawPayload>::new(connect_runner::CT_QUEUE, 1_000_000);
    let delivery = DeliveryChaos {
        duplicate: 0.15,
        delay: 0.2,
        max_hold: 8,
    };
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let ledger = Arc::new(Ledger::new(
        conf.expectations.clone(),
        Arc::clone(&sandbox),
        Arc::clone(&dead_letters),
    ));
    let sink = Arc::new(ChaosSink::new(
        Arc::new(ObservedSink {
            inner: Arc::new(queue.clone()),
            ledger: Arc::clone(&ledger),
        }),
        delivery,
        rng.u64(..),
    ));
    let format = [
        NotificationFormat::ChangeNotifications,
        NotificationFormat::CloudEvents,
        NotificationFormat::EventBridge,
    ][rng.usize(0..3)];
    ct.subscribe(Arc::clone(&sink) as _, format);
    let source = ObservedSource {
        inner: Arc::new(queue.clone()),
        ledger: Arc::clone(&ledger),
    };
    let mut pipeline = Pipeline::new(conf, &sandbox, &dead_letters).map_err(setup)?;
    pipeline.ct_queue = Some(QueuePair {
        source: Arc::new(source),
        sink: Arc::new(queue.clone()),
    });
    pipeline
        .start()
        .await
        .map_err(|e| setup(format!("the connector could not start: {e}")))?;

    let kinds = conf.expectations.len();
    let mut live: Vec<Vec<Value>> = vec![Vec::new(); kinds];
    let mut tally = Tally::default();
    let mut outages: Vec<(Instant, &'static str)> = Vec::new();
    let mut deck = FaultDeck::default();
    let mut n = 0u64;

    for op in 0..ops {
        ledger.set_op(op as u64);
        let now = Instant::now();
        outages.retain(|(until, which)| {
            if *until > now {
                return true;
            }
            match *which {
                "fluent" => fluent.faults().clear(),
                _ => ct.faults().clear(),
            }
            false
        });
        let kind = rng.usize(0..kinds);
        let expectation = Arc::clone(&conf.expectations[kind]);
        let type_id = expectation.type_id().to_owned();
        n += 1;
        let roll = rng.u32(0..100);
        match roll {
            0..30 => {
                let draft = expectation.draft(n, &mut rng, &live[kind]);
                match ct.insert_resource(&type_id, draft).await {
                    Ok(created) => {
                        ledger.written(kind, &created, "created");
                        if !expectation.unprocessable(&created) {
                            live[kind].push(created);
                        }
                        tally.op(format!("{type_id} create"));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the storm's create was refused");
                        tally.op(format!("{type_id} create refused"));
                    }
                }
            }
            30..33 => {
                let Some(draft) = expectation.unprocessable_draft(n, &mut rng) else {
                    tally.op("pause".to_owned());
                    continue;
                };
                if let Ok(created) = ct.insert_resource(&type_id, draft).await {
                    ledger.written(kind, &created, "created");
                    tally.op(format!("{type_id} create unprocessable"));
                }
            }
            33..70 if !live[kind].is_empty() => {
                let index = rng.usize(0..live[kind].len());
                let mut changed = live[kind][index].clone();
                expectation.change(n, &mut rng, &mut changed, &live[kind]);
                let id = id_of(&changed).to_owned();
                match ct
                    .modify_resource(&type_id, &id, |resource| *resource = changed)
                    .await
                {
                    Ok(updated) => {
                        ledger.written(kind, &updated, "updated");
                        live[kind][index] = updated;
                        tally.op(format!("{type_id} update"));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the storm's update was refused");
                        tally.op(format!("{type_id} update refused"));
                    }
                }
            }
            70..76 if !live[kind].is_empty() => {
                let index = rng.usize(0..live[kind].len());
                if !expectation.deletable(&live[kind][index], &live[kind]) {
                    tally.op(format!("{type_id} delete skipped"));
                } else {
                    let resource = live[kind].swap_remove(index);
                    let key: Key = (kind, id_of(&resource).to_owned());
                    ledger.deleting(&key);
                    match ct.delete_resource(&type_id, &key.1).await {
                        Ok(_) => tally.op(format!("{type_id} delete")),
                        Err(e) => {
                            tracing::debug!(error = %e, "the storm's delete was refused");
                            tally.op(format!("{type_id} delete refused"));
                        }
                    }
                }
            }
            76..94 => {
                let name = inject(&sandbox, &mut rng, &mut deck, &mut outages);
                ledger.fault(name);
                *tally.faults.entry(name.to_owned()).or_default() += 1;
            }
            94..97 => {
                if rng.bool() {
                    ledger.fault("graceful restart");
                    let report = pipeline.stop().await;
                    check_stopped(&ledger, &queue, &sandbox, report, "a graceful restart").await;
                    tally.restart("graceful");
                } else {
                    ledger.fault("abrupt restart");
                    pipeline.crash().await;
                    tally.restart("abrupt");
                }
                drain(&sandbox).await;
                if let Err(e) = pipeline.start().await {
                    return Err(setup(format!("the connector could not restart: {e}")));
                }
            }
            _ => {
                pace(&queue, 0, Duration::from_millis(500)).await;
                tally.op("pause".to_owned());
            }
        }
        // Keep the workload interleaved with the pipeline: a small backlog,
        // not everything at once (bounded: an outage does not stall it).
        pace(&queue, 16, Duration::from_millis(150)).await;
    }
    ledger.set_op(ops as u64);

    // Calm: every fault cleared, every held payload delivered.
    fluent.faults().clear();
    ct.faults().clear();
    sink.set_chaos(DeliveryChaos::NONE);
    if let Err(e) = sink.flush().await {
        return Err(setup(format!("cannot deliver the held payloads: {e}")));
    }
    converge(conf, &ledger, &queue).await;

    // The checks.
    check_converged(&ledger);
    check_created_once(&ledger);
    check_dead_letters(&ledger).await;
    let report = pipeline.stop().await;
    check_stopped(&ledger, &queue, &sandbox, report, "the final shutdown").await;

    let state = ledger.lock();
    let mut deleted = 0;
    let mut unprocessable = 0;
    for track in state.tracks.values() {
        deleted += usize::from(track.deleted);
        unprocessable += usize::from(track.unprocessable && !track.deleted);
    }
    let stats = sink.stats();
    let report = Report {
        seed,
        operations: ops,
        by_kind: tally.ops,
        deliveries: state.deliveries,
        payloads: (stats.payloads, stats.duplicated, stats.delayed),
        faults: tally.faults,
        restarts: tally.restarts,
        resources: (state.tracks.len() - deleted, deleted, unprocessable),
        dead_letters: dead_letters.snapshot().len(),
        elapsed: started.elapsed(),
    };
    Failure::conclude(report, &state.findings, replay, |f| {
        let name = f.resource.as_ref()?;
        let (key, track) = state.tracks.iter().find(|(k, _)| ledger.name(k) == *name)?;
        Some(history(
            &ledger.name(key),
            &track.events,
            &state.faults,
            f.operation,
        ))
    })
}

/// The history of the first diverging resource up to the operation of its
/// finding, with the faults of the operations just before each of its
/// events.
pub(super) fn history(
    name: &str,
    events: &[(u64, String)],
    faults: &[(u64, String)],
    until: u64,
) -> Vec<String> {
    /// Faults this many operations before an event are shown with it.
    const NEAR: u64 = 3;
    let events: Vec<&(u64, String)> = events.iter().filter(|(op, _)| *op <= until).collect();
    let mut lines: Vec<(u64, String)> = events.iter().map(|e| (e.0, e.1.clone())).collect();
    lines.extend(
        faults
            .iter()
            .filter(|(op, _)| {
                *op <= until
                    && events
                        .iter()
                        .any(|(at, _)| (at.saturating_sub(NEAR)..=*at).contains(op))
            })
            .map(|(op, what)| (*op, format!("fault: {what}"))),
    );
    lines.sort_by_key(|(op, _)| *op);
    let total = lines.len();
    let first = lines.first().map_or(0, |(op, _)| *op);
    let mut out = vec![format!(
        "first diverging resource: {name} (operations {first} to {until}; its events, and faults up to {NEAR} operations before each):",
    )];
    if total > HISTORY_LINES {
        out.push(format!("  … {} earlier lines", total - HISTORY_LINES));
    }
    out.extend(
        lines
            .into_iter()
            .skip(total.saturating_sub(HISTORY_LINES))
            .map(|(op, what)| format!("  op {op}: {what}")),
    );
    out
}

/// Waits until every live resource holds and the dead letters are there,
/// or the pipeline stayed idle for [`SETTLED`], or the run's convergence
/// time passed.
async fn converge(conf: &Conformance, ledger: &Ledger, queue: &MemoryQueue<RawPayload>) {
    let deadline = Instant::now() + conf.converge_within;
    let mut idle_since: Option<Instant> = None;
    while Instant::now() < deadline {
        if queue.is_idle() {
            if divergences(ledger, 1).is_empty() && missing_dead_letters(ledger).is_empty() {
                return;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() > SETTLED {
                return;
            }
        } else {
            idle_since = None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Live resources Fluent does not hold as expected: `(key, what)`.
fn divergences(ledger: &Ledger, limit: usize) -> Vec<(Key, String)> {
    let systems = ledger.systems();
    let mut found = Vec::new();
    let keys: Vec<Key> = {
        let state = ledger.lock();
        let mut keys: Vec<Key> = state
            .tracks
            .iter()
            .filter(|(_, t)| !t.deleted)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    };
    for key in keys {
        let expectation = &ledger.expectations[key.0];
        let Some(current) = systems
            .commercetools
            .resource(expectation.type_id(), &key.1)
        else {
            continue;
        };
        if expectation.unprocessable(&current) {
            continue;
        }
        if let Err(divergence) = expectation.holds(&current, systems) {
            found.push((
                key.clone(),
                format!(
                    "{} (commercetools version {}) {divergence}",
                    ledger.name(&key),
                    version_field(&current)
                ),
            ));
            if found.len() >= limit {
                break;
            }
        }
    }
    found
}

/// Live unprocessable resources without a dead letter.
fn missing_dead_letters(ledger: &Ledger) -> Vec<Key> {
    let dead: BTreeSet<String> = dead_letter_ids(&ledger.dead_letters).into_keys().collect();
    let state = ledger.lock();
    let mut missing: Vec<Key> = state
        .tracks
        .iter()
        .filter(|(k, t)| t.unprocessable && !t.deleted && !dead.contains(&k.1))
        .map(|(k, _)| k.clone())
        .collect();
    missing.sort();
    missing
}

/// The resource ids of the dead letters, with the error of one.
pub(super) fn dead_letter_ids(dead_letters: &MemoryDeadLetters) -> BTreeMap<String, String> {
    dead_letters
        .snapshot()
        .into_iter()
        .filter_map(|letter| {
            let id = letter.message.as_ref()?.resource_id()?.to_owned();
            Some((id, letter.error))
        })
        .collect()
}

fn check_converged(ledger: &Ledger) {
    for (key, what) in divergences(ledger, 20) {
        ledger.finding(
            Check::Converges,
            Some(ledger.name(&key)),
            format!("after the storm, {what}"),
        );
    }
}

fn check_created_once(ledger: &Ledger) {
    let systems = ledger.systems();
    let keys: Vec<Key> = {
        let state = ledger.lock();
        state.tracks.keys().cloned().collect()
    };
    let creations: Vec<_> = ledger
        .expectations
        .iter()
        .map(|e| e.creations(systems))
        .collect();
    let mut twice: Vec<(Key, usize)> = keys
        .into_iter()
        .filter_map(|key| {
            let created = creations[key.0].get(&key.1).copied().unwrap_or(0);
            (created > 1).then_some((key, created))
        })
        .collect();
    twice.sort();
    for (key, created) in twice {
        ledger.finding(
            Check::CreatedOnce,
            Some(ledger.name(&key)),
            format!(
                "{} was created {created} times in Fluent (a handler that creates where it should look up)",
                ledger.name(&key)
            ),
        );
    }
}

async fn check_dead_letters(ledger: &Ledger) {
    let dead = dead_letter_ids(&ledger.dead_letters);
    let wrong: Vec<(Key, String)> = {
        let state = ledger.lock();
        let mut wrong: Vec<(Key, String)> = state
            .tracks
            .iter()
            .filter(|(k, t)| !t.unprocessable && dead.contains_key(&k.1))
            .map(|(k, _)| (k.clone(), dead[&k.1].clone()))
            .collect();
        wrong.sort();
        wrong
    };
    for (key, error) in wrong {
        ledger.finding(
            Check::DeadLetters,
            Some(ledger.name(&key)),
            format!(
                "{} was dead-lettered though the expectation can process it: {error}",
                ledger.name(&key)
            ),
        );
    }
    for key in missing_dead_letters(ledger) {
        ledger.finding(
            Check::DeadLetters,
            Some(ledger.name(&key)),
            format!(
                "{} is unprocessable but has no dead letter",
                ledger.name(&key)
            ),
        );
    }
}

/// Check 6 after a graceful stop: the run ended, no delivery is still held,
/// and Fluent receives nothing more.
async fn check_stopped(
    ledger: &Ledger,
    queue: &MemoryQueue<RawPayload>,
    sandbox: &Sandbox,
    report: Result<Option<RunReport>, String>,
    when: &str,
) {
    let op = ledger.op();
    if let Err(problem) = report {
        ledger.finding(
            Check::NothingInFlight,
            None,
            format!("{when} (operation {op}): {problem}"),
        );
        return;
    }
    let held = queue.in_flight();
    if held > 0 {
        ledger.finding(
            Check::NothingInFlight,
            None,
            format!("after {when} (operation {op}), {held} deliveries were still in flight, neither settled nor returned to the queue"),
        );
    }
    // Requests the emulator is still answering were sent before the stop
    // (a client that gave up does not stop the server); a request that
    // starts afterwards is work that outlived the connector.
    let fluent = sandbox.fluent.faults();
    let before = fluent.requests("/graphql");
    tokio::time::sleep(QUIET).await;
    let after = fluent.requests("/graphql");
    let started = |c: crate::RequestCount| c.served + c.active as u64;
    let new = started(after).saturating_sub(started(before));
    if new > 0 {
        ledger.finding(
            Check::NothingInFlight,
            None,
            format!(
                "after {when} (operation {op}) returned, {new} more requests reached Fluent within {} ms: work spawned by a handler outlives the connector",
                QUIET.as_millis()
            ),
        );
    }
}

/// Waits (at most [`DRAIN`]) until neither emulator is still answering a
/// request of the stopped connector: a request it sent before it stopped
/// (or crashed) is still carried out by the server, and a write landing
/// after its successor's writes is not the handler's doing.
pub(super) async fn drain(sandbox: &Sandbox) {
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline
        && (sandbox.fluent.faults().requests("").active > 0
            || sandbox.commercetools.faults().requests("").active > 0)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many kinds of fault [`inject`] knows: one per arm of its `match`
/// (the last arm, an outage, takes whatever is left).
const FAULT_KINDS: u32 = 13;

/// The order in which a storm meets its faults: every kind once per
/// [`FAULT_KINDS`] faults, shuffled by the seed. Drawn independently, a
/// short run could miss a kind altogether (a 200-operation run meets
/// about 36 faults, and none of them an outage in one run of eighteen),
/// and a handler that only breaks in an outage would pass.
#[derive(Debug, Default)]
pub(super) struct FaultDeck(Vec<u32>);

impl FaultDeck {
    fn draw(&mut self, rng: &mut fastrand::Rng) -> u32 {
        if self.0.is_empty() {
            self.0 = (0..FAULT_KINDS).collect();
            rng.shuffle(&mut self.0);
        }
        self.0.pop().unwrap_or_default()
    }
}

/// Injects the next fault of the deck, and returns its name.
pub(super) fn inject(
    sandbox: &Sandbox,
    rng: &mut fastrand::Rng,
    deck: &mut FaultDeck,
    outages: &mut Vec<(Instant, &'static str)>,
) -> &'static str {
    let ct = &sandbox.commercetools;
    let fluent = &sandbox.fluent;
    let times = rng.usize(1..6);
    match deck.draw(rng) {
        0 => {
            fluent
                .faults()
                .inject_for("/graphql", Fault::too_many_requests(1), times);
            "fluent 429 Retry-After"
        }
        1 => {
            fluent
                .faults()
                .inject_for("/graphql", Fault::unavailable(), times);
            "fluent 503"
        }
        2 => {
            fluent
                .faults()
                .inject_for("/graphql", Fault::DropConnection, times);
            "fluent dropped connection"
        }
        3 => {
            // Slower than usual, within the request timeout.
            fluent
                .faults()
                .inject_for("/graphql", Fault::Delay(Duration::from_millis(300)), times);
            "fluent slow answer"
        }
        4 => {
            fluent.expire_tokens();
            "fluent token expiry"
        }
        5 => {
            fluent.expire_tokens();
            fluent.faults().inject_for(
                "/oauth/token",
                Fault::Status {
                    status: 401,
                    retry_after: None,
                },
                rng.usize(2..6),
            );
            "fluent token 401 burst"
        }
        6 => {
            fluent.faults().inject_for(
                "/oauth/token",
                Fault::Delay(Duration::from_millis(2_500)),
                1,
            );
            fluent.expire_tokens();
            "fluent token timeout"
        }
        7 => {
            ct.faults().inject(Fault::too_many_requests(1), times);
            "commercetools 429 Retry-After"
        }
        8 => {
            ct.faults().inject(Fault::unavailable(), times);
            "commercetools 503"
        }
        9 => {
            ct.faults().inject(Fault::DropConnection, times);
            "commercetools dropped connection"
        }
        10 => {
            // Over the 500 ms request timeout: reads time out.
            ct.faults()
                .inject(Fault::Delay(Duration::from_millis(800)), times);
            "commercetools timeout"
        }
        11 => {
            ct.expire_tokens();
            "commercetools token expiry"
        }
        _ => {
            let (name, which) = if rng.bool() {
                fluent
                    .faults()
                    .inject_for("/graphql", Fault::unavailable(), usize::MAX / 2);
                ("fluent outage", "fluent")
            } else {
                ct.faults().inject(Fault::unavailable(), usize::MAX / 2);
                ("commercetools outage", "commercetools")
            };
            let length = Duration::from_millis(rng.u64(1_000..3_000));
            outages.push((Instant::now() + length, which));
            name
        }
    }
}

/// Waits until at most `backlog` payloads wait or are in flight in the CT
/// queue, or `limit` passed.
async fn pace(queue: &MemoryQueue<RawPayload>, backlog: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && queue.len() + queue.in_flight() > backlog {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{FAULT_KINDS, FaultDeck};

    #[test]
    fn the_deck_deals_every_kind_once_per_round_in_the_seeds_order() {
        let deal = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut deck = FaultDeck::default();
            (0..FAULT_KINDS * 3)
                .map(|_| deck.draw(&mut rng))
                .collect::<Vec<_>>()
        };
        let dealt = deal(7);
        for round in dealt.chunks(FAULT_KINDS as usize) {
            let mut kinds = round.to_vec();
            kinds.sort_unstable();
            assert_eq!(kinds, (0..FAULT_KINDS).collect::<Vec<_>>(), "{dealt:?}");
        }
        assert_eq!(dealt, deal(7), "one seed, one order");
        assert_ne!(dealt, deal(8), "another seed, another order");
    }
}
