//! The test PostgreSQL server: the one `scripts/test.sh` starts with
//! `scripts/postgres.sh` and names in `WARDEN_TEST_POSTGRES_URL`. A test
//! that needs it and finds none fails, saying how to start one; it is
//! never skipped.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The server's URL (its `postgres` database).
pub fn server_url() -> String {
    std::env::var("WARDEN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "WARDEN_TEST_POSTGRES_URL is not set: run the suite with ./scripts/test.sh, or start a server with\n  eval \"$(./scripts/postgres.sh start /tmp/warden-pg)\""
            )
        })
}

/// A new, empty database on the test server, for one test; its URL.
pub fn fresh_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = server_url();
    let name = format!(
        "warden_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    super::block_on(async {
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test server at {base}: {e}"));
        let driver = tokio::spawn(connection);
        // One statement each: neither may run inside a transaction block.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client
                .batch_execute(&sql)
                .await
                .expect("create the test database");
        }
        drop(client);
        let _ = driver.await;
    });
    with_database(&base, &name)
}

/// `url` naming database `db` instead of the one it names.
fn with_database(url: &str, db: &str) -> String {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = head.rsplit_once('/').expect("a URL with a database path");
    match query {
        "" => format!("{server}/{db}"),
        q => format!("{server}/{db}?{q}"),
    }
}

/// `warden.toml` lines that put shared state in a fresh database.
pub fn state_config() -> String {
    format!(
        "[state]\nbackend = \"postgres\"\nurl = \"{}\"\npool_size = 4\n",
        fresh_database()
    )
}

/// `warden.toml` lines for nodes of one cluster: a fresh shared database
/// and one master key file every node is given. Keep the directory alive
/// while the nodes run.
pub fn cluster_config() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("master.key");
    let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    std::fs::write(&key, hex::encode(bytes)).expect("write the key");
    let config = format!(
        "{}\n[secrets]\nmaster_key_file = \"{}\"\n",
        state_config(),
        key.display()
    );
    (config, dir)
}

/// A connection to the database at `url`, driven on the caller's runtime.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Runs `sql` (one or more statements) on the database at `url`.
pub fn execute(url: &str, sql: &str) {
    super::block_on(async {
        let client = connect(url).await;
        client.batch_execute(sql).await.expect("run the statements");
    });
}

/// The rows `sql` reads from the database at `url`.
pub fn rows(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    super::block_on(async {
        let client = connect(url).await;
        client.query(sql, &[]).await.expect("run the query")
    })
}

/// A node's pool on the database at `url`, its schema migrated.
pub fn pool(url: &str) -> std::sync::Arc<warden_runtime::state::postgres::Postgres> {
    use warden_runtime::config::state::{Backend, StateSettings};
    use warden_runtime::wait::Wait as _;
    let settings = StateSettings {
        backend: Backend::Postgres,
        url: Some(url.into()),
        pool_size: Some(4),
    };
    let pg = warden_runtime::state::postgres::Postgres::connect(&settings).expect("a pool");
    pg.migrate().wait().expect("the schema migrated");
    pg
}

/// A PostgreSQL server of a test's own (for a test that stops and starts
/// it), in `dir`; removed when dropped.
pub struct OwnServer {
    dir: std::path::PathBuf,
    /// Its URL, as `scripts/postgres.sh start` printed it.
    pub url: String,
}

impl OwnServer {
    /// Starts a fresh cluster in `dir`.
    pub fn start(dir: &std::path::Path) -> OwnServer {
        let mut server = OwnServer {
            dir: dir.to_path_buf(),
            url: String::new(),
        };
        let printed = server.script("start");
        server.url = printed.split('\'').nth(1).expect("the URL").to_string();
        server
    }

    /// Stops the server, keeping its cluster (`scripts/postgres.sh halt`).
    pub fn halt(&self) {
        self.script("halt");
    }

    /// Starts the halted server again.
    pub fn restart(&self) {
        self.script("start");
    }

    fn script(&self, verb: &str) -> String {
        let out = std::process::Command::new(SCRIPT)
            .arg(verb)
            .arg(&self.dir)
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh {verb}: {}",
            super::said(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(SCRIPT)
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
