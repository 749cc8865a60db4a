//! `fleet`: ttlog-view over a fleet's directory of overlapping periodic
//! snapshots, side by side with DuckDB's command-line shell on the Parquet
//! export of the same events. See `ttlog-bench/README.md`.

mod generate;

fn main() {
    if generate::child_from_env() {
        return;
    }
    let mut shape = generate::Shape { processes: 20, events: 2_500_000, snapshots: 4, wave: 20 };
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || args.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage(&a));
        match a.as_str() {
            "--processes" => shape.processes = num() as usize,
            "--events" => shape.events = num(),
            "--snapshots" => shape.snapshots = num(),
            "--wave" => shape.wave = num() as usize,
            "--dir" => dir = Some(std::path::PathBuf::from(args.next().unwrap_or_else(|| usage(&a)))),
            _ => usage(&a),
        }
    }
    let dir = dir
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fleet").join(shape.name()));
    let files = generate::generate(&dir, shape);
    println!("{} files in {}", files.len(), dir.display());
}

fn usage(arg: &str) -> ! {
    eprintln!("fleet: bad argument {arg}");
    eprintln!("usage: fleet [--processes N] [--events M] [--snapshots K] [--wave W] [--dir DIR]");
    std::process::exit(2)
}
