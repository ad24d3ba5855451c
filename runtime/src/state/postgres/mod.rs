//! PostgreSQL as the state several nodes share (`[state] backend =
//! "postgres"`), through `tokio-postgres` and a `deadpool-postgres` pool.
//!
//! The pool and its connections live on a small runtime of their own, and
//! every call is spawned there ([`Postgres::call`]): the caller only awaits
//! a join handle, so a call makes progress whatever runtime (or none) the
//! caller is on — the contract of `crate::wait` — and never runs a query
//! on the thread of a guest. A server that is down or unreachable answers
//! within the pool's timeouts (5 s to get or open a connection) with an
//! error that says so; the pool opens new connections by itself once the
//! server is back.

pub mod audit;
pub mod dlp;
pub mod kills;
pub mod kv;
pub mod notices;
pub mod people;
pub mod registry;
pub mod schema;
pub mod secrets;
pub mod tallies;
pub mod tokens;
pub mod usage;

use crate::config::state::StateSettings;
use std::sync::Arc;
use std::time::Duration;

/// Why PostgreSQL could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The settings or the `PG*` variables do not make a connection string.
    #[error("state.url: {0}")]
    Config(String),
    /// No connection in time, or the server refused or dropped it.
    #[error("PostgreSQL is unreachable: {0}")]
    Unavailable(String),
    /// The server answered with an error.
    #[error("PostgreSQL: {0}")]
    Server(String),
    /// The shared schema was migrated by a newer Warden.
    #[error(
        "the shared schema is at version {found}, newer than this Warden knows ({known})\n  fix: upgrade this node to the Warden that migrated the database"
    )]
    SchemaTooNew { found: i32, known: i32 },
    /// The task that ran the call did not finish.
    #[error("PostgreSQL: the call did not complete: {0}")]
    Interrupted(String),
    /// This node's master key is not the one the shared state is sealed
    /// under.
    #[error(
        "this node's master key is not the one the shared state is sealed under, so it could open none of its secrets or confidential storage\n  fix: give every node the same master key (WARDEN_MASTER_KEY, or [secrets] master_key_file pointing at the same key)"
    )]
    OtherMasterKey,
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message (with its SQLSTATE) when there is one.
        match e.as_db_error() {
            Some(db) => PgError::Server(format!("{} ({})", db.message(), db.code().code())),
            None if e.is_closed() => PgError::Unavailable(e.to_string()),
            None => PgError::Server(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Unavailable(e.to_string())
    }
}

/// How long a call waits for a pooled connection, or for a new one.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// The longest one statement (or one lock wait) may take on the server.
const STATEMENT_PATIENCE: Duration = Duration::from_secs(10);

/// The longest a whole call may take, whatever the network does.
const CALL_PATIENCE: Duration = Duration::from_secs(30);

/// A pool of connections to the shared server, on its own runtime.
pub struct Postgres {
    pool: deadpool_postgres::Pool,
    /// For connections of their own (the kill listener's).
    config: tokio_postgres::Config,
    location: String,
    /// Shut down in the background when the last handle goes, so dropping
    /// it inside another runtime does not block (or panic).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The connection settings `settings` give: its `url`, else the `PG*`
/// environment variables.
pub fn pg_config(settings: &StateSettings) -> Result<tokio_postgres::Config, PgError> {
    if let Some(url) = &settings.url {
        return url
            .parse()
            .map_err(|e| PgError::Config(format!("`{}` does not parse: {e}", redacted(url))));
    }
    let mut config = tokio_postgres::Config::new();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(host) = var("PGHOST") else {
        return Err(PgError::Config(
            "neither `state.url` nor PGHOST is set\n  fix: set `url = \"postgresql://USER@HOST/DB\"` under [state], or the PG* variables".into(),
        ));
    };
    for host in host.split(',') {
        config.host(host);
    }
    if let Some(port) = var("PGPORT") {
        let port = port
            .parse()
            .map_err(|_| PgError::Config(format!("PGPORT `{port}` is not a port number")))?;
        config.port(port);
    }
    config.user(
        var("PGUSER")
            .or_else(|| var("USER"))
            .unwrap_or_else(|| "postgres".into()),
    );
    if let Some(password) = var("PGPASSWORD") {
        config.password(password);
    }
    if let Some(db) = var("PGDATABASE") {
        config.dbname(db);
    }
    config.application_name(var("PGAPPNAME").unwrap_or_else(|| "warden".into()));
    Ok(config)
}

/// `postgresql://HOST/DB` of `config`: where it points, no credentials.
fn location_of(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "postgresql://{}:{}/{}",
        hosts.join(","),
        if ports.is_empty() {
            "5432".to_string()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("")
    )
}

/// `url` without its password, for messages: `user:***@` in a URL, and
/// `password=***` in a key/value string or a URL's query.
fn redacted(url: &str) -> String {
    if let Some(at) = url.find("password=") {
        let start = at + "password=".len();
        let end = url[start..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(url.len(), |n| start + n);
        if &url[start..end] != "***" {
            return redacted(&format!("{}***{}", &url[..start], &url[end..]));
        }
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Postgres {
    /// A pool for `settings` (connections open on first use).
    ///
    /// # Errors
    /// The settings make no connection string, or the runtime cannot start.
    pub fn connect(settings: &StateSettings) -> Result<Arc<Postgres>, PgError> {
        let mut config = pg_config(settings)?;
        if config.get_application_name().is_none() {
            config.application_name("warden");
        }
        config.connect_timeout(CONNECT_PATIENCE);
        // No call waits on the server without end: statements, lock waits
        // (advisory locks included) and dead connections all time out.
        let options = format!(
            "{} -c statement_timeout={} -c lock_timeout={}",
            config.get_options().unwrap_or(""),
            STATEMENT_PATIENCE.as_millis(),
            STATEMENT_PATIENCE.as_millis()
        );
        config.options(options.trim());
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(STATEMENT_PATIENCE);
        let location = location_of(&config);
        let own = config.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("warden-postgres")
            .enable_all()
            .build()
            .map_err(|e| PgError::Interrupted(format!("cannot start its runtime: {e}")))?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(settings.pool_size.unwrap_or(StateSettings::POOL_SIZE))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_PATIENCE))
            .create_timeout(Some(CONNECT_PATIENCE))
            .recycle_timeout(Some(CONNECT_PATIENCE))
            .build()
            .map_err(|e| PgError::Config(e.to_string()))?;
        Ok(Arc::new(Postgres {
            pool,
            config: own,
            location,
            runtime: Some(runtime),
        }))
    }

    /// Runs `work` with a pooled connection on the pool's runtime.
    ///
    /// # Errors
    /// No connection within 5 s, or what `work` returns.
    pub async fn call<T, F, Fut>(&self, work: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let Some(runtime) = &self.runtime else {
            return Err(PgError::Interrupted("the pool is shut down".into()));
        };
        runtime
            .spawn(async move {
                let call = async move {
                    let client = pool.get().await?;
                    work(client).await
                };
                tokio::time::timeout(CALL_PATIENCE, call)
                    .await
                    .map_err(|_| {
                        PgError::Unavailable(format!(
                            "no answer within {} s",
                            CALL_PATIENCE.as_secs()
                        ))
                    })?
            })
            .await
            .map_err(|e| PgError::Interrupted(e.to_string()))?
    }

    /// Runs `work` on a connection of its own on the pool's runtime, with
    /// no limit on the whole call (each statement still has its 10 s
    /// unless the work lifts it): for a long job such as `warden state
    /// copy`, which must not hold a pooled connection for minutes.
    ///
    /// # Errors
    /// No connection within 5 s, or what `work` returns.
    pub(crate) async fn call_alone<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<PgError> + Send + 'static,
        F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    {
        let config = self.config.clone();
        let Some(runtime) = &self.runtime else {
            return Err(PgError::Interrupted("the pool is shut down".into()).into());
        };
        runtime
            .spawn(async move {
                let (client, driver) = connect_alone(&config).await?;
                let out = work(client).await;
                driver.abort();
                out
            })
            .await
            .map_err(|e| E::from(PgError::Interrupted(e.to_string())))?
    }

    /// Takes the session advisory lock `key` on a connection of its own,
    /// waiting up to two minutes for it (its holders read the whole audit
    /// log, which takes a while on a big one): held until the returned
    /// guard is dropped, which closes the connection, or the connection
    /// or this process ends — the server releases it then, so a holder
    /// that dies blocks no one.
    ///
    /// # Errors
    /// No connection, or the lock did not come within the timeout.
    pub async fn session_lock(&self, key: i64) -> Result<SessionLock, PgError> {
        let config = self.config.clone();
        let Some(runtime) = &self.runtime else {
            return Err(PgError::Interrupted("the pool is shut down".into()));
        };
        runtime
            .spawn(async move {
                // The connection ends (cleanly) when the client is dropped.
                let (client, _driver) = connect_alone(&config).await?;
                client
                    .batch_execute("SET lock_timeout = '120s'; SET statement_timeout = '125s'")
                    .await?;
                client
                    .execute("SELECT pg_advisory_lock($1)", &[&key])
                    .await?;
                Ok(SessionLock { _client: client })
            })
            .await
            .map_err(|e| PgError::Interrupted(e.to_string()))?
    }

    /// Runs `task` on the pool's runtime (a background task of a backend,
    /// such as the audit log's committer).
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(task);
        }
    }

    /// The pool, for a background task (which must not hold the
    /// [`Postgres`] itself: the last handle shuts its runtime down).
    pub(crate) fn pool(&self) -> deadpool_postgres::Pool {
        self.pool.clone()
    }

    /// The connection settings, for a connection of its own.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Where the server is, for messages: host and database, no password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Checks that `key` is the master key the shared state is sealed
    /// under: the first node records a check of its key (a key derived
    /// from it for this purpose, never the key); every node after must
    /// match it.
    ///
    /// # Errors
    /// The server cannot be reached, or `key` is another key
    /// ([`PgError::OtherMasterKey`]).
    pub async fn check_master_key(
        &self,
        key: &warden_host_apis::secrets::MasterKey,
    ) -> Result<(), PgError> {
        let probe = key_probe(key)?;
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO master_key_check (id, probe) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                    &[&probe],
                )
                .await?;
            let stored: String = client
                .query_one("SELECT probe FROM master_key_check WHERE id = 1", &[])
                .await?
                .get(0);
            if stored == probe {
                Ok(())
            } else {
                Err(PgError::OtherMasterKey)
            }
        })
        .await
    }

    /// Brings the shared schema to this Warden's version; returns the
    /// versions before and after (see [`schema::migrate`]).
    ///
    /// # Errors
    /// The server cannot be reached, or its schema is newer.
    pub async fn migrate(&self) -> Result<(i32, i32), PgError> {
        self.call(|mut client| async move { schema::migrate(&mut client).await })
            .await
    }
}

/// What `master_key_check` records of `key`: a key derived from it for
/// this one purpose (hex), never the key.
///
/// # Errors
/// The key cannot be derived from.
pub(crate) fn key_probe(key: &warden_host_apis::secrets::MasterKey) -> Result<String, PgError> {
    Ok(hex::encode(
        key.derive(b"warden shared state key check v1")
            .map_err(PgError::Config)?,
    ))
}

/// The shared server `platform` names (`[state] backend = "postgres"`),
/// its schema migrated; `None` for the embedded store.
///
/// # Errors
/// The settings are unusable, the server cannot be reached, or its schema
/// is newer than this Warden knows.
pub fn shared(platform: &crate::config::PlatformConfig) -> Result<Option<Arc<Postgres>>, PgError> {
    use crate::wait::Wait as _;
    if platform.state.backend != crate::config::state::Backend::Postgres {
        return Ok(None);
    }
    let pg = Postgres::connect(&platform.state)?;
    pg.migrate().wait()?;
    Ok(Some(pg))
}

/// A connection of its own (not the pool's), driven on the current
/// runtime until its client is dropped or the driver is aborted.
async fn connect_alone(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), PgError> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| PgError::Unavailable(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, driver))
}

/// A session advisory lock ([`Postgres::session_lock`]): dropping it
/// closes its connection, which releases the lock.
pub struct SessionLock {
    _client: tokio_postgres::Client,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_is_never_shown() {
        assert_eq!(
            redacted("postgresql://warden:s3cret@db.internal/warden"),
            "postgresql://warden:***@db.internal/warden"
        );
        assert_eq!(
            redacted("postgresql://warden@db.internal/warden"),
            "postgresql://warden@db.internal/warden"
        );
        let bad = StateSettings {
            url: Some("postgresql://warden:s3cret@db:notaport/x".into()),
            ..StateSettings::default()
        };
        let e = pg_config(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("***") && !e.contains("s3cret"), "{e}");
        assert_eq!(
            redacted("host=db password=s3cret dbname=w"),
            "host=db password=*** dbname=w"
        );
        assert_eq!(
            redacted("postgresql://db/w?password=s3cret&sslmode=disable"),
            "postgresql://db/w?password=***&sslmode=disable"
        );
    }
}
