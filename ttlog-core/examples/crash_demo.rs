//! A worker thread panics: TTLog's panic hook (run after the default one,
//! whose message you still see) writes a snapshot holding the last events of
//! every thread, including the panicking one's, and the panic's message,
//! location and thread in the header.
//!
//! ```sh
//! cargo run -p ttlog-core --example crash_demo
//! ```

use std::time::Duration;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Trace, error, info, warn};

fn main() {
    let dir = std::env::temp_dir().join("ttlog-examples");
    let trace = Trace::builder().service("crash-demo").storage_path(&dir).install().expect("install the recorder");

    let bystander = std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(|| {
            for beat in 0..20u64 {
                info!("heartbeat", beat);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .unwrap();

    let worker = std::thread::Builder::new()
        .name("ledger".into())
        .spawn(|| {
            let mut balance: i64 = 100;
            for (i, amount) in [30i64, 50, 40].into_iter().enumerate() {
                balance -= amount;
                info!("debit applied", step = i as u64, amount, balance);
                if balance < 0 {
                    error!("balance went negative", balance);
                    panic!("invariant broken: balance {balance} < 0");
                }
            }
        })
        .unwrap();

    let outcome = worker.join();
    bystander.join().unwrap();
    warn!("ledger worker ended", panicked = outcome.is_err());

    // The panic hook wrote the snapshot before the worker finished unwinding.
    let newest = std::fs::read_dir(&dir)
        .expect("snapshot directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ttlog-crash-demo-") && n.ends_with("-panic.bin"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    match newest {
        Some(path) => {
            let snap = Snapshot::open(&path).expect("open the snapshot");
            let panic = snap.header().panic.clone().expect("panic details");
            println!("snapshot: {}", path.display());
            println!(
                "  panic: {} at {} in thread {:?}",
                panic.message,
                panic.location.unwrap_or_default(),
                panic.thread
            );
            println!("  {} events; the ledger's last ones:", snap.header().counters.in_snapshot);
            for e in snap.events().filter_map(Result::ok).filter(|e| e.thread_name.as_deref() == Some("ledger")) {
                println!("    {} {} {:?}", e.level, e.message, e.fields);
            }
        }
        None => println!("no panic snapshot found in {}", dir.display()),
    }
    trace.shutdown();
}
