//! What a secret looks like: one rule per credential format, each with the
//! keywords that must appear for it to be tried (the prefilter), the
//! pattern, and how random the secret part must be.
//!
//! The formats are the vendors' documented token shapes (AWS access key
//! ids, GitHub's `ghp_`/`github_pat_` prefixes, Slack's `xox?-` tokens and
//! webhook URLs, Stripe's `sk_live_`, OpenAI's `sk-proj-`, Anthropic's
//! `sk-ant-`, PEM armour, JWT's `eyJ` header), written for this scanner.
//!
//! No pattern asks for a word boundary: compilers pack string constants
//! back to back in a data segment (`…MNghp_q8Zt…`), so a token is found
//! by its prefix and length wherever it starts.

/// One secret format.
pub struct Rule {
    /// Stable id, shown in findings and read by policies.
    pub id: &'static str,
    pub description: &'static str,
    /// At least one must occur (ASCII, case-insensitive) for the pattern
    /// to be tried near it.
    pub keywords: &'static [&'static str],
    /// Matched on bytes near a keyword; group 1, if any, is the secret.
    pub pattern: &'static str,
    /// Least Shannon entropy, in bits per byte, of the secret part (a
    /// short value is held to less: see `secrets::random_enough`).
    pub min_entropy: f64,
    /// How many leading characters a finding may show: the format's public
    /// prefix (`ghp_`, `AKIA`), none where every character is secret.
    pub shown: usize,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "aws-access-key-id",
        description: "AWS access key id",
        keywords: &["akia", "asia", "abia", "acca"],
        pattern: r"((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})",
        shown: 4,
        min_entropy: 3.0,
    },
    Rule {
        id: "aws-secret-access-key",
        description: "AWS secret access key",
        keywords: &["secret_access_key", "secretaccesskey", "aws_secret"],
        pattern: r#"(?i)(?:aws_?secret_?access_?key|secretaccesskey|aws_secret)["']?\s*(?::|=|:=|=>)\s*["']?([A-Za-z0-9/+=]{40})"#,
        shown: 0,
        min_entropy: 4.0,
    },
    Rule {
        id: "gcp-service-account",
        description: "Google Cloud service-account key (JSON)",
        keywords: &["private_key_id"],
        pattern: r#""private_key_id"\s*:\s*"([a-f0-9]{40})""#,
        shown: 0,
        min_entropy: 3.0,
    },
    Rule {
        id: "gcp-api-key",
        description: "Google API key",
        keywords: &["aiza"],
        pattern: r"(AIza[0-9A-Za-z_\-]{35})",
        shown: 4,
        min_entropy: 3.5,
    },
    Rule {
        id: "azure-storage-key",
        description: "Azure storage account key",
        keywords: &["accountkey="],
        pattern: r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
        shown: 0,
        min_entropy: 4.0,
    },
    Rule {
        id: "azure-client-secret",
        description: "Azure AD client secret",
        keywords: &["q~"],
        pattern: r"([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})",
        shown: 0,
        min_entropy: 3.5,
    },
    Rule {
        id: "github-token",
        description: "GitHub token",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"(gh[pousr]_[A-Za-z0-9]{36})",
        shown: 4,
        min_entropy: 3.5,
    },
    Rule {
        id: "github-fine-grained-token",
        description: "GitHub fine-grained personal access token",
        keywords: &["github_pat_"],
        pattern: r"(github_pat_[A-Za-z0-9_]{82})",
        shown: 11,
        min_entropy: 3.5,
    },
    Rule {
        id: "gitlab-token",
        description: "GitLab personal access token",
        keywords: &["glpat-"],
        pattern: r"(glpat-[A-Za-z0-9_\-]{20})",
        shown: 6,
        min_entropy: 3.0,
    },
    Rule {
        id: "slack-token",
        description: "Slack token",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-"],
        pattern: r"(xox[abposr]-(?:[0-9]+-)+[A-Za-z0-9]{16,})",
        shown: 5,
        min_entropy: 3.0,
    },
    Rule {
        id: "slack-webhook",
        description: "Slack incoming-webhook URL",
        keywords: &["hooks.slack.com"],
        pattern: r"hooks\.slack\.com/services/(T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})",
        shown: 0,
        min_entropy: 3.5,
    },
    Rule {
        id: "stripe-key",
        description: "Stripe live secret or restricted key",
        keywords: &["sk_live_", "rk_live_"],
        pattern: r"((?:sk|rk)_live_[0-9A-Za-z]{24,})",
        shown: 8,
        min_entropy: 3.5,
    },
    Rule {
        id: "openai-api-key",
        description: "OpenAI API key",
        keywords: &["sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"],
        pattern: r"(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))",
        shown: 3,
        min_entropy: 3.5,
    },
    Rule {
        id: "anthropic-api-key",
        description: "Anthropic API key",
        keywords: &["sk-ant-"],
        pattern: r"(sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,})",
        shown: 7,
        min_entropy: 3.5,
    },
    Rule {
        id: "private-key",
        description: "PEM private key",
        keywords: &["-----begin"],
        // The armour line and at least 64 characters of key body (also
        // with `\n` escapes, as in source code), so the bare marker a TLS
        // library carries as a constant is not a finding.
        pattern: r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|\s)*([A-Za-z0-9+/=]{64,})",
        shown: 0,
        min_entropy: 4.0,
    },
    Rule {
        id: "jwt",
        description: "JSON Web Token",
        keywords: &["eyj"],
        pattern: r"(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})",
        shown: 3,
        min_entropy: 4.0,
    },
    Rule {
        id: "generic-secret",
        description: "high-entropy value assigned to a key-like name",
        keywords: &[
            "api_key",
            "apikey",
            "api-key",
            "secret",
            "token",
            "password",
            "passwd",
            "access_key",
        ],
        pattern: r#"(?i)(?:api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key)[A-Za-z0-9_\-]{0,16}["']?\s*(?::|=|:=|=>)\s*["']([A-Za-z0-9_\-+/=.~]{20,100})["']"#,
        shown: 0,
        min_entropy: 4.0,
    },
];
