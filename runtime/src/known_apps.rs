//! The apps a data directory knows: deployed (and not deleted), served by
//! a host running on it now, killed, or run there (counted in the usage or
//! span store). A command that names an app — a kill, above all — checks
//! the name against these, so a typo or the wrong data directory is an
//! error, not a record that stops nothing.

use crate::presence::HostInfo;
use crate::runtime::Runtime;
use crate::wait::Wait as _;
use std::collections::BTreeSet;

/// Every app name `runtime`'s data directory knows, with `hosts` the hosts
/// serving it now ([`crate::presence::live`]).
pub fn known_apps(runtime: &Runtime, hosts: &[HostInfo]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = runtime.registry().names().wait().unwrap_or_default();
    names.extend(hosts.iter().flat_map(|h| h.apps.iter().cloned()));
    names.extend(runtime.kill_state().into_keys());
    names.extend(ran_here(runtime.data_dir()));
    names
}

/// Apps with invocations counted in the usage store or the span store.
fn ran_here(data_dir: &std::path::Path) -> Vec<String> {
    [
        ("usage.db", "SELECT DISTINCT app FROM usage"),
        ("traces.db", "SELECT DISTINCT app FROM usage_buckets"),
    ]
    .iter()
    .flat_map(|(file, query)| distinct(&data_dir.join(file), query))
    .collect()
}

fn distinct(path: &std::path::Path, query: &str) -> Vec<String> {
    if !path.exists() {
        return Vec::new();
    }
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare(query) else {
        return Vec::new();
    };
    stmt.query_map([], |r| r.get::<_, String>(0))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}
