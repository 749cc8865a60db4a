//! Events and rows with fixed contents, for tests.

use crate::source::Row;
use std::sync::Arc;
use ttlog_core::{Event, Level, Value};

/// An event at `ts` with a call site made from `target` and `message`.
pub(crate) fn event(ts: i64, level: Level, target: &str, message: &str, fields: Vec<(&str, Value)>) -> Event {
    Event {
        timestamp_ns: ts,
        level,
        target: target.into(),
        message: message.into(),
        file: format!("src/{target}.rs").into(),
        line: 10 + message.len() as u32,
        module_path: format!("svc::{target}").into(),
        thread_id: 1,
        thread_name: Some("main".into()),
        seq: 0,
        callsite: 1,
        fields: fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
    }
}

/// A row like [`event`] makes, target `app`.
pub(crate) fn row(ts: i64, level: Level, message: &str, fields: Vec<(&str, Value)>) -> Row {
    Row {
        id: ts as u64,
        timestamp_ns: ts,
        level,
        thread: "main".into(),
        thread_id: 1,
        target: "app".into(),
        message: message.into(),
        module_path: "svc::app".into(),
        file: "src/app.rs".into(),
        line: 42,
        input: 0,
        fields: fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
    }
}
