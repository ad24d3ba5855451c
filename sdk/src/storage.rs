//! Classified buckets. A bucket must be listed in your `app.toml`
//! (`[[storage]] bucket = "cache" class = "internal" ttl = "1h"`); values
//! expire, and data you read cannot be written to a lower-class bucket or
//! sent somewhere not cleared for it.
//!
//! ```ignore
//! let cache = warden_sdk::storage::Bucket::open("cache")?;
//! cache.set("report:q3", b"...")?;
//! let hit = cache.get("report:q3")?;
//! ```

use crate::bindings::warden::host::storage as host;
pub use host::Error;
use std::time::Duration;

pub struct Bucket {
    name: String,
    class: String,
}

impl Bucket {
    /// Opens a bucket the manifest grants.
    pub fn open(name: &str) -> Result<Bucket, Error> {
        let class = host::open(name)?;
        Ok(Bucket {
            name: name.to_string(),
            class,
        })
    }

    /// The bucket's data class (`public`, `internal`, ...).
    pub fn class(&self) -> &str {
        &self.class
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        host::get(&self.name, key)
    }

    /// Writes with the bucket's default expiry.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        host::set(&self.name, key, value, None)
    }

    /// Writes with a shorter expiry (the class maximum still caps it).
    pub fn set_with_ttl(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        host::set(&self.name, key, value, Some(ttl.as_secs().max(1)))
    }

    pub fn delete(&self, key: &str) -> Result<bool, Error> {
        host::delete(&self.name, key)
    }

    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        host::exists(&self.name, key)
    }

    /// All live keys starting with `prefix`, fetched page by page.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = host::list_keys(&self.name, prefix, cursor.as_deref(), 500)?;
            all.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }
}
