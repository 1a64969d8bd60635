//! Log output for the `connect` command (`tracing-subscriber`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// `filter`, else `RUST_LOG`, else `info`.
fn env_filter(filter: Option<&str>) -> Result<EnvFilter, String> {
    match filter {
        Some(text) => EnvFilter::try_new(text).map_err(|e| {
            format!("invalid log filter `{text}`: {e}; try `info` or `connect_core=debug,info`")
        }),
        None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))),
    }
}

fn builder<W>(
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> SubscriberBuilder<DefaultFields, Format<Full>, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
}

/// Installs the global subscriber: `filter` (or `RUST_LOG`, or `info`)
/// decides what is logged; everything goes to stderr so stdout stays for
/// command output. Returns an error message for an invalid filter.
pub fn init(filter: Option<&str>, format: LogFormat) -> Result<(), String> {
    let filter = env_filter(filter)?;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = builder(filter, std::io::stderr, ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

/// Like [`init`], but a global subscriber already installed (by the
/// binary, or an earlier run in the same process) is kept.
pub(crate) fn init_once(filter: Option<&str>, format: LogFormat) -> Result<(), String> {
    let filter = env_filter(filter)?;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = builder(filter, std::io::stderr, ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(error) = installed {
        tracing::debug!(%error, "a log subscriber is already installed; keeping it");
    }
    Ok(())
}

/// The subscriber [`init`] installs, writing to `writer` without colours
/// instead of stderr: for binaries that send logs elsewhere, and for tests
/// that check what is logged (install it with
/// `tracing::subscriber::set_default`).
pub fn subscriber<W>(
    filter: Option<&str>,
    format: LogFormat,
    writer: W,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = builder(env_filter(filter)?, writer, false);
    Ok(match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    })
}
