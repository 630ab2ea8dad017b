//! Plain-text output of the admin commands: aligned tables and `key  value` lists, from the
//! JSON the admin API answers. Small on purpose: a table crate would bring more than we need.

use std::io::{self, Write};

use serde_json::Value;

/// Columns aligned on the widest cell, two spaces apart; the last column is not padded, so
/// lines carry no trailing blanks. Rows may be printed in batches (`drover logs --follow`):
/// widths only grow, and the header is printed with the first batch.
pub(super) struct Table {
    headers: Vec<String>,
    widths: Vec<usize>,
    header_printed: bool,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            widths: headers.iter().map(|h| h.chars().count()).collect(),
            header_printed: false,
        }
    }

    /// Prints `rows` (and the header, the first time).
    pub fn print(&mut self, out: &mut dyn Write, rows: &[Vec<String>]) -> io::Result<()> {
        for row in rows {
            for (width, cell) in self.widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        if !self.header_printed {
            self.header_printed = true;
            let headers = self.headers.clone();
            self.line(out, &headers)?;
        }
        for row in rows {
            self.line(out, row)?;
        }
        Ok(())
    }

    fn line(&self, out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
        let mut line = String::new();
        let last = cells.len().min(self.widths.len()).saturating_sub(1);
        for (i, (cell, width)) in cells.iter().zip(&self.widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i < last {
                let pad = width.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{line}")
    }
}

/// One JSON value as a table cell: `-` for null or absent, lists joined by commas, booleans as
/// yes/no.
pub(super) fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "yes".to_owned(),
        Some(Value::Bool(false)) => "no".to_owned(),
        Some(Value::Array(items)) if items.is_empty() => "-".to_owned(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// An epoch-milliseconds field as UTC time to the second; `-` when absent.
pub(super) fn time_cell(value: Option<&Value>) -> String {
    match value.and_then(Value::as_i64) {
        Some(ms) => super::time::format_ms(ms, false),
        None => cell(value),
    }
}

/// An object as `key  value` lines: the `first` keys in that order, then the rest sorted;
/// nested objects flattened to dotted keys, and fields ending in `_ms` shown as times (and
/// named without the suffix: `created  2025-05-01T12:00:00Z`).
pub(super) fn print_fields(out: &mut dyn Write, value: &Value, first: &[&str]) -> io::Result<()> {
    let mut pairs = Vec::new();
    flatten("", value, &mut pairs);
    pairs.sort_by_key(|(key, _)| {
        let rank = first.iter().position(|f| f == key).unwrap_or(first.len());
        (rank, key.clone())
    });
    let label = |key: &str| key.strip_suffix("_ms").unwrap_or(key).to_owned();
    let width = pairs
        .iter()
        .map(|(k, _)| label(k).chars().count())
        .max()
        .unwrap_or(0);
    for (key, value) in pairs {
        writeln!(out, "{:width$}  {value}", label(&key))?;
    }
    Ok(())
}

fn flatten(prefix: &str, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, pairs);
            }
        }
        other if prefix.ends_with("_ms") => pairs.push((prefix.to_owned(), time_cell(Some(other)))),
        other => pairs.push((prefix.to_owned(), cell(Some(other)))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut table = Table::new(&["NAME", "URL", "UP"]);
        let mut out = Vec::new();
        let rows = vec![
            vec!["a".into(), "http://x".into(), "yes".into()],
            vec!["long-name".into(), "u".into(), "no".into()],
        ];
        table.print(&mut out, &rows).unwrap();
        assert_eq!(
            text(out),
            "NAME       URL       UP\na          http://x  yes\nlong-name  u         no\n"
        );
    }

    #[test]
    fn later_batches_skip_the_header() {
        let mut table = Table::new(&["A", "B"]);
        let mut out = Vec::new();
        table
            .print(&mut out, &[vec!["1".into(), "2".into()]])
            .unwrap();
        table
            .print(&mut out, &[vec!["3".into(), "4".into()]])
            .unwrap();
        assert_eq!(text(out), "A  B\n1  2\n3  4\n");
    }

    #[test]
    fn cells_render_json() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a,b");
        assert_eq!(cell(Some(&json!(true))), "yes");
        assert_eq!(cell(Some(&json!(3))), "3");
        assert_eq!(time_cell(Some(&json!(0))), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn fields_flatten_and_order() {
        let mut out = Vec::new();
        let value = json!({"z": 1, "name": "a", "selector": {"strategy": "p2c"}, "created_ms": 0});
        print_fields(&mut out, &value, &["name"]).unwrap();
        assert_eq!(
            text(out),
            "name               a\ncreated            1970-01-01T00:00:00Z\nselector.strategy  p2c\nz                  1\n"
        );
    }
}
