//! `postern train --ham|--spam FILE...`: trains the running server's built-in scorer
//! (superadmin). Each file is one message (eml) or an mbox, sent as it is to
//! `POST /api/v1/training?label=...`, one request per file, in order.
//!
//! In: the label and the files. Out: per file, how many messages it held, were learned
//! (and of them moved from the other label) and were already known; then the
//! installation's ham and spam samples and whether they take part in verdicts. `--json`
//! prints the API's answers for scripts. A file over 50 MiB is refused before it is read;
//! the first failing file stops the run (the files before it stay learned, and learning
//! them again changes nothing).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs};
use super::{output, progress};

/// The largest file sent (the API's limit).
const MAX_FILE: u64 = 50 * 1024 * 1024;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("label").required(true).args(["ham", "spam"])))]
pub struct TrainArgs {
    /// The messages are ham (wanted mail).
    #[arg(long)]
    pub ham: bool,
    /// The messages are spam.
    #[arg(long)]
    pub spam: bool,
    /// Message (eml) or mbox files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let label = if args.spam { "spam" } else { "ham" };
    let mut answers = Vec::new();
    let bar = progress::bar(args.files.len() as u64, progress::wanted(args.client.json));
    for file in &args.files {
        bar.set_message(file.display().to_string());
        let answer = send(&api, label, file);
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
        if !args.client.json {
            bar.suspend(|| println!("{}", file_line(file, &answer)));
        }
        answers.push(json!({"file": file.display().to_string(), "answer": answer}));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.client.json {
        print!("{}", output::json(&Value::Array(answers)));
    } else if let Some(last) = answers.last() {
        println!("{}", installation_line(&last["answer"]));
    }
    Ok(())
}

/// Reads one file and sends it: the API's answer.
fn send(api: &ApiClient, label: &str, file: &Path) -> Result<Value> {
    let bytes = read_file(file)?;
    let content_type = if postern_scorer::mbox::is_mbox(&bytes) { "application/mbox" } else { "message/rfc822" };
    api.post_bytes(&format!("/training?label={label}"), &bytes, content_type)
        .with_context(|| format!("{}", file.display()))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).with_context(|| format!("{}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!("{}: larger than {} MiB; split it", path.display(), MAX_FILE / (1024 * 1024));
    }
    Ok(bytes)
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn file_line(file: &Path, answer: &Value) -> String {
    let label = answer.get("label").and_then(Value::as_str).unwrap_or("?");
    let other = if label == "spam" { "ham" } else { "spam" };
    let moved = match n(answer, "relabelled") {
        0 => String::new(),
        r => format!(" ({r} moved from {other})"),
    };
    format!(
        "{}: {} message(s): {} learned as {label}{moved}, {} already known",
        file.display(),
        n(answer, "messages"),
        n(answer, "learned"),
        n(answer, "known")
    )
}

fn installation_line(answer: &Value) -> String {
    let i = answer.get("installation").unwrap_or(&Value::Null);
    let minimum = i.get("minimum").unwrap_or(&Value::Null);
    let state = if i.get("in_force").and_then(Value::as_bool) == Some(true) {
        "the installation's samples take part in verdicts"
    } else {
        "until then the shipped model decides"
    };
    format!(
        "installation: {} ham, {} spam (minimum {} and {}): {state}",
        n(i, "ham"),
        n(i, "spam"),
        n(minimum, "ham"),
        n(minimum, "spam")
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn exactly_one_label_and_at_least_one_file() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).map(|c| c.command);
        match parse(&["postern", "train", "--spam", "a.mbox", "b.eml"]) {
            Ok(Command::Train(args)) => assert!(args.spam && !args.ham && args.files.len() == 2),
            _ => panic!("train --spam with two files"),
        }
        assert!(parse(&["postern", "train", "a.eml"]).is_err(), "a label is required");
        assert!(parse(&["postern", "train", "--ham", "--spam", "a.eml"]).is_err(), "one label only");
        assert!(parse(&["postern", "train", "--ham"]).is_err(), "a file is required");
    }

    #[test]
    fn answers_read_as_one_line_each() {
        let answer = json!({"label": "ham", "messages": 3, "learned": 2, "relabelled": 1, "known": 1,
            "installation": {"ham": 5, "spam": 1, "minimum": {"ham": 200, "spam": 200}, "in_force": false}});
        assert_eq!(
            file_line(Path::new("a.mbox"), &answer),
            "a.mbox: 3 message(s): 2 learned as ham (1 moved from spam), 1 already known"
        );
        assert_eq!(
            installation_line(&answer),
            "installation: 5 ham, 1 spam (minimum 200 and 200): until then the shipped model decides"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_sending() {
        let dir = std::env::temp_dir().join(format!("postern-train-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.mbox");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_FILE + 1).unwrap();
        let error = read_file(&path).unwrap_err().to_string();
        assert!(error.contains("larger than 50 MiB"), "{error}");
        assert!(read_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
