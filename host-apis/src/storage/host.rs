use super::policy::{effective_ttl, may_write};
use super::store::{StorageError, WriteCaps, Written};
use super::{BucketGrant, StorageOutcome, StorageState, now_ms};
use crate::bindings::warden::host::storage::{Error, Host, KeyPage};
use crate::denial::Denial;
use crate::dlp::{Verdict, describe};

/// A backend failure as the guest sees it: an internal error (the
/// backend's own message, which names no key or value).
fn internal(e: StorageError) -> Error {
    Error::Internal(e.to_string())
}

impl StorageState {
    /// [`internal`], noting a shared backend that could not be reached
    /// (see [`StorageState::unavailable`]).
    fn failed(&self, e: StorageError) -> Error {
        if let StorageError::Backend(message) = &e {
            *self.unavailable.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
        }
        internal(e)
    }
}

fn aad(app: &str, bucket: &str, key: &str) -> Vec<u8> {
    format!("{app}\0{bucket}\0{key}").into_bytes()
}

impl StorageState {
    /// The grant of bucket `name` — every storage call starts here, so a
    /// killed app is refused here too.
    fn bucket(&self, name: &str) -> Result<BucketGrant, Error> {
        if self.kill.as_ref().is_some_and(|k| k.is_killed()) {
            return Err(Error::Denied(Denial::Killed.to_wit(
                "the app was killed by an operator; its storage is closed to it".into(),
            )));
        }
        self.ctx.buckets.get(name).cloned().ok_or_else(|| {
            let granted: Vec<&str> = self.ctx.buckets.keys().map(String::as_str).collect();
            Error::Denied(Denial::NotGranted.to_wit(format!(
                "no bucket `{name}` in this app's manifest (granted: {})",
                granted.join(", ")
            )))
        })
    }

    fn check_key(&self, key: &str) -> Result<(), Error> {
        if key.is_empty() || key.len() > self.ctx.rules.max_key_bytes || key.contains('\0') {
            return Err(Error::TooLarge(format!(
                "keys must be 1 to {} bytes without NUL",
                self.ctx.rules.max_key_bytes
            )));
        }
        Ok(())
    }

    async fn read_inner(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let grant = self.bucket(bucket)?;
        self.check_key(key)?;
        self.reads += 1;
        let ctx = &self.ctx;
        let stored = ctx
            .store
            .get(&ctx.app, bucket, key, now_ms())
            .await
            .map_err(|e| self.failed(e))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let value = match (grant.rule.encrypt, &ctx.data_key) {
            (true, Some(k)) => crate::aead::open(k, &stored, &aad(&ctx.app, bucket, key))
                .ok_or_else(|| {
                    Error::Internal(format!("value `{key}` in `{bucket}` does not decrypt"))
                })?,
            (true, None) => return Err(Error::Internal("no data key".into())),
            (false, _) => stored,
        };
        self.label.raise(grant.class);
        Ok(Some(value))
    }
}

impl Host for StorageState {
    async fn open(&mut self, bucket: String) -> wasmtime::Result<Result<String, Error>> {
        let clock = Clock::start();
        let result = self.bucket(&bucket).map(|g| g.class.as_str().to_string());
        self.record("open", &bucket, clock, 0, &result);
        Ok(result)
    }

    async fn get(
        &mut self,
        bucket: String,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.read(&bucket, &key).await)
    }

    async fn exists(
        &mut self,
        bucket: String,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.read(&bucket, &key).await.map(|v| v.is_some()))
    }

    async fn set(
        &mut self,
        bucket: String,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.write(&bucket, &key, value, ttl_seconds).await)
    }

    async fn delete(
        &mut self,
        bucket: String,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.remove(&bucket, &key).await)
    }

    async fn list_keys(
        &mut self,
        bucket: String,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage, Error>> {
        Ok(self.page(&bucket, &prefix, cursor, limit).await)
    }
}

impl StorageState {
    async fn remove_inner(&mut self, bucket: &str, key: &str) -> Result<bool, Error> {
        self.bucket(bucket)?;
        self.check_key(key)?;
        self.writes += 1;
        self.ctx
            .store
            .delete(&self.ctx.app, bucket, key)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn page_inner(
        &mut self,
        bucket: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, Error> {
        let grant = self.bucket(bucket)?;
        let limit = limit.clamp(1, 1000);
        self.reads += 1;
        let ctx = &self.ctx;
        let keys = ctx
            .store
            .list(
                &ctx.app,
                bucket,
                prefix,
                cursor.as_deref(),
                limit + 1,
                now_ms(),
            )
            .await
            .map_err(|e| self.failed(e))?;
        self.label.raise(grant.class);
        let more = keys.len() > limit as usize;
        let keys: Vec<String> = keys.into_iter().take(limit as usize).collect();
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }

    async fn write_inner(
        &mut self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        let grant = self.bucket(bucket)?;
        self.check_key(key)?;
        let label = self.label.get();
        if !may_write(label, grant.class) {
            return Err(Error::Denied(Denial::ClassViolation.to_wit(format!(
                "this invocation has read {label} data and `{bucket}` is {}; data may not move to a lower class",
                grant.class
            ))));
        }
        let ctx = self.ctx.clone();
        let max_value = ctx.rules.max_value_bytes.bytes();
        if value.len() as u64 > max_value {
            return Err(Error::TooLarge(format!(
                "value of {} bytes is over the {} limit (`storage.max_value_bytes`)",
                value.len(),
                ctx.rules.max_value_bytes
            )));
        }
        let value = match &ctx.dlp {
            None => value,
            Some((scanner, actions)) => match scanner.apply(&value, actions.for_class(grant.class))
            {
                Verdict::Pass(_) => value,
                Verdict::Redacted(redacted, _) => redacted,
                Verdict::Blocked(hits) => {
                    self.denials.record(
                        Denial::DlpBlocked,
                        format!("write to bucket `{bucket}` ({})", describe(&hits)),
                    );
                    return Err(Error::Denied(Denial::DlpBlocked.to_wit(format!(
                        "the value holds sensitive data ({}) that a {} bucket may not store (`dlp.storage.{}` in warden.toml)",
                        describe(&hits),
                        grant.class,
                        grant.class
                    ))));
                }
            },
        };
        let ttl = effective_ttl(
            ttl_seconds.map(std::time::Duration::from_secs),
            grant.ttl,
            grant.rule.max_ttl,
        );
        let expires_at = now_ms().saturating_add(ttl.as_millis() as u64);
        let stored = match (grant.rule.encrypt, &ctx.data_key) {
            (true, Some(k)) => crate::aead::seal(k, &value, &aad(&ctx.app, bucket, key))
                .map_err(Error::Internal)?,
            (true, None) => return Err(Error::Internal("no data key".into())),
            (false, _) => value,
        };
        let caps = WriteCaps {
            max_bytes: ctx.quota_bytes,
            max_keys: Some(ctx.rules.max_keys),
        };
        match ctx
            .store
            .set(&ctx.app, bucket, key, &stored, expires_at, caps)
            .await
            .map_err(|e| self.failed(e))?
        {
            Written::Stored(_) => {
                self.writes += 1;
                Ok(())
            }
            Written::OverBytes { used } => Err(Error::QuotaExceeded(format!(
                "quota `storage_bytes` exhausted: used {used} of {} bytes (set by {})",
                ctx.quota_bytes.unwrap_or(0),
                ctx.quota_set_by.where_set("storage_bytes")
            ))),
            Written::OverKeys { keys } => Err(Error::QuotaExceeded(format!(
                "key limit reached: {keys} of {} keys (`storage.max_keys` in warden.toml)",
                ctx.rules.max_keys
            ))),
        }
    }
}

/// How a storage error ended the call, for traces.
fn error_kind(e: &Error) -> StorageOutcome {
    match e {
        Error::Denied(d) => StorageOutcome::Denied(Denial::from_wit(d.kind)),
        Error::TooLarge(_) => StorageOutcome::TooLarge,
        Error::QuotaExceeded(_) => StorageOutcome::QuotaExceeded,
        Error::Internal(_) => StorageOutcome::Internal,
    }
}

/// When a storage call started, for its trace.
struct Clock {
    started: std::time::SystemTime,
    clock: std::time::Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            started: std::time::SystemTime::now(),
            clock: std::time::Instant::now(),
        }
    }
}

/// The traced entry points: each call is timed and kept as a
/// [`super::StorageOp`] for the invocation's trace and metrics.
impl StorageState {
    fn record<T>(
        &mut self,
        op: &'static str,
        bucket: &str,
        clock: Clock,
        bytes: u64,
        result: &Result<T, Error>,
    ) {
        if self.ops.len() < super::MAX_OPS {
            self.ops.push(super::StorageOp {
                op,
                bucket: bucket.to_string(),
                started: clock.started,
                duration: clock.clock.elapsed(),
                bytes: if result.is_ok() { bytes } else { 0 },
                outcome: result
                    .as_ref()
                    .err()
                    .map(error_kind)
                    .unwrap_or(StorageOutcome::Ok),
            });
        }
    }

    pub(crate) async fn read(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let clock = Clock::start();
        let result = self.read_inner(bucket, key).await;
        let bytes = match &result {
            Ok(Some(v)) => v.len() as u64,
            _ => 0,
        };
        self.record("get", bucket, clock, bytes, &result);
        result
    }

    pub(crate) async fn remove(&mut self, bucket: &str, key: &str) -> Result<bool, Error> {
        let clock = Clock::start();
        let result = self.remove_inner(bucket, key).await;
        self.record("delete", bucket, clock, 0, &result);
        result
    }

    pub(crate) async fn page(
        &mut self,
        bucket: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, Error> {
        let clock = Clock::start();
        let result = self.page_inner(bucket, prefix, cursor, limit).await;
        self.record("list", bucket, clock, 0, &result);
        result
    }

    pub(crate) async fn write(
        &mut self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        let clock = Clock::start();
        let size = value.len() as u64;
        let result = self.write_inner(bucket, key, value, ttl_seconds).await;
        self.record("set", bucket, clock, size, &result);
        result
    }
}
