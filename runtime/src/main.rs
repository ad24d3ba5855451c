//! `warden`: the command line of the Warden host.

mod cli;

/// A host allocates on one thread and frees on another all the time
/// (requests on the async workers, spans and samples on the telemetry
/// threads); mimalloc keeps that cheap where the system allocator contends.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A command that runs once and exits touches little memory, once:
/// transparent huge pages (mimalloc asks for them on its arenas) would be
/// zeroed 2 MiB at a time for the few KiB it uses, a tenth of a `warden
/// run` (perf). So every command but `serve` turns them off — from a
/// constructor, as Rust's runtime allocates (and faults mimalloc's first
/// arena in) before `main`. glibc passes constructors `argc` and `argv`.
/// Not `build` and `new` either: the flag is inherited, and the toolchains
/// they run (cargo, componentize-py, npm) are long-lived.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static ONE_SHOT_WITHOUT_HUGE_PAGES: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = one_shot_without_huge_pages;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn one_shot_without_huge_pages(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _env: *const *const libc::c_char,
) {
    // SAFETY: glibc calls .init_array functions with the process's argc
    // and argv, whose first `argc` strings are valid NUL-terminated C
    // strings for the life of the process.
    let verb = (argc > 1).then(|| unsafe { std::ffi::CStr::from_ptr(*argv.add(1)) }.to_bytes());
    if !matches!(verb, Some(b"serve" | b"build" | b"new")) {
        // SAFETY: prctl(PR_SET_THP_DISABLE) sets a flag of this process
        // and takes no pointers; on a kernel without it nothing changes.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

fn main() -> std::process::ExitCode {
    // Everything Warden writes — stored data, the audit log, tokens, keys,
    // components — is for this user only: files 0600, directories 0700.
    // SAFETY: umask only sets this process's file mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
    cli::main()
}
