//! The viewer on [`MemorySource`]: runs the TUI for real without the polars
//! engine of `ttlog-cli`.
//!
//! ```sh
//! cargo run -p ttlog-tui --example view -- testdata/normal.bin
//! cargo run -p ttlog-tui --example view -- --filter 'level>=warn' testdata/
//! cargo run -p ttlog-tui --example view            # $TTLOG_DIR or $TMPDIR/ttlog, watched
//! ```
//!
//! Exit status: 0 after quitting, 1 on an error (printed once), 2 on bad
//! arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use ttlog_tui::{MemorySource, Options};

const USAGE: &str = "usage: view [--filter EXPR] [FILE|DIR]...

Browse TTLog snapshots held in memory. Directories are loaded and watched for
new snapshots; with no input, $TTLOG_DIR (or $TMPDIR/ttlog) is. Press ? for keys.

filter language: words (message/target/text fields contain), key=value,
key!=value, key~part, key>N (>=, <, <=), level>=warn, !term; all must hold.";

fn main() -> ExitCode {
    let mut options = Options::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some("--filter" | "-f") => match args.next().and_then(|a| a.into_string().ok()) {
                Some(f) => options.filter = f,
                None => {
                    eprintln!("--filter needs an expression\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                eprintln!("unknown option {s}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => options.inputs.push(PathBuf::from(arg)),
        }
    }
    match ttlog_tui::run(Arc::new(MemorySource::new()), options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("view: {e}");
            ExitCode::from(1)
        }
    }
}
