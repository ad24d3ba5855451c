//! Deploys are bounded: a component that is expensive to compile is
//! refused at the platform's compile budget while every app and the admin
//! API keep answering, and deploys in progress are capped per caller.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;
use support::process::{Host, noop_app, token};
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

/// Whether a compile is running now: the host writes the component for
/// its compiler next to the artifact cache while the compile lasts.
fn compiling(data: &std::path::Path) -> bool {
    std::fs::read_dir(data.join("artifacts"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".input-"))
        })
        .unwrap_or(false)
}

#[test]
fn a_compile_bomb_is_refused_at_the_budget_while_apps_and_the_admin_api_answer() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, "[deploys]\ncompile_timeout = \"5s\"\n").unwrap();
    let noop = noop_app(data.path(), "noop", "");
    let host = Host::start(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--app",
            noop.to_str().unwrap(),
        ],
    );
    let alice = token(data.path(), "alice", "creator");
    let ops = token(data.path(), "ops", "admin");
    let bomb = data.path().join("bomb.wasm");
    // Two modules of 20,000 live values compile for about 11 s on a 2-core
    // machine (21 s of CPU); four of 40,000 take minutes. The budget is 5 s.
    std::fs::write(&bomb, compile_bomb(4, 40_000)).unwrap();
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
        while !compiling(&data_dir) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
            assert!(waited < 1_000, "the deploy never started compiling");
        }
        // While it compiles: the app answers, the admin API answers, and a
        // second deploy of the same creator waits for no compile slot: 429.
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
        let refused = tokio::time::timeout(Duration::from_secs(60), deploying)
            .await
            .expect("the budget ends the compile")
            .unwrap();
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body.contains("compile budget")
                && refused.body.contains("deploys.compile_timeout"),
            "{}",
            refused.body
        );
        assert!(!compiling(&data_dir), "the compile's input is removed");
        let reply = send(app, "POST", "/noop", "still").await;
        assert_eq!(reply.status, 200);
    });
    drop(host);
}
