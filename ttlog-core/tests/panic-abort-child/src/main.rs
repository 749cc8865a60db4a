//! A service built with `panic = "abort"`: it installs TTLog with the
//! snapshot directory given as its only argument, logs from two threads and
//! panics in one of them while the other is still alive. The test that runs
//! it (`ttlog-core/tests/triggers.rs`) expects it to die by SIGABRT with the
//! snapshot of both threads and the panic on disk.

use std::sync::mpsc;
use ttlog_core::{Trace, info, warn};

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: ttlog-panic-abort-child SNAPSHOT_DIR");
        std::process::exit(2);
    };
    let _trace = Trace::builder()
        .service("abort-child")
        .storage_path(dir)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("install TTLog");
    info!("main started", pid = u64::from(std::process::id()));

    // A bystander that logs, then stays alive, blocked, through the panic.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (_never_tx, never_rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("bystander".into())
        .spawn(move || {
            for step in 0..5u64 {
                info!("bystander step", step);
            }
            ready_tx.send(()).expect("main is waiting");
            let _ = never_rx.recv();
        })
        .expect("spawn the bystander");
    ready_rx.recv().expect("the bystander logged");

    std::thread::Builder::new()
        .name("exploder".into())
        .spawn(|| {
            warn!("about to fail", code = 42u64);
            panic!("exploder gave up: code {}", 42);
        })
        .expect("spawn the exploder")
        .join()
        .ok();
    // Not reached: the panic aborts the process.
    eprintln!("still running after the panic: not built with panic = \"abort\"?");
    std::process::exit(3);
}
