//! `fleet`: `ttlog-view` over a fleet's directory of overlapping periodic
//! snapshots, side by side with DuckDB's command-line shell on the Parquet
//! export of the same events, in one run. See `ttlog-bench/README.md`.
//!
//! ```sh
//! cargo build --release -p ttlog-cli -p ttlog-bench
//! scripts/peers.sh                                    # DuckDB's CLI into target/venv (optional)
//! target/release/fleet                                # 20 processes, 87.5 M events
//! target/release/fleet --processes 200                # 875 M events
//! ```

mod generate;
mod run;

use run::{Measured, measure};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    if generate::child_from_env() {
        return;
    }
    let mut shape = generate::Shape { processes: 20, events: 4_375_000, snapshots: 4, wave: 20 };
    let mut dir = None;
    let mut skip_parquet = false;
    let mut single = false;
    let mut copy_peer = true;
    let mut generate_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || args.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage(&a));
        match a.as_str() {
            "--processes" => shape.processes = num() as usize,
            "--events" => shape.events = num(),
            "--snapshots" => shape.snapshots = num(),
            "--wave" => shape.wave = num() as usize,
            "--dir" => dir = Some(PathBuf::from(args.next().unwrap_or_else(|| usage(&a)))),
            "--no-parquet" => skip_parquet = true,
            "--single" => single = true,
            "--no-duckdb-copy" => copy_peer = false,
            "--generate-only" => generate_only = true,
            _ => usage(&a),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = dir.unwrap_or_else(|| root.join("target/fleet").join(shape.name()));
    if generate_only {
        // The snapshots alone (for scripts/interop-check), as below.
        if std::fs::read_to_string(dir.join("COMPLETE")).is_ok_and(|s| s == shape.name()) {
            println!("{}", dir.display());
            return;
        }
        generate::generate(&dir, shape);
        println!("{}", dir.display());
        return;
    }
    let view =
        std::env::var_os("TTLOG_VIEW").map(PathBuf::from).unwrap_or_else(|| root.join("target/release/ttlog-view"));
    if !view.exists() {
        eprintln!("fleet: {} not found: build it first (cargo build --release -p ttlog-cli)", view.display());
        std::process::exit(2);
    }
    let duckdb = std::env::var_os("DUCKDB").map(PathBuf::from).unwrap_or_else(|| root.join("target/venv/bin/duckdb"));
    let duckdb = duckdb.exists().then_some(duckdb);
    if single {
        single_files(&root, &view);
        return;
    }

    // The fleet, generated once per shape.
    let complete = std::fs::read_to_string(dir.join("COMPLETE")).is_ok_and(|s| s == shape.name());
    if !complete {
        eprintln!(
            "fleet: generating {} processes x {} events ({} snapshots each) into {}",
            shape.processes,
            shape.events,
            shape.snapshots,
            dir.display()
        );
        generate::generate(&dir, shape);
    }
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fleet dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let logged = shape.processes as u64 * shape.events;
    let d = dir.to_str().expect("UTF-8 path");

    // Every count exact: each event logged, once (the rings hold about two
    // phases, so no event was overwritten before a snapshot held it).
    let (_, out) = measure(Command::new(&view).args([d, "--stats", "--format", "json"]), true);
    let stats: serde_json::Value = serde_json::from_str(&out).expect("stats JSON");
    let kept = stats["events"].as_u64().unwrap_or(0);
    let copies = stats["duplicates_skipped"].as_u64().unwrap_or(0);
    println!("# fleet: {} processes x {} events, {} snapshots each", shape.processes, shape.events, shape.snapshots);
    println!();
    println!(
        "{} files, {:.0} MB, {} events in them; ttlog-view counts {} events once each ({} copies skipped); the generator logged {} ({})",
        files.len(),
        bytes as f64 / 1e6,
        kept + copies,
        kept,
        copies,
        logged,
        if kept == logged { "exact" } else { "MISMATCH" }
    );
    println!("machine: {} cores, load average {}", std::thread::available_parallelism().map_or(0, |n| n.get()), load());
    println!();

    // The Parquet export, which is also DuckDB's input.
    let parquet = dir.with_extension("parquet");
    let export = if skip_parquet && parquet.exists() {
        None
    } else {
        let (m, _) = measure(
            Command::new(&view).args([d, "--format", "parquet", "-o", parquet.to_str().expect("UTF-8")]),
            false,
        );
        Some(m)
    };
    let pq = parquet.to_str().expect("UTF-8");
    let q = |sql: &str| sql.replace("{P}", &format!("read_parquet('{pq}')"));

    struct Row {
        question: &'static str,
        ours: Measured,
        peer: Option<Measured>,
        agree: String,
    }
    let mut rows = Vec::new();
    let duck = |sql: &str, keep: bool| -> Option<(Measured, String)> {
        let db = duckdb.as_ref()?;
        Some(measure(Command::new(db).args(["-csv", "-noheader", "-c", sql]), keep))
    };

    // 1. Counts by target.
    let (ours, out) = measure(Command::new(&view).args([d, "--group-by", "target", "--format", "csv"]), true);
    let mine = csv_counts(&out, true);
    let peer = duck(&q("SELECT target, count(*) FROM {P} GROUP BY target ORDER BY 2 DESC"), true);
    let agree = peer.as_ref().map_or("-".into(), |(_, o)| same(&mine, &csv_counts(o, false)));
    rows.push(Row { question: "group-by target, counts", ours, peer: peer.map(|p| p.0), agree });

    // 2. p99 of latency_us by target.
    let (ours, out) = measure(
        Command::new(&view).args([d, "--group-by", "target", "--agg", "count,p99:latency_us", "--format", "csv"]),
        true,
    );
    let mine = csv_counts(&out, true);
    let peer = duck(
        &q("SELECT target, count(*), quantile_cont(field_latency_us, 0.99) FROM {P} GROUP BY target ORDER BY 2 DESC"),
        true,
    );
    let agree = peer.as_ref().map_or("-".into(), |(_, o)| same(&mine, &csv_counts(o, false)));
    rows.push(Row { question: "p99 of latency_us by target", ours, peer: peer.map(|p| p.0), agree });

    // 3. A filtered export to NDJSON.
    let out_ours = dir.with_extension("http.ndjson");
    let out_peer = dir.with_extension("http-duckdb.json");
    let (ours, _) = measure(
        Command::new(&view).args([
            d,
            "--filter",
            "target=http and latency_us>4900",
            "--format",
            "ndjson",
            "-o",
            out_ours.to_str().expect("UTF-8"),
        ]),
        false,
    );
    let n_ours = lines(&out_ours);
    let peer = duck(
        &format!(
            "COPY (SELECT * FROM {} WHERE target = 'http' AND field_latency_us > 4900) TO '{}'",
            q("{P}"),
            out_peer.display()
        ),
        false,
    );
    let agree = peer.as_ref().map_or("-".into(), |_| {
        let n_peer = lines(&out_peer);
        if n_peer == n_ours { format!("yes ({n_ours} rows)") } else { format!("NO: {n_ours} vs {n_peer} rows") }
    });
    let _ = std::fs::remove_file(&out_peer);
    let _ = std::fs::remove_file(&out_ours);
    rows.push(Row {
        question: "filter target=http and latency_us>4900, to NDJSON",
        ours,
        peer: peer.map(|p| p.0),
        agree,
    });

    // 4. --stats (ttlog-view's own question; DuckDB counts rows by level).
    let (ours, _) = measure(Command::new(&view).args([d, "--stats"]), false);
    let peer = duck(&q("SELECT level, count(*), min(timestamp), max(timestamp) FROM {P} GROUP BY level"), false);
    rows.push(Row {
        question: "--stats (DuckDB: counts by level, time span)",
        ours,
        peer: peer.map(|p| p.0),
        agree: "-".into(),
    });

    println!(
        "| question ({} M events once each, {} files) | ttlog-view on the snapshots | DuckDB CLI on the Parquet export | ratio | same answer |",
        kept / 1_000_000,
        files.len()
    );
    println!("| --- | --- | --- | --- | --- |");
    for r in &rows {
        let (peer, ratio) = match &r.peer {
            Some(p) => (p.cell(), format!("{:.2}x", r.ours.wall.as_secs_f64() / p.wall.as_secs_f64())),
            None => ("-".into(), "-".into()),
        };
        println!("| {} | {} | {} | {} | {} |", r.question, r.ours.cell(), peer, ratio, r.agree);
    }
    if let Some(m) = export {
        // DuckDB writing the same rows to Parquet (zstd, as ttlog-view
        // does), read from the export: the nearest peer of the export.
        let copy = dir.with_extension("duckdb.parquet");
        let peer = if copy_peer {
            duck(
                &format!(
                    "COPY (SELECT * FROM {}) TO '{}' (FORMAT parquet, COMPRESSION zstd)",
                    q("{P}"),
                    copy.display()
                ),
                false,
            )
        } else {
            None
        };
        let _ = std::fs::remove_file(&copy);
        let rate = |m: &Measured| format!("{:.1} M events/s", kept as f64 / m.wall.as_secs_f64() / 1e6);
        let (peer, ratio) = match &peer {
            Some((p, _)) => (
                format!("{} = {} (`COPY` of the export to Parquet)", p.cell(), rate(p)),
                format!("{:.2}x", m.wall.as_secs_f64() / p.wall.as_secs_f64()),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| Parquet export of all of it ({} rows, {:.0} MB) | {} = {} | {} | {} | - |",
            kept,
            std::fs::metadata(&parquet).map_or(0, |m| m.len()) as f64 / 1e6,
            m.cell(),
            rate(&m),
            peer,
            ratio
        );
    }
    if duckdb.is_none() {
        println!();
        println!(
            "DuckDB skipped: no DuckDB CLI at target/venv/bin/duckdb (scripts/peers.sh installs it; or set DUCKDB)."
        );
    }
}

/// One snapshot file of one process: `--stats --group-by target` on 8.75 M
/// events, and on 1 M events beside `jq` counting by target over the NDJSON
/// export of the same events.
fn single_files(root: &Path, view: &Path) {
    let gen_one = |events: u64| -> PathBuf {
        let shape = generate::Shape { processes: 1, events, snapshots: 1, wave: 1 };
        let dir = root.join("target/fleet").join(shape.name());
        if !std::fs::read_to_string(dir.join("COMPLETE")).is_ok_and(|s| s == shape.name()) {
            generate::generate(&dir, shape);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        assert_eq!(files.len(), 1);
        files.pop().expect("one file")
    };
    println!("# one snapshot file");
    println!();
    println!("machine: {} cores, load average {}", std::thread::available_parallelism().map_or(0, |n| n.get()), load());
    println!();
    println!("| what | ttlog-view | peer |");
    println!("| --- | --- | --- |");
    let big = gen_one(8_750_000);
    let b = big.to_str().expect("UTF-8");
    let best = (0..5)
        .map(|_| measure(Command::new(view).args([b, "--stats", "--group-by", "target"]), false).0)
        .min_by_key(|m| m.wall)
        .expect("runs");
    println!("| `--stats --group-by target`, 8.75 M events (best of 5) | {} | |", best.cell());
    let small = gen_one(1_000_000);
    let s = small.to_str().expect("UTF-8");
    let ours = (0..5)
        .map(|_| measure(Command::new(view).args([s, "--group-by", "target"]), false).0)
        .min_by_key(|m| m.wall)
        .expect("runs");
    let ndjson = small.with_extension("ndjson");
    measure(Command::new(view).args([s, "--format", "ndjson", "-o", ndjson.to_str().expect("UTF-8")]), false);
    let jq_ok = Command::new("jq").arg("--version").output().is_ok_and(|o| o.status.success());
    let peer = if jq_ok {
        let (m, out) = measure(
            Command::new("jq").args(["-n", "-c", "reduce inputs as $e ({}; .[$e.target] += 1)"]).arg(&ndjson),
            true,
        );
        let counts: serde_json::Value = serde_json::from_str(&out).expect("jq output");
        let total: u64 = counts.as_object().map_or(0, |o| o.values().filter_map(|v| v.as_u64()).sum());
        assert_eq!(total, 1_000_000, "jq counted every event");
        format!("jq over the NDJSON: {} ({:.0}x)", m.cell(), m.wall.as_secs_f64() / ours.wall.as_secs_f64())
    } else {
        "jq not installed: skipped".into()
    };
    let _ = std::fs::remove_file(&ndjson);
    println!("| `--group-by target`, 1 M events (best of 5) | {} | {} |", ours.cell(), peer);
}

/// `(key, count, values…)` rows of CSV output, sorted.
fn csv_counts(csv: &str, header: bool) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = csv
        .lines()
        .skip(usize::from(header))
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|c| match c.parse::<f64>() {
                    Ok(x) => format!("{x:.6}"),
                    // DuckDB writes a null as NULL, ttlog-view as nothing.
                    Err(_) if c == "NULL" => String::new(),
                    Err(_) => c.to_owned(),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

fn same(a: &[Vec<String>], b: &[Vec<String>]) -> String {
    if a == b { "yes".into() } else { format!("NO: {a:?} vs {b:?}") }
}

/// Lines of a file, read in pieces (this process's memory is inherited by
/// the children it measures: it must stay small).
fn lines(path: &Path) -> u64 {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else { return 0 };
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    while let Ok(k) = f.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&c| c == b'\n').count() as u64;
    }
    n
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or("?".into(), |s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

fn usage(arg: &str) -> ! {
    eprintln!("fleet: bad argument {arg}");
    eprintln!(
        "usage: fleet [--processes N] [--events M] [--snapshots K] [--wave W] [--dir DIR] [--no-parquet] [--no-duckdb-copy] [--single] [--generate-only]"
    );
    std::process::exit(2)
}
