//! `PUT /v1/components`: a component upload streamed to disk.
//!
//! The body (the raw component, `Content-Type: application/wasm`) is written
//! to a temporary file in `<data>/components/` as it arrives, hashed on the
//! way, and renamed to `<sha256>.wasm`: memory stays flat however large the
//! upload. A deploy then names it (`"component_sha256"` in
//! `POST /v1/apps`), as an OCI push uploads blobs before the manifest. An
//! upload over `serve.max_component_size` is cut off with 413 and leaves
//! nothing behind; uploads no deploy names are collected (see
//! [`crate::registry::collect`]).

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, require};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// Removes a partial upload unless it was kept.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub async fn upload(
    State(state): State<AdminState>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require(&principal, &[Role::Creator, Role::Admin])?;
    // An upload is part of a deploy: it counts against the same caps.
    let _place = super::deploys::deploy_place(&state, &principal)?;
    let runtime = state.server.runtime();
    let max = runtime.platform().serve.max_component_size.bytes();
    let dir = runtime.data_dir().join("components");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    let nonce = rand_u64();
    let temp = dir.join(format!(".upload-{nonce:016x}"));
    let mut partial = Partial(Some(temp.clone()));
    let mut file = std::fs::File::create(&temp)
        .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the upload was cut off: {e}"),
            )
        })?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        size += data.len() as u64;
        if size > max {
            return Err(ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the component is larger than serve.max_component_size ({})",
                    runtime.platform().serve.max_component_size
                ),
            ));
        }
        hasher.update(data);
        file.write_all(data)
            .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    }
    file.sync_all()
        .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    drop(file);
    let digest = hex::encode(hasher.finalize());
    let kind = std::fs::File::open(&temp)
        .and_then(|mut f| {
            let mut head = [0u8; 8];
            std::io::Read::read(&mut f, &mut head).map(|n| head[..n].to_vec())
        })
        .map_err(|e| ApiError::internal("the upload could not be read back", e))?;
    if crate::world::binary_kind(&kind) != crate::world::BinaryKind::Component {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the upload is not a WebAssembly component; build for wasm32-wasip2 (which produces a component)".into(),
        ));
    }
    let path = dir.join(format!("{digest}.wasm"));
    {
        // Not while a collection decides what to remove.
        let _files = runtime.registry().files();
        std::fs::rename(&temp, &path)
            .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    }
    partial.0 = None;
    // Where nodes share a registry, every node can deploy it.
    runtime
        .registry()
        .store_component(&digest, &path)
        .await
        .map_err(|e| ApiError::internal("the upload could not be stored", e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "sha256": digest, "size": size })),
    ))
}

/// A random number for a temporary file's name.
fn rand_u64() -> u64 {
    let key = warden_host_apis::aead::random_key().unwrap_or_else(|_| {
        // Unique enough for a temporary name: the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&nanos.to_le_bytes());
        key
    });
    let mut first = [0u8; 8];
    first.copy_from_slice(&key[..8]);
    u64::from_le_bytes(first)
}
