//! How list commands print: an aligned table for people by default, one
//! JSON object per line with `--json` for programs. The same rows either
//! way, whether they came from the admin API or the data directory.

use serde_json::Value;

/// A column: its header and the row's key (dotted for nested fields).
pub type Column<'a> = (&'a str, &'a str);

fn cell(row: &Value, key: &str) -> String {
    let value = key.split('.').fold(row, |v, k| &v[k]);
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The rows as a table (or, with `json`, as JSON lines).
pub fn render(rows: &[Value], columns: &[Column<'_>], json: bool) -> String {
    if json {
        return rows.iter().map(|r| format!("{r}\n")).collect();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, key)| cell(r, key)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (header, _))| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let mut out = String::new();
        for (i, v) in values.iter().enumerate() {
            if i + 1 == values.len() {
                out.push_str(v);
            } else {
                out.push_str(&format!("{v:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(columns.iter().map(|(h, _)| *h).collect());
    for row in &cells {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_json_is_one_object_per_line() {
        let rows = vec![
            json!({ "name": "kv", "status": "active", "reasons": [] }),
            json!({ "name": "expense-bot", "status": "pending", "reasons": ["a", "b"] }),
        ];
        let columns = [
            ("APP", "name"),
            ("STATUS", "status"),
            ("REASONS", "reasons"),
        ];
        assert_eq!(
            render(&rows, &columns, false),
            "APP          STATUS   REASONS\nkv           active   -\nexpense-bot  pending  a; b\n"
        );
        assert_eq!(render(&rows, &columns, true).lines().count(), 2);
    }
}
