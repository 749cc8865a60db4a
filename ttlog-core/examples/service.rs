//! A small multi-threaded service: an acceptor hands HTTP-like requests to a
//! pool of workers over a channel; each worker parses, routes, "queries the
//! database" and answers, logging as it goes. TTLog records everything into
//! per-thread rings, prints warnings and errors live, and writes a snapshot
//! at the end that `ttlog-view` opens.
//!
//! ```sh
//! cargo run -p ttlog-core --example service            # 2 s of traffic
//! cargo run -p ttlog-core --example service -- 10      # 10 s
//! TTLOG=debug,service::db=trace cargo run -p ttlog-core --example service
//! ```
//!
//! No network: requests are generated in memory.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ttlog_core::{Level, StdoutListener, Trace, debug, error, info, trace, warn};

const WORKERS: usize = 4;
const ROUTES: [&str; 5] = ["/orders", "/orders/42", "/quotes?sym=AAPL", "/health", "/admin"];

struct Request {
    id: u64,
    line: String,
    received: Instant,
}

mod db {
    use super::*;

    /// A fake query: sleeps a little, fails now and then.
    pub(crate) fn query(sql: &str, request_id: u64) -> Result<u64, &'static str> {
        let cost_us = 50 + (request_id * 7919) % 400;
        trace!("query start", sql, request_id);
        std::thread::sleep(Duration::from_micros(cost_us));
        if request_id.is_multiple_of(97) {
            error!("query failed", sql, request_id, cost_us, reason = "deadlock detected");
            return Err("deadlock");
        }
        debug!("query done", request_id, cost_us, rows = cost_us / 10);
        Ok(cost_us / 10)
    }
}

fn handle(req: &Request) -> (u16, u64) {
    let mut parts = req.line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    debug!(target: "service::http", "parsed", id = req.id, method, path);
    match path {
        "/health" => (200, 0),
        "/admin" => {
            info!(target: "service::http", "forbidden", id = req.id, path);
            (403, 0)
        }
        p if p.starts_with("/quotes") => (200, 1),
        p => match db::query(if method == "POST" { "INSERT INTO orders" } else { "SELECT * FROM orders" }, req.id) {
            Ok(rows) => {
                let _ = p;
                (if method == "POST" { 201 } else { 200 }, rows)
            }
            Err(_) => (500, 0),
        },
    }
}

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let dir = std::env::temp_dir().join("ttlog-examples");
    let trace = Trace::builder()
        .service("service")
        .level(Level::Debug)
        .storage_path(&dir)
        .listener(StdoutListener::new().min_level(Level::Warn))
        .self_report(Some(Duration::from_secs(1)))
        .snapshot_on_shutdown(true)
        .install()
        .expect("install the recorder");
    info!("service starting", workers = WORKERS as u64, seconds = secs);

    let (tx, rx) = mpsc::sync_channel::<Request>(256);
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let mut served = 0u64;
                    loop {
                        let next = rx.lock().unwrap().recv();
                        let Ok(req) = next else { break };
                        let (status, rows) = handle(&req);
                        let latency_us = req.received.elapsed().as_micros() as u64;
                        info!(target: "service::http", "request served", id = req.id, status, rows, latency_us);
                        if latency_us > 20_000 {
                            warn!(target: "service::http", "slow request", id = req.id, latency_us);
                        }
                        served += 1;
                    }
                    info!("worker stopping", worker = w as u64, served);
                })
                .expect("spawn a worker")
        })
        .collect();

    let acceptor = std::thread::Builder::new()
        .name("acceptor".into())
        .spawn(move || {
            let end = Instant::now() + Duration::from_secs(secs);
            let mut id = 0u64;
            while Instant::now() < end {
                id += 1;
                let method = if id.is_multiple_of(5) { "POST" } else { "GET" };
                let line = format!("{method} {} HTTP/1.1", ROUTES[(id % ROUTES.len() as u64) as usize]);
                trace!(target: "service::accept", "accepted", id, peer = %format_args!("127.0.0.1:{}", 40000 + id % 1000));
                if tx.send(Request { id, line, received: Instant::now() }).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            info!(target: "service::accept", "acceptor done", requests = id);
        })
        .expect("spawn the acceptor");

    acceptor.join().expect("acceptor");
    for w in workers {
        w.join().expect("worker");
    }
    let m = trace.metrics();
    info!("service stopping", logged = m.logged, overwritten = m.overwritten);
    match trace.shutdown_with_snapshot() {
        Ok(Some(path)) => println!("snapshot: {}", path.display()),
        Ok(None) => println!("no snapshot written"),
        Err(e) => eprintln!("snapshot failed: {e}"),
    }
    let m = trace.metrics();
    println!(
        "logged {} events ({} in the rings, {} overwritten, {} dropped); listeners: {:?}",
        m.logged,
        m.in_ring,
        m.overwritten,
        m.dropped.total(),
        m.listeners
    );
}
