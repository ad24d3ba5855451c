//! Walking the chain and naming the first entry that does not fit.

use super::GENESIS;
use super::entry::AuditEntry;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// 1-based line in `audit.jsonl`.
    pub line: usize,
    /// Sequence number the entry should have had.
    pub expected_seq: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

pub(crate) fn verify(text: &str, head: Option<(u64, String)>) -> VerifyReport {
    let mut prev = GENESIS.to_string();
    let fail = |line: usize, expected_seq: u64, reason: String, entries: u64| VerifyReport {
        entries,
        problem: Some(Problem {
            line,
            expected_seq,
            reason,
        }),
    };
    let mut count = 0u64;
    let last = text.lines().count();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let expected = count + 1;
        if raw.trim().is_empty() {
            return fail(line, expected, "blank line inside the log".into(), count);
        }
        let entry: AuditEntry = match serde_json::from_str(raw) {
            Ok(e) => e,
            Err(_) if line == last && !text.ends_with('\n') => {
                return fail(
                    line,
                    expected,
                    "incomplete last line (a write cut short, never acknowledged): the next append sets it aside in audit.torn and records the repair".into(),
                    count,
                );
            }
            Err(e) => {
                return fail(
                    line,
                    expected,
                    format!("not a valid entry ({e}): edited"),
                    count,
                );
            }
        };
        if entry.seq != expected {
            let what = if entry.seq > expected {
                format!(
                    "entry #{} follows #{}: entries #{expected}..#{} were deleted",
                    entry.seq,
                    expected - 1,
                    entry.seq - 1
                )
            } else {
                format!(
                    "entry #{} appears where #{expected} belongs: reordered or duplicated",
                    entry.seq
                )
            };
            return fail(line, expected, what, count);
        }
        if entry.prev != prev {
            return fail(
                line,
                expected,
                format!(
                    "entry #{} does not link to the entry before it: the previous entry was edited, or entries were reordered",
                    entry.seq
                ),
                count,
            );
        }
        if entry.compute_hash() != entry.hash {
            return fail(
                line,
                expected,
                format!(
                    "entry #{} does not match its hash: it was edited",
                    entry.seq
                ),
                count,
            );
        }
        prev = entry.hash;
        count += 1;
    }
    if let Some((head_seq, head_hash)) = head {
        if head_seq > count {
            return fail(
                text.lines().count() + 1,
                count + 1,
                format!(
                    "the log ends at #{count} but the head records #{head_seq}: entries at the end were deleted"
                ),
                count,
            );
        }
        if head_seq == count && head_hash != prev {
            return fail(
                text.lines().count(),
                count,
                format!("entry #{count} is not the one the head records: it was replaced"),
                count,
            );
        }
    }
    VerifyReport {
        entries: count,
        problem: None,
    }
}
