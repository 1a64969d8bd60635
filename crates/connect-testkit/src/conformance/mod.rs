//! The conformance kit: a whole connector, from its YAML, through a seeded
//! storm of everything production does to it, then six named checks
//! (feature `harness`; partners reach it as
//! `connect_sdk::testkit::conformance`).
//!
//! ```no_run
//! use connect_testkit::conformance::{Conformance, expect};
//!
//! # async fn demo() {
//! let yaml = "connector-name: demo\n# ...the connector's YAML, with its routes";
//! let reports = Conformance::new(yaml)
//!     .expect(expect::customers())
//!     .run()
//!     .await
//!     .unwrap_or_else(|failure| panic!("{failure}"));
//! for report in reports {
//!     println!("{report}");
//! }
//! # }
//! ```
//!
//! One seed drives the whole storm, for every [`Expectation`] given (mixed
//! routes run as one storm):
//!
//! - the workload: creates, updates and deletes in commercetools, plus
//!   resources the expectation calls unprocessable;
//! - deliveries duplicated, delayed and reordered ([`ChaosSink`](crate::chaos::ChaosSink)), in one
//!   of the three subscription formats;
//! - on both emulators: 429 with `Retry-After`, 503, dropped connections,
//!   slow answers and timeouts, token expiry, bursts of 401 from the token
//!   endpoint, and outages of a second or more;
//! - graceful and abrupt restarts of the connector.
//!
//! Then the storm calms down (faults cleared, held deliveries delivered)
//! and the [`Check`]s are made. A [`Failure`] names the seed, the checks
//! that failed, the first diverging resource with its history of writes,
//! deliveries, acknowledgements and faults, and the command that replays
//! the run; a pass returns a [`Report`] of the counts.
//!
//! Webhook routes (Fluent → commercetools) run through a storm of their
//! own ([`Conformance::expect_webhooks`], a [`WebhookExpectation`]; ready:
//! [`expect::order_statuses`]): the kit moves Fluent entities through their
//! workflow and POSTs each change's webhook, signed with the emulator's
//! key, to the connector's listener, duplicated, held back and resent until
//! answered 2xx, with the same faults and restarts, and reads the six
//! checks on the commercetools counterparts.
//!
//! `CONFORMANCE_SEED=<seed>` (decimal or `0x` hex) replays one seed and
//! `CONFORMANCE_OPS=<n>` sets the number of operations: the same workload,
//! faults and restarts (thread timing still varies).

mod expect_impl;
mod ledger;
mod storm;
mod webhook_expect;
mod webhook_storm;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_core::HandlerRegistry;

pub use self::expect_impl::{
    CategoryExpectation, CustomerExpectation, Divergence, Expectation, Systems,
};
pub use self::webhook_expect::{
    CANCELLED, Fields, ORDER_WORKFLOW, OrderStatusExpectation, WebhookExpectation,
};

/// The ready expectations of the bundled syncs.
pub mod expect {
    pub use super::expect_impl::{
        CategoryExpectation, CustomerExpectation, Divergence, Expectation, Systems, categories,
        customers,
    };
    pub use super::webhook_expect::{
        Fields, OrderStatusExpectation, WebhookExpectation, order_statuses,
    };
}

/// The seeds of a default run (three, as CI runs them).
pub const CI_SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];

/// The operations of a default run.
pub const DEFAULT_OPS: usize = 300;

/// The variable that replays one seed.
pub const SEED_VAR: &str = "CONFORMANCE_SEED";

/// The variable that sets the number of operations.
pub const OPS_VAR: &str = "CONFORMANCE_OPS";

/// The variable the kit sets to the Fluent emulator's webhook public key,
/// for the YAML's `listeners.fluent-webhook.public-keys`.
pub const PUBLIC_KEY_VAR: &str = "FLUENT_WEBHOOK_PUBLIC_KEY";

/// The six named checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// 1. Every resource converges to the expectation.
    Converges,
    /// 2. Nothing is created twice.
    CreatedOnce,
    /// 3. Dead letters are exactly the resources the expectation calls
    ///    unprocessable.
    DeadLetters,
    /// 4. No write regresses to an older commercetools version.
    NoRegression,
    /// 5. A message is never acknowledged before its write.
    AckAfterWrite,
    /// 6. Nothing is left in flight after shutdown.
    NothingInFlight,
}

impl Check {
    /// Every check, in order.
    pub const ALL: [Self; 6] = [
        Self::Converges,
        Self::CreatedOnce,
        Self::DeadLetters,
        Self::NoRegression,
        Self::AckAfterWrite,
        Self::NothingInFlight,
    ];

    /// The check's number, 1 to 6.
    pub fn number(self) -> u8 {
        match self {
            Self::Converges => 1,
            Self::CreatedOnce => 2,
            Self::DeadLetters => 3,
            Self::NoRegression => 4,
            Self::AckAfterWrite => 5,
            Self::NothingInFlight => 6,
        }
    }

    /// What the check proves.
    pub fn title(self) -> &'static str {
        match self {
            Self::Converges => "every resource converges to the expectation",
            Self::CreatedOnce => "nothing is created twice",
            Self::DeadLetters => {
                "dead letters are exactly the resources the expectation calls unprocessable"
            }
            Self::NoRegression => "no write regresses to an older commercetools version",
            Self::AckAfterWrite => "a message is never acknowledged before its write",
            Self::NothingInFlight => "nothing is left in flight after shutdown",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "check {} ({})", self.number(), self.title())
    }
}

/// One way a run broke a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check broken.
    pub check: Check,
    /// The resource, e.g. `customer 6f1c…`, when one is to blame.
    pub resource: Option<String>,
    /// What happened.
    pub message: String,
    /// The storm's operation when it was found (the number of operations
    /// once the storm was over).
    pub operation: u64,
}

/// The counts of a passing run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The operations of the storm.
    pub operations: usize,
    /// Operations by kind (`customer create`, `category update`, `pause`…).
    pub by_kind: BTreeMap<String, u64>,
    /// Deliveries the connector received from the CT queue (redeliveries
    /// included).
    pub deliveries: u64,
    /// Payloads the subscription sent, and how many the storm duplicated
    /// and delayed.
    pub payloads: (u64, u64, u64),
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Restarts, `graceful` and `abrupt`.
    pub restarts: BTreeMap<String, u64>,
    /// Resources in commercetools at the end, deleted ones, unprocessable
    /// ones.
    pub resources: (usize, usize, usize),
    /// Dead letters at the end.
    pub dead_letters: usize,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Faults injected, all kinds.
    pub fn fault_count(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Restarts, both kinds.
    pub fn restart_count(&self) -> u64 {
        self.restarts.values().sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance seed {:#x}: all 6 checks passed; {} operations, {} deliveries ({} payloads, {} duplicated, {} delayed), {} faults, {} restarts in {:.1}s; \
             resources: {} in commercetools, {} deleted, {} unprocessable (all dead-lettered, {} dead letters); operations {:?}; faults {:?}; restarts {:?}",
            self.seed,
            self.operations,
            self.deliveries,
            self.payloads.0,
            self.payloads.1,
            self.payloads.2,
            self.fault_count(),
            self.restart_count(),
            self.elapsed.as_secs_f64(),
            self.resources.0,
            self.resources.1,
            self.resources.2,
            self.dead_letters,
            self.by_kind,
            self.faults,
            self.restarts,
        )
    }
}

/// A run that broke at least one check, or could not run.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The operations of the storm.
    pub operations: usize,
    /// Every finding, by check.
    pub findings: Vec<Finding>,
    /// The first diverging resource and its history, one line per event
    /// (`op N: what`), faults of its lifetime included.
    pub history: Vec<String>,
    /// The command that replays the run.
    pub replay: String,
    /// The counts so far.
    pub report: Report,
}

impl Failure {
    /// A run of `seed` that could not start: `problem` says why.
    pub(crate) fn setup(seed: u64, operations: usize, replay: String, problem: String) -> Self {
        Self {
            seed,
            operations,
            findings: Vec::new(),
            history: vec![problem],
            replay,
            report: Report {
                seed,
                operations,
                ..Report::default()
            },
        }
    }

    /// The end of a run: `Ok(report)` without findings, else the failure
    /// with the findings by check and the history of the first finding's
    /// resource that `history_of` can tell.
    #[expect(
        clippy::result_large_err,
        reason = "the storms return this Result from `run`, once per seed"
    )]
    pub(crate) fn conclude(
        report: Report,
        findings: &[Finding],
        replay: String,
        history_of: impl Fn(&Finding) -> Option<Vec<String>>,
    ) -> Result<Report, Self> {
        if findings.is_empty() {
            return Ok(report);
        }
        let mut findings = findings.to_vec();
        findings.sort_by_key(|f| f.check);
        let history = findings.iter().find_map(history_of).unwrap_or_default();
        Err(Self {
            seed: report.seed,
            operations: report.operations,
            findings,
            history,
            replay,
            report,
        })
    }

    /// The checks broken.
    pub fn tripped(&self) -> BTreeSet<Check> {
        self.findings.iter().map(|f| f.check).collect()
    }

    /// The findings of `check`.
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance failed with seed {:#x} ({} operations):",
            self.seed, self.operations
        )?;
        for check in self.tripped() {
            writeln!(f, "  {check} FAILED:")?;
            for finding in self.of(check).take(5) {
                writeln!(f, "    - {}", finding.message)?;
            }
            let more = self.of(check).count().saturating_sub(5);
            if more > 0 {
                writeln!(f, "    - … and {more} more")?;
            }
        }
        for line in &self.history {
            writeln!(f, "  {line}")?;
        }
        writeln!(
            f,
            "  counts: {} deliveries, {} faults, {} restarts",
            self.report.deliveries,
            self.report.fault_count(),
            self.report.restart_count()
        )?;
        write!(f, "  replay: {}", self.replay)
    }
}

impl std::error::Error for Failure {}

type MakeRegistry = Arc<dyn Fn() -> HandlerRegistry + Send + Sync>;

/// A conformance run: the connector's YAML, the expectations, the seeds
/// and the number of operations. [`run`](Self::run) runs it.
#[derive(Clone)]
pub struct Conformance {
    pub(crate) yaml: String,
    pub(crate) expectations: Vec<Arc<dyn Expectation>>,
    pub(crate) webhook_expectations: Vec<Arc<dyn WebhookExpectation>>,
    pub(crate) seeds: Vec<u64>,
    pub(crate) ops: usize,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) registry: Option<MakeRegistry>,
    pub(crate) converge_within: Duration,
    pub(crate) test_name: Option<String>,
}

impl fmt::Debug for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conformance")
            .field(
                "types",
                &self
                    .expectations
                    .iter()
                    .map(|e| e.type_id())
                    .collect::<Vec<_>>(),
            )
            .field(
                "webhooks",
                &self
                    .webhook_expectations
                    .iter()
                    .map(|e| e.kind())
                    .collect::<Vec<_>>(),
            )
            .field("seeds", &self.seeds)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

impl Conformance {
    /// A run of the connector `yaml` (the text of its
    /// `application-connector.yml`; `${VAR}`s are filled from the
    /// emulators as for `Harness`). Its `runtime` block should allow for
    /// outages of up to 3 s (the bundled tests use `max-attempts: 8`,
    /// backoff 10 ms to 200 ms).
    pub fn new(yaml: impl Into<String>) -> Self {
        Self {
            yaml: yaml.into(),
            expectations: Vec::new(),
            webhook_expectations: Vec::new(),
            seeds: CI_SEEDS.to_vec(),
            ops: DEFAULT_OPS,
            env: BTreeMap::new(),
            registry: None,
            converge_within: Duration::from_secs(120),
            test_name: None,
        }
    }

    /// What the connector must make of one resource type; call it once per
    /// type the connector syncs.
    #[must_use]
    pub fn expect(mut self, expectation: impl Expectation) -> Self {
        self.expectations.push(Arc::new(expectation));
        self
    }

    /// What a webhook route (Fluent → commercetools) must make of one kind
    /// of Fluent entity; call it once per kind. The connector's YAML needs
    /// `listeners.fluent-webhook` (`listen: 127.0.0.1:0`, `public-keys:
    /// ["${FLUENT_WEBHOOK_PUBLIC_KEY}"]`, which the kit fills) and a
    /// `webhook-mapping` to the route. Webhook routes run through their
    /// own storm, after the subscription routes' one.
    #[must_use]
    pub fn expect_webhooks(mut self, expectation: impl WebhookExpectation) -> Self {
        self.webhook_expectations.push(Arc::new(expectation));
        self
    }

    /// The seeds to run (default [`CI_SEEDS`]); `CONFORMANCE_SEED` wins.
    #[must_use]
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// The operations per seed (default [`DEFAULT_OPS`]);
    /// `CONFORMANCE_OPS` wins.
    #[must_use]
    pub fn ops(mut self, ops: usize) -> Self {
        self.ops = ops;
        self
    }

    /// A variable the YAML reads, besides the emulators' ones.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// The handlers to build routes from at every (re)start, instead of
    /// every `#[handler]` linked into the test binary.
    #[must_use]
    pub fn registry(
        mut self,
        registry: impl Fn() -> HandlerRegistry + Send + Sync + 'static,
    ) -> Self {
        self.registry = Some(Arc::new(registry));
        self
    }

    /// How long the connector has to converge once the storm is over
    /// (default 120 s).
    #[must_use]
    pub fn converge_within(mut self, timeout: Duration) -> Self {
        self.converge_within = timeout;
        self
    }

    /// The test's name in the replay command (default: the name of the
    /// current thread, which is the test's under `cargo test`).
    #[must_use]
    pub fn test_name(mut self, name: impl Into<String>) -> Self {
        self.test_name = Some(name.into());
        self
    }

    /// Runs every seed in turn (or the one of `CONFORMANCE_SEED`), stopping
    /// at the first failure. Needs a multi-threaded Tokio runtime.
    pub async fn run(&self) -> Result<Vec<Report>, Failure> {
        let ops = ops_from_env().unwrap_or(self.ops);
        let seeds = seed_from_env().map_or_else(|| self.seeds.clone(), |seed| vec![seed]);
        let mut reports = Vec::with_capacity(seeds.len());
        for seed in seeds {
            if !self.expectations.is_empty() || self.webhook_expectations.is_empty() {
                let report = storm::run(self, seed, ops).await?;
                tracing::info!(%report, "conformance run passed");
                reports.push(report);
            }
            if !self.webhook_expectations.is_empty() {
                let report = webhook_storm::run(self, seed, ops).await?;
                tracing::info!(%report, "conformance webhook run passed");
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// The command that replays `seed`.
    pub fn replay_command(&self, seed: u64, ops: usize) -> String {
        let test = self
            .test_name
            .clone()
            .or_else(|| std::thread::current().name().map(str::to_owned))
            .filter(|name| name != "main");
        let package = std::env::var("CARGO_PKG_NAME")
            .map(|p| format!(" -p {p}"))
            .unwrap_or_default();
        let filter = test.map_or_else(String::new, |t| format!(" -- {t} --exact"));
        format!("{SEED_VAR}={seed:#x} {OPS_VAR}={ops} cargo test{package}{filter}")
    }
}

fn seed_from_env() -> Option<u64> {
    let seed = std::env::var(SEED_VAR).ok()?;
    let seed = seed.trim();
    let parsed = seed.strip_prefix("0x").map_or_else(
        || seed.parse().ok(),
        |hex| u64::from_str_radix(hex, 16).ok(),
    );
    if parsed.is_none() {
        tracing::warn!(
            value = seed,
            "{SEED_VAR} is not a number (decimal or 0x hex); running the default seeds"
        );
    }
    parsed
}

fn ops_from_env() -> Option<usize> {
    let ops = std::env::var(OPS_VAR).ok()?;
    let parsed = ops.trim().parse().ok();
    if parsed.is_none() {
        tracing::warn!(value = %ops, "{OPS_VAR} is not a whole number; using the run's own");
    }
    parsed
}
