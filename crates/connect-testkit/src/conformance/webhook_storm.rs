//! One seeded storm of Fluent webhooks (Fluent → commercetools routes),
//! then the checks.
//!
//! The kit plays Fluent: it moves entities through their workflow, signs
//! the webhook of each change with the emulator's key and POSTs it to the
//! connector's `listeners.fluent-webhook`, resending what is not answered
//! 2xx (as Fluent does) to whichever instance runs, for at most
//! [`ANSWER_WITHIN`]. Webhooks are duplicated and held back (so they
//! arrive late and out of order), both systems fail as in the subscription
//! storm, and the connector restarts gracefully and abruptly.
//!
//! The checks, as a webhook route reads them:
//! 1. at the end, every counterpart holds what the entity's final Fluent
//!    state calls for, and every webhook was answered 2xx;
//! 2. commercetools holds no counterpart the kit did not create;
//! 3. dead letters are exactly the entities without a counterpart, and no
//!    signed webhook is refused with a 4xx (Fluent would drop it);
//! 4. no field of a counterpart goes back to the value of an older state
//!    than one it was seen holding (checked at every 2xx);
//! 5. when a webhook is answered 2xx, its counterpart holds the fields of
//!    that state or a later one (unless another webhook of the entity is
//!    still unanswered: the runtime coalesces a burst into its newest
//!    message, and the older ones are answered with it);
//! 6. after a graceful stop, no webhook request is left open and
//!    commercetools receives nothing more.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use connect_core::dead_letter::MemoryDeadLetters;
use connect_runner::RunReport;
use tokio::sync::watch;

use super::expect_impl::Systems;
use super::storm::{
    FaultDeck, HISTORY_LINES, Pipeline, QUIET, SETTLED, Tally, drain, history, inject,
};
use super::webhook_expect::{Fields, WebhookExpectation};
use super::{Check, Conformance, Failure, Finding, Report};
use crate::Sandbox;
use crate::fluent::{SIGNATURE_HEADER, Webhook};

/// How long the kit resends one webhook before it counts as lost.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);
/// How long one attempt may take (Fluent's webhook timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(14);
/// The pause before a webhook is sent again.
const RESEND_AFTER: Duration = Duration::from_millis(50);
/// The webhooks the storm lets wait for an answer before it goes on.
const BACKLOG: usize = 16;
/// How long open requests may take to see their answer after a graceful
/// stop returned.
const ANSWERED_AFTER_STOP: Duration = Duration::from_secs(1);

/// One Fluent entity of the storm.
struct Entity {
    kind: usize,
    /// Its states, in the order Fluent moved it (position 0: created).
    history: Vec<String>,
    /// Its counterpart's fields when it was created.
    initial: Fields,
    unprocessable: bool,
    /// Webhooks of it not answered 2xx yet.
    open: usize,
    /// By field: the earliest state the counterpart was seen to have
    /// reached.
    seen: BTreeMap<String, usize>,
    events: Vec<(u64, String)>,
}

#[derive(Default)]
struct State {
    op: u64,
    entities: BTreeMap<String, Entity>,
    findings: Vec<Finding>,
    faults: Vec<(u64, String)>,
    /// POSTs made, resends included.
    attempts: u64,
    /// POSTs waiting for their answer now.
    in_request: usize,
    /// Webhooks sent (duplicates included), duplicated, held back.
    payloads: (u64, u64, u64),
}

struct Ledger {
    expectations: Vec<Arc<dyn WebhookExpectation>>,
    sandbox: Arc<Sandbox>,
    dead_letters: Arc<MemoryDeadLetters>,
    state: Mutex<State>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn systems(&self) -> Systems<'_> {
        Systems {
            commercetools: &self.sandbox.commercetools,
            fluent: &self.sandbox.fluent,
        }
    }

    fn name(&self, id: &str, kind: usize) -> String {
        format!("{} {id}", self.expectations[kind].kind())
    }

    fn finding(state: &mut State, check: Check, resource: Option<String>, message: String) {
        let operation = state.op;
        state.findings.push(Finding {
            check,
            resource,
            message,
            operation,
        });
    }

    /// Counts a webhook of entity `id` as no longer open (noting `event`,
    /// if any); the entity's name.
    fn close(&self, state: &mut State, id: &str, event: Option<String>) -> String {
        let op = state.op;
        let Some(entity) = state.entities.get_mut(id) else {
            return String::new();
        };
        entity.open = entity.open.saturating_sub(1);
        if let Some(event) = event {
            entity.events.push((op, event));
        }
        self.name(id, entity.kind)
    }

    fn event(&self, id: &str, what: String) {
        let mut state = self.lock();
        let op = state.op;
        if let Some(entity) = state.entities.get_mut(id) {
            entity.events.push((op, what));
        }
    }

    /// The positions in the entity's history whose write leaves `field`
    /// at `value`: the states that map it to `value`, and 0 when it is the
    /// value the counterpart was created with. A state that maps no value
    /// for `field` leaves it as it was, so while the handler reads Fluent's
    /// current state (and may skip states that passed meanwhile) these are
    /// the only positions a value proves.
    fn setters(&self, entity: &Entity, field: &str, value: Option<&String>) -> Vec<usize> {
        let expectation = &self.expectations[entity.kind];
        let mut positions: Vec<usize> = entity
            .history
            .iter()
            .enumerate()
            .filter(|(_, state)| expectation.target(state).get(field) == value)
            .map(|(q, _)| q)
            .collect();
        if entity.initial.get(field) == value && positions.first() != Some(&0) {
            positions.insert(0, 0);
        }
        positions
    }

    /// Whether the counterpart shows a write of a state at or after
    /// `position`: some state `c >= position` whose every mapped field
    /// holds a value no state before `c` alone explains. A state that maps
    /// nothing needs no write.
    fn written_since(&self, entity: &Entity, position: usize, counterpart: &Fields) -> bool {
        let expectation = &self.expectations[entity.kind];
        (position..entity.history.len()).any(|c| {
            expectation.target(&entity.history[c]).keys().all(|field| {
                self.setters(entity, field, counterpart.get(field))
                    .last()
                    .is_some_and(|high| *high >= c)
            })
        })
    }

    fn fields(&self, entity: &Entity) -> BTreeSet<String> {
        let expectation = &self.expectations[entity.kind];
        let mut fields: BTreeSet<String> = entity.initial.keys().cloned().collect();
        for state in &entity.history {
            fields.extend(expectation.target(state).into_keys());
        }
        fields
    }

    /// Checks 4 and 5 when a webhook of state `answered` (a position in the
    /// entity's history) was answered 2xx.
    fn answered(&self, id: &str, answered: usize) {
        let systems = self.systems();
        let mut guard = self.lock();
        let state = &mut *guard;
        let op = state.op;
        let Some(entity) = state.entities.get_mut(id) else {
            return;
        };
        entity.open = entity.open.saturating_sub(1);
        let name = self.name(id, entity.kind);
        let sent = entity.history.get(answered).cloned().unwrap_or_default();
        let Some(counterpart) = self.expectations[entity.kind].counterpart(id, systems) else {
            entity.events.push((
                op,
                format!("answered 2xx: the webhook of {sent} (#{answered}); no counterpart"),
            ));
            return;
        };
        entity.events.push((
            op,
            format!("answered 2xx: the webhook of {sent} (#{answered}); commercetools holds {counterpart:?}"),
        ));
        if entity.unprocessable {
            return;
        }
        let mut findings = Vec::new();
        for field in self.fields(entity) {
            let value = counterpart.get(&field);
            let positions = self.setters(entity, &field, value);
            let (Some(&low), Some(&high)) = (positions.first(), positions.last()) else {
                findings.push((
                    Check::NoRegression,
                    format!(
                        "{name}: commercetools holds {field} = {value:?}, which no state of its Fluent history {:?} calls for",
                        entity.history
                    ),
                ));
                continue;
            };
            let seen = entity.seen.entry(field.clone()).or_insert(low);
            if high < *seen {
                findings.push((
                    Check::NoRegression,
                    format!(
                        "{name} went back: commercetools {field} is {value:?} (the value of Fluent state {} #{high}) after it had held that of state {} #{seen}",
                        entity.history[high], entity.history[*seen]
                    ),
                ));
            }
            *seen = (*seen).max(low);
        }
        if entity.open == 0 && !self.written_since(entity, answered, &counterpart) {
            findings.push((
                Check::AckAfterWrite,
                format!(
                    "{name}: the webhook of Fluent state {sent} #{answered} was answered 2xx while commercetools held {counterpart:?}, which no write of that state or a later one leaves: acknowledged before its write",
                ),
            ));
        }
        for (check, message) in findings {
            Self::finding(state, check, Some(name.clone()), message);
        }
    }
}

/// Fluent's webhook delivery, as the kit plays it.
struct Sender {
    ledger: Arc<Ledger>,
    url: watch::Sender<Option<String>>,
    http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sender {
    /// Sends `webhook` (state `position` of entity `id`) until it is
    /// answered 2xx, refused with a 4xx, or [`ANSWER_WITHIN`] passed.
    fn send(&mut self, id: &str, position: usize, webhook: &Webhook) {
        let body = webhook.body();
        let signature = match self.ledger.sandbox.fluent.sign(&body) {
            Ok(signature) => signature,
            Err(e) => {
                let mut state = self.ledger.lock();
                Ledger::finding(
                    &mut state,
                    Check::Converges,
                    None,
                    format!("the kit cannot sign webhooks: {e}"),
                );
                return;
            }
        };
        {
            let mut state = self.ledger.lock();
            state.payloads.0 += 1;
            if let Some(entity) = state.entities.get_mut(id) {
                entity.open += 1;
            }
        }
        let ledger = Arc::clone(&self.ledger);
        let mut url = self.url.subscribe();
        let http = self.http.clone();
        let id = id.to_owned();
        self.tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + ANSWER_WITHIN;
            let mut attempts = 0u32;
            while Instant::now() < deadline {
                let target = match tokio::time::timeout_at(
                    deadline.into(),
                    url.wait_for(Option::is_some),
                )
                .await
                {
                    Ok(Ok(target)) => target.clone(),
                    _ => None,
                };
                let Some(target) = target else { break };
                attempts += 1;
                {
                    let mut state = ledger.lock();
                    state.attempts += 1;
                    state.in_request += 1;
                }
                let sent = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .header(SIGNATURE_HEADER, &signature)
                    .timeout(ATTEMPT_TIMEOUT)
                    .body(body.clone())
                    .send()
                    .await;
                let answer = match sent {
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        Ok((status, text))
                    }
                    Err(e) => Err(e),
                };
                ledger.lock().in_request -= 1;
                match answer {
                    Ok((status, _)) if status.is_success() => {
                        ledger.answered(&id, position);
                        return;
                    }
                    Ok((status, text)) if status.is_client_error() => {
                        let mut guard = ledger.lock();
                        let state = &mut *guard;
                        let name = ledger.close(state, &id, Some(format!("refused {status}")));
                        Ledger::finding(
                            state,
                            Check::DeadLetters,
                            Some(name.clone()),
                            format!(
                                "the signed webhook of {name} (state #{position}) was refused with {status}: {text}; Fluent does not resend a 4xx, so it is neither handled nor dead-lettered"
                            ),
                        );
                        return;
                    }
                    Ok((status, _)) => {
                        ledger.event(&id, format!("attempt {attempts} answered {status}"));
                    }
                    Err(e) => {
                        let what = if e.is_timeout() {
                            "timed out"
                        } else {
                            "connection failed"
                        };
                        ledger.event(&id, format!("attempt {attempts} {what}"));
                    }
                }
                tokio::time::sleep(RESEND_AFTER).await;
            }
            let mut guard = ledger.lock();
            let state = &mut *guard;
            let name = ledger.close(state, &id, None);
            Ledger::finding(
                state,
                Check::Converges,
                Some(name.clone()),
                format!(
                    "the webhook of {name} (state #{position}) was not answered 2xx in {attempts} attempts over {}s",
                    ANSWER_WITHIN.as_secs()
                ),
            );
        }));
    }

    fn point_at(&self, url: Option<String>) {
        self.url.send_replace(url);
    }

    /// Webhooks not answered yet.
    fn open(&self) -> usize {
        self.ledger.lock().entities.values().map(|e| e.open).sum()
    }
}

/// A webhook held back until operation `until`.
struct Held {
    until: u64,
    id: String,
    position: usize,
    webhook: Webhook,
}

/// Runs one seed through the webhook storm.
pub(super) async fn run(conf: &Conformance, seed: u64, ops: usize) -> Result<Report, Failure> {
    let started = Instant::now();
    let replay = conf.replay_command(seed, ops);
    let setup = |problem: String| Failure::setup(seed, ops, replay.clone(), problem);
    // Another stream than the subscription storm's of the same seed.
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x0f1e_e7b0_0c5e_ed00);
    let sandbox = Arc::new(
        Sandbox::start()
            .await
            .map_err(|e| setup(format!("cannot start the emulators on loopback: {e}")))?,
    );
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let ledger = Arc::new(Ledger {
        expectations: conf.webhook_expectations.clone(),
        sandbox: Arc::clone(&sandbox),
        dead_letters: Arc::clone(&dead_letters),
        state: Mutex::new(State::default()),
    });
    let mut pipeline = Pipeline::new(conf, &sandbox, &dead_letters).map_err(setup)?;
    let url = pipeline
        .start()
        .await
        .map_err(|e| setup(format!("the connector could not start: {e}")))?;
    let Some(url) = url else {
        return Err(setup(format!(
            "the connector serves no webhooks: give its YAML a `listeners.fluent-webhook` block (listen: 127.0.0.1:0, public-keys: [\"${{{}}}\"]) and a `webhook-mapping` to the route",
            super::PUBLIC_KEY_VAR
        )));
    };
    let (url_tx, _) = watch::channel(Some(url));
    let mut sender = Sender {
        ledger: Arc::clone(&ledger),
        url: url_tx,
        http: reqwest::Client::new(),
        tasks: Vec::new(),
    };

    let kinds = ledger.expectations.len();
    let systems = Systems {
        commercetools: &sandbox.commercetools,
        fluent: &sandbox.fluent,
    };
    let mut live: Vec<Vec<String>> = vec![Vec::new(); kinds];
    let mut held: Vec<Held> = Vec::new();
    let mut tally = Tally::default();
    let mut outages: Vec<(Instant, &'static str)> = Vec::new();
    let mut deck = FaultDeck::default();
    let mut n = 0u64;

    for op in 0..ops {
        let op = op as u64;
        ledger.lock().op = op;
        let now = Instant::now();
        outages.retain(|(until, which)| {
            if *until > now {
                return true;
            }
            match *which {
                "fluent" => sandbox.fluent.faults().clear(),
                _ => sandbox.commercetools.faults().clear(),
            }
            false
        });
        let (due, later): (Vec<Held>, Vec<Held>) = held.drain(..).partition(|h| h.until <= op);
        held = later;
        for h in due {
            ledger.event(&h.id, format!("held webhook of #{} sent", h.position));
            sender.send(&h.id, h.position, &h.webhook);
        }
        let kind = rng.usize(0..kinds);
        let expectation = Arc::clone(&ledger.expectations[kind]);
        let what = expectation.kind().to_owned();
        n += 1;
        let changed = match rng.u32(0..100) {
            roll @ 0..28 => {
                let unprocessable = roll >= 25;
                match expectation.create(n, &mut rng, unprocessable, systems) {
                    Ok(id) => {
                        let first = expectation.state(&id, systems).unwrap_or_default();
                        let initial = expectation.counterpart(&id, systems).unwrap_or_default();
                        ledger.lock().entities.insert(
                            id.clone(),
                            Entity {
                                kind,
                                history: vec![first.clone()],
                                initial,
                                unprocessable,
                                open: 0,
                                seen: BTreeMap::new(),
                                events: vec![(op, format!("created in {first}"))],
                            },
                        );
                        live[kind].push(id.clone());
                        tally.op(format!(
                            "{what} create{}",
                            if unprocessable { " unprocessable" } else { "" }
                        ));
                        Some(id)
                    }
                    Err(e) => {
                        return Err(setup(format!(
                            "the expectation cannot create a {what}: {e}"
                        )));
                    }
                }
            }
            28..70 if !live[kind].is_empty() => {
                let index = rng.usize(0..live[kind].len());
                let id = live[kind][index].clone();
                match expectation.advance(&mut rng, &id, systems) {
                    Ok(Some(next)) => {
                        if let Some(entity) = ledger.lock().entities.get_mut(&id) {
                            entity.history.push(next.clone());
                            entity.events.push((op, format!("moved to {next}")));
                        }
                        tally.op(format!("{what} advance"));
                        Some(id)
                    }
                    Ok(None) => {
                        live[kind].swap_remove(index);
                        tally.op(format!("{what} final"));
                        None
                    }
                    Err(e) => {
                        return Err(setup(format!(
                            "the expectation cannot move {what} {id} on: {e}"
                        )));
                    }
                }
            }
            70..88 => {
                let name = inject(&sandbox, &mut rng, &mut deck, &mut outages);
                ledger.lock().faults.push((op, name.to_owned()));
                *tally.faults.entry(name.to_owned()).or_default() += 1;
                None
            }
            88..91 => {
                sender.point_at(None);
                let graceful = rng.bool();
                ledger.lock().faults.push((
                    op,
                    format!("{} restart", if graceful { "graceful" } else { "abrupt" }),
                ));
                if graceful {
                    let report = pipeline.stop().await;
                    check_stopped(&ledger, &sandbox, report, "a graceful restart").await;
                    tally.restart("graceful");
                } else {
                    pipeline.crash().await;
                    tally.restart("abrupt");
                }
                drain(&sandbox).await;
                match pipeline.start().await {
                    Ok(url) => sender.point_at(url),
                    Err(e) => return Err(setup(format!("the connector could not restart: {e}"))),
                }
                None
            }
            _ => {
                pace(&sender, 0, Duration::from_millis(500)).await;
                tally.op("pause".to_owned());
                None
            }
        };
        if let Some(id) = changed {
            let position = ledger
                .lock()
                .entities
                .get(&id)
                .map_or(0, |e| e.history.len() - 1);
            if let Some(webhook) = expectation.webhook(&id, systems) {
                if rng.u32(0..100) < 20 {
                    ledger.lock().payloads.2 += 1;
                    held.push(Held {
                        until: op + rng.u64(1..=8),
                        id: id.clone(),
                        position,
                        webhook: webhook.clone(),
                    });
                } else {
                    sender.send(&id, position, &webhook);
                }
                if rng.u32(0..100) < 15 {
                    ledger.lock().payloads.1 += 1;
                    sender.send(&id, position, &webhook);
                }
            }
        }
        pace(&sender, BACKLOG, Duration::from_millis(150)).await;
    }
    ledger.lock().op = ops as u64;

    // Calm: faults cleared, held webhooks sent, every webhook answered.
    sandbox.fluent.faults().clear();
    sandbox.commercetools.faults().clear();
    for h in held.drain(..) {
        sender.send(&h.id, h.position, &h.webhook);
    }
    for task in std::mem::take(&mut sender.tasks) {
        let _ = task.await;
    }
    settle(conf, &ledger).await;

    check_converged(&ledger);
    check_created_once(&ledger);
    check_dead_letters(&ledger);
    sender.point_at(None);
    let report = pipeline.stop().await;
    check_stopped(&ledger, &sandbox, report, "the final shutdown").await;

    let state = ledger.lock();
    let unprocessable = state.entities.values().filter(|e| e.unprocessable).count();
    let report = Report {
        seed,
        operations: ops,
        by_kind: tally.ops,
        deliveries: state.attempts,
        payloads: state.payloads,
        faults: tally.faults,
        restarts: tally.restarts,
        resources: (state.entities.len() - unprocessable, 0, unprocessable),
        dead_letters: dead_letters.snapshot().len(),
        elapsed: started.elapsed(),
    };
    Failure::conclude(report, &state.findings, replay, |f| {
        let name = f.resource.as_ref()?;
        let entity = state
            .entities
            .iter()
            .find(|(id, e)| ledger.name(id, e.kind) == *name)?
            .1;
        let mut lines = history(name, &entity.events, &state.faults, f.operation);
        lines.truncate(HISTORY_LINES + 2);
        Some(lines)
    })
}

/// Waits until every counterpart holds its entity's final state and every
/// unprocessable entity is dead-lettered, or nothing changed for
/// [`SETTLED`], or the run's convergence time passed.
async fn settle(conf: &Conformance, ledger: &Ledger) {
    let deadline = Instant::now() + conf.converge_within;
    let started = Instant::now();
    while Instant::now() < deadline {
        if divergences(ledger, 1).is_empty() && missing_dead_letters(ledger).is_empty() {
            return;
        }
        if started.elapsed() > SETTLED {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counterparts that do not hold their entity's final state: `(name, what)`.
fn divergences(ledger: &Ledger, limit: usize) -> Vec<(String, String)> {
    let systems = ledger.systems();
    let state = ledger.lock();
    let mut found = Vec::new();
    for (id, entity) in &state.entities {
        if entity.unprocessable {
            continue;
        }
        let expectation = &ledger.expectations[entity.kind];
        let name = ledger.name(id, entity.kind);
        let last = entity.history.len() - 1;
        let Some(counterpart) = expectation.counterpart(id, systems) else {
            found.push((
                name.clone(),
                format!("{name} has no counterpart in commercetools any more"),
            ));
            continue;
        };
        let target = expectation.target(&entity.history[last]);
        for field in ledger.fields(entity) {
            let held = counterpart.get(&field);
            let wrong = match target.get(&field) {
                Some(expected) => (held != Some(expected)).then(|| format!("not {expected:?}")),
                None => ledger
                    .setters(entity, &field, held)
                    .is_empty()
                    .then(|| "which no state of its history calls for".to_owned()),
            };
            if let Some(wrong) = wrong {
                found.push((
                    name.clone(),
                    format!(
                        "{name} is {} in Fluent, but commercetools {field} is {held:?}, {wrong}",
                        entity.history[last]
                    ),
                ));
                break;
            }
        }
        if found.len() >= limit {
            break;
        }
    }
    found
}

fn missing_dead_letters(ledger: &Ledger) -> Vec<String> {
    let dead = super::storm::dead_letter_ids(&ledger.dead_letters);
    let state = ledger.lock();
    state
        .entities
        .iter()
        .filter(|(id, e)| e.unprocessable && !dead.contains_key(*id))
        .map(|(id, e)| ledger.name(id, e.kind))
        .collect()
}

fn check_converged(ledger: &Ledger) {
    let found = divergences(ledger, 20);
    let mut state = ledger.lock();
    for (name, what) in found {
        Ledger::finding(
            &mut state,
            Check::Converges,
            Some(name),
            format!("after the storm, {what}"),
        );
    }
}

fn check_created_once(ledger: &Ledger) {
    let systems = ledger.systems();
    let mut state = ledger.lock();
    for (kind, expectation) in ledger.expectations.iter().enumerate() {
        let created = state
            .entities
            .values()
            .filter(|e| e.kind == kind && !e.unprocessable)
            .count();
        let held = expectation.counterparts(systems);
        if held != created {
            Ledger::finding(
                &mut state,
                Check::CreatedOnce,
                None,
                format!(
                    "commercetools holds {held} {kind}s where the storm created {created}: a handler that creates where it should look up",
                    kind = expectation.kind()
                ),
            );
        }
    }
}

fn check_dead_letters(ledger: &Ledger) {
    let dead = super::storm::dead_letter_ids(&ledger.dead_letters);
    let missing = missing_dead_letters(ledger);
    let mut state = ledger.lock();
    let wrong: Vec<(String, String)> = state
        .entities
        .iter()
        .filter(|(id, e)| !e.unprocessable && dead.contains_key(*id))
        .map(|(id, e)| (ledger.name(id, e.kind), dead[id].clone()))
        .collect();
    for (name, error) in wrong {
        Ledger::finding(
            &mut state,
            Check::DeadLetters,
            Some(name.clone()),
            format!("{name} was dead-lettered though it has a counterpart: {error}"),
        );
    }
    for name in missing {
        Ledger::finding(
            &mut state,
            Check::DeadLetters,
            Some(name.clone()),
            format!("{name} has no counterpart but no dead letter"),
        );
    }
}

/// Check 6 after a graceful stop: the run ended, every open webhook request
/// got its answer, and commercetools receives nothing more.
async fn check_stopped(
    ledger: &Ledger,
    sandbox: &Sandbox,
    report: Result<Option<RunReport>, String>,
    when: &str,
) {
    let op = ledger.lock().op;
    if let Err(problem) = report {
        let mut state = ledger.lock();
        Ledger::finding(
            &mut state,
            Check::NothingInFlight,
            None,
            format!("{when} (operation {op}): {problem}"),
        );
        return;
    }
    let deadline = Instant::now() + ANSWERED_AFTER_STOP;
    while Instant::now() < deadline && ledger.lock().in_request > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let open = ledger.lock().in_request;
    if open > 0 {
        let mut state = ledger.lock();
        Ledger::finding(
            &mut state,
            Check::NothingInFlight,
            None,
            format!(
                "after {when} (operation {op}) returned, {open} webhook requests were still open {} ms later: the listener left them unanswered",
                ANSWERED_AFTER_STOP.as_millis()
            ),
        );
    }
    let ct = sandbox.commercetools.faults();
    let before = ct.requests("");
    tokio::time::sleep(QUIET).await;
    let after = ct.requests("");
    let started = |c: crate::RequestCount| c.served + c.active as u64;
    let new = started(after).saturating_sub(started(before));
    if new > 0 {
        let mut state = ledger.lock();
        Ledger::finding(
            &mut state,
            Check::NothingInFlight,
            None,
            format!(
                "after {when} (operation {op}) returned, {new} more requests reached commercetools within {} ms: work spawned by a handler outlives the connector",
                QUIET.as_millis()
            ),
        );
    }
}

/// Waits until at most `backlog` webhooks wait for their answer, or
/// `limit` passed.
async fn pace(sender: &Sender, backlog: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && sender.open() > backlog {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
