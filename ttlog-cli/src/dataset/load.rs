//! Loading: [`Engine`] opens the [`Input`]s (their [`Catalog`] of chunk
//! statistics and of the copies to keep) and decodes the chunks with events
//! to keep, in parallel, into a [`Dataset`].

use super::frame::{self, assemble};
use super::{Chunk, Dataset, Inner};
use crate::catalog::{Catalog, ChunkKeep, OpenOptions};
use crate::tables::Tables;
use polars::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use ttlog_core::snapshot::SnapshotError;

/// Where to read snapshots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A snapshot file.
    File(PathBuf),
    /// Standard input (one snapshot).
    Stdin,
}

impl Input {
    /// Expands command-line inputs: a file, a directory (its `*.bin` files,
    /// sorted by name), a glob pattern (`/var/tmp/ttlog/*-panic.bin`), or `-`
    /// for standard input.
    ///
    /// ```
    /// use ttlog_cli::Input;
    /// assert_eq!(Input::expand(&["-".to_string()]).unwrap(), vec![Input::Stdin]);
    /// assert!(Input::expand(&["/no/such/file.bin".to_string()]).is_err());
    /// ```
    ///
    /// # Errors
    /// A path that does not exist, a bad pattern, a pattern or directory
    /// that names no snapshot.
    pub fn expand(args: &[String]) -> Result<Vec<Input>, LoadError> {
        let mut out = Vec::new();
        for a in args {
            if a == "-" {
                out.push(Input::Stdin);
                continue;
            }
            let p = Path::new(a);
            if p.is_dir() {
                let rd = std::fs::read_dir(p).map_err(|e| LoadError::Input(format!("{a}: {e}")))?;
                let mut bins: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "bin"))
                    .collect();
                bins.sort();
                if bins.is_empty() {
                    return Err(LoadError::Input(format!("{a}: no *.bin snapshot files in this directory")));
                }
                out.extend(bins.into_iter().map(Input::File));
            } else if p.exists() {
                out.push(Input::File(p.to_path_buf()));
            } else if a.contains(['*', '?', '[']) {
                let paths = glob::glob(a).map_err(|e| LoadError::Input(format!("{a}: bad pattern: {e}")))?;
                let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
                found.sort();
                if found.is_empty() {
                    return Err(LoadError::Input(format!("{a}: no file matches this pattern")));
                }
                out.extend(found.into_iter().map(Input::File));
            } else {
                return Err(LoadError::Input(format!("{a}: no such file or directory")));
            }
        }
        Ok(out)
    }
}

/// The most problems listed one per line, in an error or among warnings;
/// the rest are counted on one more line (5,000 empty files give 11 lines,
/// not one line of 369 KB).
pub const LISTED_PROBLEMS: usize = 10;

/// The message of [`LoadError::NothingReadable`]: one problem on the line,
/// or each on a line of its own (escaped) up to [`LISTED_PROBLEMS`], then
/// how many more.
fn nothing_readable(errors: &[SnapshotError]) -> String {
    match errors {
        [] => "no snapshot could be read: no input".to_owned(),
        [e] => format!("no snapshot could be read: {}", ttlog_core::text::escape(&e.to_string())),
        _ => {
            let mut out = format!("none of the {} inputs could be read as a snapshot:", errors.len());
            for e in errors.iter().take(LISTED_PROBLEMS) {
                out.push_str("\n  ");
                out.push_str(&ttlog_core::text::escape(&e.to_string()));
            }
            if errors.len() > LISTED_PROBLEMS {
                out.push_str(&format!("\n  … and {} more", errors.len() - LISTED_PROBLEMS));
            }
            out
        }
    }
}

/// Why [`Engine::load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An input argument names nothing readable.
    #[error("{0}")]
    Input(String),
    /// No input could be opened as a snapshot; the reasons are listed, one
    /// line each up to [`LISTED_PROBLEMS`], then their count.
    #[error("{}", nothing_readable(.0))]
    NothingReadable(Vec<SnapshotError>),
    /// `strict` is set and an input is damaged.
    #[error("damaged input (strict mode): {0}")]
    Damaged(SnapshotError),
    /// More events than the frame's index type can address.
    #[error("{0} events: more than the 4 294 967 295 one frame holds")]
    TooMany(u64),
    /// Reading standard input failed.
    #[error("reading standard input: {0}")]
    Stdin(std::io::Error),
    /// The question would need more memory than the limit
    /// ([`crate::memory`]): what, for which inputs, and the figures.
    #[error("{inputs}: {what}: more than the memory limit of {}", ttlog_core::memory::size_text(*.limit))]
    MemoryLimit {
        /// The input, or the inputs (their number and the largest).
        inputs: String,
        /// What would need the memory, and about how much.
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// An error of the polars engine.
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

/// Loads snapshots into a [`Dataset`].
///
/// ```
/// use ttlog_cli::{Engine, Input};
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
/// let ds = Engine::new().load(&[Input::File(dir)]).unwrap();
/// assert_eq!(ds.len(), 43);
/// ```
#[derive(Default, Clone)]
pub struct Engine {
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    strict: bool,
    keep_duplicates: bool,
    /// The memory limit of its loads; `None`: the process-wide one.
    memory_limit: Option<u64>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("progress", &self.progress.is_some())
            .field("strict", &self.strict)
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

/// Events to decode of opened inputs (each copy once, unless duplicates are
/// kept): what a progress bar should count to.
pub fn events_in(catalog: &Catalog) -> u64 {
    catalog.events_kept()
}

impl Engine {
    /// An engine with no progress reporting that tolerates damage.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Calls `f(events)` from decoding threads each time a chunk of
    /// `events` events is decoded.
    pub fn on_progress(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Engine {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Makes any damage (an unreadable input, a bad chunk, a cut-off file) an
    /// error instead of a [`Dataset::problems`] entry.
    pub fn strict(mut self, strict: bool) -> Engine {
        self.strict = strict;
        self
    }

    /// Keeps every copy of every event that overlapping snapshots of one
    /// process hold (`--keep-duplicates`, for forensics), instead of each
    /// event once (see [`crate::catalog`]).
    pub fn keep_duplicates(mut self, keep: bool) -> Engine {
        self.keep_duplicates = keep;
        self
    }

    /// Refuses loads that would need more than `bytes` of memory (see
    /// [`crate::memory`]), instead of the process-wide limit of
    /// [`ttlog_core::memory::limit`].
    ///
    /// ```
    /// use ttlog_cli::{Engine, Input, LoadError};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/chunked.bin");
    /// let e = Engine::new().memory_limit(64 << 10).load(&[Input::File(p)]).unwrap_err();
    /// assert!(matches!(e, LoadError::MemoryLimit { .. }));
    /// assert!(e.to_string().contains("chunked.bin: loading 1000 events needs about 109.4 KiB"), "{e}");
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Engine {
        self.memory_limit = Some(bytes);
        self
    }

    /// The memory limit of this engine's loads.
    fn limit(&self) -> Option<u64> {
        self.memory_limit.or_else(ttlog_core::memory::limit)
    }

    /// Opens the inputs (in parallel) without decoding their chunks: the
    /// [`Catalog`] of their chunks' statistics and of the copies to keep.
    /// Inputs that cannot be opened are in [`Catalog::failed`].
    ///
    /// # Errors
    /// Reading standard input failed.
    pub fn open(&self, inputs: &[Input]) -> Result<Catalog, LoadError> {
        Catalog::open(inputs, OpenOptions { keep_duplicates: self.keep_duplicates }, &|_| ())
    }

    /// Opens and decodes the inputs into one time-ordered [`Dataset`].
    ///
    /// # Errors
    /// No input could be opened, or (strict) an input is damaged.
    pub fn load(&self, inputs: &[Input]) -> Result<Dataset, LoadError> {
        let catalog = self.open(inputs)?;
        self.load_opened(&catalog)
    }

    /// Decodes the inputs opened with [`Engine::open`] (so a caller can size
    /// a progress bar with [`events_in`] first).
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_opened(&self, catalog: &Catalog) -> Result<Dataset, LoadError> {
        self.load_chunks(catalog, &|_, _| true)
    }

    /// Decodes every chunk of every snapshot but the last, and of the last
    /// only its first chunks, up to the first that brings it to `events`
    /// events: the first part of a large input, to show while the whole of
    /// it loads (the TUI's first screen). The result is the dataset that a
    /// file cut after those chunks would give; its
    /// [`SourceInfo::events_loaded`](super::SourceInfo::events_loaded) counts
    /// the events decoded.
    ///
    /// ```
    /// use ttlog_cli::{Engine, Input};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/chunked.bin");
    /// let engine = Engine::new();
    /// let catalog = engine.open(&[Input::File(p)]).unwrap();
    /// let first = engine.load_prefix(&catalog, 1).unwrap();
    /// assert!(first.len() > 0 && first.len() < 1000);
    /// ```
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_prefix(&self, catalog: &Catalog, events: u64) -> Result<Dataset, LoadError> {
        let snaps = &catalog.snapshots;
        let last = snaps.len().saturating_sub(1);
        // The number of leading chunks of the last snapshot to decode.
        let mut sum = 0u64;
        let head = snaps.last().map_or(0, |s| {
            s.chunks()
                .iter()
                .take_while(|c| {
                    let more = sum < events;
                    sum += u64::from(c.events);
                    more
                })
                .count()
        });
        self.load_chunks(catalog, &|si, c| si < last || c < head)
    }

    /// Decodes the chunks `(snapshot, chunk)` for which `keep` holds, each
    /// event once (see [`Catalog::keep`]).
    fn load_chunks(
        &self,
        catalog: &Catalog,
        keep: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Dataset, LoadError> {
        let snaps = &catalog.snapshots;
        let failed = catalog.failed.clone();
        if snaps.is_empty() {
            return Err(LoadError::NothingReadable(failed));
        }
        if self.strict {
            if let Some(e) = failed.first() {
                return Err(LoadError::Damaged(e.clone()));
            }
            if let Some(e) = snaps.iter().flat_map(|s| s.problems()).next() {
                return Err(LoadError::Damaged(e.clone()));
            }
        }
        let mut problems = failed;
        let mut tables = Tables::of(catalog);
        for s in snaps {
            problems.extend(s.problems().iter().cloned());
        }
        // Chunks whose statistics could not be computed failed to decode.
        let mut duplicates = vec![0u64; snaps.len()];
        for (si, stats) in catalog.stats.iter().enumerate() {
            for (c, st) in stats.iter().enumerate() {
                match (st, &catalog.keep[si][c]) {
                    (Err(e), _) if keep(si, c) => {
                        if self.strict {
                            return Err(LoadError::Damaged(e.clone()));
                        }
                        problems.push(e.clone());
                    }
                    (Ok(st), ChunkKeep::None) if keep(si, c) => duplicates[si] += u64::from(st.events),
                    _ => {}
                }
            }
        }
        // Decode every chunk with events to keep, in parallel.
        let jobs: Vec<(usize, usize)> = snaps
            .iter()
            .enumerate()
            .flat_map(|(si, s)| (0..s.chunks().len()).map(move |c| (si, c)))
            .filter(|&(si, c)| keep(si, c) && catalog.stats[si][c].is_ok() && catalog.keep[si][c] != ChunkKeep::None)
            .collect();
        let lengths: Vec<usize> = jobs.iter().map(|&(si, c)| snaps[si].chunks()[c].events as usize).collect();
        let total: usize = lengths.iter().sum();
        if total as u64 > u64::from(IdxSize::MAX) {
            return Err(LoadError::TooMany(total as u64));
        }
        // Before anything is decoded: the events of every chunk to load,
        // and their field values (at most their decompressed bytes).
        let raw: u64 = jobs.iter().map(|&(si, c)| u64::from(snaps[si].chunks()[c].raw_len)).sum();
        let need = (total as u64).saturating_mul(crate::memory::LOAD_BYTES_PER_EVENT).saturating_add(raw);
        if let Err(over) = ttlog_core::memory::check_against(need, self.limit()) {
            let mut events = vec![0u64; snaps.len()];
            for (&(si, _), &n) in jobs.iter().zip(&lengths) {
                events[si] += n as u64;
            }
            let inputs = crate::memory::inputs_name(
                snaps.iter().zip(&events).filter(|&(_, &n)| n > 0).map(|(s, &n)| (s.name(), n)),
            );
            let what = format!("loading {total} events needs about {}", ttlog_core::memory::size_text(need));
            return Err(LoadError::MemoryLimit { inputs, what, limit: over.limit });
        }
        let (filled, decoded) = frame::decode_into(
            &lengths,
            &tables.sources,
            |j| jobs[j].0,
            |j| {
                let (si, c) = jobs[j];
                let r = snaps[si].decode_chunk(c).map(|mut cols| {
                    let dropped = catalog.keep[si][c].retain(&mut cols);
                    (cols, dropped)
                });
                if let Some(p) = &self.progress {
                    p(lengths[j] as u64);
                }
                r
            },
        );

        // Number the events in input order (chunk by chunk), which is where
        // their field values are: `ev` is that number.
        let mut pending = Vec::with_capacity(decoded.len());
        let mut base = 0u64;
        let mut loaded = vec![0u64; tables.sources.len()];
        let mut damaged = vec![0u64; tables.sources.len()];
        for ((&(si, _), r), &n) in jobs.iter().zip(decoded).zip(&lengths) {
            match r {
                Ok((cols, dropped)) => {
                    let n = cols.len() as u64;
                    loaded[si] += n;
                    duplicates[si] += dropped;
                    pending.push((si, base, cols));
                    base += n;
                }
                Err(e) => {
                    if self.strict {
                        return Err(LoadError::Damaged(e));
                    }
                    damaged[si] += n as u64;
                    problems.push(e);
                }
            }
        }
        for (i, s) in tables.sources.iter_mut().enumerate() {
            if let Some(s) = Arc::get_mut(s) {
                s.events_loaded = loaded[i];
                s.duplicates = duplicates[i];
                s.damaged += damaged[i];
            }
        }
        let (frame, ev_in_order) = assemble(filled)?;
        let chunks: Vec<Chunk> =
            pending.into_iter().map(|(si, base, cols)| Chunk { base, source: si as u32, cols }).collect();
        Ok(Dataset {
            inner: Arc::new(
                Inner {
                    tables,
                    chunks,
                    chunk_bases: Vec::new(),
                    frame,
                    ev_in_order,
                    problems,
                    field_cache: Mutex::new(Vec::new()),
                }
                .with_bases(),
            ),
        })
    }
}
