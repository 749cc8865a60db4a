//! Writing rows as JSON, NDJSON or CSV: what [`View::export`](crate::View::export)
//! implementations without an exporter of their own can use. Values are
//! written as JSON by [`ttlog_core::json`], as every TTLog tool writes them.

use crate::source::{ExportFormat, Progress, Row};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::Path;
use ttlog_core::json::{push_str as json_str, push_value};
use ttlog_core::time::format_rfc3339;

/// Rows fetched per call of the row function.
const BATCH: usize = 4096;

/// Writes `len` rows, fetched in batches from `rows`, to a new file at
/// `path` (replacing it) in `format`; `inputs` names each [`Row::input`].
/// Returns the number of rows written.
///
/// ```
/// use ttlog_tui::{ExportFormat, MemorySource, Progress, Query, Source, export};
/// let source = MemorySource::new();
/// source.add_input("../testdata/normal.bin".as_ref(), &Progress::new()).unwrap();
/// let view = source.filter(&Query::new("level=error"), &Progress::new()).unwrap();
/// let out = std::env::temp_dir().join(format!("ttlog-doc-{}.ndjson", std::process::id()));
/// let n = export::write_file(&out, ExportFormat::Ndjson, view.len(), &|r| view.rows(r), &["normal.bin".into()], &Progress::new()).unwrap();
/// assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count() as u64, n);
/// # std::fs::remove_file(out).unwrap();
/// ```
///
/// # Errors
/// When the file cannot be created or written, or `progress` was
/// cancelled (then the partial file is removed).
pub fn write_file(
    path: &Path,
    format: ExportFormat,
    len: usize,
    rows: &dyn Fn(Range<usize>) -> Vec<Row>,
    inputs: &[String],
    progress: &Progress,
) -> io::Result<u64> {
    let result = (|| {
        let mut w = BufWriter::new(File::create(path)?);
        let n = write(&mut w, format, len, rows, inputs, progress)?;
        w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Like [`write_file`], into any writer.
///
/// # Errors
/// When writing fails or `progress` was cancelled.
pub fn write(
    w: &mut dyn Write,
    format: ExportFormat,
    len: usize,
    rows: &dyn Fn(Range<usize>) -> Vec<Row>,
    inputs: &[String],
    progress: &Progress,
) -> io::Result<u64> {
    progress.set_total(len as u64);
    match format {
        ExportFormat::Json => w.write_all(b"[")?,
        ExportFormat::Csv => w.write_all(b"time,level,thread,target,message,file,line,input,fields\n")?,
        ExportFormat::Ndjson => {}
    }
    let mut line = String::new();
    let mut written = 0u64;
    for start in (0..len).step_by(BATCH) {
        if progress.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "export cancelled"));
        }
        for row in rows(start..(start + BATCH).min(len)) {
            line.clear();
            let input = inputs.get(row.input).map_or("", String::as_str);
            match format {
                ExportFormat::Json | ExportFormat::Ndjson => {
                    if format == ExportFormat::Json {
                        line.push_str(if written == 0 { "\n" } else { ",\n" });
                    }
                    json_object(&mut line, &row, input);
                    if format == ExportFormat::Ndjson {
                        line.push('\n');
                    }
                }
                ExportFormat::Csv => csv_line(&mut line, &row, input),
            }
            w.write_all(line.as_bytes())?;
            written += 1;
        }
        progress.add((len - start).min(BATCH) as u64);
    }
    if format == ExportFormat::Json {
        w.write_all(if written == 0 { b"]\n" } else { b"\n]\n" })?;
    }
    w.flush()?;
    Ok(written)
}

fn json_object(out: &mut String, row: &Row, input: &str) {
    out.push_str("{\"time\":");
    json_str(out, &format_rfc3339(row.timestamp_ns));
    out.push_str(&format!(",\"timestamp_ns\":{},\"level\":", row.timestamp_ns));
    json_str(out, row.level.as_str());
    out.push_str(",\"thread\":");
    json_str(out, &row.thread);
    out.push_str(&format!(",\"thread_id\":{},\"target\":", row.thread_id));
    json_str(out, &row.target);
    out.push_str(",\"message\":");
    json_str(out, &row.message);
    out.push_str(",\"file\":");
    json_str(out, &row.file);
    out.push_str(&format!(",\"line\":{},\"input\":", row.line));
    json_str(out, input);
    out.push_str(",\"fields\":{");
    for (i, (name, value)) in row.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, name);
        out.push(':');
        push_value(out, value.as_value_ref());
    }
    out.push_str("}}");
}

fn csv_line(out: &mut String, row: &Row, input: &str) {
    let cells = [
        format_rfc3339(row.timestamp_ns),
        row.level.as_str().to_owned(),
        row.thread.to_string(),
        row.target.to_string(),
        row.message.to_string(),
        row.file.to_string(),
        row.line.to_string(),
        input.to_owned(),
        crate::text::fields_text(&row.fields),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::row;
    use ttlog_core::{Level, Value};

    fn render(format: ExportFormat, rows: &[Row]) -> String {
        let mut out = Vec::new();
        let all = rows.to_vec();
        write(&mut out, format, all.len(), &|r| all[r].to_vec(), &["a.bin".into()], &Progress::new()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        let rows = vec![
            row(
                1_795_307_845_033_000_000,
                Level::Warn,
                "say \"hi\",\n\x1b[31m",
                vec![("n", Value::U64(3)), ("x", Value::F64(f64::NAN))],
            ),
            row(1_795_307_845_034_000_000, Level::Info, "ok", vec![("big", Value::U128(u128::MAX))]),
        ];
        insta::assert_snapshot!(render(ExportFormat::Json, &rows));
        insta::assert_snapshot!(render(ExportFormat::Ndjson, &rows));
        insta::assert_snapshot!(render(ExportFormat::Csv, &rows));
        assert_eq!(render(ExportFormat::Json, &[]), "[]\n");
    }
}
