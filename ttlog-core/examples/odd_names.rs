//! Writes snapshots whose names are hard on a Parquet dataset, for
//! `scripts/interop-check`: field names with spaces, dots, quotes,
//! non-ASCII text and names equal but for case; 1,000 distinct field keys
//! across call sites (log records with keys made at run time); and services
//! named `../x`, `a/b` and nothing, unsafe as path components.
//!
//! ```sh
//! cargo run -p ttlog-core --features log --example odd_names -- OUT_DIR
//! ```

use std::path::PathBuf;
use ttlog_core::snapshot::{SnapshotMeta, encode};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: odd_names OUT_DIR"));
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    let _trace = ttlog_core::Trace::builder()
        .service("odd-names")
        .level(ttlog_core::Level::Trace)
        .capacity_bytes(8 << 20)
        .storage_path(&out)
        .snapshot_on_signals(false)
        .snapshot_on_panic(false)
        .snapshot_interval(None)
        .install()
        .expect("install the recorder");
    ttlog_core::log_bridge::init().expect("install the log bridge");
    let log = |target: &str, key: &str, i: i64| {
        let kvs = [(key, i), ("latency_us", 100 + i % 900)];
        log::logger().log(
            &log::Record::builder()
                .level(log::Level::Info)
                .target(target)
                .args(format_args!("odd"))
                .key_values(&kvs)
                .build(),
        );
    };
    let odd = ["with space", "http.status", "with \"quotes\"", "naïve", "日本語", "Case", "case", "a-b", "1st", ""];
    for (i, k) in odd.iter().enumerate() {
        for j in 0..50 {
            log("odd", k, (i * 50 + j) as i64);
        }
    }
    for i in 0..1000 {
        log("wide", &format!("k{i}"), i);
    }
    // The same events as four processes of services unsafe as paths.
    let capture = ttlog_core::capture();
    for (n, service) in ["../x", "a/b", "", "plain"].into_iter().enumerate() {
        let mut meta = SnapshotMeta::new(service, "manual");
        meta.instance = Some(format!("{:032x}", 0x0dd_u128 + n as u128));
        meta.pid = 1000 + n as u32;
        std::fs::write(out.join(format!("odd-{n}.bin")), encode(&capture, &meta)).expect("write a snapshot");
    }
    println!("{}", out.display());
}
