//! `ttlog-view`: the command line of the TTLog viewer. Everything happens in
//! [`ttlog_cli::cli::run`]; this only maps its result to an exit code:
//! 0 success, 1 no event matched, 2 error. A closed pipe ends quietly with 0.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    match ttlog_cli::cli::run(std::env::args_os()) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) if ttlog_cli::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote file names and file contents: escaped line by
            // line, as all text for a terminal is.
            let text = format!("{e:#}");
            for (i, line) in text.lines().enumerate() {
                let line = ttlog_core::text::escape(line);
                if i == 0 {
                    eprintln!("ttlog-view: error: {line}");
                } else {
                    eprintln!("{line}");
                }
            }
            ExitCode::from(2)
        }
    }
}
