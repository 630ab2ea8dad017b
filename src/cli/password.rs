//! Passwords for `drover user add|passwd` and `drover login`. Never a flag value: flags end up
//! in shell history and in every user's process list. Either the first line of standard
//! input (`--password-stdin`, for scripts) or typed at a terminal without echo.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};

/// How the password is given; flattened into the commands that need one.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct PasswordInput {
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Whether a new password is typed twice (a typo would lock the user out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Confirm {
    Once,
    Twice,
}

impl PasswordInput {
    pub fn read(&self, confirm: Confirm) -> anyhow::Result<String> {
        let password = if self.password_stdin {
            first_line(std::io::stdin().lock())?
        } else {
            if !std::io::stdin().is_terminal() {
                bail!("no terminal to type the password on: pass --password-stdin and send it on standard input");
            }
            let password = rpassword::prompt_password("Password: ")
                .context("cannot read the password from the terminal")?;
            if confirm == Confirm::Twice
                && rpassword::prompt_password("Again: ")
                    .context("cannot read the password from the terminal")?
                    != password
            {
                bail!("the two passwords differ");
            }
            password
        };
        if password.is_empty() {
            bail!("the password is empty");
        }
        Ok(password)
    }
}

/// The first line, without its line ending (the password itself may hold spaces).
fn first_line(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let end = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(end);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_cut() {
        assert_eq!(
            first_line(&b" two words \r\nrest"[..]).unwrap(),
            " two words "
        );
        assert_eq!(first_line(&b"no-newline"[..]).unwrap(), "no-newline");
        assert_eq!(first_line(&b""[..]).unwrap(), "");
    }
}
