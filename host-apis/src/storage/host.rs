use super::policy::{effective_ttl, may_write};
use super::store::Replaced;
use super::{BucketGrant, StorageOutcome, StorageState, now_ms};
use crate::bindings::warden::host::storage::{Error, Host, KeyPage};
use crate::denial::Denial;
use crate::dlp::{Verdict, describe};

fn aad(app: &str, bucket: &str, key: &str) -> Vec<u8> {
    format!("{app}\0{bucket}\0{key}").into_bytes()
}

impl StorageState {
    fn bucket(&self, name: &str) -> Result<BucketGrant, Error> {
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

    fn read_inner(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let grant = self.bucket(bucket)?;
        self.check_key(key)?;
        self.reads += 1;
        let ctx = &self.ctx;
        let stored = ctx
            .store
            .get(&ctx.app, bucket, key, now_ms())
            .map_err(Error::Internal)?;
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
    fn open(&mut self, bucket: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.traced(
            "open",
            &bucket,
            |_| 0,
            |s| s.bucket(&bucket).map(|g| g.class.as_str().to_string()),
        ))
    }

    fn get(
        &mut self,
        bucket: String,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.read(&bucket, &key))
    }

    fn exists(&mut self, bucket: String, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.read(&bucket, &key).map(|v| v.is_some()))
    }

    fn set(
        &mut self,
        bucket: String,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.write(&bucket, &key, value, ttl_seconds))
    }

    fn delete(&mut self, bucket: String, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.remove(&bucket, &key))
    }

    fn list_keys(
        &mut self,
        bucket: String,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage, Error>> {
        Ok(self.page(&bucket, &prefix, cursor, limit))
    }
}

impl StorageState {
    fn remove_inner(&mut self, bucket: &str, key: &str) -> Result<bool, Error> {
        self.bucket(bucket)?;
        self.check_key(key)?;
        self.writes += 1;
        self.ctx
            .store
            .delete(&self.ctx.app, bucket, key)
            .map_err(Error::Internal)
    }

    fn page_inner(
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
            .map_err(Error::Internal)?;
        self.label.raise(grant.class);
        let more = keys.len() > limit as usize;
        let keys: Vec<String> = keys.into_iter().take(limit as usize).collect();
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }

    fn write_inner(
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
        let usage = ctx.store.usage(&ctx.app).map_err(Error::Internal)?;
        let charge = (key.len() + value.len()) as u64;
        // Size of the entry this write replaces, read at most once and only
        // when a cap is close.
        let mut replaced: Option<Option<u64>> = None;
        let mut replaced_size = || -> Result<Option<u64>, Error> {
            if replaced.is_none() {
                let stored = ctx
                    .store
                    .get(&ctx.app, bucket, key, 0)
                    .map_err(Error::Internal)?;
                replaced = Some(stored.map(|v| (key.len() + v.len()) as u64));
            }
            Ok(replaced.flatten())
        };
        if let Some(limit) = ctx.quota_bytes
            && usage.bytes + charge > limit
        {
            let credit = replaced_size()?.unwrap_or(0).min(usage.bytes);
            if usage.bytes + charge - credit > limit {
                return Err(Error::QuotaExceeded(format!(
                    "quota `storage_bytes` exhausted: used {} of {limit} bytes (set by {})",
                    usage.bytes,
                    ctx.quota_set_by.where_set("storage_bytes")
                )));
            }
        }
        if usage.keys >= ctx.rules.max_keys && replaced_size()?.is_none() {
            return Err(Error::QuotaExceeded(format!(
                "key limit reached: {} of {} keys (`storage.max_keys` in warden.toml)",
                usage.keys, ctx.rules.max_keys
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
        self.writes += 1;
        let _: Replaced = ctx
            .store
            .set(&ctx.app, bucket, key, &stored, expires_at)
            .map_err(Error::Internal)?;
        Ok(())
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

/// The traced entry points: each call is timed and kept as a
/// [`super::StorageOp`] for the invocation's trace and metrics.
impl StorageState {
    fn traced<T>(
        &mut self,
        op: &'static str,
        bucket: &str,
        bytes: impl Fn(&T) -> u64,
        call: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let started = std::time::SystemTime::now();
        let clock = std::time::Instant::now();
        let result = call(self);
        if self.ops.len() < super::MAX_OPS {
            self.ops.push(super::StorageOp {
                op,
                bucket: bucket.to_string(),
                started,
                duration: clock.elapsed(),
                bytes: result.as_ref().map(&bytes).unwrap_or(0),
                outcome: result
                    .as_ref()
                    .err()
                    .map(error_kind)
                    .unwrap_or(StorageOutcome::Ok),
            });
        }
        result
    }

    pub(crate) fn read(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.traced(
            "get",
            bucket,
            |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| v.len() as u64),
            |s| s.read_inner(bucket, key),
        )
    }

    pub(crate) fn remove(&mut self, bucket: &str, key: &str) -> Result<bool, Error> {
        self.traced("delete", bucket, |_| 0, |s| s.remove_inner(bucket, key))
    }

    pub(crate) fn page(
        &mut self,
        bucket: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, Error> {
        self.traced(
            "list",
            bucket,
            |_| 0,
            |s| s.page_inner(bucket, prefix, cursor, limit),
        )
    }

    pub(crate) fn write(
        &mut self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        let size = value.len() as u64;
        self.traced(
            "set",
            bucket,
            move |_| size,
            |s| s.write_inner(bucket, key, value, ttl_seconds),
        )
    }
}
