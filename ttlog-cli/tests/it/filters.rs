//! `--filter`: every key and operator, counted against the reference
//! reader.

use crate::{Expected, decode, decode_merged, num, td, testdata_files, view, view_ok};
use ttlog_core::{Level, Value};

/// Lines of NDJSON output for `args` on `file` (exit code checked).
fn count(files: &[String], filter: &str) -> usize {
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--filter", filter, "--format", "ndjson"]);
    let expect_any = view(&args);
    let code = expect_any.status.code().unwrap();
    assert!(code == 0 || code == 1, "{filter}: {}", String::from_utf8_lossy(&expect_any.stderr));
    let out = String::from_utf8(expect_any.stdout).unwrap();
    let n = out.lines().count();
    assert_eq!(code == 1, n == 0, "{filter}: exit 1 exactly when nothing matched");
    n
}

fn check(files: &[String], filter: &str, keep: impl Fn(&Expected) -> bool) {
    let expected = decode_merged(files).iter().filter(|e| keep(e)).count();
    assert_eq!(count(files, filter), expected, "filter {filter}");
}

fn field<'a>(e: &'a Expected, name: &str) -> Option<&'a Value> {
    e.event.field(name)
}

#[test]
fn call_site_keys() {
    let normal = vec![td("normal.bin")];
    check(&normal, "level>=WARN", |e| e.event.level >= Level::Warn);
    check(&normal, "level=debug", |e| e.event.level == Level::Debug);
    check(&normal, "level<info", |e| e.event.level < Level::Info);
    check(&normal, "level!=INFO", |e| e.event.level != Level::Info);
    check(&normal, "target=orders", |e| &*e.event.target == "orders");
    check(&normal, "target!=orders", |e| &*e.event.target != "orders");
    check(&normal, "message~^order", |e| e.event.message.starts_with("order"));
    check(&normal, "msg!~ca", |e| !e.event.message.contains("ca"));
    check(&normal, "msg=\"limit near\"", |e| &*e.event.message == "limit near");
    check(&normal, "file~gen_testdata", |e| e.event.file.contains("gen_testdata"));
    let line = decode(&td("normal.bin"))[0].event.line;
    check(&normal, &format!("line={line}"), |e| e.event.line == line);
    check(&normal, &format!("line>{line}"), |e| e.event.line > line);
    check(&normal, "service=testdata", |_| true);
    check(&normal, "service=other", |_| false);
    let pid = decode(&td("normal.bin"))[0].pid;
    check(&normal, &format!("pid={pid}"), |_| true);
    let host = decode(&td("normal.bin"))[0].hostname.clone();
    check(&normal, &format!("host='{host}'"), |_| true);
    check(&normal, "hostname~.", |e| !e.hostname.is_empty());
    // Nothing but the result: no warnings of the engine on stderr.
    let out = view(&[&td("normal.bin"), "--filter", "target=orders or key~^k1", "--format", "ndjson"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn threads() {
    let f = vec![td("many-threads.bin")];
    check(&f, "thread=worker-3", |e| e.event.thread_name.as_deref() == Some("worker-3"));
    check(&f, "thread!=worker-3", |e| e.event.thread_name.as_deref() != Some("worker-3"));
    check(&f, "thread~^worker-1[0-5]$", |e| {
        e.event.thread_name.as_deref().is_some_and(|n| n.len() == 9 && n.starts_with("worker-1"))
    });
    let id = decode(&f[0])[0].event.thread_id;
    check(&f, &format!("thread={id}"), |e| e.event.thread_id == id);
}

#[test]
fn fields() {
    let normal = vec![td("normal.bin")];
    check(&normal, "qty>1000", |e| field(e, "qty").and_then(num).is_some_and(|q| q > 1000.0));
    check(&normal, "qty>=1000", |e| field(e, "qty").and_then(num).is_some_and(|q| q >= 1000.0));
    check(&normal, "id=7", |e| field(e, "id") == Some(&Value::U64(7)));
    check(&normal, "id!=7", |e| field(e, "id").is_some_and(|v| v != &Value::U64(7)));
    check(&normal, "price<155.5", |e| field(e, "price").and_then(num).is_some_and(|p| p < 155.5));
    check(&normal, "delta<0", |e| field(e, "delta").and_then(num).is_some_and(|d| d < 0.0));
    check(&normal, "used>0.9", |e| field(e, "used").and_then(num).is_some_and(|u| u > 0.9));
    check(&normal, "symbol=AAPL", |e| field(e, "symbol") == Some(&Value::Str("AAPL".into())));
    check(&normal, "key~^k1", |e| matches!(field(e, "key"), Some(Value::Str(s)) if s.starts_with("k1")));
    check(&normal, "key!~^k1", |e| matches!(field(e, "key"), Some(Value::Str(s)) if !s.starts_with("k1")));
    check(&normal, "ok=true", |e| field(e, "ok") == Some(&Value::Bool(true)));
    check(&normal, "hit=false", |e| field(e, "hit") == Some(&Value::Bool(false)));
    check(&normal, "dev=C", |e| field(e, "dev") == Some(&Value::Char('C')));
    check(&normal, "qty~00$", |e| matches!(field(e, "qty"), Some(Value::U64(q)) if q.to_string().ends_with("00")));
    // Legacy files: fields converted by the reader.
    let legacy = vec![td("legacy-0.1.21.bin")];
    check(&legacy, "user_id>=2", |e| field(e, "user_id").and_then(num).is_some_and(|u| u >= 2.0));
    check(&legacy, "region=eu-west", |e| field(e, "region") == Some(&Value::Str("eu-west".into())));
}

#[test]
fn combinations() {
    let normal = vec![td("normal.bin")];
    check(&normal, "level>=warn or target=orders and qty>=1500", |e| {
        e.event.level >= Level::Warn
            || (&*e.event.target == "orders" && field(e, "qty").and_then(num).is_some_and(|q| q >= 1500.0))
    });
    check(&normal, "(level>=warn or target=orders) and not ok=true", |e| {
        (e.event.level >= Level::Warn || &*e.event.target == "orders") && field(e, "ok") != Some(&Value::Bool(true))
    });
    check(&normal, "!(level=debug) && id<3", |e| {
        e.event.level != Level::Debug && field(e, "id").and_then(num).is_some_and(|i| i < 3.0)
    });
    // Repeated --filter: all must hold.
    let out = view_ok(&[&td("normal.bin"), "--filter", "target=orders", "--filter", "id<5", "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), 5);
    // Several inputs, every file of the directory.
    let all = testdata_files();
    check(&all, "service=legacy-svc", |e| e.service == "legacy-svc");
    check(&all, "level>=warn and not service=legacy-svc", |e| {
        e.event.level >= Level::Warn && e.service != "legacy-svc"
    });
}

#[test]
fn errors_point_at_the_column() {
    let out = view(&[&td("normal.bin"), "--filter", "level>=WARN and (qty>"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column 22"), "{err}");
    assert!(err.contains("  level>=WARN and (qty>\n                       ^"), "{err}");
    for (f, msg) in [
        ("nosuchfield=1", "no event has a field 'nosuchfield'"),
        ("qty>lots", "is not a number"),
        ("level=loud", "unknown level"),
        ("msg~(", "bad regular expression"),
        ("ok>true", "boolean"),
        ("line=x", "not a whole number"),
    ] {
        let out = view(&[&td("normal.bin"), "--filter", f]);
        assert_eq!(out.status.code(), Some(2), "{f}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{f}: {err}");
        assert!(err.contains("column "), "{f}: {err}");
        assert!(out.stdout.is_empty());
    }
}
