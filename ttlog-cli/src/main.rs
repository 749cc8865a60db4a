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
            eprintln!("ttlog-view: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
