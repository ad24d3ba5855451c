use super::*;

fn event(n: u32) -> AuditEvent {
    AuditEvent {
        kind: crate::audit::AuditKind::PolicyDenied,
        app: Some("report".into()),
        actor: "tester".into(),
        details: serde_json::json!({ "n": n }),
    }
}

fn log_with(n: u32) -> std::io::Result<(tempfile::TempDir, AuditLog)> {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::new(dir.path().join("audit.jsonl"));
    for i in 0..n {
        log.append_now(event(i))?;
    }
    Ok((dir, log))
}

fn rewrite(log: &AuditLog, f: impl FnOnce(&mut Vec<String>)) -> std::io::Result<()> {
    let text = std::fs::read_to_string(log.path())?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    f(&mut lines);
    std::fs::write(log.path(), lines.join("\n") + "\n")
}

#[test]
fn an_untouched_log_verifies() -> std::io::Result<()> {
    let (_dir, log) = log_with(5)?;
    let report = log.read_now()?.1;
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 5);
    Ok(())
}

#[test]
fn entries_chain_to_the_one_before() -> std::io::Result<()> {
    let (_dir, log) = log_with(3)?;
    let entries = log.read_now()?.0;
    assert_eq!(entries[0].prev, GENESIS);
    assert_eq!(entries[1].prev, entries[0].hash);
    assert_eq!(entries[2].seq, 3);
    Ok(())
}

#[test]
fn an_edited_entry_is_caught_at_that_entry() -> std::io::Result<()> {
    let (_dir, log) = log_with(5)?;
    rewrite(&log, |lines| {
        lines[2] = lines[2].replace("tester", "mallory")
    })?;
    let problem = log.read_now()?.1.problem;
    assert_eq!(problem.as_ref().map(|p| p.line), Some(3));
    assert!(
        problem
            .map(|p| p.reason)
            .unwrap_or_default()
            .contains("edited")
    );
    Ok(())
}

#[test]
fn a_deleted_entry_is_caught_where_the_gap_starts() -> std::io::Result<()> {
    let (_dir, log) = log_with(5)?;
    rewrite(&log, |lines| {
        lines.remove(1);
    })?;
    let problem = log.read_now()?.1.problem;
    assert_eq!(problem.as_ref().map(|p| p.expected_seq), Some(2));
    assert!(
        problem
            .map(|p| p.reason)
            .unwrap_or_default()
            .contains("deleted")
    );
    Ok(())
}

#[test]
fn reordered_entries_are_caught() -> std::io::Result<()> {
    let (_dir, log) = log_with(5)?;
    rewrite(&log, |lines| lines.swap(3, 4))?;
    let problem = log.read_now()?.1.problem;
    assert_eq!(problem.as_ref().map(|p| p.line), Some(4));
    Ok(())
}

#[test]
fn entries_deleted_at_the_end_are_caught_through_the_head() -> std::io::Result<()> {
    let (_dir, log) = log_with(5)?;
    rewrite(&log, |lines| {
        lines.truncate(3);
    })?;
    let problem = log.read_now()?.1.problem;
    assert!(
        problem
            .map(|p| p.reason)
            .unwrap_or_default()
            .contains("end were deleted")
    );
    Ok(())
}

#[test]
fn a_stale_head_after_a_crash_does_not_break_the_chain() -> std::io::Result<()> {
    let (_dir, log) = log_with(2)?;
    let head = std::fs::read(log.head_path())?;
    log.append_now(event(9))?;
    // Simulate a crash between the append and the head update.
    std::fs::write(log.head_path(), head)?;
    log.append_now(event(10))?;
    let report = log.read_now()?.1;
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 4);
    Ok(())
}

#[test]
fn a_torn_last_line_is_set_aside_and_the_next_entry_chains_to_the_last_complete_one()
-> std::io::Result<()> {
    let (_dir, log) = log_with(1)?;
    let mut file = std::fs::OpenOptions::new().append(true).open(log.path())?;
    std::io::Write::write_all(&mut file, b"{\"seq\":2,\"time\"")?;
    drop(file);
    let report = log.read_now()?.1;
    assert!(
        report
            .problem
            .as_ref()
            .is_some_and(|p| p.reason.contains("incomplete last line")),
        "{report:?}"
    );
    let entry = log.append_now(event(2))?;
    let entries = log.read_now()?.0;
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["policy.denied", "audit.repaired", "policy.denied"]);
    assert_eq!(entry.seq, 3);
    assert_eq!(entries[1].prev, entries[0].hash);
    assert!(log.read_now()?.1.is_intact());
    let torn = std::fs::read_to_string(log.path().with_extension("torn"))?;
    assert_eq!(torn, "{\"seq\":2,\"time\"\n");
    Ok(())
}

#[test]
fn a_whole_entry_missing_only_its_newline_is_kept() -> std::io::Result<()> {
    let (_dir, log) = log_with(2)?;
    let text = std::fs::read_to_string(log.path())?;
    std::fs::write(log.path(), text.trim_end_matches('\n'))?;
    log.append_now(event(3))?;
    let seqs: Vec<u64> = log.read_now()?.0.into_iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(log.read_now()?.1.is_intact());
    Ok(())
}

#[test]
fn bytes_cut_from_an_acknowledged_entry_stay_evident_after_the_next_append() -> std::io::Result<()>
{
    let (_dir, log) = log_with(2)?;
    let text = std::fs::read_to_string(log.path())?;
    // Chop the end of the last acknowledged entry (not a crash: the head
    // records its full length).
    std::fs::write(log.path(), &text[..text.len() - 10])?;
    let next = log.append_now(event(3))?;
    assert_eq!(next.seq, 2, "chains on from the last whole entry");
    assert!(!log.read_now()?.1.is_intact(), "the cut stays evident");
    assert!(
        !log.path().with_extension("torn").exists(),
        "nothing was set aside"
    );
    Ok(())
}
