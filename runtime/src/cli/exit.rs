//! The one place a command's outcome becomes the process's exit code.
//!
//! Verbs return [`Outcome`] (`anyhow::Result<()>`). An error that has an
//! exit code of its own is a [`Failure`] (made with [`fail`] or, when the
//! command has already said everything, [`quiet`]); any other error exits
//! 1. Messages are printed here, once, as `warden: MESSAGE` on stderr.

use std::process::ExitCode;

/// What a verb returns.
pub type Outcome = anyhow::Result<()>;

/// A failure with its own exit code (the codes are listed in README.md).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// What to tell the user; `None` when the command has said it.
    pub message: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => write!(f, "exit code {}", self.code),
        }
    }
}

impl std::error::Error for Failure {}

/// An error that exits with `code`, saying `message`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> anyhow::Error {
    Failure {
        code,
        message: Some(message.to_string()),
    }
    .into()
}

/// An exit with `code` and nothing more to say (the command printed its
/// own report, e.g. `warden run` of an app that hit a limit).
pub fn quiet(code: u8) -> anyhow::Error {
    Failure {
        code,
        message: None,
    }
    .into()
}

/// The exit code of `outcome`, its message printed.
pub fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Failure>() {
            Some(failure) => {
                if let Some(message) = &failure.message {
                    eprintln!("warden: {message}");
                }
                ExitCode::from(failure.code)
            }
            None => {
                eprintln!("warden: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
