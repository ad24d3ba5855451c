//! Guests burning CPU on every worker cannot delay the admin API or a
//! kill: guests yield at every epoch tick, the admin API has its own
//! thread, and a kill traps every running guest of the app. Bounds here
//! are generous ceilings (the guests would otherwise run for 20 s); the
//! latency figures come from `cargo bench -p warden-benches --bench kill`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;
use support::library::LibHost;
use support::process::token;
use support::serving::{send, send_with};

#[test]
fn a_kill_answers_and_ends_sixteen_spinning_guests_long_before_their_deadline() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, "[maximums]\nfuel = 1_000_000_000_000\n").unwrap();
    let manifest = support::process::spin_app(data.path());
    let host = LibHost::start(data.path(), Some(&config), &[&manifest]);
    let admin = host.admin_addr();
    let app = host.app_addr;
    let token = token(data.path(), "ops", "admin");
    support::block_on(async move {
        let spinners: Vec<_> = (0..16)
            .map(|_| tokio::spawn(send(app, "GET", "/spin/spin", "")))
            .collect();
        // Every app worker is busy with guests now (two cores, sixteen
        // guests); the admin API still answers.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let auth = format!("Bearer {token}");
        let listed = tokio::time::timeout(
            Duration::from_secs(5),
            send_with(admin, "GET", "/v1/apps", "", &[("authorization", &auth)]),
        )
        .await
        .expect("the admin API answers while guests spin");
        assert_eq!(listed.status, 200, "{}", listed.body);
        let killed = tokio::time::timeout(
            Duration::from_secs(5),
            send_with(
                admin,
                "POST",
                "/v1/apps/spin/kill",
                "{\"reason\":\"drill\"}",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
            ),
        )
        .await
        .expect("the admin API answers while guests spin");
        assert_eq!(killed.status, 200, "{}", killed.body);
        for spinner in spinners {
            let reply = tokio::time::timeout(Duration::from_secs(10), spinner)
                .await
                .expect("a kill ends running guests, not their 20 s deadline")
                .unwrap();
            assert_eq!(reply.status, 503, "{}", reply.body);
        }
    });
    drop(host);
}
