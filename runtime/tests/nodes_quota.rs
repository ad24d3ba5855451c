//! Quotas shared by nodes: a daily call quota counted on three nodes at
//! once lets exactly as many calls out as it says.

use crate::egress::{LOOPBACK_ALLOWED, READ_GRANT, platform};
use crate::support;
use support::upstream::Upstream;
use support::{TestHost, fixture};
use warden_runtime::app::LoadedApp;
use warden_runtime::invoke::InvocationRequest;

/// Invokes `apps[i]` on `nodes[i]` from three threads per node at once,
/// each until it is refused with an error saying `refusal`; per thread,
/// how many invocations succeeded and the minute window (`m:<start>`) of
/// its refusal. Any other failure fails the test.
fn until_refused(
    nodes: &[TestHost],
    apps: &[LoadedApp],
    input: &str,
    refusal: &str,
) -> Vec<(usize, String)> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = nodes
            .iter()
            .zip(apps)
            .flat_map(|(node, app)| (0..3).map(move |_| (node, app)))
            .map(|(node, app)| {
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let mut ok = 0;
                    loop {
                        let report =
                            rt.block_on(node.runtime.invoke(app, InvocationRequest::cli(input)));
                        match report.result {
                            Ok(_) => ok += 1,
                            Err(e) if e.to_string().contains(refusal) => {
                                let now = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .unwrap()
                                    .as_secs();
                                return (ok, format!("m:{}", now - now % 60));
                            }
                            Err(e) => panic!("an invocation failed otherwise: {e}"),
                        }
                        assert!(ok <= 1000, "no refusal after {ok} invocations");
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    })
}

/// The daily call quota of every node together.
const CALLS: usize = 60;

/// Three nodes on one database, each running the same connector app from
/// three threads at once until the quota refuses them: exactly [`CALLS`]
/// invocations succeed, and the upstream sees exactly that many calls.
#[test]
fn a_daily_call_quota_is_exact_across_three_nodes_under_concurrent_load() {
    let upstream = Upstream::start();
    let (state, _key) = support::postgres::cluster_config();
    let config = platform(&upstream, &format!("{LOOPBACK_ALLOWED}\n{state}"));
    let nodes: Vec<TestHost> = (0..3).map(|_| TestHost::with_config(&config)).collect();
    nodes[0].set_secret("crm-token", "s3cr3t-crm-token-8f2a");
    let grant = format!("{READ_GRANT}[quota]\nconnector_calls = {CALLS}\n");
    let apps: Vec<_> = nodes
        .iter()
        .map(|n| n.load(&n.manifest("crm-app", &fixture("connector_call"), &grant)))
        .collect();
    let input = r#"{"connector":"crm","method":"GET","path":"/contacts/1"}"#;
    let succeeded: usize = until_refused(&nodes, &apps, input, "quota `connector_calls` exhausted")
        .iter()
        .map(|(ok, _)| ok)
        .sum();
    assert_eq!(succeeded, CALLS, "invocations that made their call");
    assert_eq!(upstream.seen().len(), CALLS, "calls the upstream saw");
}

/// `requests_per_minute` of every node together.
const PER_MINUTE: i64 = 30;

/// Three nodes on one database invoking one app from three threads each
/// until its `requests_per_minute` refuses them: no minute admits more
/// than the limit on all nodes together, and the minute the refusals came
/// in admitted exactly the limit. (Read from the usage counters the nodes
/// share, per minute, so a run that crosses a minute's end is judged per
/// minute too.)
#[test]
fn requests_per_minute_holds_across_three_nodes() {
    let (state, _key) = support::postgres::cluster_config();
    let url = state
        .lines()
        .find_map(|line| line.strip_prefix("url = "))
        .expect("the database URL")
        .trim_matches('"')
        .to_string();
    let nodes: Vec<TestHost> = (0..3).map(|_| TestHost::with_config(&state)).collect();
    let apps: Vec<_> = nodes
        .iter()
        .map(|n| {
            n.load(&n.manifest(
                "paced",
                &fixture("noop_handler"),
                &format!("[quota]\nrequests_per_minute = {PER_MINUTE}\n"),
            ))
        })
        .collect();
    let refused_in: Vec<String> = until_refused(&nodes, &apps, "x", "requests_per_minute")
        .into_iter()
        .map(|(_, minute)| minute)
        .collect();
    // The meters write what they counted as the apps are dropped.
    drop(apps);
    drop(nodes);
    let per_minute: Vec<(String, i64)> = support::postgres::rows(
        &url,
        "SELECT period, invocations FROM usage_counters WHERE app = 'paced' AND scope = '*' AND period LIKE 'm:%' ORDER BY period",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert!(!per_minute.is_empty(), "the nodes counted nothing");
    for (minute, admitted) in &per_minute {
        assert!(
            *admitted <= PER_MINUTE,
            "{admitted} invocations admitted in {minute}: {per_minute:?}"
        );
    }
    // The last refusal's minute was used up.
    let last = refused_in.iter().max().expect("refusals");
    let full = per_minute.iter().find(|(m, _)| m == last).map(|(_, n)| *n);
    assert_eq!(full, Some(PER_MINUTE), "{per_minute:?}");
}
