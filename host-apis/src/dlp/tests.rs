use super::*;

fn scanner() -> Scanner {
    Scanner::new([3; 32])
}

fn names(data: &str) -> Vec<&'static str> {
    scanner()
        .scan(data.as_bytes())
        .iter()
        .map(|f| f.pattern)
        .collect()
}

#[test]
fn each_pattern_is_found_in_context() {
    let cases = [
        ("contact alice.smith+hr@example.co.uk today", "email"),
        ("call +44 20 7946 0958 now", "phone"),
        ("call (415) 555-2671 now", "phone"),
        ("card 4111 1111 1111 1111 exp 12/30", "card"),
        ("ssn 123-45-6789.", "us-ssn"),
        ("iban GB82 WEST 1234 5698 7654 32 ok", "iban"),
        ("key AKIAIOSFODNN7EXAMPLE used", "api-key"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc here", "api-key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private-key"),
        (
            "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U x",
            "jwt",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(names(text), [expected], "{text}");
    }
}

#[test]
fn look_alikes_that_fail_their_checksum_are_not_findings() {
    assert!(names("order 4111 1111 1111 1112 shipped").is_empty());
    assert!(names("ref GB82 WEST 1234 5698 7654 33").is_empty());
    assert!(names("id 000-12-3456").is_empty());
    assert!(names("plain text with numbers 12 and 2024").is_empty());
}

#[test]
fn redaction_tokens_are_stable_and_hide_the_value() {
    let s = scanner();
    let data = b"to bob@example.com and bob@example.com, not eve@example.com";
    let redacted = s.redact(data, &s.scan(data));
    let text = String::from_utf8_lossy(&redacted);
    assert!(!text.contains("bob@") && !text.contains("eve@"), "{text}");
    let tokens: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("[REDACTED:email:"))
        .collect();
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        tokens[0].trim_end_matches(','),
        tokens[1].trim_end_matches(',')
    );
    assert_ne!(tokens[0].trim_end_matches(','), tokens[2]);
    let other_salt = Scanner::new([4; 32]);
    assert_ne!(
        other_salt.token("email", b"bob@example.com"),
        s.token("email", b"bob@example.com")
    );
}

#[test]
fn actions_pass_redact_or_block_and_count_by_pattern() {
    let s = scanner();
    let data = b"ssn 123-45-6789 card 4111111111111111";
    assert_eq!(s.apply(data, Action::Allow), Verdict::Pass(Hits::new()));
    match s.apply(data, Action::Block) {
        Verdict::Blocked(hits) => assert_eq!(describe(&hits), "card=1, us-ssn=1"),
        other => panic!("{other:?}"),
    }
    match s.apply(data, Action::Redact) {
        Verdict::Redacted(out, hits) => {
            assert_eq!(hits.len(), 2);
            assert!(!String::from_utf8_lossy(&out).contains("123-45-6789"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.apply(b"nothing here", Action::Block),
        Verdict::Pass(Hits::new())
    );
}

#[test]
fn credentials_are_the_secret_patterns_only() {
    let s = scanner();
    assert_eq!(
        s.credentials(b"mail ada@example.com the key sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        vec!["api-key"]
    );
    assert!(s.credentials(b"mail ada@example.com").is_empty());
}
