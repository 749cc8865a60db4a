//! Damaged, truncated, hostile and foreign inputs: reported, intact chunks
//! used, never a panic; `--strict` makes damage an error.

use crate::{decode, td, testdata, view, view_ok};

#[test]
fn damaged_testdata_is_reported_and_its_intact_chunks_used() {
    for (file, intact) in [("truncated.bin", 300), ("corrupt-chunk.bin", 900)] {
        assert_eq!(decode(&td(file)).len(), intact);
        let out = view(&[&td(file), "--format", "ndjson"]);
        assert_eq!(out.status.code(), Some(0), "{file}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), intact, "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{file}: byte ")), "{file}: names the file and offset: {err}");
        assert!(err.contains("warning"), "{err}");
        // --strict: an error, nothing printed.
        let out = view(&[&td(file), "--strict"]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("strict"));
    }
    // The damaged samples' directory: exit 0 with the damage on stderr.
    let out = view(&[&testdata().join("damaged").display().to_string(), "--stats"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt-chunk.bin") && err.contains("truncated.bin"), "{err}");
    // The clean samples' directory: no warning at all.
    let out = view(&[&testdata().display().to_string(), "--stats"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    view_ok(&[&td("normal.bin"), "--strict", "--stats"], 0);
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn hostile_and_foreign_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    let chunked = std::fs::read(td("chunked.bin")).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty.bin".into(), Vec::new()),
        ("text.bin".into(), b"just some text, not a snapshot\n".to_vec()),
        ("magic-only.bin".into(), b"TTLOGSNP".to_vec()),
        ("huge-header.bin".into(), {
            let mut b = normal[..20].to_vec();
            b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
            b
        }),
        ("legacy-bomb.bin".into(), {
            // A legacy-looking size prefix claiming 4 GiB.
            let mut b = u32::MAX.to_le_bytes().to_vec();
            b.extend_from_slice(&[0xff; 64]);
            b
        }),
        ("version-9.bin".into(), {
            let mut b = normal.clone();
            b[8] = 9;
            b
        }),
    ];
    // Every truncation and a sweep of byte flips of a real file.
    for cut in (0..chunked.len()).step_by(97) {
        cases.push((format!("cut-{cut}.bin"), chunked[..cut].to_vec()));
    }
    for at in (0..chunked.len()).step_by(61) {
        let mut b = chunked.clone();
        b[at] ^= 0x5a;
        cases.push((format!("flip-{at}.bin"), b));
    }
    for (name, bytes) in &cases {
        let p = write(d, name, bytes);
        let out = view(&[&p, "--format", "ndjson"]);
        let code = out.status.code();
        assert!(matches!(code, Some(0..=2)), "{name}: exit {code:?} (a signal or panic?)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{name}: {err}");
        if code == Some(2) {
            assert!(err.contains(name.as_str()), "{name}: the error names the file: {err}");
        }
        // Whatever was printed is valid JSON.
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}"));
        }
    }
    // A foreign file beside a good one: reported, the good one used.
    let bad = write(d, "zzz.bin", b"not a snapshot");
    let out = view(&[&td("normal.bin"), &bad, "--format", "ndjson"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 43);
    assert!(String::from_utf8_lossy(&out.stderr).contains("zzz.bin"));
    let out = view(&[&td("normal.bin"), &bad, "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    // Only foreign files: an error naming each.
    let out = view(&[&bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no snapshot could be read"));
}
