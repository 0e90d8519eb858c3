//! Log output: `tracing` to stdout, as text (default) or one JSON object per line.

use postern_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Whether `log.level` is a valid filter, without installing anything.
pub fn check(config: &LogConfig) -> Result<(), String> {
    EnvFilter::try_new(&config.level).map(|_| ()).map_err(|e| format!("log.level: {e}"))
}

pub fn init(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.level).map_err(|e| format!("log.level: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot start logging: {e}"))
}
