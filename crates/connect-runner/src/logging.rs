//! Log output for the `connect` command (`tracing-subscriber`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Installs the global subscriber: `filter` (or `RUST_LOG`, or `info`)
/// decides what is logged; everything goes to stderr so stdout stays for
/// command output. Returns an error message for an invalid filter.
pub fn init(filter: Option<&str>, format: LogFormat) -> Result<(), String> {
    let filter = match filter {
        Some(text) => EnvFilter::try_new(text).map_err(|e| {
            format!("invalid log filter `{text}`: {e}; try `info` or `connect_core=debug,info`")
        })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
