use super::*;

/// Random-looking characters for fake secrets (not anyone's credentials).
const NOISE: &str = "q8ZtR2vXw5LmN7pK3sJ9fH4dG6bC1yT0uEoA";

fn noise(n: usize) -> String {
    NOISE.chars().cycle().take(n).collect()
}

/// One planted example per rule: (rule, text containing it).
pub(crate) fn planted() -> Vec<(&'static str, String)> {
    vec![
        ("aws-access-key-id", "key = AKIAQ3RVGY2W7JXPL4MN;".to_string()),
        (
            "aws-secret-access-key",
            format!("aws_secret_access_key = {}", noise(40)),
        ),
        (
            "gcp-service-account",
            "{\"type\": \"service_account\", \"private_key_id\": \"3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f0a\"}".into(),
        ),
        ("gcp-api-key", format!("AIza{}", noise(35))),
        (
            "azure-storage-key",
            format!("DefaultEndpointsProtocol=https;AccountKey={}==;", noise(86)),
        ),
        (
            "azure-client-secret",
            format!("secret={}", "abc8Q~".to_string() + &noise(34)),
        ),
        ("github-token", format!("ghp_{}", noise(36))),
        ("github-fine-grained-token", format!("github_pat_{}", noise(82))),
        ("gitlab-token", format!("glpat-{}", noise(20))),
        (
            "slack-token",
            format!("xoxb-123456789012-1234567890123-{}", noise(24)),
        ),
        (
            "slack-webhook",
            format!("https://hooks.slack.com/services/T0ABC1234/B0DEF5678/{}", noise(24)),
        ),
        ("stripe-key", format!("sk_live_{}", noise(30))),
        ("openai-api-key", format!("sk-proj-{}", noise(60))),
        ("anthropic-api-key", format!("sk-ant-api03-{}", noise(90))),
        (
            "private-key",
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow{}\\n-----END RSA PRIVATE KEY-----",
                noise(120)
            ),
        ),
        (
            "jwt",
            format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJyb2xlIjoiYWRtaW4ifQ.{}", noise(43)),
        ),
        ("generic-secret", format!("API_KEY = \"{}\"", noise(32))),
    ]
}

#[test]
fn every_rule_finds_its_planted_secret_and_shows_only_a_preview() {
    let planted = planted();
    let ids: HashSet<&str> = rules::RULES.iter().map(|r| r.id).collect();
    let covered: HashSet<&str> = planted.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, covered, "one planted example per rule");
    for (id, text) in planted {
        let found = scan_manifest(&text).unwrap_or_default();
        assert!(
            found.iter().any(|f| f.rule == id),
            "{id} not found in {text}: {found:?}"
        );
        for f in &found {
            let rule = rules::RULES.iter().find(|r| r.id == f.rule);
            let shown = f.preview.split('…').next().unwrap_or_default();
            assert!(
                rule.is_some_and(|r| shown.len() <= r.shown),
                "only the public prefix is shown: {f:?}"
            );
            assert!(f.preview.ends_with(" chars)"), "{f:?}");
        }
    }
}

#[test]
fn a_secret_without_a_public_prefix_shows_none_of_its_characters() {
    let found = scan_manifest(&format!("API_KEY = \"{}\"", noise(32))).unwrap_or_default();
    assert_eq!(found[0].preview, "…(32 chars)");
}

/// A short random value cannot reach a long one's entropy; it is still
/// found.
#[test]
fn a_short_random_value_is_held_to_what_its_length_allows() {
    let found = scan_manifest("token = \"k7Qp2ZxW9mRt4LbN8vYs\"").unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:?}");
}

/// A keyword repeated just before a long secret does not hide it.
#[test]
fn a_decoy_keyword_before_a_secret_does_not_hide_it() {
    let text = format!("token {} api_key = \"{}\"", " ".repeat(430), noise(90));
    let found = scan_manifest(&text).unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn markers_placeholders_and_ordinary_words_are_not_secrets() {
    let clean = [
        "const HEADER = \"-----BEGIN PRIVATE KEY-----\";".to_string(),
        "AKIAIOSFODNN7EXAMPLE".to_string(),
        "password = \"hunter2\"".to_string(),
        "token = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"".to_string(),
        "api_key = \"your_api_key_here_please_replace\"".to_string(),
        "def tokenize(source): return generate_tokens(source)".to_string(),
        format!("ghp_{}", "a".repeat(36)),
        "the secret of a good secret is that it stays one".to_string(),
    ];
    for text in clean {
        let found = scan_manifest(&text).unwrap_or_default();
        assert!(found.is_empty(), "{text}: {found:?}");
    }
}

#[test]
fn manifest_findings_name_the_line_and_offset() {
    let text = format!(
        "[app]\nname = \"a\"\n\n[config]\ntoken = \"{}\"\n",
        noise(30)
    );
    let found = scan_manifest(&text).unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].section, "app.toml line 5");
    assert_eq!(found[0].path, "app.toml");
    assert_eq!(
        &text[found[0].offset as usize..found[0].offset as usize + 4],
        "q8Zt"
    );
}

#[test]
fn a_secret_in_a_modules_data_segment_is_found_with_its_offset() {
    let secret = format!("ghp_{}", noise(36));
    // A core module with one memory and one active data segment holding
    // the secret, encoded by hand.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend([5, 3, 1, 0, 1]); // memory section: one memory, min 1 page
    let mut data = vec![1, 0, 0x41, 0, 0x0b]; // one segment, memory 0, at i32.const 0
    data.push(secret.len() as u8);
    data.extend(secret.as_bytes());
    module.push(11);
    module.push(data.len() as u8);
    module.extend(&data);
    let found = scan_component(&module).unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "github-token");
    assert_eq!(found[0].section, "module 1 data segment 0");
    let at = found[0].offset as usize;
    assert_eq!(&module[at..at + secret.len()], secret.as_bytes());
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    assert!(scan_component(b"\0asm\x01\0\0\0\x0b\x09").is_err());
}
