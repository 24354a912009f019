//! The files of refused rows: one per kind, in the kind's own columns plus `refused_line` and
//! `refused_reason` (which the import ignores), so a fixed file can be fed back as it is.

use std::{
    collections::BTreeMap,
    fs::File,
    io::BufWriter,
    path::{Path, PathBuf},
};

use super::{Kind, refused_path, source::Record};
use crate::store::import::Outcome;

pub struct RefusedFiles {
    base: PathBuf,
    open: BTreeMap<Kind, (PathBuf, csv::Writer<BufWriter<File>>)>,
}

impl RefusedFiles {
    pub fn new(base: &Path) -> Self {
        Self {
            base: base.to_owned(),
            open: BTreeMap::new(),
        }
    }

    /// Writes `record` when it was refused, kept, or imported with a warning.
    pub fn report(
        &mut self,
        kind: Kind,
        record: &Record,
        outcome: &Outcome,
        warning: Option<&str>,
    ) -> std::io::Result<()> {
        let reason = match (outcome, warning) {
            (Outcome::Refused(r), _) => format!("refused: {r}"),
            (Outcome::Kept(r), _) => format!("kept: {r}"),
            (_, Some(w)) => format!("imported, but {w}"),
            _ => return Ok(()),
        };
        let (_, writer) = match self.open.entry(kind) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let path = refused_path(&self.base, kind);
                let mut writer = csv::Writer::from_writer(BufWriter::new(File::create(&path)?));
                let mut header = kind.columns();
                header.extend(["refused_line", "refused_reason"]);
                writer.write_record(&header)?;
                e.insert((path, writer))
            }
        };
        let columns = kind.columns().len();
        let mut fields: Vec<String> = (0..columns)
            .map(|i| record.values.get(i).cloned().flatten().unwrap_or_default())
            .collect();
        fields.push(record.line.to_string());
        fields.push(reason);
        writer.write_record(&fields)?;
        Ok(())
    }

    /// Flushes the files; the paths written.
    pub fn finish(self) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (_, (path, mut writer)) in self.open {
            writer.flush()?;
            paths.push(path);
        }
        Ok(paths)
    }
}
