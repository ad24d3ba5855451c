//! `wasi:keyvalue/store` (0.2.0-draft) over the app's classified buckets,
//! so components written for other runtimes' key-value stores run under
//! Warden's rules unchanged. A store identifier is a bucket name from
//! `app.toml`; every operation goes through the same grant, class, label,
//! DLP, TTL and quota checks as `warden:host/storage` (values get the
//! bucket's default expiry). `atomics` and `batch` are not provided.

use super::StorageState;
use crate::bindings::warden::host::storage::Error as WardenError;
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit-keyvalue",
        world: "warden-keyvalue",
        imports: { default: async | trappable },
        with: { "wasi:keyvalue/store.bucket": super::KvBucket },
    });
}

use bindings::wasi::keyvalue::store::{Error, Host, HostBucket, KeyResponse};

/// An opened store: the bucket's name and the pages handed out so far
/// (a draft cursor is a number; it indexes the last key of each page).
pub struct KvBucket {
    name: String,
    cursors: Vec<String>,
}

const PAGE: u32 = 100;

fn convert(error: WardenError) -> Error {
    match error {
        WardenError::Denied(d)
            if d.kind == crate::bindings::warden::host::types::DenialKind::NotGranted =>
        {
            Error::AccessDenied
        }
        WardenError::Denied(d) => Error::Other(format!(
            "{}: {}",
            crate::denial::Denial::from_wit(d.kind).as_str(),
            d.message
        )),
        WardenError::QuotaExceeded(m) => Error::Other(format!("quota-exceeded: {m}")),
        WardenError::TooLarge(m) => Error::Other(format!("too-large: {m}")),
        WardenError::Internal(m) => Error::Other(m),
    }
}

impl StorageState {
    fn bucket_name(&self, bucket: &Resource<KvBucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.name.clone())
    }
}

impl Host for StorageState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvBucket>, Error>> {
        if !self.ctx.buckets.contains_key(&identifier) {
            return Ok(Err(Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(KvBucket {
            name: identifier,
            cursors: Vec::new(),
        })?))
    }
}

impl HostBucket for StorageState {
    async fn get(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let name = self.bucket_name(&bucket)?;
        Ok(self.read(&name, &key).await.map_err(convert))
    }

    async fn set(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let name = self.bucket_name(&bucket)?;
        Ok(self.write(&name, &key, value, None).await.map_err(convert))
    }

    async fn delete(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let name = self.bucket_name(&bucket)?;
        Ok(self.remove(&name, &key).await.map(|_| ()).map_err(convert))
    }

    async fn exists(
        &mut self,
        bucket: Resource<KvBucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let name = self.bucket_name(&bucket)?;
        Ok(self
            .read(&name, &key)
            .await
            .map(|v| v.is_some())
            .map_err(convert))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KvBucket>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let name = self.bucket_name(&bucket)?;
        let after = match cursor {
            None => None,
            Some(i) => match self
                .table
                .get(&bucket)?
                .cursors
                .get(usize::try_from(i).unwrap_or(usize::MAX))
            {
                Some(key) => Some(key.clone()),
                None => return Ok(Err(Error::Other(format!("unknown cursor {i}")))),
            },
        };
        let page = match self.page(&name, "", after, PAGE).await {
            Ok(page) => page,
            Err(e) => return Ok(Err(convert(e))),
        };
        let cursor = match page.cursor {
            Some(last) => {
                let entry = self.table.get_mut(&bucket)?;
                entry.cursors.push(last);
                Some((entry.cursors.len() - 1) as u64)
            }
            None => None,
        };
        Ok(Ok(KeyResponse {
            keys: page.keys,
            cursor,
        }))
    }

    async fn drop(&mut self, bucket: Resource<KvBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

/// Links `wasi:keyvalue/store`; `get` finds the invocation's storage state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut StorageState,
) -> wasmtime::Result<()> {
    bindings::wasi::keyvalue::store::add_to_linker::<T, HasSelf<StorageState>>(linker, get)
}
