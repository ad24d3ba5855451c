//! The open-file limit `warden serve` runs under: each connection is a
//! descriptor, so the connection caps mean little if the process may open
//! fewer files than they allow.

/// Raises this process's open-file limit to its hard limit (as Go and
/// nginx do) and returns it, so the connection caps can be reached before
/// descriptors run out. `None` where the limit cannot be read.
pub(crate) fn raise_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read only `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}
