//! The state of the viewer and how messages change it.
//!
//! [`App::update`] is the only place state changes. It takes one [`Msg`]
//! (a key, a mouse event, a resize, a tick, or the result of background
//! work) and never blocks on slow work: loading, filtering, histograms,
//! stats, group-by, searches and exports become [`Task`]s that the runner
//! executes on worker threads (and tests execute inline), each coming back
//! as a `Msg`. Results of work made obsolete by newer work (a filter typed
//! further, a newer view) carry an old generation number and are dropped.
//! The only calls made on the UI thread are the fast ones:
//! [`Source::check`], [`View::rows`] of one screen and
//! [`View::position_of_time`].

use crate::source::{
    Direction, ExportFormat, FilterError, Groups, Histogram, InputInfo, LoadError, Needle, Progress, Query, Row,
    Source, Stats, Summary, ThreadLast, View, last_moments,
};
use crate::ui;

/// Moves the first line shown of a scrolled text, `at`, by `code` (j k, the
/// arrows, PgUp PgDn Space, g G Home End) within `0..=last`; `page` lines a
/// page. Whether `code` was a scrolling key.
fn scroll(at: &mut usize, code: KeyCode, page: usize, last: usize) -> bool {
    *at = match code {
        KeyCode::Char('j') | KeyCode::Down => (*at + 1).min(last),
        KeyCode::Char('k') | KeyCode::Up => at.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => (*at + page).min(last),
        KeyCode::PageUp => at.saturating_sub(page),
        KeyCode::Char('g') | KeyCode::Home => 0,
        KeyCode::Char('G') | KeyCode::End => last,
        _ => return false,
    };
    true
}

/// Events per thread on the last-moments screen (`L`).
pub(crate) const LAST_PER_THREAD: usize = 10;

/// Rows the last-moments screen reads back from the end at most: a thread
/// quiet before them is counted, not shown (a filter on it shows it).
pub(crate) const LAST_ROWS_MAX: usize = 2_000_000;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use regex::Regex;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use ttlog_core::Level;

/// Ticks a transient message stays on the status line (at 4 ticks/s).
const MESSAGE_TICKS: u32 = 20;
/// Groups asked of [`View::group_by`].
const GROUP_LIMIT: usize = 500;
/// Characters that h/l (←/→) scroll the message and fields by.
const HSCROLL_STEP: usize = 8;

/// Everything that changes the app: one enum, handled by [`App::update`].
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// Time passes (about 4 per second): spinners, message expiry.
    Tick,
    /// A snapshot file to load (given at start, or found in a watched
    /// directory).
    Input(PathBuf),
    /// A load of the inputs queued finished: one result per input.
    Loaded(Vec<Result<InputInfo, LoadError>>),
    /// A filter finished.
    Filtered {
        /// Which filter request.
        generation: u64,
        /// The new view, or why not.
        result: Result<Arc<dyn View>, FilterError>,
    },
    /// The timeline of a view.
    Histogram {
        /// Which view.
        generation: u64,
        /// The buckets.
        histogram: Histogram,
    },
    /// The stats of a view.
    Stats {
        /// Which view.
        generation: u64,
        /// The counts.
        stats: Stats,
    },
    /// The last moments of every thread of a view.
    Last {
        /// Which view.
        generation: u64,
        /// Each thread's last events.
        threads: Vec<ThreadLast>,
        /// Threads of the view that logged nothing in the rows read (the
        /// last 2 000 000 at most).
        missing: usize,
    },
    /// The groups of a view.
    Groups {
        /// Which view.
        generation: u64,
        /// The groups, or why not.
        result: Result<Groups, FilterError>,
    },
    /// A search finished.
    Found {
        /// Which view.
        generation: u64,
        /// What was searched.
        search: Search,
        /// The position found.
        result: Option<usize>,
    },
    /// Which hit of a search a found position is, and how many there are
    /// ([`View::hit_rank`]), counted after the jump.
    Ranked {
        /// Which view.
        generation: u64,
        /// What was searched.
        search: Search,
        /// The position found.
        position: usize,
        /// Its rank among the hits and their number; `None` when the view
        /// does not count them.
        rank: Option<(usize, usize)>,
    },
    /// An export finished: where, and how many events, or why not.
    Exported(Result<(PathBuf, u64), String>),
    /// Leave (a signal arrived).
    Quit,
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Key(k) => write!(f, "Key({k:?})"),
            Msg::Mouse(m) => write!(f, "Mouse({m:?})"),
            Msg::Resize(w, h) => write!(f, "Resize({w}, {h})"),
            Msg::Tick => write!(f, "Tick"),
            Msg::Input(p) => write!(f, "Input({p:?})"),
            Msg::Loaded(r) => {
                let paths: Vec<_> = r.iter().map(|r| r.as_ref().map_or_else(|e| &e.path, |i| &i.path)).collect();
                write!(f, "Loaded({paths:?})")
            }
            Msg::Filtered { generation, result } => {
                write!(f, "Filtered({generation}, {:?})", result.as_ref().map(|v| v.len()))
            }
            Msg::Histogram { generation, .. } => write!(f, "Histogram({generation})"),
            Msg::Stats { generation, .. } => write!(f, "Stats({generation})"),
            Msg::Last { generation, threads, missing } => {
                write!(f, "Last({generation}, {} threads, {missing} not found)", threads.len())
            }
            Msg::Groups { generation, .. } => write!(f, "Groups({generation})"),
            Msg::Found { generation, result, .. } => write!(f, "Found({generation}, {result:?})"),
            Msg::Ranked { generation, position, rank, .. } => {
                write!(f, "Ranked({generation}, {position}, {rank:?})")
            }
            Msg::Exported(r) => write!(f, "Exported({r:?})"),
            Msg::Quit => write!(f, "Quit"),
        }
    }
}

/// Slow work for a worker thread; its result comes back as a [`Msg`].
pub struct Task {
    /// What it does, for diagnostics.
    pub name: &'static str,
    job: Box<dyn FnOnce() -> Msg + Send>,
}

impl Task {
    fn new(name: &'static str, job: impl FnOnce() -> Msg + Send + 'static) -> Task {
        Task { name, job: Box::new(job) }
    }

    /// Does the work (blocking) and gives the message to feed back.
    pub fn run(self) -> Msg {
        (self.job)()
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({})", self.name)
    }
}

/// A search in progress or done: what, which way, and whether it already
/// wrapped around the end.
#[derive(Debug, Clone)]
pub struct Search {
    needle: Needle,
    direction: Direction,
    label: String,
    wrapped: bool,
    /// Where the first pass started: from the first event forward (or the
    /// last backward) it saw them all, and there is nothing to wrap to.
    from: usize,
}

/// Which full screen is shown ([`App::screen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    /// Header, timeline, table, detail, status.
    Main,
    /// The key list.
    Help,
    /// Counts of the current view.
    Stats,
    /// Group-by: choosing a key, then the groups.
    Groups,
    /// The last events of every thread.
    Last,
}

/// Which full screen is shown, with its state.
#[derive(Debug)]
pub(crate) enum Screen {
    /// Header, timeline, table, detail, status.
    Main,
    /// The key list.
    Help,
    /// Counts of the current view (`None` while computing).
    Stats(Option<Stats>),
    /// Group-by: choosing a key, then the groups.
    Groups(GroupScreen),
    /// The last events of every thread (`None` while reading them).
    Last(Option<Vec<ThreadLast>>),
}

#[derive(Debug)]
pub(crate) struct GroupScreen {
    pub(crate) keys: Vec<String>,
    pub(crate) key_index: usize,
    /// `Some` once a key was chosen: the groups (`None` while computing).
    pub(crate) groups: Option<Option<Groups>>,
    pub(crate) group_index: usize,
}

/// What a prompt line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromptKind {
    Search,
    Filter,
    Time,
    Export,
}

#[derive(Debug)]
pub(crate) struct Prompt {
    pub(crate) kind: PromptKind,
    pub(crate) text: String,
    /// Cursor position in chars.
    pub(crate) cursor: usize,
    pub(crate) error: Option<FilterError>,
    /// The filter or search before editing, restored by Esc.
    previous: String,
}

/// A load or filter under way, for the progress display.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    pub(crate) label: String,
    pub(crate) progress: Arc<Progress>,
}

/// How serious a status message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Info,
    Error,
}

/// The viewer's state: changed only by [`App::update`], drawn by
/// [`render`](crate::render). Slow work is queued as [`Task`]s
/// ([`App::take_tasks`]) whose results come back as [`Msg`]s; results of
/// superseded work are dropped.
pub struct App {
    source: Arc<dyn Source>,
    pub(crate) summary: Summary,
    pub(crate) view: Option<Arc<dyn View>>,
    /// Bumped for every new view; results for older views are dropped.
    view_generation: u64,
    /// Bumped for every filter request.
    filter_generation: u64,
    /// The filter of the view shown (or being computed, or due).
    pub(crate) query: Query,
    /// The tick at which a filter typed in the prompt is applied: typing
    /// waits for a pause rather than filtering ten million events per key.
    filter_due: Option<u64>,
    /// The expression last sent to [`Source::filter`].
    requested_expr: String,
    /// The expression of the view shown.
    view_expr: String,
    /// The time of the last selected event: where the table stays across
    /// filter changes, even through an empty view.
    anchor_ns: Option<i64>,
    pub(crate) filtering: Option<Activity>,
    pub(crate) loading: Option<Activity>,
    load_queue: VecDeque<PathBuf>,
    loaded_paths: BTreeSet<PathBuf>,
    /// Whether the inputs given at start are all loaded (later ones are
    /// announced).
    started: bool,
    pub(crate) selected: usize,
    pub(crate) offset: usize,
    /// The rows `offset..offset + page.len()`.
    pub(crate) page: Vec<Row>,
    pub(crate) size: (u16, u16),
    pub(crate) detail: bool,
    /// Characters of the message and fields scrolled out on the left.
    pub(crate) hscroll: usize,
    /// First line of the key list shown.
    pub(crate) help_scroll: usize,
    /// First line shown of the stats and last-moments screens.
    pub(crate) screen_scroll: usize,
    /// Threads of the view the last-moments screen did not reach.
    pub(crate) last_missing: usize,
    /// Lines of that screen's text and rows that show them, as last drawn
    /// (scrolling stops at its end).
    pub(crate) screen_lines: std::cell::Cell<(usize, usize)>,
    /// The next filtered view opens at its last event (`!`).
    end_after_filter: bool,
    pub(crate) histogram: Option<Histogram>,
    pub(crate) search: Option<Regex>,
    pub(crate) searching: Option<Activity>,
    pub(crate) marks: BTreeSet<u64>,
    pub(crate) screen: Screen,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) message: Option<(String, Tone, u32)>,
    pub(crate) ticks: u64,
    tasks: Vec<Task>,
    quit: bool,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("inputs", &self.summary.inputs.len())
            .field("shown", &self.view.as_ref().map(|v| v.len()))
            .field("query", &self.query)
            .field("selected", &self.selected)
            .field("screen", &self.screen)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A viewer of `source` showing the events that pass `filter`, in a
    /// terminal of `size` (columns, rows). Inputs are added with
    /// [`Msg::Input`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ttlog_tui::{App, Msg, Source};
    ///
    /// /// Events of `input` shown at first (ttlog-cli's tests drive the app
    /// /// on its engine like this).
    /// fn shown(source: Arc<dyn Source>, input: &str) -> usize {
    ///     let mut app = App::new(source, "", (100, 30));
    ///     app.update(Msg::Input(input.into()));
    ///     app.inputs_given();
    ///     app.run_tasks_inline();
    ///     app.shown()
    /// }
    /// ```
    pub fn new(source: Arc<dyn Source>, filter: &str, size: (u16, u16)) -> App {
        let summary = source.summary();
        let mut app = App {
            source,
            summary,
            view: None,
            view_generation: 0,
            filter_generation: 0,
            query: Query::new(filter),
            filter_due: None,
            requested_expr: String::new(),
            view_expr: String::new(),
            anchor_ns: None,
            filtering: None,
            loading: None,
            load_queue: VecDeque::new(),
            loaded_paths: BTreeSet::new(),
            started: false,
            selected: 0,
            offset: 0,
            page: Vec::new(),
            size,
            detail: false,
            hscroll: 0,
            help_scroll: 0,
            screen_scroll: 0,
            last_missing: 0,
            screen_lines: std::cell::Cell::new((0, 0)),
            end_after_filter: false,
            histogram: None,
            search: None,
            searching: None,
            marks: BTreeSet::new(),
            screen: Screen::Main,
            prompt: None,
            message: None,
            ticks: 0,
            tasks: Vec::new(),
            quit: false,
        };
        if let Err(e) = app.source.check(filter) {
            app.say(format!("filter: {e}"), Tone::Error);
        }
        app
    }

    /// Marks the inputs given at start as loaded once the queue is empty;
    /// inputs after that are announced. Call after the initial
    /// [`Msg::Input`]s.
    pub fn inputs_given(&mut self) {
        if self.load_queue.is_empty() && self.loading.is_none() {
            self.started = true;
            if self.view.is_none() {
                self.refilter();
            }
        }
    }

    /// Whether the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Events in the current view.
    pub fn shown(&self) -> usize {
        self.view.as_ref().map_or(0, |v| v.len())
    }

    /// Position of the selected event in the view.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The selected event, if any.
    pub fn selected_row(&self) -> Option<&Row> {
        self.page.get(self.selected.checked_sub(self.offset)?)
    }

    /// The filter expression of the current view.
    pub fn filter(&self) -> &str {
        &self.query.expr
    }

    /// Whether background work is under way (loading, filtering, search).
    pub fn busy(&self) -> bool {
        self.loading.is_some() || self.filtering.is_some() || self.searching.is_some()
    }

    /// The work queued by the last updates, to run on worker threads.
    pub fn take_tasks(&mut self) -> Vec<Task> {
        std::mem::take(&mut self.tasks)
    }

    /// Runs queued tasks on this thread, feeding each result back, until
    /// none is left. For tests and for driving the app without threads.
    pub fn run_tasks_inline(&mut self) {
        while !self.tasks.is_empty() {
            for task in self.take_tasks() {
                let msg = task.run();
                self.update(msg);
            }
        }
    }

    /// The current status message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(m, _, _)| m.as_str())
    }

    /// Which screen is shown.
    pub fn screen(&self) -> ScreenKind {
        match self.screen {
            Screen::Main => ScreenKind::Main,
            Screen::Help => ScreenKind::Help,
            Screen::Stats(_) => ScreenKind::Stats,
            Screen::Groups(_) => ScreenKind::Groups,
            Screen::Last(_) => ScreenKind::Last,
        }
    }

    /// Whether the detail pane of the selected event is open.
    pub fn detail_open(&self) -> bool {
        self.detail
    }

    /// Whether a prompt (filter, search, time, export) is open.
    pub fn prompt_open(&self) -> bool {
        self.prompt.is_some()
    }

    /// The error the open prompt shows, if any.
    pub fn prompt_error(&self) -> Option<&FilterError> {
        self.prompt.as_ref()?.error.as_ref()
    }

    /// Whether a search pattern highlights matches.
    pub fn highlighting(&self) -> bool {
        self.search.is_some()
    }

    /// Position in the view of the first row on screen.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The rows on screen: the only rows fetched from the view.
    pub fn page(&self) -> &[Row] {
        &self.page
    }

    /// Rows the table shows at the current size.
    pub fn rows_on_screen(&self) -> usize {
        self.page_height()
    }

    /// Number of marked events.
    pub fn marks(&self) -> usize {
        self.marks.len()
    }

    /// The timeline's histogram, once computed.
    pub fn histogram(&self) -> Option<&Histogram> {
        self.histogram.as_ref()
    }

    /// Terminal size (columns, rows) the app lays out for.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// Changes the state for one message.
    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Msg::Key(_) => {}
            Msg::Mouse(m) => self.mouse(m),
            Msg::Resize(w, h) => {
                let old_width = ui::timeline_width(self.size);
                self.size = (w, h);
                self.scroll_to(self.selected);
                if ui::timeline_width(self.size) != old_width {
                    self.request_histogram();
                }
            }
            Msg::Tick => {
                self.ticks += 1;
                if self.loading.is_some() && self.filtering.is_none() {
                    // Part of a large input may be shown while it loads.
                    let summary = self.source.summary();
                    if summary.total_events() != self.summary.total_events() {
                        self.summary = summary;
                        self.refilter();
                    }
                }
                if self.filter_due.is_some_and(|due| self.ticks >= due) {
                    self.refilter();
                }
                if let Some((_, _, left)) = &mut self.message {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        self.message = None;
                    }
                }
            }
            Msg::Input(path) => {
                if self.loaded_paths.insert(path.clone()) {
                    self.load_queue.push_back(path);
                    self.load_next();
                }
            }
            Msg::Loaded(result) => self.loaded(result),
            Msg::Filtered { generation, result } => self.filtered(generation, result),
            Msg::Histogram { generation, histogram } if generation == self.view_generation => {
                self.histogram = Some(histogram);
            }
            Msg::Stats { generation, stats } if generation == self.view_generation => {
                if let Screen::Stats(s) = &mut self.screen {
                    *s = Some(stats);
                }
            }
            Msg::Last { generation, threads, missing } if generation == self.view_generation => {
                if let Screen::Last(t) = &mut self.screen {
                    *t = Some(threads);
                    self.last_missing = missing;
                }
            }
            Msg::Groups { generation, result } if generation == self.view_generation => {
                if let Screen::Groups(g) = &mut self.screen {
                    match result {
                        Ok(groups) => {
                            g.groups = Some(Some(groups));
                            g.group_index = 0;
                        }
                        Err(e) => {
                            g.groups = None;
                            self.say(e.message, Tone::Error);
                        }
                    }
                }
            }
            Msg::Found { generation, search, result } if generation == self.view_generation => {
                self.found(search, result);
            }
            Msg::Ranked { generation, search, position, rank: Some(rank) } if generation == self.view_generation => {
                // Still on that hit, and no other search since.
                if self.selected == position && self.searching.is_none() {
                    let count = format!(
                        "hit {} of {}",
                        crate::text::count_text(rank.0 as u64 + 1),
                        crate::text::count_text(rank.1 as u64)
                    );
                    let text = match self.message.as_ref().map(|m| m.0.clone()) {
                        Some(m) if search.wrapped && m.starts_with(&search.label) => format!("{m} ({count})"),
                        _ => format!("{}: {count}", search.label),
                    };
                    self.say(text, Tone::Info);
                }
            }
            Msg::Histogram { .. }
            | Msg::Stats { .. }
            | Msg::Last { .. }
            | Msg::Groups { .. }
            | Msg::Found { .. }
            | Msg::Ranked { .. } => {}
            Msg::Exported(Ok((path, n))) => {
                self.say(format!("exported {n} events to {}", path.display()), Tone::Info);
            }
            Msg::Exported(Err(e)) => self.say(format!("export failed: {e}"), Tone::Error),
            Msg::Quit => self.quit = true,
        }
    }

    pub(crate) fn say(&mut self, text: impl Into<String>, tone: Tone) {
        self.message = Some((text.into(), tone, MESSAGE_TICKS));
    }

    // -- loading and filtering ---------------------------------------------

    fn load_next(&mut self) {
        if self.loading.is_some() {
            return;
        }
        // Everything queued, as one load: the source opens them together.
        let paths: Vec<PathBuf> = self.load_queue.drain(..).collect();
        let Some(path) = paths.first() else { return };
        let progress = Arc::new(Progress::new());
        let label = match paths.len() {
            1 => path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
            n => format!("{n} inputs"),
        };
        self.loading = Some(Activity { label: format!("loading {label}"), progress: Arc::clone(&progress) });
        let source = Arc::clone(&self.source);
        self.tasks.push(Task::new("load", move || Msg::Loaded(source.add_inputs(&paths, &progress))));
    }

    fn loaded(&mut self, results: Vec<Result<InputInfo, LoadError>>) {
        self.loading = None;
        self.summary = self.source.summary();
        for result in results {
            self.announce(result);
        }
        if self.load_queue.is_empty() {
            // Inputs from now on arrive while the user looks: announce them.
            self.started = true;
            self.refilter();
        } else {
            self.load_next();
        }
    }

    /// Says what a load gave: damage, or a new snapshot once started.
    fn announce(&mut self, result: Result<InputInfo, LoadError>) {
        match result {
            Ok(info) => {
                if !info.problems.is_empty() {
                    self.say(format!("{}: {} (intact parts loaded)", info.name(), info.problems[0]), Tone::Error);
                } else if self.started {
                    self.say(
                        format!(
                            "new snapshot {} ({}, {} events)",
                            info.name(),
                            info.reason,
                            crate::text::count_text(info.events)
                        ),
                        Tone::Info,
                    );
                }
            }
            Err(e) => self.say(e.to_string(), Tone::Error),
        }
    }

    /// Applies `self.query` anew (after a load or a filter edit).
    fn refilter(&mut self) {
        self.filter_due = None;
        self.requested_expr = self.query.expr.clone();
        if let Some(old) = self.filtering.take() {
            old.progress.cancel();
        }
        self.filter_generation += 1;
        let generation = self.filter_generation;
        let progress = Arc::new(Progress::new());
        self.filtering = Some(Activity { label: "filtering".into(), progress: Arc::clone(&progress) });
        let source = Arc::clone(&self.source);
        let query = self.query.clone();
        self.tasks
            .push(Task::new("filter", move || Msg::Filtered { generation, result: source.filter(&query, &progress) }));
    }

    fn filtered(&mut self, generation: u64, result: Result<Arc<dyn View>, FilterError>) {
        if generation != self.filter_generation {
            return;
        }
        self.filtering = None;
        match result {
            Ok(view) => {
                // Stay at the same moment in time.
                let at = self.anchor_ns;
                let first = self.view.is_none();
                self.view_generation += 1;
                self.histogram = None;
                let len = view.len();
                self.view = Some(Arc::clone(&view));
                self.view_expr = self.requested_expr.clone();
                let pos = match at {
                    _ if std::mem::take(&mut self.end_after_filter) => len.saturating_sub(1),
                    Some(ts) if !first => view.position_of_time(ts).min(len.saturating_sub(1)),
                    _ => 0,
                };
                self.offset = 0;
                self.page.clear();
                self.scroll_to(pos);
                self.request_histogram();
                match &mut self.screen {
                    Screen::Stats(_) => self.request_stats(),
                    Screen::Last(_) => self.request_last(),
                    Screen::Groups(g) if g.groups.is_some() => {
                        let key = g.keys[g.key_index].clone();
                        self.request_groups(key);
                    }
                    _ => {}
                }
            }
            Err(e) if e == FilterError::cancelled() => {}
            Err(e) => {
                if let Some(p) = &mut self.prompt {
                    p.error = Some(e.clone());
                }
                if self.view.is_none() && !self.query.expr.is_empty() {
                    // A bad filter given at start: show everything rather
                    // than nothing.
                    self.say(format!("filter {:?}: {e}; showing every event", self.query.expr), Tone::Error);
                    self.query.expr.clear();
                    self.refilter();
                } else {
                    // The view stays as it was: so does the filter shown.
                    self.say(format!("filter {:?}: {e}", self.query.expr), Tone::Error);
                    self.query.expr = self.view_expr.clone();
                    self.requested_expr = self.view_expr.clone();
                }
            }
        }
    }

    fn request_histogram(&mut self) {
        let Some(view) = self.view.clone() else { return };
        let buckets = ui::timeline_width(self.size) as usize;
        let generation = self.view_generation;
        self.tasks
            .push(Task::new("histogram", move || Msg::Histogram { generation, histogram: view.histogram(buckets) }));
    }

    /// `L`: the last [`LAST_PER_THREAD`] events of every thread of the
    /// view, read backwards from its end in the background.
    fn request_last(&mut self) {
        let Some(view) = self.view.clone() else { return };
        let generation = self.view_generation;
        let summary = self.summary.clone();
        if !matches!(self.screen, Screen::Last(_)) {
            self.screen_scroll = 0;
        }
        self.screen = Screen::Last(None);
        self.tasks.push(Task::new("last", move || {
            let stats = view.stats();
            let progress = Progress::new();
            let mut threads =
                last_moments(view.as_ref(), &summary, stats.threads, LAST_PER_THREAD, LAST_ROWS_MAX, &progress);
            for t in &mut threads {
                let Some(input) = summary.inputs.get(t.input) else { continue };
                t.ring = stats
                    .rings
                    .iter()
                    .find(|r| r.pid == input.pid && r.thread_id == t.thread_id)
                    .map(|r| (r.written.saturating_sub(r.overwritten), r.overwritten));
            }
            let missing = stats.threads.saturating_sub(threads.len());
            Msg::Last { generation, threads, missing }
        }));
    }

    fn request_stats(&mut self) {
        let Some(view) = self.view.clone() else { return };
        let generation = self.view_generation;
        if !matches!(self.screen, Screen::Stats(_)) {
            self.screen_scroll = 0;
        }
        self.screen = Screen::Stats(None);
        self.tasks.push(Task::new("stats", move || Msg::Stats { generation, stats: view.stats() }));
    }

    fn request_groups(&mut self, key: String) {
        let Some(view) = self.view.clone() else { return };
        let generation = self.view_generation;
        if let Screen::Groups(g) = &mut self.screen {
            g.groups = Some(None);
        }
        self.tasks
            .push(Task::new("group-by", move || Msg::Groups { generation, result: view.group_by(&key, GROUP_LIMIT) }));
    }

    // -- moving around -----------------------------------------------------

    /// Rows of the table body.
    pub(crate) fn page_height(&self) -> usize {
        ui::table_body_height(self.size, self.detail, self.banner())
    }

    /// Selects `pos` (clamped) and scrolls so that it is visible, fetching
    /// the visible rows if they changed.
    fn scroll_to(&mut self, pos: usize) {
        let len = self.shown();
        let height = self.page_height().max(1);
        self.selected = pos.min(len.saturating_sub(1));
        let mut offset = self.offset;
        if self.selected < offset {
            offset = self.selected;
        } else if self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        // No empty space below the last row when the view is long enough.
        offset = offset.min(len.saturating_sub(height));
        let want = height.min(len - offset.min(len));
        if offset != self.offset || self.page.len() != want {
            self.offset = offset;
            self.page = match &self.view {
                Some(v) => v.rows(offset..offset + height),
                None => Vec::new(),
            };
        }
        if let Some(r) = self.selected_row() {
            self.anchor_ns = Some(r.timestamp_ns);
        }
    }

    fn move_by(&mut self, delta: isize) {
        let pos = if delta < 0 {
            self.selected.saturating_sub(delta.unsigned_abs())
        } else {
            self.selected.saturating_add(delta as usize)
        };
        self.scroll_to(pos);
    }

    fn start_search(&mut self, needle: Needle, direction: Direction, label: String) {
        let from = match direction {
            Direction::Forward => self.selected + 1,
            Direction::Backward if self.selected == 0 => self.shown(),
            Direction::Backward => self.selected - 1,
        };
        self.spawn_find(Search { needle, direction, label, wrapped: false, from }, from);
    }

    fn spawn_find(&mut self, search: Search, from: usize) {
        let Some(view) = self.view.clone() else { return };
        if let Some(old) = self.searching.take() {
            old.progress.cancel();
        }
        let progress = Arc::new(Progress::new());
        self.searching =
            Some(Activity { label: format!("searching {}", search.label), progress: Arc::clone(&progress) });
        // The last search's "not found" is not this one's answer.
        self.message = None;
        let generation = self.view_generation;
        self.tasks.push(Task::new("find", move || {
            let result = view.find(from, search.direction, &search.needle, &progress);
            Msg::Found { generation, search, result }
        }));
    }

    fn found(&mut self, mut search: Search, result: Option<usize>) {
        self.searching = None;
        match result {
            Some(pos) => {
                self.scroll_to(pos);
                if search.wrapped {
                    let end = if search.direction == Direction::Forward {
                        "bottom, went on at the top"
                    } else {
                        "top, went on at the bottom"
                    };
                    self.say(format!("{}: hit {end}", search.label), Tone::Info);
                }
                // Then which hit this is, counted in the background.
                if let Some(view) = self.view.clone() {
                    let generation = self.view_generation;
                    let progress = Progress::new();
                    self.tasks.push(Task::new("count hits", move || {
                        let rank = view.hit_rank(&search.needle, pos, &progress);
                        Msg::Ranked { generation, search, position: pos, rank }
                    }));
                }
            }
            // Wrap around once, unless the first pass saw every event.
            None if !search.wrapped
                && self.shown() > 0
                && !match search.direction {
                    Direction::Forward => search.from == 0,
                    Direction::Backward => search.from + 1 == self.shown(),
                } =>
            {
                search.wrapped = true;
                let from = if search.direction == Direction::Forward { 0 } else { self.shown() - 1 };
                self.spawn_find(search, from);
            }
            None => self.say(format!("{}: not found", search.label), Tone::Error),
        }
    }

    // -- keys ----------------------------------------------------------------

    fn key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            self.quit = true;
            return;
        }
        if self.prompt.is_some() {
            self.prompt_key(key);
            return;
        }
        match &self.screen {
            Screen::Help => {
                let page = crate::ui::help_height(self.size).max(1);
                let last = crate::ui::HELP.len().saturating_sub(page);
                if !scroll(&mut self.help_scroll, key.code, page, last)
                    && matches!(key.code, KeyCode::Char('q' | '?') | KeyCode::Esc | KeyCode::Enter)
                {
                    self.screen = Screen::Main;
                }
                return;
            }
            Screen::Stats(_) | Screen::Last(_) => {
                let (lines, shown) = self.screen_lines.get();
                if !scroll(&mut self.screen_scroll, key.code, shown.max(1), lines.saturating_sub(shown))
                    && matches!(key.code, KeyCode::Char('q' | 's' | 'L') | KeyCode::Esc)
                {
                    self.screen = Screen::Main;
                }
                return;
            }
            Screen::Groups(_) => {
                self.groups_key(key);
                return;
            }
            Screen::Main => {}
        }
        let page = self.page_height().max(1) as isize;
        match key.code {
            // q and Esc go back one level; q on the table quits.
            KeyCode::Char('q') | KeyCode::Esc if self.detail => {
                self.detail = false;
                self.scroll_to(self.selected);
            }
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc => {
                if self.search.is_some() {
                    self.search = None;
                } else if self.hscroll > 0 {
                    self.hscroll = 0;
                } else {
                    self.say("q quits", Tone::Info);
                }
            }
            KeyCode::Char('l') | KeyCode::Right => self.hscroll += HSCROLL_STEP,
            KeyCode::Char('h') | KeyCode::Left => self.hscroll = self.hscroll.saturating_sub(HSCROLL_STEP),
            KeyCode::Char('j') | KeyCode::Down => self.move_by(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_by(-1),
            KeyCode::Char('d') if ctrl => self.move_by(page / 2),
            KeyCode::Char('u') if ctrl => self.move_by(-page / 2),
            KeyCode::PageDown | KeyCode::Char(' ') => self.move_by(page),
            KeyCode::Char('f') if ctrl => self.move_by(page),
            KeyCode::Char('b') if ctrl => self.move_by(-page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Char('g') | KeyCode::Home => self.scroll_to(0),
            KeyCode::Char('G') | KeyCode::End => self.scroll_to(usize::MAX),
            KeyCode::Enter => {
                self.detail = !self.detail;
                self.scroll_to(self.selected);
            }
            KeyCode::Char('?') => {
                self.help_scroll = 0;
                self.screen = Screen::Help;
            }
            KeyCode::Char('/') => self.open_prompt(PromptKind::Search),
            KeyCode::Char('f' | ':') => self.open_prompt(PromptKind::Filter),
            KeyCode::Char('t') => self.open_prompt(PromptKind::Time),
            KeyCode::Char('x') => self.open_prompt(PromptKind::Export),
            KeyCode::Char('n' | 'N') => match self.search.clone() {
                Some(re) => {
                    let dir = if key.code == KeyCode::Char('n') { Direction::Forward } else { Direction::Backward };
                    let label = format!("/{}", re.as_str());
                    self.start_search(Needle::Text(re), dir, label);
                }
                None => self.say("no search: type / first", Tone::Error),
            },
            KeyCode::Char('e') => {
                self.start_search(Needle::Level(Level::Error), Direction::Forward, "next error".into())
            }
            KeyCode::Char('E') => {
                self.start_search(Needle::Level(Level::Error), Direction::Backward, "previous error".into())
            }
            KeyCode::Char(c @ '1'..='5') => {
                let level = Level::ALL[(c as u8 - b'1') as usize];
                self.query.levels.toggle(level);
                self.refilter();
            }
            KeyCode::Char('m') => {
                if let Some(id) = self.selected_row().map(|r| r.id) {
                    if self.marks.remove(&id) {
                        self.say("mark removed", Tone::Info);
                    } else {
                        self.marks.insert(id);
                        self.say(format!("marked ({} marks; ' goes to the next)", self.marks.len()), Tone::Info);
                    }
                }
            }
            KeyCode::Char('\'') => {
                if self.marks.is_empty() {
                    self.say("no marks: m marks the selected event", Tone::Error);
                } else {
                    let ids = Arc::new(self.marks.clone());
                    self.start_search(Needle::Ids(ids), Direction::Forward, "next mark".into());
                }
            }
            KeyCode::Char('!') => self.panicking_thread(),
            KeyCode::Char('s') => self.request_stats(),
            KeyCode::Char('L') => self.request_last(),
            KeyCode::Char('b') => {
                self.screen = Screen::Groups(GroupScreen {
                    keys: self.source.group_keys(),
                    key_index: 0,
                    groups: None,
                    group_index: 0,
                });
            }
            _ => {}
        }
    }

    /// Whether the header shows a banner with what ended the process.
    pub(crate) fn banner(&self) -> bool {
        self.summary.inputs.iter().any(|i| i.cause.is_some())
    }

    /// `!`: the panicking thread's events (of the newest snapshot taken by
    /// a panic), at its last one.
    fn panicking_thread(&mut self) {
        let panicked = self
            .summary
            .inputs
            .iter()
            .filter(|i| i.panic_thread.is_some())
            .max_by_key(|i| i.created_at_ns)
            .map(|i| (i.panic_thread.clone().unwrap_or_default(), i.pid));
        let Some((thread, pid)) = panicked else {
            self.say("no snapshot here was taken by a panic in a named thread", Tone::Error);
            return;
        };
        let quoted = format!("\"{}\"", thread.replace('\\', "\\\\").replace('"', "\\\""));
        let several = self.summary.inputs.iter().map(|i| i.pid).collect::<BTreeSet<_>>().len() > 1;
        self.query.expr = if several { format!("thread={quoted} and pid={pid}") } else { format!("thread={quoted}") };
        self.end_after_filter = true;
        self.refilter();
        self.say(format!("the last events of thread {thread}, which panicked"), Tone::Info);
    }

    fn groups_key(&mut self, key: KeyEvent) {
        let banner = self.banner();
        let Screen::Groups(g) = &mut self.screen else { return };
        let choosing = g.groups.is_none();
        let (index, len) = match &g.groups {
            None => (&mut g.key_index, g.keys.len()),
            Some(Some(groups)) => (&mut g.group_index, groups.groups.len()),
            Some(None) => (&mut g.group_index, 0),
        };
        let page = ui::table_body_height(self.size, false, banner).max(1);
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => *index = (*index + 1).min(len.saturating_sub(1)),
            KeyCode::Char('k') | KeyCode::Up => *index = index.saturating_sub(1),
            KeyCode::PageDown => *index = (*index + page).min(len.saturating_sub(1)),
            KeyCode::PageUp => *index = index.saturating_sub(page),
            KeyCode::Char('g') | KeyCode::Home => *index = 0,
            KeyCode::Char('G') | KeyCode::End => *index = len.saturating_sub(1),
            KeyCode::Enter if choosing => {
                if let Some(k) = g.keys.get(g.key_index).cloned() {
                    self.request_groups(k);
                }
            }
            KeyCode::Enter => {
                if let Some(Some(groups)) = &g.groups
                    && let Some(group) = groups.groups.get(g.group_index)
                {
                    if let Some(at) = group.at {
                        // A time bucket: its first event, in the same view.
                        self.screen = Screen::Main;
                        if let Some(v) = &self.view {
                            let pos = v.position_of_time(at);
                            self.scroll_to(pos);
                        }
                    } else {
                        self.query.expr = group.filter.clone();
                        self.screen = Screen::Main;
                        self.refilter();
                    }
                }
            }
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h' | 'q') | KeyCode::Left if !choosing => {
                g.groups = None
            }
            KeyCode::Esc | KeyCode::Char('q' | 'b') => self.screen = Screen::Main,
            _ => {}
        }
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        let previous = self.search.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default();
        let text = match kind {
            PromptKind::Filter => self.query.expr.clone(),
            // A new search starts empty, like vi's; Esc keeps the old one.
            PromptKind::Search => String::new(),
            PromptKind::Time => {
                self.selected_row().map(|r| ttlog_core::time::format_rfc3339(r.timestamp_ns)).unwrap_or_default()
            }
            PromptKind::Export => "ttlog-export.ndjson".to_owned(),
        };
        let cursor = text.chars().count();
        let previous = if kind == PromptKind::Search { previous } else { text.clone() };
        self.prompt = Some(Prompt { kind, previous, text, cursor, error: None });
    }

    fn prompt_key(&mut self, key: KeyEvent) {
        let Some(p) = &mut self.prompt else { return };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let byte = |p: &Prompt, c: usize| p.text.char_indices().nth(c).map_or(p.text.len(), |(b, _)| b);
        let mut edited = true;
        match key.code {
            KeyCode::Esc => {
                let p = self.prompt.take().expect("prompt is open");
                match p.kind {
                    PromptKind::Filter if self.query.expr != p.previous || self.filter_due.is_some() => {
                        self.query.expr = p.previous;
                        self.refilter();
                    }
                    PromptKind::Search => self.search = Regex::new(&p.previous).ok().filter(|_| !p.previous.is_empty()),
                    _ => {}
                }
                return;
            }
            KeyCode::Enter => {
                self.submit_prompt();
                return;
            }
            KeyCode::Char('u') if ctrl => {
                p.text.clear();
                p.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => (p.cursor, edited) = (0, false),
            KeyCode::Char('e') if ctrl => (p.cursor, edited) = (p.text.chars().count(), false),
            KeyCode::Char(c) => {
                let at = byte(p, p.cursor);
                p.text.insert(at, c);
                p.cursor += 1;
            }
            KeyCode::Backspace if p.cursor > 0 => {
                p.cursor -= 1;
                let at = byte(p, p.cursor);
                p.text.remove(at);
            }
            KeyCode::Delete if p.cursor < p.text.chars().count() => {
                let at = byte(p, p.cursor);
                p.text.remove(at);
            }
            KeyCode::Left => (p.cursor, edited) = (p.cursor.saturating_sub(1), false),
            KeyCode::Right => (p.cursor, edited) = ((p.cursor + 1).min(p.text.chars().count()), false),
            KeyCode::Home => (p.cursor, edited) = (0, false),
            KeyCode::End => (p.cursor, edited) = (p.text.chars().count(), false),
            _ => edited = false,
        }
        if edited {
            self.prompt_edited();
        }
    }

    /// Validates the prompt as typed; a valid filter applies at once.
    fn prompt_edited(&mut self) {
        let Some(p) = &mut self.prompt else { return };
        match p.kind {
            PromptKind::Filter => {
                p.error = self.source.check(&p.text).err();
                if p.error.is_some() {
                    // Half-typed: do not apply what was valid a key ago.
                    self.filter_due = None;
                    self.query.expr = self.requested_expr.clone();
                } else if p.text != self.query.expr {
                    self.query.expr = p.text.clone();
                    self.filter_due = Some(self.ticks + 1);
                }
            }
            PromptKind::Search => {
                p.error = match Regex::new(&p.text) {
                    Ok(re) => {
                        self.search = (!p.text.is_empty()).then_some(re);
                        None
                    }
                    Err(e) => Some(regex_error(&e)),
                };
            }
            PromptKind::Time | PromptKind::Export => p.error = None,
        }
    }

    fn submit_prompt(&mut self) {
        let Some(p) = self.prompt.take() else { return };
        match p.kind {
            PromptKind::Filter => {
                if let Err(e) = self.source.check(&p.text) {
                    self.prompt = Some(Prompt { error: Some(e), ..p });
                    return;
                }
                if p.text != self.query.expr || self.filter_due.is_some() {
                    self.query.expr = p.text;
                    self.refilter();
                }
            }
            PromptKind::Search => {
                if p.text.is_empty() {
                    self.search = None;
                    return;
                }
                match Regex::new(&p.text) {
                    Ok(re) => {
                        self.search = Some(re.clone());
                        // The selected row counts: search from it.
                        let label = format!("/{}", re.as_str());
                        self.spawn_find(
                            Search {
                                needle: Needle::Text(re),
                                direction: Direction::Forward,
                                label,
                                wrapped: false,
                                from: self.selected,
                            },
                            self.selected,
                        );
                    }
                    Err(e) => self.prompt = Some(Prompt { error: Some(regex_error(&e)), ..p }),
                }
            }
            PromptKind::Time => {
                let reference = self.selected_row().map_or(0, |r| r.timestamp_ns);
                match ttlog_core::time::parse_on_day(&p.text, reference) {
                    Ok(ts) => {
                        if let Some(v) = &self.view {
                            let pos = v.position_of_time(ts);
                            self.scroll_to(pos);
                        }
                    }
                    Err(e) => self.prompt = Some(Prompt { error: Some(FilterError::new(0, e.to_string())), ..p }),
                }
            }
            PromptKind::Export => {
                let path = PathBuf::from(p.text.trim());
                let Some(format) = ExportFormat::from_path(&path) else {
                    let e = FilterError::new(0, "name the file .json, .ndjson or .csv");
                    self.prompt = Some(Prompt { error: Some(e), ..p });
                    return;
                };
                let Some(view) = self.view.clone() else { return };
                self.say(format!("exporting {} events to {}…", view.len(), path.display()), Tone::Info);
                self.tasks.push(Task::new("export", move || {
                    let result = view.export(&path, format, &Progress::new());
                    Msg::Exported(result.map(|n| (path, n)).map_err(|e| e.to_string()))
                }));
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) {
        if self.prompt.is_some() || !matches!(self.screen, Screen::Main) {
            return;
        }
        match m.kind {
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::ScrollUp => self.move_by(-3),
            MouseEventKind::Down(MouseButton::Left) => {
                let areas = ui::layout(Rect::new(0, 0, self.size.0, self.size.1), self.detail, self.banner());
                let body = areas.table_body();
                if body.contains((m.column, m.row).into()) {
                    self.scroll_to(self.offset + (m.row - body.y) as usize);
                } else if areas.timeline.contains((m.column, m.row).into())
                    && let (Some(h), Some(v)) = (&self.histogram, &self.view)
                {
                    // The first event of the clicked bucket.
                    let n = h.buckets.len().max(1) as i128;
                    let col = i128::from(m.column.saturating_sub(areas.timeline.x)).min(n - 1);
                    let span = i128::from(h.end_ns) - i128::from(h.start_ns) + 1;
                    let ts = i128::from(h.start_ns) + (span * col + n - 1) / n;
                    let pos = v.position_of_time(ts as i64);
                    self.scroll_to(pos);
                }
            }
            _ => {}
        }
    }
}

fn regex_error(e: &regex::Error) -> FilterError {
    // The regex crate's message spans several lines with a caret; keep the
    // last line, which says what is wrong.
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex");
    FilterError::new(0, last.trim_start_matches("error: ").to_owned())
}
