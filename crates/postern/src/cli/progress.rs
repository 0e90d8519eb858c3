//! Progress on stderr for the slow client commands (`dkim generate`, `train` over many
//! files, `archive export`): a spinner or a bar when, and only when, stderr is a terminal and the output is
//! not `--json`. In a pipe, a log or a script nothing is drawn, so stderr carries only errors.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress may be drawn: stderr is a terminal and the output is for people.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A spinner saying `message` until it is finished (cleared, leaving no line behind).
pub fn spinner(message: String, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or(ProgressStyle::default_spinner()),
    );
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// A bar over `len` steps (files), the current one named in its message.
pub fn bar(len: u64, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files {elapsed} {wide_msg}")
            .unwrap_or(ProgressStyle::default_bar()),
    );
    bar
}

/// A bar over `len` items named `unit` (`messages`).
pub fn counted(len: u64, unit: &str, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{bar:30}} {{pos}}/{{len}} {unit} {{elapsed}}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or(ProgressStyle::default_bar()));
    bar
}

/// A spinner counting bytes received, with `message` (when the count of items is not
/// visible in the stream, as in a zip).
pub fn bytes(message: String, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {bytes} {binary_bytes_per_sec} {elapsed}")
            .unwrap_or(ProgressStyle::default_spinner()),
    );
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_not_wanted() {
        assert!(spinner("generating".into(), false).is_hidden());
        assert!(bar(3, false).is_hidden());
        assert!(counted(3, "messages", false).is_hidden());
        assert!(bytes("export".into(), false).is_hidden());
        assert!(!wanted(true), "--json never shows progress");
    }
}
