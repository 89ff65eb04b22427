//! Reading record files, the way every import does: JSON Lines or CSV (by the file name),
//! each optionally gzip-compressed (`.gz`), streamed row by row with the row's line number,
//! the bytes read counted for a progress bar, and bad rows reported as `file:line: reason`.
//! Used by `index-catalog` (`catalog::import`) and `import-crm` (`crm::import`).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde_json::{Map, Value};

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadLine {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The error of a `--strict` check that found bad rows: how many, and the first 20.
pub fn strict_failure(bad: &[BadLine]) -> anyhow::Error {
    let list: Vec<String> = bad.iter().take(20).map(|b| b.to_string()).collect();
    anyhow::anyhow!(
        "--strict: {} bad line(s), nothing written:\n{}{}",
        bad.len(),
        list.join("\n"),
        if bad.len() > 20 { "\n…" } else { "" }
    )
}

/// One row as read: a JSON object, or a CSV row with its header.
pub enum RawRow<'a> {
    Json(Map<String, Value>),
    Csv { headers: &'a csv::StringRecord, row: &'a csv::StringRecord },
}

/// Counts the bytes read from a file (compressed bytes for `.gz`), for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` for reading (decompressing `.gz`), counting the bytes read into `count`.
pub fn open(path: &Path, count: Arc<AtomicU64>) -> anyhow::Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let counting = Counting { inner: file, count };
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(counting)))
    } else {
        Box::new(BufReader::new(counting))
    })
}

/// True for `.csv` and `.csv.gz` files; everything else is read as JSON Lines.
pub fn is_csv(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.ends_with(".csv") || name.ends_with(".csv.gz")
}

/// A progress bar over `total` bytes, hidden when `enabled` is false (not a terminal).
pub fn progress_bar(total: u64, enabled: bool) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .expect("valid progress template"),
    );
    bar
}

/// Reads every row of `path`, calling `each` with the row's line number and the row, or
/// what is wrong with it (a malformed JSON line or CSV row). Blank JSON lines are skipped;
/// an IO error ends the read with an error naming the file and line.
pub fn read_rows(
    path: &Path,
    count: Arc<AtomicU64>,
    mut each: impl FnMut(usize, Result<RawRow<'_>, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let reader = open(path, count)?;
    if is_csv(path) {
        let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
        let headers =
            csv.headers().with_context(|| format!("{}:1: cannot read the CSV header", path.display()))?.clone();
        for row in csv.records() {
            match row {
                Ok(row) => {
                    let line = row.position().map_or(0, |p| p.line() as usize);
                    each(line, Ok(RawRow::Csv { headers: &headers, row: &row }))?;
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return Err(anyhow::anyhow!("{}:{line}: {e}", path.display()));
                    }
                    each(line, Err(format!("malformed CSV row: {e}")))?;
                }
            }
        }
    } else {
        for (n, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = match serde_json::from_str::<Value>(&line) {
                Ok(Value::Object(map)) => Ok(RawRow::Json(map)),
                Ok(_) => Err("not a JSON object".into()),
                Err(e) => Err(format!("malformed JSON: {e}")),
            };
            each(n + 1, parsed)?;
        }
    }
    Ok(())
}
