//! JSON, NDJSON, CSV and Parquet exports: they parse, and hold exactly the
//! events the reference reader decodes.

use crate::{Expected, decode, decode_merged, num, td, testdata_files, view_ok};
use polars::prelude::*;
use serde_json::Value as J;
use ttlog_core::Value;

const KEYS: [&str; 11] =
    ["timestamp", "level", "target", "message", "fields", "thread", "file", "line", "service", "hostname", "pid"];

/// The columns of a Parquet export: the event keys but `fields`, the exact
/// nanoseconds after the timestamp, then one typed column per field name.
const PARQUET_KEYS: [&str; 11] =
    ["timestamp", "timestamp_ns", "level", "target", "message", "thread", "file", "line", "service", "hostname", "pid"];

fn rfc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn thread_label(e: &Expected) -> String {
    e.event.thread_name.as_deref().map(str::to_owned).unwrap_or_else(|| format!("#{}", e.event.thread_id))
}

/// Whether a JSON value is this field value.
fn same_value(j: &J, v: &Value) -> bool {
    match v {
        Value::Bool(b) => j.as_bool() == Some(*b),
        Value::Char(c) => j.as_str() == Some(c.to_string().as_str()),
        Value::Str(s) => j.as_str() == Some(s.as_str()),
        Value::U64(x) => j.as_u64() == Some(*x),
        Value::I64(x) => j.as_i64() == Some(*x),
        Value::F32(x) => j.as_f64().map(|f| f as f32) == Some(*x),
        Value::F64(x) => j.as_f64() == Some(*x),
        // 128-bit integers are written exactly; serde_json reads them as f64.
        Value::U128(_) | Value::I128(_) => j.as_f64() == num(v),
    }
}

fn check_object(o: &J, e: &Expected) {
    let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = KEYS.to_vec();
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want, "exactly the documented keys");
    let ev = &e.event;
    assert_eq!(o["timestamp"], rfc(ev.timestamp_ns));
    assert_eq!(o["level"], ev.level.as_str());
    assert_eq!(o["target"], &*ev.target);
    assert_eq!(o["message"], &*ev.message);
    assert_eq!(o["thread"], thread_label(e));
    assert_eq!(o["file"], &*ev.file);
    assert_eq!(o["line"], ev.line);
    assert_eq!(o["service"], e.service.as_str());
    assert_eq!(o["hostname"], e.hostname.as_str());
    assert_eq!(o["pid"], e.pid);
    let fields = o["fields"].as_object().unwrap();
    assert_eq!(fields.len(), ev.fields.len(), "{o}");
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    let want: Vec<&str> = ev.fields.iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, want, "fields in recording order");
    for (n, v) in &ev.fields {
        assert!(same_value(&fields[&**n], v), "{n}: {} vs {v:?}", fields[&**n]);
    }
}

#[test]
fn json_and_ndjson_hold_every_event() {
    for file in ["normal.bin", "many-threads.bin", "panic.bin", "legacy-0.1.21.bin", "chunked.bin"] {
        let f = td(file);
        let expected = decode(&f);
        let arr: J = serde_json::from_str(&view_ok(&[&f, "--format", "json"], 0)).unwrap();
        let arr = arr.as_array().unwrap();
        assert_eq!(arr.len(), expected.len(), "{file}");
        for (o, e) in arr.iter().zip(&expected) {
            check_object(o, e);
        }
        let nd = view_ok(&[&f, "--format", "ndjson"], 0);
        let lines: Vec<J> = nd.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(&lines, arr, "{file}: ndjson has the same objects");
    }
    // Empty result: an empty array, exit 1.
    let out = view_ok(&[&td("normal.bin"), "--filter", "service=nope", "--format", "json"], 1);
    assert_eq!(serde_json::from_str::<J>(&out).unwrap(), serde_json::json!([]));
}

#[test]
fn csv_has_a_header_and_every_event() {
    let f = td("normal.bin");
    let expected = decode(&f);
    let out = view_ok(&[&f, "--format", "csv"], 0);
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), KEYS.join(","));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), expected.len());
    assert!(rows[0].starts_with(&format!("{},INFO,orders,order filled,", rfc(expected[0].event.timestamp_ns))));
    assert!(
        rows[0].contains(r#""{""id"":0,""qty"":0,""price"":150.25,""symbol"":""AAPL"",""ok"":true}""#),
        "{}",
        rows[0]
    );
}

fn read_parquet(path: &std::path::Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

#[test]
fn parquet_reads_back_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let f = td("normal.bin");
    let expected = decode(&f);
    let out = dir.path().join("normal.parquet");
    view_ok(&[&f, "--format", "parquet", "-o", out.to_str().unwrap()], 0);
    let df = read_parquet(&out);
    assert_eq!(df.height(), expected.len());
    // The footer names the schema version and the snapshots.
    let mut reader = ParquetReader::new(std::fs::File::open(&out).unwrap());
    let meta = reader.get_metadata().unwrap().clone();
    let kv: std::collections::HashMap<String, Option<String>> =
        meta.key_value_metadata().iter().flatten().map(|kv| (kv.key.clone(), kv.value.clone())).collect();
    assert_eq!(kv["ttlog.schema_version"].as_deref(), Some("1"));
    let sources: Vec<String> = serde_json::from_str(kv["ttlog.sources"].as_deref().unwrap()).unwrap();
    assert_eq!(sources, std::slice::from_ref(&f));
    let names: Vec<&str> = df.get_column_names().into_iter().map(|s| s.as_str()).collect();
    assert_eq!(names[..11], PARQUET_KEYS);
    let mut field_names: Vec<String> = expected
        .iter()
        .flat_map(|e| e.event.fields.iter().map(|(n, _)| format!("field_{n}")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    field_names.sort();
    assert_eq!(names[11..], field_names.iter().map(String::as_str).collect::<Vec<_>>());
    // Microseconds in UTC (what Spark reads), beside the exact nanoseconds.
    assert_eq!(
        df.column("timestamp").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    // Text columns are dictionary-encoded; they read back as text.
    let text = |name: &str| df.column(name).unwrap().cast(&DataType::String).unwrap().str().unwrap().clone();
    let us = df.column("timestamp").unwrap().cast(&DataType::Int64).unwrap();
    let us = us.i64().unwrap();
    let ts = df.column("timestamp_ns").unwrap().i64().unwrap().clone();
    let level = text("level");
    let message = text("message");
    // No unsigned types: every engine reads signed ones alike.
    let pid = df.column("pid").unwrap().i64().unwrap().clone();
    let line = df.column("line").unwrap().i64().unwrap().clone();
    let qty = df.column("field_qty").unwrap().i64().unwrap().clone();
    let price = df.column("field_price").unwrap().f64().unwrap().clone();
    let symbol = df.column("field_symbol").unwrap().str().unwrap().clone();
    for (i, e) in expected.iter().enumerate() {
        let ev = &e.event;
        assert_eq!(ts.get(i), Some(ev.timestamp_ns));
        assert_eq!(us.get(i), Some(ev.timestamp_ns.div_euclid(1000)));
        assert_eq!(line.get(i), Some(i64::from(ev.line)));
        assert_eq!(level.get(i), Some(ev.level.as_str()));
        assert_eq!(message.get(i), Some(&*ev.message));
        assert_eq!(pid.get(i), Some(i64::from(e.pid)));
        assert_eq!(
            qty.get(i),
            match ev.field("qty") {
                Some(Value::U64(q)) => Some(i64::try_from(*q).unwrap()),
                _ => None,
            }
        );
        assert_eq!(
            price.get(i),
            match ev.field("price") {
                Some(Value::F64(p)) => Some(*p),
                _ => None,
            }
        );
        assert_eq!(
            symbol.get(i),
            match ev.field("symbol") {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            }
        );
    }
}

#[test]
fn parquet_dataset_partitioned_by_service_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let files = testdata_files();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--format", "parquet", "--partition-by", "service,date", "-o", out.to_str().unwrap()]);
    view_ok(&args, 0);
    let expected = decode_merged(&files);
    let mut want: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for e in &expected {
        let date = rfc(e.event.timestamp_ns)[..10].to_owned();
        *want.entry((e.service.clone(), date)).or_default() += 1;
    }
    let mut got: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for s in std::fs::read_dir(&out).unwrap() {
        let s = s.unwrap().path();
        let service = s.file_name().unwrap().to_str().unwrap().strip_prefix("service=").unwrap().to_owned();
        for d in std::fs::read_dir(&s).unwrap() {
            let d = d.unwrap().path();
            let date = d.file_name().unwrap().to_str().unwrap().strip_prefix("date=").unwrap().to_owned();
            let df = read_parquet(&d.join("part-0.parquet"));
            assert!(df.column("service").is_err(), "partition columns live in the path");
            assert!(df.column("message").is_ok());
            got.insert((service.clone(), date), df.height());
        }
    }
    assert_eq!(got, want);
    // polars reads the directory as one Hive dataset.
    let lf = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&out.join("**/*.parquet")).unwrap(),
        ScanArgsParquet {
            // This test build of polars has no Date type: keep `date` as text.
            hive_options: HiveOptions { try_parse_dates: false, ..HiveOptions::new_enabled() },
            ..Default::default()
        },
    )
    .unwrap();
    let df = lf.collect().unwrap();
    assert_eq!(df.height(), expected.len());
    let services = df.column("service").unwrap().cast(&DataType::String).unwrap();
    let services = services.str().unwrap().clone();
    let n_legacy = services.iter().filter(|s| *s == Some("legacy-svc")).count();
    assert_eq!(n_legacy, expected.iter().filter(|e| e.service == "legacy-svc").count());
}
