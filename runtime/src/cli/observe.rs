//! `warden inspect` and `warden top`: an operator's view of a running host
//! through the admin API, as text (bars, tables) or `--json`.

use super::client;
use super::exit::Outcome;
use serde_json::Value;
use std::time::Duration;

const BAR: usize = 24;

/// `[#####.....]  used / limit` for one quota.
pub fn bar(used: u64, limit: Option<u64>) -> String {
    match limit.filter(|l| *l > 0) {
        None => format!("[{}]  {used} (no limit)", " ".repeat(BAR)),
        Some(limit) => {
            let share = (used as f64 / limit as f64).min(1.0);
            let filled = (share * BAR as f64).round() as usize;
            format!(
                "[{}{}]  {used} / {limit} ({:.0}%)",
                "#".repeat(filled),
                ".".repeat(BAR - filled),
                used as f64 * 100.0 / limit as f64
            )
        }
    }
}

fn micros(v: &Value) -> String {
    let us = v.as_i64().unwrap_or(0);
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        format!("{:.2}ms", us as f64 / 1e3)
    }
}

fn at(v: &Value) -> String {
    let us = v.as_i64().unwrap_or(0).max(0) as u64;
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_micros(us)).to_string()
}

fn render_inspect(v: &Value) -> String {
    let mut out = String::new();
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    out += &format!("{} {}  [{}]\n", s("name"), s("version"), s("state"));
    if v["state"] == "pending" {
        out += &format!("  owner {}  deploy {}\n", s("owner"), v["deploy"]);
        for reason in v["reasons"].as_array().into_iter().flatten() {
            out += &format!("  held: {}\n", reason.as_str().unwrap_or("?"));
        }
        out += &format!("  next: {}\n", s("next"));
        return out;
    }
    if let Some(reason) = v["kill"]["reason"].as_str() {
        out += &format!(
            "  killed: {reason} (by {})\n",
            v["kill"]["actor"].as_str().unwrap_or("?")
        );
    }
    for why in v["orphaned_because"].as_array().into_iter().flatten() {
        out += &format!("  ORPHANED: {}\n", why.as_str().unwrap_or("?"));
    }
    for c in v["credentials"].as_array().into_iter().flatten() {
        let age = c["age_days"]
            .as_u64()
            .map_or("not set".to_string(), |d| format!("{d} days old"));
        let limit = c["rotate_every"]
            .as_str()
            .map_or(String::new(), |r| format!(", rotate every {r}"));
        let stale = if c["stale"] == true {
            format!(
                "  STALE: set a new value with `warden secrets set {}`",
                c["secret"].as_str().unwrap_or("?")
            )
        } else {
            String::new()
        };
        out += &format!(
            "  credential {} of {}: {age}{limit}{stale}\n",
            c["secret"].as_str().unwrap_or("?"),
            c["connector"].as_str().unwrap_or("?")
        );
    }
    out += &format!(
        "  owner {}  team {}  world {}  route {}\n  artifact {}  approved {}  digest {}\n",
        s("owner"),
        s("team"),
        s("world"),
        s("route"),
        s("artifact"),
        v["approved"],
        &s("digest")[..s("digest").len().min(16)]
    );
    let scopes: Vec<&str> = v["compliance"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    if !scopes.is_empty() || !v["cost_center"].is_null() {
        out += &format!(
            "  compliance {}  cost center {}\n",
            if scopes.is_empty() {
                "-".to_string()
            } else {
                scopes.join(", ")
            },
            s("cost_center")
        );
    }
    let l = &v["limits"];
    out += &format!(
        "  limits: fuel {}  memory {}  timeout {}  output {}\n",
        l["fuel"],
        l["memory"].as_str().unwrap_or("-"),
        l["timeout"].as_str().unwrap_or("-"),
        l["max_output"].as_str().unwrap_or("-")
    );
    let grants = &v["grants"];
    let connectors: Vec<String> = grants["connectors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let scopes: Vec<&str> = c["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str())
                .collect();
            format!(
                "{} ({})",
                c["name"].as_str().unwrap_or("?"),
                scopes.join(", ")
            )
        })
        .collect();
    let hosts: Vec<&str> = grants["allowed_hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str())
        .collect();
    let buckets: Vec<String> = grants["storage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            format!(
                "{} [{}]",
                b["bucket"].as_str().unwrap_or("?"),
                b["class"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    out += &format!(
        "  grants: connectors {}\n          hosts {}\n          storage {}\n",
        list(connectors),
        list(hosts.into_iter().map(str::to_string).collect()),
        list(buckets)
    );
    if let Some(schedules) = v["schedules"].as_array().filter(|s| !s.is_empty()) {
        let patterns: Vec<&str> = schedules.iter().filter_map(|p| p.as_str()).collect();
        out += &format!(
            "  schedules: {}  runs {}  skipped {}\n",
            patterns.join(", "),
            v["schedule_runs"]["runs"],
            v["schedule_runs"]["skipped"]
        );
    }
    out += "  quotas:\n";
    for q in v["quota"].as_array().into_iter().flatten() {
        out += &format!(
            "    {:<20} {}  resets {}\n",
            q["quota"].as_str().unwrap_or("?"),
            bar(q["used"].as_u64().unwrap_or(0), q["limit"].as_u64()),
            q["resets_at"].as_str().unwrap_or("-")
        );
    }
    for o in v["slo"].as_array().into_iter().flatten() {
        let objective = match o["threshold_us"].as_i64() {
            Some(t) => format!(
                "latency: {:.2}% under {}",
                (1.0 - o["budget"].as_f64().unwrap_or(0.0)) * 100.0,
                micros(&serde_json::json!(t))
            ),
            None => format!(
                "error rate under {:.2}%",
                o["budget"].as_f64().unwrap_or(0.0) * 100.0
            ),
        };
        let window = |w: &str| {
            let x = &o["windows"][w];
            format!(
                "{w} {}/{} bad, burn {:.1}x",
                x["bad"],
                x["total"],
                x["burn_rate"].as_f64().unwrap_or(0.0)
            )
        };
        out += &format!("  slo {objective}: {}; {}\n", window("1h"), window("24h"));
    }
    let errors = v["recent_errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        out += "  recent errors: none\n";
    } else {
        out += "  recent errors:\n";
        for e in errors {
            out += &format!(
                "    {}  {:<16} {:>9}  trace {}\n",
                at(&e["start_us"]),
                e["outcome"].as_str().unwrap_or("?"),
                micros(&e["duration_us"]),
                e["trace_id"].as_str().unwrap_or("?")
            );
        }
    }
    out
}

pub fn inspect(server: &str, app: &str, json: bool) -> Outcome {
    match client::call(server, "GET", &format!("/v1/apps/{app}"), None) {
        Ok((200, value)) if !json => {
            print!("{}", render_inspect(&value));
            Ok(())
        }
        other => client::report(other),
    }
}

fn render_top(v: &Value) -> String {
    let mut out = format!(
        "{:<24} {:<8} {:>8} {:>9} {:>7} {:>10} {:>10}  {}\n",
        "APP", "STATE", "IN-FLT", "REQ/MIN", "ERR", "P50", "P99", "QUOTA (highest use)"
    );
    for a in v["apps"].as_array().into_iter().flatten() {
        let m = &a["last_minute"];
        let highest = a["quota"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| {
                let limit = q["limit"].as_u64().filter(|l| *l > 0)?;
                Some((
                    q["used"].as_u64().unwrap_or(0) as f64 / limit as f64,
                    q["quota"].as_str().unwrap_or("?").to_string(),
                ))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(share, name)| format!("{name} {:.0}%", share * 100.0))
            .unwrap_or_else(|| "-".into());
        out += &format!(
            "{:<24} {:<8} {:>8} {:>9} {:>7} {:>10} {:>10}  {}\n",
            a["name"].as_str().unwrap_or("?"),
            a["state"].as_str().unwrap_or("?"),
            a["in_flight"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            m["invocations"],
            m["errors"],
            micros(&m["p50_us"]),
            micros(&m["p99_us"]),
            highest
        );
    }
    out
}

pub fn top(server: &str, json: bool, once: bool, every: Duration) -> Outcome {
    loop {
        match client::call(server, "GET", "/v1/top", None) {
            Ok((200, value)) => {
                if json {
                    println!("{value}");
                } else {
                    if !once {
                        print!("\x1b[2J\x1b[H");
                    }
                    print!("{}", render_top(&value));
                }
            }
            other => return client::report(other),
        }
        if once {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_show_the_share_used_and_say_when_there_is_no_limit() {
        assert_eq!(
            bar(50, Some(100)),
            format!("[{}{}]  50 / 100 (50%)", "#".repeat(12), ".".repeat(12))
        );
        assert!(bar(500, Some(100)).starts_with(&format!("[{}]", "#".repeat(24))));
        assert!(bar(3, None).ends_with("3 (no limit)"));
    }
}
