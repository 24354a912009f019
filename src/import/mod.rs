//! `sms-notify import`: the old app's people, preferences and consent, opt-outs and history, read a
//! record at a time and written a batch per transaction. Every row is compared with what is here
//! first, so running the same files twice, or again after a crash, ends in the same state as one
//! clean run. Rows that cannot be imported are reported with their line and reason, and written to
//! a file per kind in the kind's own columns, to be fixed and fed back.

mod progress;
mod refused;
pub mod rows;
pub mod source;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use phonenumber::country;
use sea_orm::{ConnectionTrait, DbErr};

pub use self::source::Kind;
use self::{
    progress::Progress,
    refused::RefusedFiles,
    rows::Parsed,
    source::{Record, Source},
};
use crate::store::{
    db::Db,
    import::{self as store, Outcome},
};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Write nothing: everything runs in one transaction that is rolled back at the end.
    pub dry_run: bool,
    /// Where refused rows go: `<kind>.<file name>` beside it (`people.refused.csv`).
    pub refused: PathBuf,
    /// Rows per transaction.
    pub batch: usize,
    /// Numbers without a `+` are read in this region.
    pub region: country::Id,
}

/// What became of the rows of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rows: u64,
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Changed here since: what is here was kept.
    pub kept: u64,
    pub refused: u64,
    /// Imported with something left out (a number that could not be read).
    pub warnings: u64,
}

/// What an import did, by kind, and where its refused rows went.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub kinds: BTreeMap<Kind, Counts>,
    pub refused_files: Vec<PathBuf>,
    pub dry_run: bool,
}

impl Summary {
    /// Whether every row was imported, updated or found unchanged.
    pub fn clean(&self) -> bool {
        self.kinds
            .values()
            .all(|c| c.refused == 0 && c.kept == 0 && c.warnings == 0)
    }
}

/// The files `paths` name (a folder stands for its files named by kind), opened and checked, in the
/// order they are imported (people first). Nothing is written when one is not in a known shape.
pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Source>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                // The import's own reports (`people.refused.csv`) are fed back by naming them.
                .filter(|p| p.is_file() && Kind::of(p).is_some() && !is_report(p))
                .collect();
            if inside.is_empty() {
                return Err(format!(
                    "{}: no file named by kind in this folder (people.csv, preferences.csv, opt_outs.csv, history.csv, or .jsonl)",
                    path.display()
                ));
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    let mut sources = files
        .iter()
        .map(|p| Source::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    sources.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    Ok(sources)
}

/// Whether a file is one of the import's reports of refused rows (`<kind>.refused*.csv`).
fn is_report(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().contains(".refused"))
}

/// A provider's own opt-out list, named for the report: each number with when it opted out.
pub type ProviderList = (String, Vec<(String, DateTime<Utc>)>);

/// Imports `sources` into `db`, then `provider_list` (the provider's own opt-out list) as opt-outs.
pub async fn run(
    db: &Db,
    sources: Vec<Source>,
    provider_list: Option<ProviderList>,
    options: &Options,
) -> Result<Summary, DbErr> {
    let mut summary = Summary {
        dry_run: options.dry_run,
        ..Default::default()
    };
    let mut refused = RefusedFiles::new(&options.refused);
    // A dry run sees its own writes (preferences find the people it imported) and keeps none.
    let shared = if options.dry_run {
        Some(db.write().await?)
    } else {
        None
    };
    // People imported with their preferences in the same run get their row from the preferences
    // file, not defaults rewritten a moment later; the rest get the defaults at the end.
    let preferences_follow = sources.iter().any(|s| s.kind == Kind::Preferences);
    let mut part = Part {
        db,
        shared: shared.as_deref(),
        preferences_follow,
        options,
        refused: &mut refused,
    };
    for mut source in sources {
        let counts = summary.kinds.entry(source.kind).or_default();
        let name = source.path.display().to_string();
        let at = (source.size, source.bytes_read.clone());
        let progress = Progress::start(name, at, options.dry_run, *counts);
        let kind = source.kind;
        let records = std::iter::from_fn(move || source.next_record());
        part.import(kind, records, counts, progress).await?;
    }
    if let Some((name, list)) = provider_list {
        let counts = summary.kinds.entry(Kind::OptOuts).or_default();
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let progress = Progress::start(
            name,
            (list.len() as u64, read.clone()),
            options.dry_run,
            *counts,
        );
        let records = list.into_iter().enumerate().map(move |(i, (number, at))| {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Record {
                line: i as u64 + 1,
                values: vec![Some(number), Some(at.to_rfc3339())],
            })
        });
        part.import(Kind::OptOuts, records, counts, progress)
            .await?;
    }
    if preferences_follow {
        match shared.as_deref() {
            Some(txn) => store::fill_default_preferences(txn, Utc::now()).await?,
            None => {
                let txn = db.write().await?;
                store::fill_default_preferences(&*txn, Utc::now()).await?;
                txn.commit().await?;
            }
        }
    }
    // Dropped, not committed: the dry run's writes are rolled back.
    drop(shared);
    summary.refused_files = refused
        .finish()
        .map_err(|e| DbErr::Custom(format!("the file of refused rows: {e}")))?;
    Ok(summary)
}

/// What every part of an import shares: where it writes, how, and where refused rows go.
struct Part<'a> {
    db: &'a Db,
    shared: Option<&'a sea_orm::DatabaseTransaction>,
    /// A preferences file is part of the import: new people get their preferences row from it.
    preferences_follow: bool,
    options: &'a Options,
    refused: &'a mut RefusedFiles,
}

/// What the reading thread hands the writer, in the order of the file.
enum Chunk {
    /// A batch of records and its rows as parsed.
    Batch(Vec<Record>, Batch),
    /// A record that could not be read at all.
    Unreadable(source::Unreadable),
}

/// Reads and parses `records` on a thread of their own, a batch ahead of the writer, so reading
/// and checking the next rows (numbers, zones, times) overlap the database writing these.
fn read_ahead(
    kind: Kind,
    records: impl Iterator<Item = Result<Record, source::Unreadable>> + Send + 'static,
    options: &Options,
) -> (
    tokio::sync::mpsc::Receiver<Chunk>,
    tokio::task::JoinHandle<()>,
) {
    let (size, region) = (options.batch, options.region);
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let reader = tokio::task::spawn_blocking(move || {
        let parsed = |records: Vec<Record>| {
            let rows = Batch::parse(kind, &records, region);
            Chunk::Batch(records, rows)
        };
        let mut batch = Vec::with_capacity(size);
        for next in records {
            let chunk = match next {
                Ok(record) => {
                    batch.push(record);
                    if batch.len() < size {
                        continue;
                    }
                    parsed(std::mem::replace(&mut batch, Vec::with_capacity(size)))
                }
                Err(unreadable) => Chunk::Unreadable(unreadable),
            };
            // The writer stopped (the database is gone): nothing more to read.
            if tx.blocking_send(chunk).is_err() {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(parsed(batch));
        }
    });
    (rx, reader)
}

impl Part<'_> {
    /// Imports one stream of records of `kind` in batches, counting and reporting each.
    async fn import(
        &mut self,
        kind: Kind,
        records: impl Iterator<Item = Result<Record, source::Unreadable>> + Send + 'static,
        counts: &mut Counts,
        mut progress: Progress,
    ) -> Result<(), DbErr> {
        let report = |e: std::io::Error| DbErr::Custom(format!("the file of refused rows: {e}"));
        let (mut chunks, reader) = read_ahead(kind, records, self.options);
        while let Some(chunk) = chunks.recv().await {
            match chunk {
                Chunk::Batch(records, mut parsed) => {
                    parsed.preferences_follow = self.preferences_follow;
                    let outcomes = import_batch(self.db, self.shared, &parsed).await?;
                    for (record, (outcome, warning)) in records.iter().zip(outcomes) {
                        count(counts, &outcome, warning.is_some());
                        self.refused
                            .report(kind, record, &outcome, warning.as_deref())
                            .map_err(report)?;
                    }
                    progress.update(counts);
                }
                Chunk::Unreadable(unreadable) => {
                    let outcome = Outcome::Refused(unreadable.reason.clone());
                    count(counts, &outcome, false);
                    let record = Record {
                        line: unreadable.line,
                        values: Vec::new(),
                    };
                    self.refused
                        .report(kind, &record, &outcome, None)
                        .map_err(report)?;
                }
            }
        }
        reader
            .await
            .map_err(|e| DbErr::Custom(format!("reading the file failed: {e}")))?;
        progress.finish(counts);
        Ok(())
    }
}

fn count(counts: &mut Counts, outcome: &Outcome, warned: bool) {
    counts.rows += 1;
    match outcome {
        Outcome::Imported => counts.imported += 1,
        Outcome::Updated => counts.updated += 1,
        Outcome::Unchanged => counts.unchanged += 1,
        Outcome::Kept(_) => counts.kept += 1,
        Outcome::Refused(_) => counts.refused += 1,
    }
    if warned {
        counts.warnings += 1;
    }
}

/// A row's outcome and what was noticed about it.
type Answer = (Outcome, Option<String>);

/// Writes the rows of a batch that parsed: in `shared` (a dry run), or in a
/// transaction of their own; when that fails, row by row, so one bad row fails alone.
async fn import_batch(
    db: &Db,
    shared: Option<&sea_orm::DatabaseTransaction>,
    parsed: &Batch,
) -> Result<Vec<Answer>, DbErr> {
    let now = Utc::now();
    let mut answers: Vec<Answer> = parsed
        .errors
        .iter()
        .map(|e| match e {
            Some(reason) => (Outcome::Refused(reason.clone()), None),
            None => (Outcome::Unchanged, None),
        })
        .collect();
    if parsed.is_empty() {
        return Ok(answers);
    }
    let outcomes = match shared {
        Some(txn) => parsed.write(txn, now).await?,
        None => match in_own_transaction(db, parsed, now).await {
            Ok(outcomes) => outcomes,
            // The database is gone or busy: stop; running again later picks up from here.
            Err(e) if crate::store::unavailable(&e) => return Err(e),
            Err(_) => {
                let mut outcomes = Vec::with_capacity(parsed.len());
                for single in parsed.singles() {
                    outcomes.extend(match in_own_transaction(db, &single, now).await {
                        Ok(o) => o,
                        Err(e) if crate::store::unavailable(&e) => return Err(e),
                        Err(e) => vec![Outcome::Refused(format!("the database refused it: {e}"))],
                    });
                }
                outcomes
            }
        },
    };
    for ((slot, outcome), warning) in parsed
        .slots
        .iter()
        .zip(outcomes)
        .zip(parsed.warnings.iter())
    {
        answers[*slot] = (outcome, warning.clone());
    }
    Ok(answers)
}

async fn in_own_transaction(
    db: &Db,
    batch: &Batch,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let txn = db.write().await?;
    let outcomes = batch.write(&*txn, now).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// The rows of one kind that parsed, and where each record's answer goes.
struct Batch {
    rows: Rows,
    /// For each parsed row, its record's index in the batch.
    slots: Vec<usize>,
    warnings: Vec<Option<String>>,
    /// For each record: why it was refused before writing, if it was.
    errors: Vec<Option<String>>,
    /// New people's preferences come from a preferences file later in the same import.
    preferences_follow: bool,
}

enum Rows {
    People(Vec<store::ImportedPerson>),
    Preferences(Vec<store::ImportedPreferences>),
    OptOuts(Vec<store::ImportedOptOut>),
    History(Vec<store::ImportedText>),
}

impl Batch {
    fn parse(kind: Kind, records: &[Record], region: country::Id) -> Self {
        let mut batch = Batch {
            rows: match kind {
                Kind::People => Rows::People(Vec::new()),
                Kind::Preferences => Rows::Preferences(Vec::new()),
                Kind::OptOuts => Rows::OptOuts(Vec::new()),
                Kind::History => Rows::History(Vec::new()),
            },
            slots: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            preferences_follow: false,
        };
        for (i, record) in records.iter().enumerate() {
            let v = &record.values;
            let error = match &mut batch.rows {
                Rows::People(rows) => take(rows, rows::person(v, region)),
                Rows::Preferences(rows) => take(rows, rows::preferences(v)),
                Rows::OptOuts(rows) => take(rows, rows::opt_out(v, region)),
                Rows::History(rows) => take(rows, rows::text(v, region)),
            };
            match error {
                Ok(warning) => {
                    batch.slots.push(i);
                    batch.warnings.push(warning);
                    batch.errors.push(None);
                }
                Err(reason) => batch.errors.push(Some(reason)),
            }
        }
        batch
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Each row as a batch of its own.
    fn singles(&self) -> Vec<Batch> {
        fn one<T: Clone>(rows: &[T], i: usize) -> Vec<T> {
            vec![rows[i].clone()]
        }
        (0..self.len())
            .map(|i| Batch {
                rows: match &self.rows {
                    Rows::People(r) => Rows::People(one(r, i)),
                    Rows::Preferences(r) => Rows::Preferences(one(r, i)),
                    Rows::OptOuts(r) => Rows::OptOuts(one(r, i)),
                    Rows::History(r) => Rows::History(one(r, i)),
                },
                slots: vec![0],
                warnings: vec![None],
                errors: vec![None],
                preferences_follow: self.preferences_follow,
            })
            .collect()
    }

    async fn write(
        &self,
        txn: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, DbErr> {
        match &self.rows {
            Rows::People(rows) => store::people(txn, rows, now, self.preferences_follow).await,
            Rows::Preferences(rows) => store::preferences(txn, rows, now).await,
            Rows::OptOuts(rows) => store::opt_outs(txn, rows, now).await,
            Rows::History(rows) => store::history(txn, rows).await,
        }
    }
}

/// Keeps a parsed row; its warning, or why it was refused.
fn take<T>(rows: &mut Vec<T>, parsed: Result<Parsed<T>, String>) -> Result<Option<String>, String> {
    let parsed = parsed?;
    rows.push(parsed.row);
    Ok(parsed.warning)
}

/// `sms-notify import` once its files are open: imports them, prints the summary; the exit status
/// (0 when every row was imported, updated or unchanged, 3 otherwise).
pub async fn command(
    app: &crate::App,
    sources: Vec<Source>,
    (dry_run, refused, batch): (bool, PathBuf, usize),
) -> anyhow::Result<i32> {
    let options = Options {
        dry_run,
        refused,
        batch,
        region: app.handles.recipients.default_region(),
    };
    let db = Db::new(app.handles.db.clone());
    let provider_list = provider_opt_outs(&app.config.sms).await?;
    let summary = run(&db, sources, provider_list, &options).await?;
    print!("{}", render(&summary));
    Ok(if summary.clean() { 0 } else { 3 })
}

/// With `SMS_PROVIDER=aws` and `SMS_OPT_OUT_LIST`, AWS's own opt-out list (every page of it), named
/// for the report.
async fn provider_opt_outs(sms: &crate::config::SmsConfig) -> anyhow::Result<Option<ProviderList>> {
    if sms.provider != crate::config::ProviderKind::Aws {
        return Ok(None);
    }
    let provider = crate::outbox::provider::from_config(sms).await;
    let list = provider.opted_out_numbers().await.map_err(|e| {
        anyhow::anyhow!(
            "AWS's opt-out list could not be read: {} {}",
            e.code,
            e.message
        )
    })?;
    let name = format!(
        "AWS opt-out list {}",
        sms.opt_out_list.as_deref().unwrap_or_default()
    );
    Ok(list.map(|numbers| (name, numbers)))
}

/// The summary as printed at the end.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let verb = if summary.dry_run { "would be " } else { "" };
    out.push_str(&format!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "kind", "rows", "imported", "updated", "unchanged", "kept", "refused", "warnings"
    ));
    for (kind, c) in &summary.kinds {
        out.push_str(&format!(
            "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            kind.name(),
            c.rows,
            c.imported,
            c.updated,
            c.unchanged,
            c.kept,
            c.refused,
            c.warnings
        ));
    }
    if summary.dry_run {
        out.push_str("dry run: nothing was written; the counts say what would be.\n");
    }
    for file in &summary.refused_files {
        out.push_str(&format!(
            "rows {verb}refused, kept or imported with a warning, with their line and reason: {}\n",
            file.display()
        ));
    }
    out
}

/// `<kind>.<name>` beside `base`: where a kind's refused rows go.
pub fn refused_path(base: &Path, kind: Kind) -> PathBuf {
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "refused.csv".to_owned());
    base.with_file_name(format!("{}.{name}", kind.name()))
}
