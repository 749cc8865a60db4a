//! The death no hook sees: the process logs from two threads with
//! persistent rings, then `kill -9`s itself. Nothing runs at the end; the
//! events are still in the ring files, and `ttlog-view recover` turns them
//! into a snapshot.
//!
//! ```sh
//! cargo run -p ttlog-core --example kill9_demo      # killed by SIGKILL
//! cargo run -p ttlog-cli -- recover /tmp/ttlog-rings
//! cargo run -p ttlog-cli -- /tmp/ttlog-snapshot-of-rings.bin   # the path recover printed
//! ```

use ttlog_core::{Trace, info, warn};

fn main() {
    let dir = std::env::temp_dir().join("ttlog-rings");
    let _trace = Trace::builder().service("kill9-demo").persist_dir(&dir).install().expect("install the recorder");

    let matcher = std::thread::Builder::new()
        .name("matcher".into())
        .spawn(|| {
            for id in 0..5u64 {
                info!("order matched", id, qty = 100 * (id + 1), price = 99.5 + id as f64);
            }
        })
        .unwrap();
    matcher.join().unwrap();
    warn!("memory high", rss_mb = 3900u64, limit_mb = 4096u64);
    info!("about to be killed", pid = std::process::id());

    eprintln!("kill9_demo: rings in {}; sending SIGKILL to myself", dir.display());
    let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
    std::thread::sleep(std::time::Duration::from_secs(5));
    unreachable!("SIGKILL ends the process");
}
