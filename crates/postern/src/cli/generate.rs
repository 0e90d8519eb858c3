//! `postern completions SHELL` and `postern man [--out DIR]`: shell completions and manual
//! pages generated from the command line's own definition, so they never drift from it.
//!
//! In: the shell, or the directory. Out: the completion script on stdout; the `postern(1)`
//! page on stdout, or with `--out` one page per (sub)command written to DIR
//! (`postern.1`, `postern-queue.1`, `postern-queue-list.1`, ...), their paths printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern completions bash > /etc/bash_completion.d/postern
  postern completions zsh > \"${fpath[1]}/_postern\"
  postern completions fish > ~/.config/fish/completions/postern.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern man | man -l -
  postern man --out /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Write every page (postern.1, postern-queue.1, ...) into this directory instead of
    /// printing postern.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "postern", &mut script);
    std::io::stdout().write_all(&script).context("writing the completion script")?;
    Ok(())
}

pub fn man(args: ManArgs) -> Result<()> {
    match args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(page_command()).render(&mut page).context("rendering postern.1")?;
            std::io::stdout().write_all(&page).context("writing postern.1")?;
        }
        Some(dir) => {
            for path in write_pages(&dir)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}

/// The command line as the pages show it: without clap's `help` subcommand, which has no
/// page of its own (`--help` is listed as an option).
fn page_command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

/// Writes one page per visible (sub)command into `dir` (created when missing) and answers
/// their paths, sorted.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    clap_mangen::generate_to(page_command(), dir).with_context(|| format!("writing pages into {}", dir.display()))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("postern") && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "postern", &mut script);
            let script = String::from_utf8(script).unwrap();
            for name in ["serve", "queue", "check-config", "admin-user", "completions", "man"] {
                assert!(script.contains(name), "{shell}: {name}");
            }
        }
    }

    #[test]
    fn the_pages_cover_every_subcommand() {
        let dir = std::env::temp_dir().join(format!("postern-man-{}", std::process::id()));
        let pages = write_pages(&dir).unwrap();
        let names: Vec<String> = pages.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"postern.1".to_string()), "{names:?}");
        for sub in Cli::command().get_subcommands() {
            let page = format!("postern-{}.1", sub.get_name());
            assert!(names.contains(&page), "{page} missing from {names:?}");
        }
        assert!(names.contains(&"postern-queue-list.1".to_string()), "{names:?}");
        let main = std::fs::read_to_string(dir.join("postern.1")).unwrap();
        assert!(main.contains(".TH postern 1"), "{main}");
        assert!(!main.contains("postern\\-help(1)"), "no page for clap's help subcommand");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
