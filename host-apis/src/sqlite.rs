//! Opening Warden's SQLite files when several processes may open them at
//! the same moment (ten `warden kill` at once, a CLI next to a serving
//! host).
//!
//! SQLite answers `SQLITE_BUSY` at once, without waiting in the busy
//! handler, while another connection switches a new database to WAL mode
//! or recovers its WAL; a plain open then fails with "database is locked".
//! [`open_wal`] retries the whole opening step for a bounded time instead.

use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long an open keeps retrying a busy database.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

/// How long a statement waits in SQLite's busy handler for another
/// connection's lock.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(5);

/// Whether `e` says another connection holds the database.
pub(crate) fn busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::DatabaseBusy || f.code == ErrorCode::DatabaseLocked)
}

/// Opens `path` with a 5 s busy timeout, in WAL mode with `synchronous`
/// as given, and runs `schema`, retrying the whole step while another
/// process holds the database in a way the busy handler does not cover.
pub fn open_wal(path: &Path, synchronous: &str, schema: &str) -> rusqlite::Result<Connection> {
    open_wal_with(path, synchronous, schema, |conn| conn.execute_batch(schema))
}

/// [`open_wal`] with the file brought up to date by `setup` (tables,
/// added columns), which runs only when the file's `user_version` is not
/// the stamp of `version` — a text naming everything `setup` makes, such as
/// its DDL. So the open of a current file parses no DDL (a `warden` command
/// opens several files, and it was a sixth of its run), while a new file, or
/// one an older or newer Warden set up, is set up again (every step is
/// idempotent) and stamped.
pub fn open_wal_with(
    path: &Path,
    synchronous: &str,
    version: &str,
    setup: impl Fn(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<Connection> {
    let stamp = stamp(version);
    let deadline = Instant::now() + OPEN_PATIENCE;
    let mut pause = Duration::from_millis(5);
    loop {
        let opened = (|| {
            let conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_PATIENCE)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", synchronous)?;
            if synchronous.eq_ignore_ascii_case("FULL") {
                close_without_checkpoint(&conn)?;
            }
            let current: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if current != stamp {
                setup(&conn)?;
                conn.pragma_update(None, "user_version", stamp)?;
            }
            Ok(conn)
        })();
        match opened {
            Err(e) if busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// WAL pages past which a file that closes without a checkpoint is
/// checkpointed (SQLite's default is 1000).
const WAL_PAGES: u64 = 64;

/// For a file whose every commit is synced (`synchronous = FULL`), and
/// for the usage counters by choice (see `metering::store`): its close
/// does not checkpoint, since the WAL already holds each commit, and a
/// one-shot command's close was a fifth of its run (copying the WAL back,
/// three fsyncs, and deleting the WAL and its index, which the next
/// process recreated and synced again). A file synced only at checkpoints
/// (`NORMAL`) keeps the close-time checkpoint: it is the sync point of a
/// command's last writes.
///
/// The WAL must still stay small. Each process's first connection reads
/// all of it to rebuild its index, and that rebuild forgets how much was
/// checkpointed; SQLite restarts a WAL only at a write after a complete
/// checkpoint *in the same process*, so one-shot commands would grow it
/// without end (a frame per `warden run`, each re-read by every later
/// run). So it is checkpointed at [`WAL_PAGES`], and a WAL found past that
/// at open is checkpointed and truncated then — unless another connection
/// is using the file, whose own writes restart it.
pub fn close_without_checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)?;
    let page: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let wal_len = conn
        .path()
        .and_then(|path| std::fs::metadata(format!("{path}-wal")).ok())
        .map_or(0, |m| m.len());
    if wal_len > WAL_PAGES * (page + 24) + 32 {
        // Busy means another connection holds the file: skip, don't wait.
        conn.busy_timeout(Duration::ZERO)?;
        let truncated = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        conn.busy_timeout(BUSY_PATIENCE)?;
        match truncated {
            Err(e) if !busy(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// `e` from opening `path`, saying which file where SQLite's message does
/// not ("file is not a database").
pub fn naming_the_file(path: &Path, e: rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let said = message.unwrap_or_else(|| code.to_string());
            let named = if said.contains(&path.display().to_string()) {
                said
            } else {
                format!("{}: {said}", path.display())
            };
            rusqlite::Error::SqliteFailure(code, Some(named))
        }
        other => other,
    }
}

/// A database a process opens on its first use, once: a one-shot command
/// (`warden run`) opens no file its invocation never touches, where a
/// server opens them all at start so a broken file stops it there; the
/// token and people stores open theirs when a call first needs them. A
/// failed open is tried again by the next use.
pub struct OpenOnFirstUse<T> {
    opened: std::sync::OnceLock<std::sync::Arc<T>>,
    opening: std::sync::Mutex<()>,
}

impl<T> OpenOnFirstUse<T> {
    /// Already open.
    pub fn opened(value: T) -> OpenOnFirstUse<T> {
        OpenOnFirstUse {
            opened: std::sync::OnceLock::from(std::sync::Arc::new(value)),
            opening: std::sync::Mutex::new(()),
        }
    }

    /// To be opened by the first [`OpenOnFirstUse::get`].
    pub fn later() -> OpenOnFirstUse<T> {
        OpenOnFirstUse {
            opened: std::sync::OnceLock::new(),
            opening: std::sync::Mutex::new(()),
        }
    }

    /// The database if a call has opened it.
    pub fn opened_now(&self) -> Option<&std::sync::Arc<T>> {
        self.opened.get()
    }

    /// The database, opened with `open` if no call has opened it yet (one
    /// caller opens; the others wait for it).
    ///
    /// # Errors
    /// What `open` returned; nothing is kept, so the next call tries again.
    pub fn get<E>(&self, open: impl FnOnce() -> Result<T, E>) -> Result<&std::sync::Arc<T>, E> {
        if let Some(value) = self.opened.get() {
            return Ok(value);
        }
        let _opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = self.opened.get() {
            return Ok(value);
        }
        let value = std::sync::Arc::new(open()?);
        Ok(self.opened.get_or_init(|| value))
    }
}

/// A file's `user_version` for a set-up described by `version`: its 32-bit
/// FNV-1a hash (stable across builds and machines), never 0, which is what
/// a new file says.
fn stamp(version: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in version.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes((hash | 1).to_ne_bytes())
}

/// Runs blocking database work off the calling task's thread: on tokio's
/// blocking pool inside a runtime (so a guest's worker thread never waits
/// on SQLite), inline on a plain thread. `Err` carries why the pool task
/// did not finish (it panicked, or the runtime is shutting down).
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.map_err(|e| e.to_string()),
        Err(_) => Ok(work()),
    }
}

/// Runs short database work that does not wait for a lock (a read on a
/// WAL reader connection, as WAL readers do not wait for writers; a call
/// through [`without_waiting`]) where the caller is, without the ~25 µs
/// round trip to the blocking pool that [`off_thread`] costs from a tokio
/// worker, or, on a one-call verb's current-thread runtime, the start of a
/// pool thread. On a multi-threaded runtime's thread it runs through
/// `tokio::task::block_in_place`, which first hands the worker's other
/// tasks to another thread, so no other request waits behind it;
/// elsewhere it runs inline.
///
/// Work that can wait for a lock (a write while another process may hold
/// the database) belongs in [`off_thread`], where an invocation's kill
/// switch and deadline can still end the guest while the work waits. What
/// in-place work cannot avoid is its own I/O, such as the passive
/// checkpoint a commit may run at the file's autocheckpoint threshold
/// (which never waits for a lock either).
pub fn in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Runs `call` on the connection `guarded` holds only if it need not wait:
/// no other call of this process holds the connection, and no other
/// process holds a lock `call` needs. SQLite's busy handler is off for the
/// attempt, so a held lock answers `BUSY` at once, before anything is
/// written (each caller's write is one statement or begins with `BEGIN
/// IMMEDIATE`, and a failed transaction rolls back). `None` when it would
/// have to wait; the caller then runs it on the blocking pool
/// ([`off_thread`]), where an invocation waiting on it stays killable.
///
/// The busy timeout is restored afterwards, also when `call` panics; a
/// failure to restore it is logged, not returned, since `call`'s writes
/// may have committed (an error would have them sent again). A connection
/// whose mutex a panic poisoned is used as it is, like everywhere else.
pub fn without_waiting<T, E>(
    guarded: &std::sync::Mutex<Connection>,
    call: impl FnOnce(&mut Connection) -> Result<T, E>,
    busy_error: impl FnOnce(&E) -> bool,
) -> Option<Result<T, E>> {
    let mut conn = free_now(guarded)?;
    conn.busy_timeout(Duration::ZERO).ok()?;
    let patient = Patient(&mut conn);
    let result = call(patient.0);
    drop(patient);
    match result {
        Err(e) if busy_error(&e) => None,
        done => Some(done),
    }
}

/// The connection `guarded` holds, if no other call of this process holds
/// it now. One whose mutex a panic poisoned is used as it is, as the
/// waiting paths do (`lock().unwrap_or_else(|p| p.into_inner())`).
pub(crate) fn free_now(
    guarded: &std::sync::Mutex<Connection>,
) -> Option<std::sync::MutexGuard<'_, Connection>> {
    match guarded.try_lock() {
        Ok(conn) => Some(conn),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Gives a connection back its busy timeout when dropped.
struct Patient<'a>(&'a mut Connection);

impl Drop for Patient<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.busy_timeout(BUSY_PATIENCE) {
            tracing::warn!("a database connection keeps no busy timeout: {e}");
        }
    }
}

/// Adds each of `columns` (name, SQL type) that `table` lacks: how a file
/// made by an older Warden gains a newer version's columns and keeps its
/// rows. Safe when another process adds the same column at the same time.
pub fn add_missing_columns(
    conn: &Connection,
    table: &str,
    columns: &[(&str, &str)],
) -> rusqlite::Result<()> {
    for (column, kind) in columns {
        let present = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if present {
            continue;
        }
        match conn.execute(
            &format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"),
            [],
        ) {
            // Another process added it in between.
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("duplicate column") => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy_timeout_ms(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// A write another process's lock holds up is not made and says so
    /// (`None`), leaving the connection patient again; a call that panics
    /// leaves it patient too, and its poisoned mutex still usable.
    #[test]
    fn a_call_without_waiting_gives_way_to_a_held_lock_and_restores_patience() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("patient.db");
        let conn = open_wal(&path, "NORMAL", "CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let guarded = std::sync::Mutex::new(conn);
        // The write says how long it would have waited for a lock.
        let write = |conn: &mut Connection| {
            let patience = busy_timeout_ms(conn);
            conn.execute("INSERT INTO t VALUES (1)", [])
                .map(|_| patience)
        };
        let other = Connection::open(&path).unwrap_or_else(|e| unreachable!("{e}"));
        other
            .execute_batch("BEGIN IMMEDIATE")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(without_waiting(&guarded, write, busy).is_none());
        other
            .execute_batch("COMMIT")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let conn = guarded.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(busy_timeout_ms(&conn), 5000);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(rows, 0, "nothing was written");
        drop(conn);

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            without_waiting(
                &guarded,
                |_: &mut Connection| -> rusqlite::Result<()> { panic!("a call that fails hard") },
                busy,
            )
        }));
        assert!(panicked.is_err());
        assert!(guarded.is_poisoned());
        let conn = guarded.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(busy_timeout_ms(&conn), 5000, "patient again after a panic");
        drop(conn);
        let written = without_waiting(&guarded, write, busy);
        assert!(
            matches!(written, Some(Ok(0))),
            "a write made at once, with no patience: {written:?}"
        );
        let conn = guarded.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(busy_timeout_ms(&conn), 5000);
    }

    #[test]
    fn a_current_file_is_not_set_up_again_and_a_changed_set_up_runs_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("stamped.db");
        let runs = std::cell::Cell::new(0);
        let open = |version: &str, table: &str| {
            open_wal_with(&path, "NORMAL", version, |conn| {
                runs.set(runs.get() + 1);
                conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS {table} (x INTEGER)"))
            })
            .map(|_| ())
        };
        assert!(open("v1", "t1").is_ok());
        assert!(open("v1", "t1").is_ok());
        assert_eq!(runs.get(), 1, "a current file is set up once");
        // A newer set-up (a table added) runs once, and its table is there.
        assert!(open("v2", "t2").is_ok());
        assert!(open("v2", "t2").is_ok());
        assert_eq!(runs.get(), 2);
        let conn = Connection::open(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('t1', 't2')",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(tables, 2);
        // Going back (an older Warden on the file) sets up again: nothing
        // it needs is assumed.
        assert!(open("v1", "t1").is_ok());
        assert_eq!(runs.get(), 3);
        assert_ne!(stamp(""), 0);
    }

    #[test]
    fn a_close_leaves_commits_in_the_wal_and_the_next_open_reads_them() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("kept.db");
        let schema = "CREATE TABLE IF NOT EXISTS t (x INTEGER)";
        let writer = open_wal(&path, "FULL", schema).unwrap_or_else(|e| unreachable!("{e}"));
        let reader = open_wal(&path, "FULL", schema).unwrap_or_else(|e| unreachable!("{e}"));
        writer
            .execute("INSERT INTO t VALUES (42)", [])
            .unwrap_or_else(|e| unreachable!("{e}"));
        drop(writer);
        drop(reader);
        // Neither close checkpointed: the commit is in the WAL, still there.
        let wal = dir.path().join("kept.db-wal");
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(wal_len > 0, "the WAL is kept with the commit");
        let again = open_wal(&path, "FULL", schema).unwrap_or_else(|e| unreachable!("{e}"));
        let x: i64 = again
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(x, 42);
        // A file synced only at checkpoints is checkpointed at its close,
        // the sync point of a command's last writes.
        let normal = dir.path().join("normal.db");
        let conn = open_wal(&normal, "NORMAL", schema).unwrap_or_else(|e| unreachable!("{e}"));
        conn.execute("INSERT INTO t VALUES (7)", [])
            .unwrap_or_else(|e| unreachable!("{e}"));
        drop(conn);
        assert!(
            !dir.path().join("normal.db-wal").exists(),
            "checkpointed and removed"
        );
    }

    #[test]
    fn a_wal_closed_without_checkpoints_stays_small_across_processes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("often.db");
        let schema = "CREATE TABLE IF NOT EXISTS t (x BLOB)";
        // As one-shot commands do: open (the first connection, so its WAL
        // index is rebuilt), one write, close.
        for i in 0..(3 * WAL_PAGES) {
            let conn = open_wal(&path, "FULL", schema).unwrap_or_else(|e| unreachable!("{e}"));
            conn.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap_or_else(|e| unreachable!("{e} at {i}"));
        }
        let wal = std::fs::metadata(dir.path().join("often.db-wal")).map_or(0, |m| m.len());
        assert!(
            wal <= 2 * WAL_PAGES * (4096 + 24) + 32,
            "the WAL grew to {wal} bytes"
        );
        let conn = open_wal(&path, "FULL", schema).unwrap_or_else(|e| unreachable!("{e}"));
        let rows: u64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(rows, 3 * WAL_PAGES, "every write is kept");
    }

    #[test]
    fn many_threads_opening_a_new_database_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("new.db");
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    open_wal(&path, "NORMAL", "CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                        .map(|_| ())
                })
            })
            .collect();
        for t in threads {
            assert!(matches!(t.join(), Ok(Ok(()))));
        }
    }
}
