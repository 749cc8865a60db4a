//! The `ttlog-view` command line: arguments parsed into a validated
//! [`Plan`], then one dispatch on its [`Mode`].
//!
//! Exit codes (see [`Outcome::exit_code`]): 0 success, 1 no event matched,
//! 2 error (bad arguments, unreadable input, a damaged input with
//! `--strict`). A closed pipe (`ttlog-view … | head`) ends quietly with 0.

use crate::dataset::{Engine, Input, View};
use crate::export;
use crate::filter::Filter;
use crate::stats::{Agg, AggFn, GroupKey, GroupSort, GroupTable};
use crate::time::TimeSpec;
use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  ttlog-view testdata/ --stats
  ttlog-view /var/tmp/ttlog/*.bin --filter 'level>=WARN' --since -5m
  ttlog-view app.bin --filter 'target=http and status>=500' --format ndjson | jq .fields
  ttlog-view app.bin --group-by target --agg count,p99:latency_us
  ttlog-view snaps/ --format parquet --partition-by service,date -o dataset/
  ttlog-view recover /dev/shm/ttlog     (persistent rings of a dead process -> snapshot)
  ttlog-view completions bash           (also zsh, fish, elvish, powershell; ttlog-view man)

Exit codes: 0 success, 1 no event matched, 2 error. Damaged inputs are
reported on stderr and their intact chunks used (--strict: an error).";

/// Filter, count, group and export TTLog snapshots.
///
/// INPUT is a snapshot file, a directory (its *.bin files), a glob pattern,
/// or - for standard input. Several inputs are merged in time order.
#[derive(Debug, Parser)]
#[command(
    name = "ttlog-view",
    version,
    after_help = EXAMPLES,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    override_usage = "ttlog-view [OPTIONS] <INPUT>...\n       ttlog-view -i [OPTIONS] [INPUT]...\n       ttlog-view <COMMAND>"
)]
pub struct Args {
    /// A command instead of a question about INPUT.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Snapshot files, directories, glob patterns, or - for stdin.
    /// Example: ttlog-view /var/tmp/ttlog/
    #[arg(value_name = "INPUT", required_unless_present = "interactive")]
    pub inputs: Vec<String>,

    /// Keep events for which EXPR holds; repeat to require several. Terms KEY OP VALUE with OP one
    /// of = != > >= < <= ~ (regex) !~; KEY is level, target, message (msg), thread, file, line,
    /// service, host, pid or a field name; combine with and, or, not, ( ).
    /// Example: --filter 'level>=WARN and (path~^/api/ or latency_us>100)'
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,

    /// Only events at or after T: an RFC 3339 time (UTC when it has no offset; a date alone
    /// is its midnight), or a duration before the last event.
    /// Example: --since -5m, --since 2026-11-22T00:27:00Z
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub since: Option<String>,

    /// Only events at or before T (same forms as --since).
    /// Example: --until -1m30s
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub until: Option<String>,

    /// Only the first N matching events in time order.
    /// Example: --limit 100
    #[arg(long, value_name = "N", conflicts_with = "tail")]
    pub limit: Option<usize>,

    /// Only the last N matching events.
    /// Example: --tail 20
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,

    /// The last moments of every thread: its last N matching events, threads in the order of
    /// their last event, each with its name, process, and the events its ring kept and overwrote.
    /// Example: --last 5
    #[arg(long, value_name = "N", conflicts_with_all = ["limit", "tail", "stats", "group_by", "sql", "interactive"])]
    pub last: Option<usize>,

    /// Newest first.
    /// Example: --tail 20 --reverse
    #[arg(long)]
    pub reverse: bool,

    /// Output format (json is one array, ndjson one object per line). With --stats and/or
    /// --group-by, json is one document: the stats object, the group array, or
    /// {"stats": …, "groups": […]} for both; ndjson prints the stats object, then one line per group.
    /// Example: --format ndjson
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// Write to PATH instead of stdout (a directory with --partition-by).
    /// Example: -o events.parquet
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Colour the text output: auto (a terminal, and NO_COLOR unset), always, never.
    /// Example: --color never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print counts: events, span and rate, levels, top targets and messages, threads, and per
    /// file its header, counters (overwritten, dropped) and damage.
    /// Example: --stats
    #[arg(long)]
    pub stats: bool,

    /// Group by keys (any filter KEY, or time:1s / time:1m buckets): most events first, time
    /// buckets in time order (see --sort).
    /// Example: --group-by target,level
    #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
    pub group_by: Vec<String>,

    /// Order of the --group-by groups: count (most events first; the default), key (key order; the
    /// default when the first key is a time bucket) or an aggregate of --agg (largest first).
    /// --reverse turns the order around; --limit N and --tail N then keep the first or last N
    /// groups (with --group-by they count groups, not events).
    /// Example: --group-by target --agg p99:latency_us --sort p99:latency_us --limit 5
    #[arg(long, value_name = "ORDER", requires = "group_by")]
    pub sort: Option<String>,

    /// Aggregates of --group-by: count (default), min, max, mean, sum, or a percentile of a numeric
    /// field as FUNC:FIELD: p50, p90, p99, p999 (99.9 %), any pN (p5 = 5 %; three or more digits
    /// read as a fraction, p9995 = 99.95 %), p100.
    /// Example: --agg count,p99:latency_us
    #[arg(long, value_name = "AGG,...", value_delimiter = ',', requires = "group_by")]
    pub agg: Vec<String>,

    /// Answer a SQL query (polars SQL) over the table `events`: each event once (after --filter,
    /// --since, --until), with the columns of the Parquet export: timestamp (UTC, µs),
    /// timestamp_ns, level, target, message, thread, file, line, service, hostname, pid,
    /// field_NAME (docs/PARQUET.md). Only the columns the query uses are decoded.
    /// Example: --sql 'SELECT target, count(*) AS n FROM events GROUP BY target ORDER BY n DESC'
    #[arg(long, value_name = "QUERY")]
    pub sql: Option<String>,

    /// With --format parquet: write a Hive-style dataset directory partitioned by these keys
    /// (service, hostname, pid, level, date).
    /// Example: --format parquet --partition-by service,date -o dataset/
    #[arg(long, value_name = "KEY,...", value_delimiter = ',', requires = "output")]
    pub partition_by: Vec<String>,

    /// With --format csv: put a ' before every cell that starts with =, +, -, @, a tab or a CR,
    /// so that a spreadsheet shows it as text instead of evaluating it as a formula (negative
    /// numbers then read '-5). Cells are always escaped (control, bidi characters) and quoted.
    /// Example: --format csv --csv-safe
    #[arg(long)]
    pub csv_safe: bool,

    /// Treat any damaged or unreadable input as an error (exit 2) instead of a warning.
    /// Example: --strict
    #[arg(long)]
    pub strict: bool,

    /// Keep every copy of events that overlapping snapshots of one process hold (by default each
    /// event, identified by process, thread and sequence number, is shown once, from the newest
    /// snapshot that holds it).
    /// Example: --keep-duplicates
    #[arg(long)]
    pub keep_duplicates: bool,

    /// With --stats or --group-by: print how the question is answered (which chunks are skipped,
    /// answered from their statistics or decoded, and which columns) and what it did, instead of
    /// the answer.
    /// Example: --stats --explain
    #[arg(long)]
    pub explain: bool,

    /// The most memory a question may take: bytes, a size (512MB, 2GiB: KB, MB, GB in powers of
    /// 1000, KiB, MiB, GiB in powers of 1024) or a percentage of the physical memory (70%).
    /// Inputs whose events would need more to load (-i, a legacy ttlog 0.1 file, a pipe) stop
    /// with one line naming the input and the figures, exit 2. Default: 50% of the physical
    /// memory (or of the control group's limit).
    /// Example: --memory-limit 4GiB
    #[arg(long, value_name = "SIZE", global = true, value_parser = crate::memory::parse_limit)]
    pub memory_limit: Option<u64>,

    /// Start the interactive viewer (ttlog-tui): directories are loaded and watched for new
    /// snapshots; with no INPUT, $TTLOG_DIR (or $TMPDIR/ttlog) is. --filter sets the first filter.
    /// Example: ttlog-view -i /var/tmp/ttlog/
    #[arg(short = 'i', long)]
    pub interactive: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One aligned, coloured line per event.
    Text,
    /// One JSON array of event objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet (needs -o).
    Parquet,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// What to produce.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The events themselves.
    Events,
    /// Stats, a group table, or both.
    Summary {
        /// `--stats`.
        stats: bool,
        /// `--group-by` keys and `--agg` aggregates.
        group: Option<(Vec<GroupKey>, Vec<Agg>)>,
    },
    /// The TUI.
    Interactive,
    /// `--sql`: a query over the table `events`.
    Sql(String),
    /// `--last N`: the last N events of every thread.
    Last(usize),
}

/// The validated command line.
#[derive(Debug)]
pub struct Plan {
    /// Inputs, expanded.
    pub inputs: Vec<Input>,
    /// All filters together.
    pub filter: Filter,
    /// `--since`.
    pub since: Option<TimeSpec>,
    /// `--until`.
    pub until: Option<TimeSpec>,
    /// `--limit`.
    pub limit: Option<usize>,
    /// `--tail`.
    pub tail: Option<usize>,
    /// `--reverse`.
    pub reverse: bool,
    /// `--sort`: the order of the groups.
    pub sort: Option<GroupSort>,
    /// Output format.
    pub format: Format,
    /// Output path.
    pub output: Option<PathBuf>,
    /// Colour text output.
    pub color: bool,
    /// `--partition-by`.
    pub partition_by: Vec<String>,
    /// `--strict`.
    pub strict: bool,
    /// `--keep-duplicates`.
    pub keep_duplicates: bool,
    /// `--csv-safe`.
    pub csv_safe: bool,
    /// `--explain`.
    pub explain: bool,
    /// What to do.
    pub mode: Mode,
    /// `--interactive`: the inputs as given (directories stay directories,
    /// to be watched; patterns expanded).
    pub interactive_inputs: Vec<PathBuf>,
    /// `--interactive`: the `--filter`s as one expression.
    pub filter_text: String,
}

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some event matched (or help/version was printed).
    Matched,
    /// No event matched.
    NoMatch,
    /// The arguments were wrong; clap printed why.
    Usage,
}

impl Outcome {
    /// 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Matched => 0,
            Outcome::NoMatch => 1,
            Outcome::Usage => 2,
        }
    }
}

/// Whether `err` comes from writing to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
        || err.chain().any(|c| c.to_string().contains("Broken pipe"))
}

fn filter_error(text: &str, e: crate::FilterError) -> anyhow::Error {
    anyhow::anyhow!("bad filter: {e}\n{}", e.pointer(text))
}

impl Plan {
    /// Checks and resolves the arguments.
    ///
    /// # Errors
    /// A bad filter, time, key or aggregate, a missing output path.
    pub fn from_args(a: Args) -> anyhow::Result<Plan> {
        let mut filters = Vec::new();
        for text in &a.filters {
            filters.push(Filter::parse(text).map_err(|e| filter_error(text, e))?);
        }
        let since =
            a.since.as_deref().map(TimeSpec::parse).transpose().map_err(anyhow::Error::msg).context("--since")?;
        let until =
            a.until.as_deref().map(TimeSpec::parse).transpose().map_err(anyhow::Error::msg).context("--until")?;
        if a.sql.is_some() {
            if a.interactive || a.stats || !a.group_by.is_empty() {
                bail!("--sql answers its query alone: leave out --interactive, --stats and --group-by");
            }
            if a.limit.is_some() || a.tail.is_some() || a.reverse {
                bail!("--sql: use ORDER BY and LIMIT in the query instead of --limit, --tail or --reverse");
            }
            if !a.partition_by.is_empty() {
                bail!("--sql writes one Parquet file: leave out --partition-by");
            }
        }
        let mode = if let Some(q) = &a.sql {
            Mode::Sql(q.clone())
        } else if let Some(n) = a.last {
            if !matches!(a.format, Format::Text | Format::Json | Format::Ndjson) {
                bail!("--last prints text, json or ndjson");
            }
            Mode::Last(n)
        } else if a.interactive {
            Mode::Interactive
        } else if a.stats || !a.group_by.is_empty() {
            let group = if a.group_by.is_empty() {
                None
            } else {
                let keys = a.group_by.iter().map(|k| GroupKey::parse(k)).collect::<Result<Vec<_>, _>>()?;
                let aggs = a
                    .agg
                    .iter()
                    .map(|g| Agg::parse(g))
                    .filter(|g| !matches!(g, Ok(Agg { func: AggFn::Count, .. })))
                    .collect::<Result<Vec<_>, _>>()?;
                Some((keys, aggs))
            };
            Mode::Summary { stats: a.stats, group }
        } else {
            Mode::Events
        };
        let sort = a.sort.as_deref().map(GroupSort::parse).transpose()?;
        if let (Some(GroupSort::Agg(name)), Mode::Summary { group: Some((_, aggs)), .. }) = (&sort, &mode)
            && !aggs.iter().any(|g| g.name() == *name)
        {
            bail!(
                "--sort {name}: not an aggregate of --agg (these are: count{})",
                aggs.iter().map(|g| format!(", {}", g.name())).collect::<String>()
            );
        }
        if a.csv_safe && a.format != Format::Csv {
            bail!("--csv-safe guards CSV cells: add --format csv");
        }
        if !a.partition_by.is_empty() && a.format != Format::Parquet {
            bail!("--partition-by writes Parquet datasets: add --format parquet");
        }
        if a.format == Format::Parquet && a.output.is_none() {
            bail!("--format parquet needs an output file: -o PATH");
        }
        if matches!(mode, Mode::Summary { .. }) && a.format == Format::Parquet {
            bail!("--stats and --group-by print text, json or csv, not parquet");
        }
        if matches!(mode, Mode::Summary { stats: true, .. }) && a.format == Format::Csv {
            bail!("--stats prints text or json, not csv");
        }
        let color = match a.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                a.output.is_none()
                    && io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let inputs = if mode == Mode::Interactive { Vec::new() } else { Input::expand(&a.inputs)? };
        let interactive_inputs = if mode == Mode::Interactive {
            if a.stats || !a.group_by.is_empty() || !a.partition_by.is_empty() {
                bail!("--interactive shows stats (key s) and groups (key b) itself");
            }
            interactive_inputs(&a.inputs)?
        } else {
            Vec::new()
        };
        let filter_text = match &a.filters[..] {
            [one] => one.clone(),
            many => many.iter().map(|f| format!("({f})")).collect::<Vec<_>>().join(" and "),
        };
        Ok(Plan {
            inputs,
            filter: Filter::all_of(filters),
            since,
            until,
            limit: a.limit,
            tail: a.tail,
            reverse: a.reverse,
            sort,
            format: a.format,
            output: a.output,
            color,
            partition_by: a.partition_by,
            strict: a.strict,
            keep_duplicates: a.keep_duplicates,
            csv_safe: a.csv_safe,
            explain: a.explain,
            mode,
            interactive_inputs,
            filter_text,
        })
    }
}

/// The inputs of `--interactive`: files and directories as given (the
/// viewer watches directories), glob patterns expanded.
fn interactive_inputs(args: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        let p = std::path::Path::new(a);
        if a == "-" {
            bail!("--interactive reads files and directories, not standard input (the terminal is the input)");
        } else if p.exists() {
            out.push(p.to_path_buf());
        } else {
            // A pattern (or an error naming the input).
            for input in Input::expand(std::slice::from_ref(a))? {
                if let Input::File(f) = input {
                    out.push(f);
                }
            }
        }
    }
    Ok(out)
}

/// Parses `args` (with the program name first) and runs the command.
///
/// # Errors
/// Anything that should end the program with exit code 2 (or 0 for a
/// closed pipe, see [`is_broken_pipe`]).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> anyhow::Result<Outcome> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            let usage = !matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand);
            e.print()?;
            return Ok(if usage { Outcome::Usage } else { Outcome::Matched });
        }
    };
    ttlog_core::memory::set_limit(args.memory_limit.or_else(crate::memory::default_limit));
    match args.command.take() {
        Some(Command::Recover(r)) => return recover(r),
        Some(Command::Diff(d)) => return diff_command(d),
        Some(Command::Completions { shell }) => {
            let mut out = io::stdout().lock();
            clap_complete::generate(shell, &mut <Args as clap::CommandFactory>::command(), "ttlog-view", &mut out);
            out.flush()?;
            return Ok(Outcome::Matched);
        }
        Some(Command::Man) => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).render(&mut out)?;
            out.flush()?;
            return Ok(Outcome::Matched);
        }
        None => {}
    }
    let plan = Plan::from_args(args)?;
    match plan.mode.clone() {
        Mode::Interactive => interactive(&plan),
        Mode::Events => stream_events(&plan),
        Mode::Sql(query) => sql_query(&plan, &query),
        Mode::Last(n) => last_moments(&plan, n),
        // With --group-by, --limit and --tail count groups: the question is
        // asked of every event.
        Mode::Summary { stats, group } if group.is_some() || (plan.limit.is_none() && plan.tail.is_none()) => {
            stream_summary(&plan, stats, group.as_ref())
        }
        Mode::Summary { stats, group } => {
            let view = select(&plan)?;
            print_summary(&plan, &view, stats, group.as_ref())
        }
    }
}

/// The commands of `ttlog-view` besides questions about its inputs.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Turn the persistent rings of a dead process into a snapshot (reason `recovered`).
    #[command(after_help = RECOVER_HELP)]
    Recover(RecoverArgs),
    /// Compare two sets of snapshots per call site: events and rate in A and B, their ratio,
    /// call sites new in B or gone from B, error messages new in B; most changed first.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Print a completion script for SHELL on stdout.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout.
    #[command(after_help = "Install, for example: ttlog-view man > ~/.local/share/man/man1/ttlog-view.1")]
    Man,
}

const DIFF_HELP: &str = "\
A and B are each a snapshot file, a directory or a glob pattern (quote it).
Rates are events per second over each side's own time span. Exit code 0
whenever the comparison ran, whatever the difference.
Example: ttlog-view diff before/ after/ --filter 'level>=warn'";

/// `ttlog-view diff A B`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first side: a snapshot file, a directory or a glob pattern.
    #[arg(value_name = "A")]
    pub a: String,
    /// The second side, compared with the first.
    #[arg(value_name = "B")]
    pub b: String,
    /// Only events for which EXPR holds, on both sides (the --filter language).
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Output format: text, json (one document), ndjson (one change per line), csv or parquet (with -o).
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,
    /// Write to PATH instead of stdout.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Treat any damaged input as an error (exit 2).
    #[arg(long)]
    pub strict: bool,
}

const COMPLETIONS_HELP: &str = "\
Install, for example:
  bash: ttlog-view completions bash > ~/.local/share/bash-completion/completions/ttlog-view
  zsh:  ttlog-view completions zsh > ~/.zfunc/_ttlog-view   (with fpath+=~/.zfunc before compinit)
  fish: ttlog-view completions fish > ~/.config/fish/completions/ttlog-view.fish";

/// The persistent rings of a dead process into a snapshot (reason
/// `recovered`); see `ttlog_core::persist`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// A rings directory (`ttlog-{service}-{pid}-{start}`), or the `persist_dir` that holds them.
    /// Example: ttlog-view recover /dev/shm/ttlog
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Where to write the snapshots (default: the directory that holds each rings directory).
    /// Example: -o /var/tmp/ttlog
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Keep the ring files after a successful recovery.
    #[arg(long)]
    pub keep: bool,
}

const RECOVER_HELP: &str = "\
Refuses (exit 2) while the process that owns the rings is alive. Only whole
events are kept; damage is reported on stderr and the intact part kept.
Then read the snapshot as usual: ttlog-view /dev/shm/ttlog/ttlog-*-recovered.bin";

/// `ttlog-view diff A B` ([`crate::diff`]).
fn diff_command(args: DiffArgs) -> anyhow::Result<Outcome> {
    let mut filters = Vec::new();
    for text in &args.filters {
        filters.push(Filter::parse(text).map_err(|e| filter_error(text, e))?);
    }
    let filter = Filter::all_of(filters);
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("diff --format parquet needs -o PATH (Parquet is not written to a terminal or pipe)");
    }
    let side = |which: &str, input: &str| -> anyhow::Result<crate::diff::Side> {
        let inputs = Input::expand(&[input.to_owned()]).with_context(|| format!("diff: side {which}"))?;
        crate::diff::Side::of(&inputs, &filter, args.strict).with_context(|| format!("diff: side {which} ({input})"))
    };
    let (a, b) = (side("A", &args.a)?, side("B", &args.b)?);
    let changes = crate::diff::diff(&a, &b);
    if args.format == Format::Parquet {
        let path = args.output.as_ref().expect("checked above");
        let mut df = crate::diff::frame(&changes).context("diff: building the Parquet table")?;
        let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        polars::prelude::ParquetWriter::new(io::BufWriter::new(f))
            .with_compression(polars::prelude::ParquetCompression::Zstd(None))
            .finish(&mut df)
            .with_context(|| format!("writing {}", path.display()))?;
        return Ok(Outcome::Matched);
    }
    let mut w: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        Format::Json => writeln!(w, "{}", crate::diff::json(&a, &b, &changes))?,
        Format::Ndjson => {
            for c in crate::diff::json(&a, &b, &changes)["changes"].as_array().into_iter().flatten() {
                writeln!(w, "{c}")?;
            }
        }
        Format::Csv => {
            writeln!(w, "status,level,target,message,file,line,a_events,b_events,a_per_second,b_per_second,ratio")?;
            let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
            let mut line = String::new();
            for c in &changes {
                // Text cells through the one CSV rule of every export.
                line.clear();
                line.push_str(c.status);
                for text in [c.site.level.as_str(), &c.site.target, &c.site.message, &c.site.file] {
                    line.push(',');
                    export::push_csv(&mut line, text, false);
                }
                writeln!(
                    w,
                    "{line},{},{},{},{},{},{}",
                    c.site.line,
                    c.events.0,
                    c.events.1,
                    num(c.rate.0),
                    num(c.rate.1),
                    num(c.ratio.filter(|_| c.status == "changed")),
                )?;
            }
        }
        _ => write!(w, "{}", crate::diff::text(&a, &b, &changes))?,
    }
    w.flush()?;
    Ok(Outcome::Matched)
}

/// `ttlog-view recover DIR`.
fn recover(args: RecoverArgs) -> anyhow::Result<Outcome> {
    let options = ttlog_core::persist::RecoverOptions { out_dir: args.output, keep: args.keep, service: None };
    let recovery = ttlog_core::persist::recover(&args.dir, &options).context("recover")?;
    for l in &recovery.live {
        eprintln!(
            "ttlog-view: skipped {}: process {} ({}) is still running",
            ttlog_core::text::escape_bytes(l.dir.as_os_str().as_encoded_bytes()),
            l.pid,
            ttlog_core::text::escape(&l.service)
        );
    }
    let mut out = io::stdout().lock();
    for r in recovery.recovered {
        for p in &r.problems {
            eprintln!("ttlog-view: warning: {}", ttlog_core::text::escape(p));
        }
        writeln!(
            out,
            "recovered {} events of {} (pid {}, threads {}, overwritten {}) into {}",
            r.events,
            ttlog_core::text::escape(&r.service),
            r.pid,
            r.threads,
            r.overwritten,
            r.snapshot.display()
        )?;
    }
    Ok(Outcome::Matched)
}

/// `--interactive`: the terminal viewer of `ttlog-tui` on this crate's
/// engine ([`EngineSource`](crate::tui_source::EngineSource)), until the
/// user quits.
///
/// # Errors
/// Not on a terminal; options that only apply to printed output; the
/// terminal failing.
pub fn interactive(plan: &Plan) -> anyhow::Result<Outcome> {
    if plan.since.is_some() || plan.until.is_some() || plan.limit.is_some() || plan.tail.is_some() || plan.reverse {
        bail!("with --interactive, only INPUTs and --filter apply (in the viewer, t goes to a time)");
    }
    if plan.output.is_some() {
        bail!("with --interactive, x exports the shown events: -o does not apply");
    }
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        bail!("--interactive needs a terminal on standard input and output");
    }
    let options = ttlog_tui::Options { inputs: plan.interactive_inputs.clone(), filter: plan.filter_text.clone() };
    // polars prints its warnings on stderr, which is the viewer's screen:
    // keep them until the terminal is back, then print them.
    polars::error::set_warning_function(crate::tui_source::hold_warning);
    let result = ttlog_tui::run(std::sync::Arc::new(crate::tui_source::EngineSource::new()), options);
    for w in crate::tui_source::held_warnings() {
        eprintln!("ttlog-view: {w}");
    }
    result.context("interactive viewer")?;
    Ok(Outcome::Matched)
}

/// Loads the inputs (progress bar on a terminal), reports damage on
/// stderr, and applies filters, time bounds, limit/tail and order.
///
/// # Errors
/// Unreadable inputs, strict-mode damage, a filter that does not fit the
/// data.
pub fn select(plan: &Plan) -> anyhow::Result<View> {
    let engine = Engine::new().strict(plan.strict).keep_duplicates(plan.keep_duplicates);
    let catalog = open_catalog(plan)?;
    let total = crate::dataset::events_in(&catalog);
    let bar = progress_bar(total, "decoding");
    let engine = match &bar {
        Some(b) => {
            let b = b.clone();
            engine.on_progress(move |n| b.inc(n))
        }
        None => engine,
    };
    let ds = engine.load_opened(&catalog);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let ds = ds?;
    warn_problems(ds.problems(), ds.tables(), &catalog);
    let mut view = ds.all();
    if !plan.filter.is_empty() {
        view = view.filter(&plan.filter).map_err(|e| filter_error_of(plan, e))?;
    }
    if plan.since.is_some() || plan.until.is_some() {
        let last = ds.all().time_range().map_or(0, |(_, b)| b);
        view = view.between(plan.since.map(|s| s.resolve(last)), plan.until.map(|u| u.resolve(last)));
    }
    if let Some(n) = plan.limit {
        view = view.head(n);
    }
    if let Some(n) = plan.tail {
        view = view.tail(n);
    }
    if plan.reverse {
        view = view.reversed();
    }
    Ok(view)
}

/// A filter error, pointing into the expression when there is one.
fn filter_error_of(plan: &Plan, e: crate::FilterError) -> anyhow::Error {
    let text = plan.filter.to_string();
    if plan.filter.parts().len() == 1 { filter_error(&text, e) } else { anyhow::anyhow!("bad filter: {e}") }
}

/// Opens the inputs (a progress bar on a terminal for many files).
fn open_catalog(plan: &Plan) -> anyhow::Result<crate::catalog::Catalog> {
    let bar = (plan.inputs.len() >= 100).then(|| progress_bar(plan.inputs.len() as u64, "opening")).flatten();
    let catalog = crate::catalog::Catalog::open(
        &plan.inputs,
        crate::catalog::OpenOptions { keep_duplicates: plan.keep_duplicates },
        &|n| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let catalog = catalog?;
    // An input too large for the memory limit ends the question: the
    // answer without it would look whole.
    let over = catalog.failed.iter().find(|e| matches!(e.problem, ttlog_core::snapshot::Problem::MemoryLimit { .. }));
    if let Some(e) = over {
        return Err(e.clone().into());
    }
    Ok(catalog)
}

/// A progress bar on stderr when it is a terminal and there is much to do.
fn progress_bar(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    let big = if what == "opening" { total >= 100 } else { total >= 1_000_000 };
    (io::stderr().is_terminal() && big).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
        let unit = if what == "opening" { "files" } else { "events" };
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{what} {{bar:40}} {{human_pos}}/{{human_len}} {unit} {{per_sec}} {{eta}}"
            ))
            .expect("progress template"),
        );
        bar
    })
}

/// Damage and differing copies, one line each on stderr, up to
/// [`LISTED_PROBLEMS`](crate::dataset::LISTED_PROBLEMS) lines of damage and
/// then one line with the count of the rest.
fn warn_problems(
    problems: &[ttlog_core::snapshot::SnapshotError],
    tables: &crate::tables::Tables,
    catalog: &crate::catalog::Catalog,
) {
    let listed = crate::dataset::LISTED_PROBLEMS;
    for p in problems.iter().take(listed) {
        let lost = match catalog.chunk_events_at(&p.file, p.offset) {
            Some(n) => format!("its {n} events are unreadable, the intact chunks are used"),
            None => "the intact chunks are used".to_owned(),
        };
        eprintln!("ttlog-view: warning: {} ({lost})", ttlog_core::text::escape(&p.to_string()));
    }
    if problems.len() > listed {
        let rest = &problems[listed..];
        let files: std::collections::HashSet<&str> = rest.iter().map(|p| p.file.as_str()).collect();
        let lost: u64 = rest.iter().filter_map(|p| catalog.chunk_events_at(&p.file, p.offset)).sum();
        eprintln!(
            "ttlog-view: warning: … and {} more problems in {} file{} ({lost} events in their chunks are unreadable)",
            rest.len(),
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
    }
    for d in &tables.differing {
        eprintln!(
            "ttlog-view: warning: {} and {} are snapshots of one process but hold different events (thread {}, sequence {}): the newer file's are kept, {} events of the other skipped",
            ttlog_core::text::escape(&tables.sources[d.other].path),
            ttlog_core::text::escape(&tables.sources[d.kept].path),
            d.thread,
            d.seq,
            d.events
        );
    }
}

fn open_output(plan: &Plan) -> anyhow::Result<Box<dyn Write>> {
    Ok(match &plan.output {
        Some(p) => Box::new(io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    })
}

/// The time of the last event of the inputs (each copy once), from the
/// chunks' statistics: what `--since -5m` counts back from.
fn last_event(catalog: &crate::catalog::Catalog) -> i64 {
    catalog
        .stats
        .iter()
        .zip(&catalog.keep)
        .flat_map(|(st, k)| st.iter().zip(k))
        .filter(|(_, k)| **k != crate::catalog::ChunkKeep::None)
        .filter_map(|(st, _)| st.as_ref().ok().map(|st| st.max_ts))
        .max()
        .unwrap_or(0)
}

/// Opens the inputs for a streamed question: the catalog and the damage
/// found before any chunk is decoded (unreadable files, damaged headers,
/// chunks whose statistics cannot be read).
///
/// # Errors
/// No readable input; with `--strict`, any damage.
fn open_for_streaming(
    plan: &Plan,
) -> anyhow::Result<(crate::catalog::Catalog, Vec<ttlog_core::snapshot::SnapshotError>)> {
    let catalog = open_catalog(plan)?;
    if catalog.snapshots.is_empty() {
        return Err(crate::dataset::LoadError::NothingReadable(catalog.failed.clone()).into());
    }
    let mut early: Vec<ttlog_core::snapshot::SnapshotError> = catalog.failed.clone();
    for s in &catalog.snapshots {
        early.extend(s.problems().iter().cloned());
    }
    for st in catalog.stats.iter().flatten() {
        if let Err(e) = st {
            early.push(e.clone());
        }
    }
    if plan.strict
        && let Some(e) = early.first()
    {
        return Err(crate::dataset::LoadError::Damaged(e.clone()).into());
    }
    Ok((catalog, early))
}

/// `--sql`: runs the query over the table `events` of the inputs and
/// prints its answer in the format asked.
///
/// # Errors
/// No readable input, an SQL error (one line: polars says what and where),
/// damage with `--strict`, writing failed.
pub fn sql_query(plan: &Plan, query: &str) -> anyhow::Result<Outcome> {
    let (catalog, mut problems) = open_for_streaming(plan)?;
    let last = last_event(&catalog);
    let selection = crate::sql::Selection {
        filter: plan.filter.clone(),
        since: plan.since.map(|s| s.resolve(last)),
        until: plan.until.map(|u| u.resolve(last)),
        strict: plan.strict,
    };
    let bar = progress_bar(catalog.events_kept(), "scanning");
    let mut events = crate::sql::Events::new(catalog, selection);
    if let Some(b) = bar.clone() {
        events = events.on_progress(move |n| b.inc(n));
    }
    let answer = events.query(query);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    {
        let scanned = events.scanned();
        for s in &scanned.streamed {
            problems.extend(s.problems.iter().cloned());
        }
        for (column, n) in &scanned.out_of_range {
            eprintln!("ttlog-view: warning: {n} values of {column} above {} are null (the column is INT64)", i64::MAX);
        }
    }
    problems.sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
    problems.dedup_by(|a, b| a.file == b.file && a.offset == b.offset);
    let mut df = match answer {
        Ok(df) => df,
        Err(e) => {
            let what = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            bail!("--sql: {}", ttlog_core::text::escape(&what));
        }
    };
    warn_problems(&problems, events.tables(), events.catalog());
    match plan.format {
        Format::Parquet => {
            let path = plan.output.as_ref().expect("checked in Plan::from_args");
            let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            polars::prelude::ParquetWriter::new(io::BufWriter::new(f))
                .with_compression(polars::prelude::ParquetCompression::Zstd(None))
                .finish(&mut df)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        format => {
            let mut w = open_output(plan)?;
            match format {
                Format::Csv => crate::sql::write_csv(&df, &mut w, plan.csv_safe)?,
                Format::Json => crate::sql::write_json(&df, &mut w, false)?,
                Format::Ndjson => crate::sql::write_json(&df, &mut w, true)?,
                _ => crate::sql::write_text(&df, &mut w)?,
            }
            w.flush()?;
        }
    }
    Ok(if df.height() > 0 { Outcome::Matched } else { Outcome::NoMatch })
}

/// The stream of `question` (its order and limits) over the plan's filter
/// and time bounds, planned over `catalog`.
fn plan_stream<'c>(
    plan: &Plan,
    catalog: &'c crate::catalog::Catalog,
    question: crate::stream::EventQuestion,
) -> anyhow::Result<crate::stream::Stream<'c>> {
    let last = last_event(catalog);
    let question = crate::stream::EventQuestion {
        filter: plan.filter.clone(),
        since: plan.since.map(|s| s.resolve(last)),
        until: plan.until.map(|u| u.resolve(last)),
        ..question
    };
    crate::stream::Stream::new(catalog, question).map_err(|e| match e {
        crate::query::QueryError::Filter(e) => filter_error_of(plan, e),
        e => anyhow::Error::new(e),
    })
}

/// `--last N`: the last N events of every thread ([`crate::last`]), over
/// the streaming engine.
///
/// # Errors
/// Unreadable inputs, strict-mode damage, a filter that does not fit the
/// data, output errors.
pub fn last_moments(plan: &Plan, n: usize) -> anyhow::Result<Outcome> {
    let (catalog, early) = open_for_streaming(plan)?;
    let stream = plan_stream(plan, &catalog, crate::stream::EventQuestion::default())?;
    let bar = progress_bar(catalog.events_kept(), "reading");
    let mut sink = crate::last::LastSink::new(n);
    let result = {
        let bar = bar.clone();
        stream.run(&mut sink, plan.strict, &move |k| {
            if let Some(b) = &bar {
                b.inc(k);
            }
        })
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let done = result?;
    let mut problems = early;
    problems.extend(done.problems.iter().cloned());
    warn_problems(&problems, stream.tables(), &catalog);
    let format = match plan.format {
        Format::Json => crate::last::LastFormat::Json,
        Format::Ndjson => crate::last::LastFormat::Ndjson,
        _ => crate::last::LastFormat::Text { color: plan.color },
    };
    let mut w = open_output(plan)?;
    let events = crate::last::write_last(&sink, stream.tables(), format, &mut w)?;
    Ok(if events == 0 { Outcome::NoMatch } else { Outcome::Matched })
}

/// Prints or exports the selected events in time order with the streaming
/// engine ([`crate::stream`]): chunks are decoded as the merge reaches them
/// and the events written as they come, never all held. With `--explain`,
/// prints the plan and what it did instead.
///
/// # Errors
/// Unreadable inputs, strict-mode damage, a filter that does not fit the
/// data, output errors.
pub fn stream_events(plan: &Plan) -> anyhow::Result<Outcome> {
    let (catalog, early) = open_for_streaming(plan)?;
    let order = crate::stream::EventQuestion {
        reverse: plan.reverse,
        limit: plan.limit,
        tail: plan.tail,
        fields: None,
        ..Default::default()
    };
    let stream = plan_stream(plan, &catalog, order)?;
    // On a terminal, a bar that follows the events as they are written.
    let bar = progress_bar(catalog.events_kept(), if plan.output.is_some() { "exporting" } else { "reading" });
    let progress = {
        let bar = bar.clone();
        move |n: u64| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        }
    };
    let started = std::time::Instant::now();
    let result = if plan.explain {
        let mut sink = crate::stream::Discard;
        stream.run(&mut sink, plan.strict, &progress)
    } else {
        match plan.format {
            Format::Parquet => {
                let path = plan.output.as_ref().expect("checked in Plan::from_args");
                let mut sink = crate::parquet::ParquetSink::new(path, &plan.partition_by)?;
                let result = stream.run(&mut sink, plan.strict, &progress);
                for (column, n) in sink.out_of_range() {
                    eprintln!(
                        "ttlog-view: warning: {}: {n} values of {column} above {} written as null (the column is INT64)",
                        ttlog_core::text::escape_bytes(path.as_os_str().as_encoded_bytes()),
                        i64::MAX
                    );
                }
                result
            }
            format => {
                let mut w = open_output(plan)?;
                let lines = match format {
                    Format::Text => export::Lines::Text { color: plan.color },
                    Format::Json => export::Lines::Json,
                    Format::Ndjson => export::Lines::Ndjson,
                    _ => export::Lines::Csv { formula_guard: plan.csv_safe },
                };
                let mut sink = export::LineSink::new(&mut w, lines, stream.tables());
                stream.run(&mut sink, plan.strict, &progress)
            }
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let done = match (result, &plan.output) {
        (Ok(d), _) => d,
        (Err(crate::query::QueryError::Io(e)), Some(path)) => {
            return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
        }
        (Err(e), _) => return Err(e.into()),
    };
    let mut problems = early;
    problems.extend(done.problems.iter().cloned());
    warn_problems(&problems, stream.tables(), &catalog);
    if plan.explain {
        let mut w = open_output(plan)?;
        write!(w, "{}", stream.explain())?;
        writeln!(w, "executed")?;
        writeln!(
            w,
            "  chunks     {} decoded, at most {} at once, {} skipped (copies {}, time {}, filter {}, unreadable {})",
            done.decoded,
            done.most_active,
            done.skipped.iter().sum::<u64>(),
            done.skipped[crate::query::Skip::Copies as usize],
            done.skipped[crate::query::Skip::Time as usize],
            done.skipped[crate::query::Skip::Filter as usize],
            done.skipped[crate::query::Skip::Unreadable as usize],
        )?;
        writeln!(w, "  rows       {} decoded, {} output", done.rows_decoded, done.events)?;
        writeln!(w, "  time       {:.3} s", started.elapsed().as_secs_f64())?;
        w.flush()?;
        return Ok(Outcome::Matched);
    }
    Ok(if done.events == 0 { Outcome::NoMatch } else { Outcome::Matched })
}

/// Writes `--stats` and/or the `--group-by` table of a view (a selection
/// with `--limit`, `--tail` or `--reverse`, which are defined on the
/// time-ordered events).
///
/// # Errors
/// A group-by that does not fit the data, output errors.
pub fn print_summary(
    plan: &Plan,
    view: &View,
    stats: bool,
    group: Option<&(Vec<GroupKey>, Vec<Agg>)>,
) -> anyhow::Result<Outcome> {
    let ds = view.dataset();
    let s = stats.then(|| view.stats());
    let t = match group {
        Some((keys, aggs)) => Some(shape_groups(plan, view.group_by(keys, aggs)?)?),
        None => None,
    };
    write_summary(plan, s.as_ref(), t.as_ref(), ds.tables(), ds.problems())?;
    Ok(if view.is_empty() { Outcome::NoMatch } else { Outcome::Matched })
}

/// Answers `--stats` and/or `--group-by` with the streaming engine
/// ([`crate::query`]): every chunk planned from its statistics, decoded only
/// where and as far as the question needs. With `--explain`, prints the
/// plan and what it did instead of the answer.
///
/// # Errors
/// Unreadable inputs, strict-mode damage, a filter or group-by that does
/// not fit the data, output errors.
pub fn stream_summary(plan: &Plan, stats: bool, group: Option<&(Vec<GroupKey>, Vec<Agg>)>) -> anyhow::Result<Outcome> {
    let catalog = open_catalog(plan)?;
    let last = last_event(&catalog);
    let question = crate::query::Question {
        filter: plan.filter.clone(),
        since: plan.since.map(|s| s.resolve(last)),
        until: plan.until.map(|u| u.resolve(last)),
        stats,
        group: group.cloned(),
    };
    let query = crate::query::Plan::new(&catalog, question).map_err(|e| match e {
        crate::query::QueryError::Filter(e) => filter_error_of(plan, e),
        e => anyhow::Error::new(e),
    })?;
    let explain = plan.explain.then(|| query.explain());
    let total = catalog.events_kept();
    let bar = progress_bar(total, "reading");
    let answer = {
        let bar = bar.clone();
        query.run(plan.strict, &move |n| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        })
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let answer = answer?;
    warn_problems(&answer.problems, &answer.tables, &catalog);
    if let Some(text) = explain {
        let mut w = open_output(plan)?;
        write!(w, "{text}{}", answer.executed)?;
        w.flush()?;
        return Ok(Outcome::Matched);
    }
    let groups = answer.groups.map(|t| shape_groups(plan, t)).transpose()?;
    write_summary(plan, answer.stats.as_ref(), groups.as_ref(), &answer.tables, &answer.problems)?;
    Ok(if answer.events == 0 { Outcome::NoMatch } else { Outcome::Matched })
}

/// A group table in the order of `--sort` and `--reverse`, cut to the
/// first `--limit` or the last `--tail` groups.
fn shape_groups(plan: &Plan, mut t: GroupTable) -> anyhow::Result<GroupTable> {
    t.order(plan.sort.as_ref(), plan.reverse)?;
    if let Some(n) = plan.limit {
        t.rows.truncate(n);
    }
    if let Some(n) = plan.tail {
        t.rows.drain(..t.rows.len().saturating_sub(n));
    }
    Ok(t)
}

/// Writes `--stats` and/or a group table in the plan's format.
fn write_summary(
    plan: &Plan,
    stats: Option<&crate::stats::Stats>,
    groups: Option<&crate::stats::GroupTable>,
    tables: &crate::tables::Tables,
    problems: &[ttlog_core::snapshot::SnapshotError],
) -> anyhow::Result<()> {
    let mut w = open_output(plan)?;
    match plan.format {
        // One JSON document: the stats object, the group array, or both
        // under `stats` and `groups`.
        Format::Json => {
            let doc = match (stats, groups) {
                (Some(s), Some(t)) => serde_json::json!({
                    "stats": export::stats_json(s, tables, problems),
                    "groups": export::groups_json(t),
                }),
                (Some(s), None) => export::stats_json(s, tables, problems),
                (None, Some(t)) => export::groups_json(t).into(),
                (None, None) => return Ok(()),
            };
            serde_json::to_writer(&mut w, &doc)?;
            writeln!(w)?;
        }
        // One object per line: the stats object first, then one per group.
        Format::Ndjson => {
            if let Some(s) = stats {
                serde_json::to_writer(&mut w, &export::stats_json(s, tables, problems))?;
                writeln!(w)?;
            }
            if let Some(t) = groups {
                for row in export::groups_json(t) {
                    serde_json::to_writer(&mut w, &row)?;
                    writeln!(w)?;
                }
            }
        }
        _ => {
            if let Some(s) = stats {
                export::write_stats_text(s, tables, problems, &mut w)?;
            }
            if let Some(t) = groups {
                if plan.format == Format::Csv {
                    export::write_groups_csv(t, &mut w, plan.csv_safe)?;
                } else {
                    if stats.is_some() {
                        writeln!(w, "\ngroups")?;
                    }
                    export::write_groups_text(t, &mut w)?;
                }
            }
        }
    }
    w.flush()?;
    Ok(())
}
