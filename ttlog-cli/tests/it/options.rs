//! Inputs, time bounds, limit/tail/reverse, text output, colour, help,
//! exit codes and the closed pipe.

use crate::{decode, decode_merged, fixtures, td, testdata, testdata_files, view, view_ok};
use std::io::Read;
use std::process::{Command, Stdio};

fn ts_of(ndjson: &str) -> Vec<String> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["timestamp"].as_str().unwrap().to_owned())
        .collect()
}

fn rfc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[test]
fn inputs_directory_glob_stdin_and_merge() {
    let all = decode_merged(&testdata_files());
    let out = view_ok(&[&testdata().display().to_string(), "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), all.len());
    assert_eq!(ts_of(&out), all.iter().map(|e| rfc(e.event.timestamp_ns)).collect::<Vec<_>>());
    // A glob pattern, expanded by ttlog-view itself.
    let pattern = format!("{}/*/c*.bin", testdata().display());
    let out = view_ok(&[&pattern, "--format", "ndjson"], 0);
    let expected = decode_merged(&[td("corrupt-chunk.bin")]);
    assert_eq!(out.lines().count(), expected.len());
    // Standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttlog-view"))
        .args(["-", "--format", "ndjson"])
        .stdin(std::fs::File::open(td("normal.bin")).unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(s.lines().count(), 43);
    let first: serde_json::Value = serde_json::from_str(s.lines().next().unwrap()).unwrap();
    assert_eq!(first["service"], "testdata");
    // Missing inputs are errors.
    let out = view(&["/no/such.bin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such.bin: no such file"));
}

#[test]
fn since_until_limit_tail_reverse() {
    let f = td("chunked.bin");
    let ev = decode(&f);
    let ts: Vec<i64> = ev.iter().map(|e| e.event.timestamp_ns).collect();
    let last = *ts.last().unwrap();
    let mid = ts[500];
    let out = view_ok(&[&f, "--since", &rfc(mid), "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), ts.iter().filter(|&&t| t >= mid).count());
    let out = view_ok(&[&f, "--until", &rfc(mid), "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), ts.iter().filter(|&&t| t <= mid).count());
    // Relative to the last event: -Nus with N the distance to event 900.
    let back_us = (last - ts[900]) / 1000 + 1;
    let out = view_ok(&[&f, "--since", &format!("-{back_us}us"), "--format", "ndjson"], 0);
    let cut = last - back_us * 1000;
    assert_eq!(out.lines().count(), ts.iter().filter(|&&t| t >= cut).count());
    let out = view_ok(&[&f, "--since=-0s", "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), ts.iter().filter(|&&t| t == last).count());
    // An empty window: exit 1.
    let out = view_ok(&[&f, "--since", &rfc(last + 1), "--format", "ndjson"], 1);
    assert!(out.is_empty());
    // limit, tail, reverse.
    let n_of = |s: &str| -> Vec<u64> {
        s.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"]["n"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(n_of(&view_ok(&[&f, "--limit", "3", "--format", "ndjson"], 0)), vec![0, 1, 2]);
    assert_eq!(n_of(&view_ok(&[&f, "--tail", "2", "--format", "ndjson"], 0)), vec![998, 999]);
    assert_eq!(n_of(&view_ok(&[&f, "--tail", "2", "--reverse", "--format", "ndjson"], 0)), vec![999, 998]);
    assert_eq!(n_of(&view_ok(&[&f, "--reverse", "--limit", "1", "--format", "ndjson"], 0)), vec![0]);
    assert_eq!(n_of(&view_ok(&[&f, "--filter", "n>=10", "--limit", "2", "--format", "ndjson"], 0)), vec![10, 11]);
    // Bad times are errors.
    let out = view(&[&f, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    let out = view(&[&f, "--limit", "1", "--tail", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn text_output_is_aligned_and_colour_follows_the_options() {
    let f = td("normal.bin");
    let ev = decode(&f);
    let out = view_ok(&[&f], 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), ev.len());
    assert!(!out.contains('\x1b'), "not a terminal: no colour");
    let first = &ev[0].event;
    assert!(lines[0].starts_with(&format!("{} INFO  orders ", rfc(first.timestamp_ns))), "{}", lines[0]);
    assert!(lines[0].contains(" order filled id=0 qty=0 price=150.25 symbol=AAPL ok=true  thread="), "{}", lines[0]);
    // Messages start in the same column on every line (targets padded).
    let col = |l: &str| l.find("order filled").or_else(|| l.find("cache"));
    let cols: Vec<usize> = lines.iter().filter_map(|l| col(l)).collect();
    assert!(cols.windows(2).all(|w| w[0] == w[1]), "{cols:?}");
    let colored = view_ok(&[&f, "--color", "always"], 0);
    assert!(colored.contains("\x1b[32mINFO"));
    let never = view_ok(&[&f, "--color", "never"], 0);
    assert_eq!(never, out);
}

#[test]
fn control_sequences_are_shown_escaped() {
    let f = fixtures().join("evil.bin").display().to_string();
    let out = view_ok(&[&f, "--color", "never"], 0);
    assert!(!out.contains('\x1b') && !out.contains('\x07') && !out.contains('\u{9b}') && !out.contains('\u{202e}'));
    assert!(out.contains("clear \\x1b[31mred\\x1b[0m \\u{9b}6n bell\\x07 bidi\\u{202e}"), "{out}");
    assert!(out.contains("title=\"\\x1b]0;pwned\\x07\""), "{out}");
    assert!(out.contains("line=\"a\\nb\""), "{out}");
    assert!(out.contains("term\\x1b[2J"), "{out}");
    let stats = view_ok(&[&f, "--stats"], 0);
    assert!(!stats.contains('\x1b') && !stats.contains('\x07'), "{stats}");
    // JSON keeps the text exactly, escaped as JSON.
    let json = view_ok(&[&f, "--format", "ndjson"], 0);
    assert!(!json.contains('\x1b') && !json.contains('\u{9b}'));
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["fields"]["title"], "\x1b]0;pwned\x07");
    assert_eq!(v["service"], "evil\x1b[5m");
}

#[test]
fn help_shows_every_option_with_an_example() {
    let help = view_ok(&["--help"], 0);
    for opt in [
        "--filter",
        "--since",
        "--until",
        "--limit",
        "--tail",
        "--reverse",
        "--format",
        "--output",
        "--color",
        "--stats",
        "--group-by",
        "--agg",
        "--partition-by",
        "--strict",
        "--interactive",
    ] {
        let at = help.find(opt).unwrap_or_else(|| panic!("{opt} missing from --help"));
        let rest = &help[at..];
        let next = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
        assert!(rest[..next].contains("Example"), "{opt} has no example:\n{}", &rest[..next]);
    }
    assert!(help.contains("Exit codes"));
    assert!(view_ok(&["--version"], 0).starts_with("ttlog-view "));
    let out = view(&["--no-such-option"]);
    assert_eq!(out.status.code(), Some(2));
    let out = view(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_completions_and_man_are_commands() {
    // `help` is clap's help, not a file named help.
    let help = view_ok(&["help"], 0);
    assert!(help.contains("Usage: ttlog-view [OPTIONS] <INPUT>..."), "{help}");
    assert!(help.contains("ttlog-view -i [OPTIONS] [INPUT]..."), "{help}");
    for command in ["recover", "completions", "man"] {
        assert!(help.contains(&format!("  {command} ")), "{command} missing from help:\n{help}");
    }
    let agg = &help[help.find("--agg").unwrap()..];
    assert!(agg[..agg.find("\n  -").unwrap()].contains("p999"), "{agg}");
    // Each subcommand's usage line names the program.
    assert!(view_ok(&["help", "recover"], 0).contains("Usage: ttlog-view recover [OPTIONS] <DIR>"));
    assert!(view_ok(&["recover", "--help"], 0).contains("Usage: ttlog-view recover [OPTIONS] <DIR>"));
    // Completion scripts know the options and the commands.
    let bash = view_ok(&["completions", "bash"], 0);
    assert!(bash.contains("complete -F") && bash.contains("--group-by") && bash.contains("recover"), "{bash}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(view_ok(&["completions", shell], 0).contains("--filter"), "{shell}");
    }
    let out = view(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'tcsh'"), "{out:?}");
    // The manual page is roff with every option.
    let man = view_ok(&["man"], 0);
    assert!(man.contains(".TH ttlog-view 1") && man.contains("\\-\\-group\\-by"), "{}", &man[..400.min(man.len())]);
    // A file that happens to be called like a command is reached by its path.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("help");
    std::fs::copy(td("normal.bin"), &file).unwrap();
    let stats = view_ok(&[file.to_str().unwrap(), "--stats"], 0);
    assert!(stats.contains("events"), "{stats}");
}

#[test]
fn interactive_needs_a_terminal_and_only_its_options() {
    // Here stdout is a pipe: the viewer says so instead of drawing into it.
    let out = view(&["-i", &td("normal.bin")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"), "{out:?}");
    assert!(out.stdout.is_empty());
    for args in [&["-i", "--since", "-5m"][..], &["-i", "--stats"], &["-i", "-o", "x.json"], &["-i", "-"]] {
        let out = view(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    // No INPUT is fine with -i (the default directory), not without.
    assert!(!String::from_utf8_lossy(&view(&["-i"]).stderr).contains("required"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // Far more output than a pipe buffer holds; the reader goes away early.
    let dir = testdata().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttlog-view"))
        .args([dir.as_str(), dir.as_str(), dir.as_str(), "--format", "ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 100];
    stdout.read_exact(&mut buf).unwrap();
    drop(stdout);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn output_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let out = view_ok(&[&td("normal.bin"), "--format", "ndjson", "-o", path.to_str().unwrap()], 0);
    assert!(out.is_empty(), "nothing on stdout but the result, which went to the file");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 43);
}
