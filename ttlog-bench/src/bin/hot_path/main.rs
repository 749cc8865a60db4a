//! `hot_path`: the cost of one logging call in `ttlog-core`, side by side with
//! `ttlog` 0.1.21 and `tracing`, in one run.
//!
//! ```text
//! cargo run --release -p ttlog-bench --bin hot_path            # full run, about a minute
//! cargo run --release -p ttlog-bench --bin hot_path -- --quick # about 15 s
//! ```
//!
//! Every logger installs itself for the whole process, so the binary re-runs
//! itself once per logger (`--peer NAME`, which prints one line of figures),
//! one after the other, and prints one markdown report: the figures, then
//! the DESIGN.md §4 targets with PASS or MISS. ttlog-core runs first and
//! again last, so a busy machine shows up as two different ttlog-core rows.
//!
//! Exit codes: 0 on success (whether or not targets are met), 1 when a
//! measurement failed, 2 for a usage error.

mod measure;
mod report;
mod workloads;

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use workloads::{LINE_PREFIX, Logger, Report};

#[global_allocator]
static ALLOCATOR: measure::CountingAlloc = measure::CountingAlloc;

const USAGE: &str = "\
usage: hot_path [--quick]
       hot_path --peer ttlog-core|ttlog-core-persist|ttlog|tracing [--quick]

  --quick        a short run (about 10x fewer calls)
  --peer NAME    measure one logger in this process and print its figures
                 on one line (what the full run does once per logger)";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Help,
    /// Every logger, each in a child process, and the report.
    All {
        quick: bool,
    },
    /// One logger in this process.
    Peer {
        logger: Logger,
        quick: bool,
    },
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Mode, String> {
    let mut quick = false;
    let mut peer = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--peer" => {
                let name = args.next().ok_or("--peer needs a name")?;
                peer = Some(Logger::from_name(&name).ok_or_else(|| format!("unknown peer {name:?}"))?);
            }
            "-h" | "--help" => return Ok(Mode::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(match peer {
        Some(logger) => Mode::Peer { logger, quick },
        None => Mode::All { quick },
    })
}

fn main() -> ExitCode {
    let mode = match parse(std::env::args().skip(1)) {
        Ok(mode) => mode,
        Err(e) => {
            eprintln!("hot_path: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match mode {
        Mode::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Mode::All { quick } => run_all(quick),
        Mode::Peer { logger, quick } => workloads::run(logger, quick).map(|r| println!("{}", r.to_line())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hot_path: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Measures every logger, each in its own child process, one at a time, and
/// prints the report.
fn run_all(quick: bool) -> Result<(), String> {
    if cfg!(debug_assertions) {
        eprintln!("hot_path: this is a debug build; its figures mean nothing (add --release)");
    }
    let started = Instant::now();
    let load_before = report::load_average();
    let order = [Logger::Core, Logger::CorePersist, Logger::Ttlog, Logger::Tracing, Logger::Core];
    let mut reports = Vec::with_capacity(order.len());
    for logger in order {
        eprint!("measuring {} ... ", logger.label());
        let t = Instant::now();
        let r = run_child(logger, quick)?;
        eprintln!("{:.1} s", t.elapsed().as_secs_f64());
        reports.push(r);
    }
    let run = report::Run {
        quick,
        load_before,
        load_after: report::load_average(),
        seconds: started.elapsed().as_secs_f64(),
        core: reports[0],
        core_persist: reports[1],
        ttlog: reports[2],
        tracing: reports[3],
        core_again: reports[4],
    };
    print!("{}", report::render(&run));
    Ok(())
}

/// Runs `hot_path --peer NAME` and parses its report line.
fn run_child(logger: Logger, quick: bool) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--peer", logger.name()]).stdin(Stdio::null());
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().map_err(|e| format!("starting the {} child: {e}", logger.name()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the {} child failed ({}):\n{}",
            logger.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with(LINE_PREFIX))
        .ok_or_else(|| format!("the {} child printed no report line", logger.name()))?;
    Report::from_line(line).map_err(|e| format!("the {} child's report: {e}", logger.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_command_line() {
        assert_eq!(parse(args("")), Ok(Mode::All { quick: false }));
        assert_eq!(parse(args("--quick")), Ok(Mode::All { quick: true }));
        assert_eq!(parse(args("--peer ttlog --quick")), Ok(Mode::Peer { logger: Logger::Ttlog, quick: true }));
        assert!(parse(args("--peer nope")).is_err());
        assert!(parse(args("--fast")).is_err());
    }

    #[test]
    fn report_lines_round_trip() {
        let r = Report { call_p50: 12.5, tput2: 1.0e8, ..Report::default() };
        let back = Report::from_line(&r.to_line()).unwrap();
        assert_eq!(back.call_p50, 12.5);
        assert_eq!(back.tput2, 1.0e8);
        assert!(back.bytes_per_event.is_nan());
    }
}
