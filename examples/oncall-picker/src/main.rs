//! On-call picker: who holds the pager this week, and who backs them up.
//!
//! Shows: an ordinary `wasi:cli/command` program running unchanged under
//! Warden — arguments in, stdout out — with no access to the clock, files or
//! network it does not need (the week is an argument, so the answer is
//! reproducible and auditable).
//!
//! Run it:
//! ```sh
//! warden run examples/oncall-picker/app.toml -- --week 48 alice bob carol dan
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match pick(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("oncall-picker: {message}");
            eprintln!("usage: oncall-picker --week N NAME [NAME...]");
            ExitCode::from(2)
        }
    }
}

fn pick(args: &[String]) -> Result<String, String> {
    let mut week: Option<u64> = None;
    let mut names = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--week" {
            let value = iter.next().ok_or("--week needs a number")?;
            week = Some(
                value
                    .parse()
                    .map_err(|_| format!("`{value}` is not a week number"))?,
            );
        } else {
            names.push(arg.as_str());
        }
    }
    let week = week.ok_or("--week is required")?;
    if names.len() < 2 {
        return Err("give at least two names (primary and backup)".into());
    }
    let n = names.len() as u64;
    let primary = names[(week % n) as usize];
    let backup = names[((week + 1) % n) as usize];
    Ok(format!("week {week}: primary {primary}, backup {backup}\n"))
}
