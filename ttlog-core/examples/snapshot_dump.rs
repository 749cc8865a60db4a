//! Prints a snapshot file as text, using only `ttlog-core` (no viewer):
//! header, damage found, then one line per event.
//!
//! ```sh
//! cargo run -p ttlog-core --example snapshot_dump -- testdata/panic.bin
//! ```
//!
//! Exit status: 0 for an intact file, 1 if any part was damaged, 2 if it
//! could not be opened. Text from the file is printed with control
//! characters escaped, so a hostile file cannot drive the terminal.

use std::io::Write;
use std::process::ExitCode;
use ttlog_core::Value;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::time::format_rfc3339;

/// `s` with control characters escaped (`\u{1b}`, `\n`, …).
fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) { s.escape_debug().to_string() } else { s.to_owned() }
}

fn run(path: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let snap = Snapshot::open(path)?;
    let h = snap.header();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    writeln!(out, "# {} ({:?})", clean(snap.name()), snap.version())?;
    writeln!(
        out,
        "# service {} on {} pid {}, reason {}, taken {} by {}",
        clean(&h.service),
        clean(&h.hostname),
        h.pid,
        clean(&h.reason),
        format_rfc3339(h.created_at_ns),
        clean(&h.library)
    )?;
    let c = &h.counters;
    writeln!(
        out,
        "# {} events in file of {} logged: {} overwritten, {} dropped, {} unreadable; {} threads, {} call sites, {} chunks",
        c.in_snapshot,
        c.logged,
        c.overwritten,
        c.dropped(),
        c.unreadable,
        snap.threads().len(),
        snap.callsites().len(),
        snap.chunks().len()
    )?;
    if let Some(p) = &h.panic {
        writeln!(
            out,
            "# panic in thread {}: {} at {}",
            clean(p.thread.as_deref().unwrap_or("<unnamed>")),
            clean(&p.message),
            clean(p.location.as_deref().unwrap_or("?"))
        )?;
    }
    let mut intact = true;
    for e in snap.events() {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                intact = false;
                writeln!(out, "# damaged: {}", clean(&err.to_string()))?;
                continue;
            }
        };
        let thread = e.thread_name.as_deref().map_or_else(|| format!("#{}", e.thread_id), clean);
        write!(
            out,
            "{} {:5} {} [{}] {}",
            format_rfc3339(e.timestamp_ns),
            e.level,
            clean(&e.target),
            thread,
            clean(e.display_message())
        )?;
        for (name, value) in &e.fields {
            // A bridged event's varying message is shown as the message.
            if e.message.is_empty() && &**name == "message" {
                continue;
            }
            match value {
                Value::Str(s) => write!(out, " {}={:?}", clean(name), s)?,
                other => write!(out, " {}={}", clean(name), other)?,
            }
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(intact)
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: snapshot_dump FILE");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // A closed pipe (`… | head`) is not an error.
            if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("snapshot_dump: {e}");
            ExitCode::from(2)
        }
    }
}
