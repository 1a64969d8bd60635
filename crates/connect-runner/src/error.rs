//! [`RunnerError`]: why a connector could not be built or run.

use connect_core::RouterError;
use connect_core::config::ConfigError;
use connect_core::dead_letter::DeadLetterError;

/// Why a connector could not be built, run, backfilled or operated.
///
/// `Debug` shows the same text as `Display` (plus any cause it does not
/// already name), so `fn main() -> Result<(), Box<dyn Error>>` and tests
/// that return errors print the hint, not the enum's fields.
#[derive(thiserror::Error)]
pub enum RunnerError {
    /// The configuration file is missing, malformed or inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A route cannot be built (unknown handler, bad props, missing service).
    #[error("{origin}: {source}")]
    Routes {
        /// The configuration file.
        origin: String,
        /// Why.
        source: RouterError,
    },
    /// A backend named in the file is not available in this build or cannot
    /// be opened.
    #[error("{origin}: {message}")]
    Backend {
        /// The configuration file.
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A dependency refused the connector's credentials at startup.
    #[error("{origin}: {dependency} refused the credentials: {message}")]
    Credentials {
        /// The configuration file.
        origin: String,
        /// `commercetools` or `fluent`.
        dependency: &'static str,
        /// The client's error, naming the settings to check.
        message: String,
    },
    /// The observability endpoint cannot listen on `observability.listen`.
    #[error(
        "{origin}: observability.listen `{address}`: cannot listen there: {source}; choose a free port (0 picks one), or stop what listens on it"
    )]
    Listen {
        /// The configuration file.
        origin: String,
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The webhook listener cannot serve (`listeners.fluent-webhook`).
    #[error("{origin}: listeners.fluent-webhook: {source}")]
    Webhooks {
        /// The configuration file.
        origin: String,
        /// Why.
        source: connect_webhook::WebhookError,
    },
    /// The commercetools client cannot be created or failed.
    #[error("commercetools: {0}")]
    Commercetools(#[from] connect_commercetools::Error),
    /// The Fluent client cannot be created or failed.
    #[error("Fluent: {0}")]
    Fluent(#[from] connect_fluent::Error),
    /// A backfill stopped early because commercetools failed; the summary
    /// says what was done and where to resume.
    #[error("{origin}: the backfill stopped: {cause}")]
    Interrupted {
        /// The configuration file.
        origin: String,
        /// What was done.
        summary: Box<crate::backfill::BackfillSummary>,
        /// Why it stopped.
        cause: String,
    },
    /// A backfill refused its scan: commercetools returned resources out of
    /// ascending id order, so the scan could skip or repeat some and no id
    /// bounds a safe resume point (the summary's `resume_after` is `None`).
    /// The resources read before the refused page were handled; the summary
    /// says what was done.
    #[error("{origin}: the backfill stopped: {cause}")]
    ScanRefused {
        /// The configuration file.
        origin: String,
        /// What was done.
        summary: Box<crate::backfill::BackfillSummary>,
        /// The scan's error ([`connect_commercetools::Error::is_out_of_order`]).
        #[source]
        cause: connect_commercetools::Error,
    },
    /// A backfill's checkpoint forbids the run as asked: an unfinished
    /// checkpoint without `--resume` or `--restart`, a `--resume` with
    /// another `--where`, or `--after` with `--resume`. The message says
    /// how to choose.
    #[error("{origin}: {message}")]
    Checkpoint {
        /// The configuration file.
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The state store (`state:`) failed.
    #[error("{origin}: checkpoint `{name}`: {source}")]
    State {
        /// The configuration file.
        origin: String,
        /// The checkpoint (or `state` for the store itself).
        name: String,
        /// The store's error.
        #[source]
        source: Box<connect_jobs::StateError>,
    },
    /// The dead-letter store failed.
    #[error(transparent)]
    DeadLetters(#[from] DeadLetterError),
    /// A queue failed.
    #[error(transparent)]
    Queue(#[from] connect_core::QueueError),
}

impl std::fmt::Debug for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        connect_core::write_with_causes(self, f)
    }
}

impl RunnerError {
    /// `true` when the user can fix this by editing the configuration or the
    /// environment (exit code 2 in the `connect` command).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Routes { .. }
                | Self::Backend { .. }
                | Self::Credentials { .. }
                | Self::Listen { .. }
                | Self::Webhooks { .. }
                | Self::Checkpoint { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_display_text_and_new_causes() {
        let error = RunnerError::Backend {
            origin: "app.yml".to_owned(),
            message: "runtime.dead-letter: type `kafka` is not available; use one of [file]"
                .to_owned(),
        };
        assert_eq!(format!("{error:?}"), error.to_string());

        // A cause the message already names is not repeated.
        let error = RunnerError::Listen {
            origin: "app.yml".to_owned(),
            address: "127.0.0.1:1".to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use"),
        };
        let debug = format!("{error:?}");
        assert!(debug.contains("choose a free port"), "{debug}");
        assert_eq!(debug.matches("address in use").count(), 1, "{debug}");

        // A cause it does not name is appended.
        let error = RunnerError::Queue(connect_core::QueueError::backend(
            "cannot send",
            std::io::Error::other("the inner cause"),
        ));
        let debug = format!("{error:?}");
        assert!(debug.starts_with(&error.to_string()), "{debug}");
        assert!(debug.contains("the inner cause"), "{debug}");
    }
}
