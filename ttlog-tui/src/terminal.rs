//! Running the app in a real terminal: raw mode and the alternate screen
//! behind a guard, the panic hook, the input, tick, signal and watcher
//! threads, worker threads for [`Task`]s, and the one loop that receives
//! every [`Msg`].

use crate::app::{App, Msg, Task};
use crate::source::Source;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::collections::BTreeSet;
use std::io::{self, Stdout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// How often [`Msg::Tick`] arrives.
const TICK: Duration = Duration::from_millis(250);
/// How often watched directories are listed.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Snapshot files and directories. Directories are loaded (every
    /// `*.bin` in them) and watched for new snapshots. Empty: the default
    /// snapshot directory (`$TTLOG_DIR` or `temp_dir()/ttlog`).
    pub inputs: Vec<PathBuf>,
    /// The filter to start with, in the source's language.
    pub filter: String,
}

/// Runs the viewer on the terminal until the user quits.
///
/// The terminal is put back as it was on every way out: quitting, an
/// error, a panic (the panic hook restores it before the panic message is
/// printed), Ctrl-C (a key in raw mode) and SIGINT/SIGTERM/SIGHUP from
/// outside.
///
/// # Errors
/// When the terminal cannot be set up or drawn to, or an input given
/// explicitly does not exist.
pub fn run(source: Arc<dyn Source>, options: Options) -> io::Result<()> {
    let (files, dirs) = resolve_inputs(&options.inputs)?;
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_watch(&tx, &stop)?;

    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let size = terminal.size()?;
    let mut app = App::new(source, &options.filter, (size.width, size.height));
    if files.is_empty() && !dirs.is_empty() {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        app.say(format!("no snapshot in {} yet: watching it", names.join(", ")), crate::app::Tone::Info);
    }
    for f in &files {
        app.update(Msg::Input(f.clone()));
    }
    app.inputs_given();
    spawn_input_thread(&tx, &stop);
    if !dirs.is_empty() {
        spawn_watcher(&tx, &stop, dirs, files.iter().cloned().collect());
    }
    let result = event_loop(&mut terminal, &mut app, &tx, &rx);
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    result
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    tx: &Sender<Msg>,
    rx: &Receiver<Msg>,
) -> io::Result<()> {
    *UI_THREAD.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current().id());
    loop {
        spawn_tasks(app.take_tasks(), tx);
        {
            // A worker's panic restores the terminal between draws, never
            // in the middle of one (see the panic hook).
            let _drawing = DRAWING.lock().unwrap_or_else(|e| e.into_inner());
            if PANICKED.load(Ordering::Relaxed) {
                // The hook has restored the terminal and printed the panic;
                // a worker's result will never come. Do not draw again.
                return Err(io::Error::other("a thread of the viewer panicked (message above)"));
            }
            terminal.draw(|f| crate::ui::render(app, f))?;
        }
        if app.should_quit() {
            return Ok(());
        }
        // The one select point: input, ticks, results and announcements
        // all arrive on this channel.
        let first = match rx.recv_timeout(TICK) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => Msg::Tick,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        app.update(first);
        if PANICKED.load(Ordering::Relaxed) {
            continue; // ends at the top, under the drawing lock
        }
        // Handle whatever else is queued before drawing again, so a burst
        // of keys (or a held key) costs one redraw.
        while let Ok(m) = rx.try_recv() {
            app.update(m);
            if app.should_quit() {
                break;
            }
        }
    }
}

fn spawn_tasks(tasks: Vec<Task>, tx: &Sender<Msg>) {
    for task in tasks {
        let name = task.name;
        let worker_tx = tx.clone();
        let spawned = std::thread::Builder::new().name(format!("ttlog-tui-{name}")).spawn(move || {
            let _ = worker_tx.send(task.run());
        });
        if let Err(e) = spawned {
            // Out of threads: say so rather than hang waiting for a result.
            let _ = tx.send(Msg::Exported(Err(format!("cannot start a worker thread for {name}: {e}"))));
        }
    }
}

/// Files to load now and directories to watch.
fn resolve_inputs(inputs: &[PathBuf]) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    if inputs.is_empty() {
        let dir = ttlog_core::snapshot::default_dir();
        files.extend(list_snapshots(&dir));
        dirs.push(dir);
        return Ok((files, dirs));
    }
    for input in inputs {
        let meta =
            std::fs::metadata(input).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", input.display())))?;
        if meta.is_dir() {
            files.extend(list_snapshots(input));
            dirs.push(input.clone());
        } else {
            files.push(input.clone());
        }
    }
    Ok((files, dirs))
}

/// The snapshot files (`*.bin`) of a directory, oldest name first; none if
/// it cannot be read (it may not exist yet).
pub(crate) fn list_snapshots(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
}

/// Lists the directories every second and sends each new snapshot.
/// Snapshot files are written under a temporary name and linked into place
/// complete, so a `*.bin` that appears is whole. Polling rather than
/// inotify: portable, and a second of delay is fine for a viewer.
fn spawn_watcher(tx: &Sender<Msg>, stop: &Arc<AtomicBool>, dirs: Vec<PathBuf>, mut known: BTreeSet<PathBuf>) {
    let tx = tx.clone();
    let stop = Arc::clone(stop);
    let _ = std::thread::Builder::new().name("ttlog-tui-watch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(WATCH_EVERY);
            for dir in &dirs {
                for f in list_snapshots(dir) {
                    if known.insert(f.clone()) && tx.send(Msg::Input(f)).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Reads terminal events; polls so that it ends soon after `stop`.
fn spawn_input_thread(tx: &Sender<Msg>, stop: &Arc<AtomicBool>) {
    let tx = tx.clone();
    let stop = Arc::clone(stop);
    let _ = std::thread::Builder::new().name("ttlog-tui-input".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let msg = match event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Mouse(m)) => Msg::Mouse(m),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
}

/// SIGINT, SIGTERM and SIGHUP from outside end the viewer like `q`, so the
/// terminal is restored.
#[cfg(unix)]
fn spawn_signal_watch(tx: &Sender<Msg>, stop: &Arc<AtomicBool>) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    let tx = tx.clone();
    let stop = Arc::clone(stop);
    std::thread::Builder::new().name("ttlog-tui-signals".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if flag.load(Ordering::Relaxed) {
                let _ = tx.send(Msg::Quit);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })?;
    Ok(())
}

#[cfg(not(unix))]
fn spawn_signal_watch(_tx: &Sender<Msg>, _stop: &Arc<AtomicBool>) -> io::Result<()> {
    Ok(())
}

/// Raw mode, alternate screen and mouse capture while alive; restores the
/// terminal when dropped, and from the panic hook if a panic happens first.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        // From here on the guard undoes whatever part succeeded.
        let guard = TerminalGuard;
        ACTIVE.store(true, Ordering::Relaxed);
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, crossterm::cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Puts the terminal back, once (from the guard or the panic hook).
fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::Relaxed) {
        return;
    }
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = disable_raw_mode();
}

/// Set by the panic hook: a panic in any thread ends the viewer.
static PANICKED: AtomicBool = AtomicBool::new(false);
/// Whether the terminal is in the viewer's mode (between guard enter and
/// restore).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Held while drawing, so that a worker's panic restores the terminal
/// between two draws.
static DRAWING: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// The thread that draws.
static UI_THREAD: std::sync::Mutex<Option<std::thread::ThreadId>> = std::sync::Mutex::new(None);

fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Restore first, so that the message lands on a normal screen;
            // only while the viewer runs (the hook stays installed after).
            if ACTIVE.load(Ordering::Relaxed) {
                let ui = *UI_THREAD.lock().unwrap_or_else(|e| e.into_inner());
                if ui == Some(std::thread::current().id()) {
                    // The UI thread may be inside a draw: restore now.
                    PANICKED.store(true, Ordering::Relaxed);
                    restore_terminal();
                } else {
                    // A worker: wait for the draw under way, if any, and
                    // keep the UI thread from drawing until the message is
                    // printed; it ends the viewer once it sees PANICKED,
                    // which must not be before the message is out.
                    let _drawing = DRAWING.lock().unwrap_or_else(|e| e.into_inner());
                    restore_terminal();
                    previous(info);
                    PANICKED.store(true, Ordering::Relaxed);
                    return;
                }
            }
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_resolve_to_files_and_watched_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.bin", "a.bin", ".ttlog-x.bin.tmp", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.bin")).unwrap();
        assert_eq!(list_snapshots(dir.path()), vec![dir.path().join("a.bin"), dir.path().join("b.bin")]);
        assert!(list_snapshots(&dir.path().join("missing")).is_empty());

        let file = dir.path().join("notes.txt");
        let (files, dirs) = resolve_inputs(&[dir.path().to_owned(), file.clone()]).unwrap();
        assert_eq!(files, vec![dir.path().join("a.bin"), dir.path().join("b.bin"), file]);
        assert_eq!(dirs, vec![dir.path().to_owned()]);
        let err = resolve_inputs(&[dir.path().join("missing.bin")]).unwrap_err();
        assert!(err.to_string().contains("missing.bin"), "{err}");
    }
}
