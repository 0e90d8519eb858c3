//! Where a new account or admin user password comes from: never argv (visible to every
//! user of the machine through `ps` and `/proc`). On a terminal it is asked twice without
//! echo; from a pipe or file (or with `--password-stdin`) it is the first line of stdin
//! (`echo secret | postern account add user a@example.com`). Defends against: echoing the secret, a typo going unnoticed (the two
//! entries must match), unbounded input (one line of at most [`MAX_LEN`] octets), an empty
//! password. The line end is removed, any other white space is part of the password.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};

/// Longer lines are refused rather than cut.
pub const MAX_LEN: usize = 1024;

/// Reads a new password for `whose` (named in the prompt).
pub fn read_new(whose: &str) -> Result<String> {
    read(whose, false)
}

/// Reads a new password for `whose`: with `stdin_only` (`--password-stdin`) the first line
/// of stdin even when it is a terminal, else as [`read_new`].
pub fn read(whose: &str, stdin_only: bool) -> Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() && !stdin_only {
        let first =
            rpassword::prompt_password(format!("New password for {whose}: ")).context("reading the password")?;
        let again = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        first_line(stdin.lock())?
    };
    if password.is_empty() {
        bail!("empty password (on a pipe, give it as the first line: echo secret | postern ...)");
    }
    Ok(password)
}

/// The first line of `input` without its line end, at most [`MAX_LEN`] octets.
fn first_line(input: impl BufRead) -> Result<String> {
    let mut line = Vec::new();
    input.take(MAX_LEN as u64 + 2).read_until(b'\n', &mut line).context("reading the password from stdin")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_LEN {
        bail!("password longer than {MAX_LEN} octets");
    }
    String::from_utf8(line).context("the password is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password() {
        assert_eq!(first_line(&b"s3cret\nignored\n"[..]).unwrap(), "s3cret");
        assert_eq!(first_line(&b" two words \r\n"[..]).unwrap(), " two words ");
        assert_eq!(first_line(&b"no newline"[..]).unwrap(), "no newline");
        assert_eq!(first_line(&b""[..]).unwrap(), "");
        assert!(first_line(&vec![b'x'; MAX_LEN + 1][..]).is_err());
        assert_eq!(first_line(&vec![b'x'; MAX_LEN][..]).unwrap().len(), MAX_LEN);
        assert!(first_line(&b"\xff\n"[..]).is_err());
    }
}
