//! `warden`: the command line of the Warden host.

mod cli;

/// A host allocates on one thread and frees on another all the time
/// (requests on the async workers, spans and samples on the telemetry
/// threads); mimalloc keeps that cheap where the system allocator contends.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Everything Warden writes — stored data, the audit log, tokens, keys,
    // components — is for this user only: files 0600, directories 0700.
    // SAFETY: umask only sets this process's file mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
    cli::main()
}
