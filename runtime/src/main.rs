//! `warden`: the command line of the Warden host.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
