//! `hot_path`: the cost of one logging call in `ttlog-core`, side by side with
//! `ttlog` 0.1.21 and `tracing`, in one run.
//!
//! ```text
//! cargo run --release -p ttlog-bench --bin hot_path            # full run, about a minute
//! cargo run --release -p ttlog-bench --bin hot_path -- --quick # about 15 s
//! cargo run --release -p ttlog-bench --bin hot_path -- --snapshots --quick # only during snapshots
//! ```
//!
//! Every logger installs itself for the whole process, so the binary re-runs
//! itself once per logger (`--peer NAME`, which prints one line of figures),
//! one after the other, and prints one markdown report: the figures, then
//! the DESIGN.md §4 targets with PASS or MISS. ttlog-core runs first and
//! again last, so a busy machine shows up as two different ttlog-core rows.
//! Between them, `--peer snapshots` times ttlog-core while another thread
//! writes snapshots (see `workloads.rs`), reported in a section of its own.
//!
//! Exit codes: 0 on success (whether or not targets are met), 1 when a
//! measurement failed, 2 for a usage error.

mod measure;
mod report;
mod workloads;

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use workloads::{Job, LINE_PREFIX, Logger, Report};

#[global_allocator]
static ALLOCATOR: measure::CountingAlloc = measure::CountingAlloc;

const USAGE: &str = "\
usage: hot_path [--quick]
       hot_path --snapshots [--quick]
       hot_path --peer ttlog-core|ttlog-core-persist|ttlog|tracing|snapshots [--quick]

  --quick        a short run (about 10x fewer calls, shorter windows)
  --snapshots    only ttlog-core's hot path while another thread writes
                 snapshots, next to the same without snapshots
  --peer NAME    measure one logger (or `snapshots`) in this process and
                 print its figures on one line (what the full run does once
                 per logger)";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Help,
    /// Every logger, each in a child process, and the report.
    All {
        quick: bool,
    },
    /// Only the snapshots job, in a child process, and its section.
    Snapshots {
        quick: bool,
    },
    /// One job in this process.
    Peer {
        job: Job,
        quick: bool,
    },
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Mode, String> {
    let mut quick = false;
    let mut snapshots = false;
    let mut peer = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--snapshots" => snapshots = true,
            "--peer" => {
                let name = args.next().ok_or("--peer needs a name")?;
                peer = Some(Job::from_name(&name).ok_or_else(|| format!("unknown peer {name:?}"))?);
            }
            "-h" | "--help" => return Ok(Mode::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(match (peer, snapshots) {
        (Some(_), true) => return Err("--snapshots and --peer do not go together".to_owned()),
        (Some(job), false) => Mode::Peer { job, quick },
        (None, true) => Mode::Snapshots { quick },
        (None, false) => Mode::All { quick },
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
        Mode::Snapshots { quick } => run_snapshots(quick),
        Mode::Peer { job, quick } => workloads::run(job, quick).map(|r| println!("{}", r.to_line())),
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
    warn_if_debug();
    let started = Instant::now();
    let load_before = report::load_average();
    let order = [
        Job::Logger(Logger::Core),
        Job::Logger(Logger::CorePersist),
        Job::Logger(Logger::CoreSmallPages),
        Job::Logger(Logger::Ttlog),
        Job::Logger(Logger::Tracing),
        Job::Snapshots,
        Job::Logger(Logger::Core),
    ];
    let mut reports = Vec::with_capacity(order.len());
    for job in order {
        reports.push(run_child_timed(job, quick)?);
    }
    let run = report::Run {
        quick,
        load_before,
        load_after: report::load_average(),
        seconds: started.elapsed().as_secs_f64(),
        core: reports[0],
        core_persist: reports[1],
        core_small_pages: reports[2],
        ttlog: reports[3],
        tracing: reports[4],
        snapshots: reports[5],
        core_again: reports[6],
    };
    print!("{}", report::render(&run));
    Ok(())
}

/// Measures ttlog-core during snapshots in a child process and prints that
/// section of the report.
fn run_snapshots(quick: bool) -> Result<(), String> {
    warn_if_debug();
    let load_before = report::load_average();
    let r = run_child_timed(Job::Snapshots, quick)?;
    print!("{}", report::render_snapshots(&r, load_before, report::load_average()));
    Ok(())
}

fn warn_if_debug() {
    if cfg!(debug_assertions) {
        eprintln!("hot_path: this is a debug build; its figures mean nothing (add --release)");
    }
}

/// [`run_child`], with progress on standard error.
fn run_child_timed(job: Job, quick: bool) -> Result<Report, String> {
    eprint!("measuring {} ... ", job.label());
    let t = Instant::now();
    let r = run_child(job, quick)?;
    eprintln!("{:.1} s", t.elapsed().as_secs_f64());
    Ok(r)
}

/// Runs `hot_path --peer NAME` and parses its report line.
fn run_child(job: Job, quick: bool) -> Result<Report, String> {
    let name = job.name();
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--peer", name]).stdin(Stdio::null());
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().map_err(|e| format!("starting the {name} child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the {name} child failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with(LINE_PREFIX))
        .ok_or_else(|| format!("the {name} child printed no report line"))?;
    Report::from_line(line).map_err(|e| format!("the {name} child's report: {e}"))
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
        assert_eq!(
            parse(args("--peer ttlog --quick")),
            Ok(Mode::Peer { job: Job::Logger(Logger::Ttlog), quick: true })
        );
        assert_eq!(parse(args("--peer snapshots")), Ok(Mode::Peer { job: Job::Snapshots, quick: false }));
        assert_eq!(parse(args("--quick --snapshots")), Ok(Mode::Snapshots { quick: true }));
        assert!(parse(args("--snapshots --peer ttlog")).is_err());
        assert!(parse(args("--peer nope")).is_err());
        assert!(parse(args("--peer")).is_err());
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
