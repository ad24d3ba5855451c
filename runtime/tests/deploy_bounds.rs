//! Deploys are bounded: a component that is expensive to compile is
//! refused at the platform's compile budget while every app and the admin
//! API keep answering, and deploys in progress are capped per caller.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

use std::time::Duration;
use support::library::LibHost;
use support::process::{noop_app, token};
use support::serving::{send, send_with};

/// A component holding `modules` unused core modules, each with one
/// function that keeps `live` loaded values alive at once before adding
/// them up: minutes of register allocation in a few hundred KB.
fn compile_bomb(modules: usize, live: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, Component, Function, FunctionSection, Instruction, MemArg, MemorySection,
        MemoryType, Module, ModuleSection, TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut body = Function::new([]);
    let at = MemArg {
        offset: 0,
        align: 2,
        memory_index: 0,
    };
    for i in 0..live {
        body.instruction(&Instruction::I32Const(((i * 4) % 65_532) as i32));
        body.instruction(&Instruction::I32Load(at));
    }
    for _ in 1..live {
        body.instruction(&Instruction::I32Add);
    }
    body.instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&body);
    module.section(&code);
    let mut component = Component::new();
    for _ in 0..modules {
        component.section(&ModuleSection(&module));
    }
    component.finish()
}

/// Whether the deploy of the component with SHA-256 `digest` has reached
/// its compile: the host stores the component just before it compiles it.
fn compiling(data: &std::path::Path, digest: &str) -> bool {
    data.join("components")
        .join(format!("{digest}.wasm"))
        .is_file()
}

/// Whether any compiled artifact of the component `digest` exists.
fn compiled(data: &std::path::Path, digest: &str) -> bool {
    std::fs::read_dir(data.join("artifacts"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(digest))
        })
        .unwrap_or(false)
}

#[test]
fn a_compile_bomb_is_refused_at_the_budget_while_apps_and_the_admin_api_answer() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, "[deploys]\ncompile_timeout = \"5s\"\n").unwrap();
    let noop = noop_app(data.path(), "noop", "");
    let host = LibHost::start(data.path(), Some(&config), &[&noop]);
    let alice = token(data.path(), "alice", "creator");
    let ops = token(data.path(), "ops", "admin");
    let bomb = data.path().join("bomb.wasm");
    // Two modules of 20,000 live values compile for about 11 s on a 2-core
    // machine (21 s of CPU); four of 40,000 take minutes. The budget is 5 s.
    let bomb_bytes = compile_bomb(4, 40_000);
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bomb_bytes))
    };
    std::fs::write(&bomb, &bomb_bytes).unwrap();
    let body = support::admin_api::deploy_body("bomb", "1.0.0", &bomb, "");
    let (admin, app) = (host.admin_addr(), host.app_addr);
    let data_dir = data.path().to_path_buf();
    support::block_on(async move {
        let alice_auth = format!("Bearer {alice}");
        let deploying = {
            let (body, auth) = (body.clone(), alice_auth.clone());
            tokio::spawn(async move {
                send_with(
                    admin,
                    "POST",
                    "/v1/apps",
                    &body,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                )
                .await
            })
        };
        let mut waited = 0;
        while !compiling(&data_dir, &digest) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
            assert!(waited < 1_000, "the deploy never started compiling");
        }
        // While it compiles, a second deploy of the same creator is refused
        // at once (429), not queued behind the compile.
        let second = send_with(
            admin,
            "POST",
            "/v1/apps",
            &body,
            &[
                ("authorization", &alice_auth),
                ("content-type", "application/json"),
            ],
        )
        .await;
        assert_eq!(second.status, 429, "{}", second.body);
        assert!(
            second.body.contains("deploys.max_concurrent_per_creator"),
            "{}",
            second.body
        );
        // While it compiles: the app and the admin API answer.
        let reply = tokio::time::timeout(Duration::from_secs(3), send(app, "POST", "/noop", "hi"))
            .await
            .expect("requests are served while a deploy compiles");
        assert_eq!((reply.status, reply.body.as_str()), (200, "hi"));
        let ops_auth = format!("Bearer {ops}");
        let listed = tokio::time::timeout(
            Duration::from_secs(3),
            send_with(
                admin,
                "GET",
                "/v1/apps",
                "",
                &[("authorization", &ops_auth)],
            ),
        )
        .await
        .expect("the admin API answers while a deploy compiles");
        assert_eq!(listed.status, 200);
        let refused = tokio::time::timeout(Duration::from_secs(60), deploying)
            .await
            .expect("the budget ends the compile")
            .unwrap();
        assert_eq!(refused.status, 400, "{}", refused.body);
        // The fix is the platform's setting, not a rebuild.
        assert!(
            refused.body.contains("compile budget")
                && refused.body.contains("raise `deploys.compile_timeout`"),
            "{}",
            refused.body
        );
        assert!(
            !compiled(&data_dir, &digest),
            "nothing of the stopped compile is cached"
        );
        let reply = send(app, "POST", "/noop", "still").await;
        assert_eq!(reply.status, 200);
    });
    drop(host);
}

fn put_component(admin: &support::admin_api::Admin, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let token = admin.token_of(warden_runtime::admin::tokens::Role::Creator);
    let addr = admin.addr;
    support::block_on(async move {
        use http_body_util::BodyExt;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let request = http::Request::put("/v1/components")
            .header("host", "admin")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/wasm")
            .body(http_body_util::Full::new(bytes::Bytes::from(bytes)))
            .unwrap();
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, serde_json::from_slice(&body).unwrap_or_default())
            }
            // The host may close an upload it cut off before reading it all.
            Err(_) => (0, serde_json::Value::Null),
        }
    })
}

fn uploads_left(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data.join("components"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".upload-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_component_is_uploaded_by_streaming_and_deployed_by_its_digest() {
    let admin = support::admin_api::admin_with("[serve]\nmax_component_size = \"64MiB\"\n", &[]);
    let data = admin.running.server.runtime().data_dir().to_path_buf();
    let noop = std::fs::read(support::fixture("noop_handler")).unwrap();
    let (status, answer) = put_component(&admin, noop.clone());
    assert_eq!(status, 201, "{answer}");
    let digest = answer["sha256"].as_str().unwrap().to_string();
    assert_eq!(answer["size"], noop.len());
    assert!(
        data.join("components")
            .join(format!("{digest}.wasm"))
            .is_file()
    );
    let manifest = format!(
        "[app]\nname = \"streamed\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\n{}[http]\nroute = \"/streamed\"\n",
        support::admin_api::accountable("")
    );
    let body = serde_json::json!({ "manifest": manifest, "component_sha256": digest }).to_string();
    let (status, answer) = admin.call(
        Some(warden_runtime::admin::tokens::Role::Creator),
        "POST",
        "/v1/apps",
        &body,
    );
    assert_eq!(status, 201, "{answer}");
    let reply = support::serving::request(admin.running.addr, "POST", "/streamed", "hi");
    assert_eq!(reply.body, "hi");
    let next = manifest.replace("1.0.0", "1.0.1");
    let unknown =
        serde_json::json!({ "manifest": next, "component_sha256": "ab".repeat(32) }).to_string();
    let (status, answer) = admin.call(
        Some(warden_runtime::admin::tokens::Role::Creator),
        "POST",
        "/v1/apps",
        &unknown,
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/components"),
        "{answer}"
    );
    let (status, _) = put_component(&admin, vec![0u8; 65 * 1024 * 1024]);
    assert!(
        status == 413 || status == 0,
        "an upload over the cap is cut off: {status}"
    );
    // Inline base64 is for components up to 16 MiB only (it is held in
    // memory), whatever `max_component_size` allows.
    let inline = serde_json::json!({
        "manifest": manifest,
        "component": "A".repeat(24 * 1024 * 1024),
    })
    .to_string();
    let (status, _) = admin.call(
        Some(warden_runtime::admin::tokens::Role::Creator),
        "POST",
        "/v1/apps",
        &inline,
    );
    assert_eq!(status, 413);
    let (status, answer) = put_component(&admin, b"#!/bin/sh\necho hi\n".to_vec());
    assert_eq!(status, 400, "{answer}");
    assert!(uploads_left(&data).is_empty(), "{:?}", uploads_left(&data));
}

#[test]
fn failed_and_old_versions_files_are_collected_and_kept_ones_stay() {
    let admin = support::admin_api::admin_with("[deploys]\nkeep_versions = 1\n", &[]);
    let data = admin.running.server.runtime().data_dir().to_path_buf();
    let creator = Some(warden_runtime::admin::tokens::Role::Creator);
    let failing =
        support::admin_api::deploy_body("vault", "1.0.0", &support::fixture("unsatisfiable"), "");
    let (status, _) = admin.call(creator, "POST", "/v1/apps", &failing);
    assert_eq!(status, 400);
    let mut deploys = Vec::new();
    for patch in 1..=3 {
        let body = support::admin_api::deploy_body(
            "kept",
            &format!("1.0.{patch}"),
            &support::fixture("noop_handler"),
            "[http]\nroute = \"/kept\"",
        );
        let (status, answer) = admin.call(creator, "POST", "/v1/apps", &body);
        assert_eq!(status, 201, "{answer}");
        deploys.push(answer["deploy"].as_i64().unwrap());
    }
    // What `warden serve` runs after each deploy, without the grace period
    // that spares fresh files.
    let runtime = admin.running.server.runtime();
    let served: std::collections::BTreeSet<String> = admin
        .running
        .server
        .all_apps()
        .iter()
        .map(|a| a.digest.clone())
        .collect();
    runtime
        .registry()
        .collect(1, &served, &data.join("artifacts"), Duration::ZERO)
        .wait()
        .unwrap();
    let manifest = |id: i64| data.join("deploys").join(id.to_string()).join("app.toml");
    assert!(
        !manifest(deploys[0]).exists(),
        "the oldest superseded version goes"
    );
    assert!(
        manifest(deploys[1]).exists(),
        "keep_versions = 1 superseded version stays"
    );
    assert!(manifest(deploys[2]).exists(), "the active version stays");
    let unsatisfiable = std::fs::read(support::fixture("unsatisfiable")).unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&unsatisfiable))
    };
    assert!(
        !data
            .join("components")
            .join(format!("{digest}.wasm"))
            .exists(),
        "a failed deploy's upload is collected"
    );
    let artifacts: Vec<String> = std::fs::read_dir(data.join("artifacts"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !artifacts.iter().any(|a| a.starts_with(&digest)),
        "{artifacts:?}"
    );
    assert!(!artifacts.is_empty(), "the served version's artifact stays");
    assert_eq!(
        support::serving::request(admin.running.addr, "POST", "/kept", "still").body,
        "still"
    );
    let (_, versions) = admin.call(creator, "GET", "/v1/apps/kept/versions", "");
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(3),
        "records stay: {versions}"
    );
}

#[test]
fn a_slow_upload_that_keeps_sending_is_not_cut_off_by_the_body_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let admin = support::admin_api::admin_with("[serve]\nbody_timeout = \"1s\"\n", &[]);
    let token = admin.token_of(warden_runtime::admin::tokens::Role::Creator);
    let component = std::fs::read(support::fixture("noop_handler")).unwrap();
    let addr = admin.addr;
    let answer = support::block_on(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PUT /v1/components HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            component.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Four parts 600 ms apart: 2.4 s in all, never 1 s without progress.
        for part in component.chunks(component.len().div_ceil(4)) {
            tokio::time::sleep(Duration::from_millis(600)).await;
            stream.write_all(part).await.unwrap();
        }
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    });
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}
