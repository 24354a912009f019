//! The old app's exports as they are read: a file per kind, CSV (with a header) or JSON Lines, one
//! record at a time with its line number, never the whole file in memory.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

/// What a file holds; its name says which (`people.csv`, `people-delta.jsonl`, `opt_outs.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    People,
    Preferences,
    OptOuts,
    History,
}

impl Kind {
    /// In the order they are imported: people before what refers to them.
    pub const ALL: [Kind; 4] = [
        Kind::People,
        Kind::Preferences,
        Kind::OptOuts,
        Kind::History,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::People => "people",
            Self::Preferences => "preferences",
            Self::OptOuts => "opt_outs",
            Self::History => "history",
        }
    }

    /// The columns a file of this kind must have (values may be empty: unknown).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::People => &[
                "user_id",
                "phone_number",
                "phone_verified",
                "allow_sms_invitations",
                "timezone",
                "signed_up_at",
            ],
            Self::Preferences => &[
                "user_id",
                "sms_battle_invitations",
                "sms_battle_results",
                "sms_battle_reminders",
                "sms_streak_alerts",
                "consent_given_at",
                "consent_method",
                "consent_ip",
                "consent_revoked_at",
            ],
            Self::OptOuts => &["phone_number", "opted_out_at"],
            Self::History => &[
                "user_id",
                "to_phone",
                "message_type",
                "status",
                "body",
                "cost",
                "created_at",
                "sent_at",
            ],
        }
    }

    /// Columns read when present.
    pub fn optional(self) -> &'static [&'static str] {
        match self {
            Self::Preferences => &["sms_direct_messages", "sms_achievements"],
            _ => &[],
        }
    }

    /// Every column read, required first: a record's values come in this order.
    pub fn columns(self) -> Vec<&'static str> {
        self.required()
            .iter()
            .chain(self.optional())
            .copied()
            .collect()
    }

    /// The kind a file's name says: its name up to the extension is the kind, or starts with it and
    /// a `-`, `_` or `.` (`people-2026-12.csv`, `people.refused.csv`).
    pub fn of(path: &Path) -> Option<Kind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let stem = name
            .strip_suffix(".csv")
            .or_else(|| name.strip_suffix(".jsonl"))?;
        Self::ALL.into_iter().find(|k| {
            stem.strip_prefix(k.name())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_', '.']))
        })
    }
}

/// CSV or JSON Lines, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// One record as read: its line (1 is the first line of the file; a CSV's header is line 1) and its
/// values in `Kind::columns` order (`None` for an empty or absent value).
#[derive(Debug, Clone)]
pub struct Record {
    pub line: u64,
    pub values: Vec<Option<String>>,
}

/// A record that could not be read at all.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub line: u64,
    pub reason: String,
}

/// Counts the bytes read, for the progress bar.
struct Counted<R> {
    inner: R,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

enum Reader {
    Csv {
        reader: csv::Reader<Counted<File>>,
        /// Where each of the kind's columns is in the file.
        positions: Vec<Option<usize>>,
    },
    Jsonl {
        lines: std::io::Lines<BufReader<Counted<File>>>,
        line: u64,
    },
}

/// An open export file.
pub struct Source {
    pub path: PathBuf,
    pub kind: Kind,
    pub format: Format,
    pub size: u64,
    pub bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    columns: Vec<&'static str>,
    reader: Reader,
}

impl Source {
    /// Opens `path` and checks its shape (its name, its extension, its columns) before anything is
    /// written: the error names what was expected.
    pub fn open(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let kind = Kind::of(path).ok_or_else(|| {
            format!(
                "{shown}: the file's name must say what it holds and end in .csv or .jsonl: one of {}",
                Kind::ALL
                    .iter()
                    .map(|k| format!("{}.csv", k.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let format = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::Csv
        } else {
            Format::Jsonl
        };
        let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bytes_read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Counted {
            inner: file,
            bytes: bytes_read.clone(),
        };
        let columns = kind.columns();
        let reader = match format {
            Format::Csv => {
                open_csv(counted, kind, &columns).map_err(|e| format!("{shown}: {e}"))?
            }
            Format::Jsonl => {
                check_jsonl(path, kind).map_err(|e| format!("{shown}: {e}"))?;
                Reader::Jsonl {
                    lines: BufReader::with_capacity(1 << 16, counted).lines(),
                    line: 0,
                }
            }
        };
        Ok(Self {
            path: path.to_owned(),
            kind,
            format,
            size,
            bytes_read,
            columns,
            reader,
        })
    }

    /// The next record, or why it cannot be read; `None` at the end of the file.
    pub fn next_record(&mut self) -> Option<Result<Record, Unreadable>> {
        match &mut self.reader {
            Reader::Csv { reader, positions } => {
                let mut row = csv::StringRecord::new();
                match reader.read_record(&mut row) {
                    Ok(false) => None,
                    Ok(true) => {
                        let line = row.position().map_or(0, |p| p.line());
                        let values = positions
                            .iter()
                            .map(|p| p.and_then(|i| row.get(i)).and_then(value))
                            .collect();
                        Some(Ok(Record { line, values }))
                    }
                    Err(e) => Some(Err(Unreadable {
                        line: e.position().map_or(0, |p| p.line()),
                        reason: format!("not a CSV record: {e}"),
                    })),
                }
            }
            Reader::Jsonl { lines, line } => loop {
                *line += 1;
                let text = match lines.next()? {
                    Ok(text) => text,
                    Err(e) => {
                        return Some(Err(Unreadable {
                            line: *line,
                            reason: format!("cannot be read: {e}"),
                        }));
                    }
                };
                if text.trim().is_empty() {
                    continue;
                }
                return Some(json_record(&text, *line, &self.columns));
            },
        }
    }
}

/// A value as the import reads it: surrounding spaces trimmed, empty is unknown.
fn value(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn open_csv(file: Counted<File>, kind: Kind, columns: &[&str]) -> Result<Reader, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| format!("no header line: {e}"))?;
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    if let Some(missing) = kind
        .required()
        .iter()
        .find(|c| !names.iter().any(|n| n == *c))
    {
        return Err(format!(
            "expected a column `{missing}` in the header of a {} file (it has: {}); nothing was imported",
            kind.name(),
            names.join(", ")
        ));
    }
    let positions = columns
        .iter()
        .map(|c| names.iter().position(|n| n == c))
        .collect();
    Ok(Reader::Csv { reader, positions })
}

/// A JSON Lines file's first object must have every required key.
fn check_jsonl(path: &Path, kind: Kind) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let Some(first) = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty())
    else {
        return Ok(());
    };
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&first)
        .map_err(|e| format!("line 1 is not a JSON object: {e}; nothing was imported"))?;
    if let Some(missing) = kind.required().iter().find(|c| !object.contains_key(**c)) {
        return Err(format!(
            "expected a key `{missing}` in each line of a {} file (the first has: {}); nothing was imported",
            kind.name(),
            object.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

fn json_record(text: &str, line: u64, columns: &[&str]) -> Result<Record, Unreadable> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| Unreadable {
            line,
            reason: format!("not a JSON object: {e}"),
        })?;
    let values = columns
        .iter()
        .map(|c| match object.get(*c) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => value(s),
            Some(other) => value(&other.to_string()),
        })
        .collect();
    Ok(Record { line, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_known_by_its_name() {
        let of = |n: &str| Kind::of(Path::new(n));
        assert_eq!(of("people.csv"), Some(Kind::People));
        assert_eq!(of("/x/People.JSONL"), Some(Kind::People));
        assert_eq!(of("people-2026-12.csv"), Some(Kind::People));
        assert_eq!(of("people.refused.csv"), Some(Kind::People));
        assert_eq!(of("opt_outs.csv"), Some(Kind::OptOuts));
        assert_eq!(of("history_delta.jsonl"), Some(Kind::History));
        assert_eq!(of("peoples.csv"), None);
        assert_eq!(of("people.txt"), None);
        assert_eq!(of("users.csv"), None);
    }
}
