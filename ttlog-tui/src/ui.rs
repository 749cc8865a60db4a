//! Drawing the app: [`render`] reads the state and changes nothing.
//!
//! Every text that comes from a snapshot goes through
//! [`escape`](ttlog_core::text::escape) before it reaches the terminal.

use crate::app::{Activity, App, GroupScreen, PromptKind, Screen, Tone};
use crate::source::{Histogram, Row, Stats};
use crate::text::{count_text, fields_text, time_of_day};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row as TableRow, Table, TableState, Wrap};
use regex::Regex;
use std::collections::BTreeSet;
use ttlog_core::Level;
use ttlog_core::text::escape;
use ttlog_core::time::format_rfc3339;

const HEADER_ROWS: u16 = 2;
/// Two rows of event counts, one of errors and warnings, one of times.
const TIMELINE_ROWS: u16 = 4;
const STATUS_ROWS: u16 = 1;

/// Where each part of the main screen goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Areas {
    pub(crate) header: Rect,
    pub(crate) timeline: Rect,
    pub(crate) table: Rect,
    pub(crate) detail: Option<Rect>,
    pub(crate) status: Rect,
}

impl Areas {
    /// The table without its column-title row.
    pub(crate) fn table_body(&self) -> Rect {
        let t = self.table;
        Rect { y: t.y.saturating_add(1), height: t.height.saturating_sub(1), ..t }
    }
}

/// The layout of a terminal area; `detail` when the detail pane is open,
/// `banner` when the header has a row for what ended the process.
pub(crate) fn layout(area: Rect, detail: bool, banner: bool) -> Areas {
    let [header, timeline, middle, status] = Layout::vertical([
        Constraint::Length(HEADER_ROWS + u16::from(banner)),
        Constraint::Length(TIMELINE_ROWS),
        Constraint::Fill(1),
        Constraint::Length(STATUS_ROWS),
    ])
    .areas(area);
    let (table, detail) = if detail {
        let [t, d] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle);
        (t, Some(d))
    } else {
        (middle, None)
    };
    Areas { header, timeline, table, detail, status }
}

/// Rows of the table body in a terminal of `size`.
pub(crate) fn table_body_height(size: (u16, u16), detail: bool, banner: bool) -> usize {
    layout(Rect::new(0, 0, size.0, size.1), detail, banner).table_body().height as usize
}

/// Columns of the timeline (one histogram bucket each).
pub(crate) fn timeline_width(size: (u16, u16)) -> u16 {
    size.0.max(1)
}

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let areas = layout(area, app.detail, app.banner());
    render_header(app, frame, areas.header);
    // A full screen's body: everything between the header and the status line.
    let body = Rect { height: area.height.saturating_sub(areas.header.height + STATUS_ROWS), ..areas.timeline };
    match &app.screen {
        Screen::Main | Screen::Help => {
            render_timeline(app, frame, areas.timeline);
            render_table(app, frame, areas.table);
            if let Some(d) = areas.detail {
                render_detail(app, frame, d);
            }
        }
        Screen::Stats(stats) => render_stats(app, stats.as_ref(), frame, body),
        Screen::Last(threads) => render_last(app, threads.as_deref(), frame, body),
        Screen::Groups(g) => render_groups(g, frame, body),
    }
    render_status(app, frame, areas.status);
    if matches!(app.screen, Screen::Help) {
        render_help(app, frame, area);
    }
}

fn level_style(level: Level) -> Style {
    match level {
        Level::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Info => Style::new().fg(Color::Green),
        Level::Debug => Style::new().fg(Color::LightBlue),
        Level::Trace => Style::new().fg(Color::DarkGray),
    }
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

fn render_header(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let s = &app.summary;
    let mut first =
        vec![Span::styled(" ttlog-view ", Style::new().bg(Color::Blue).fg(Color::White).bold()), Span::raw(" ")];
    match s.inputs.len() {
        0 => first.push(Span::styled("no input loaded", dim())),
        1 => first.push(Span::raw(escape(&s.inputs[0].name()).into_owned())),
        n => first.push(Span::raw(format!(
            "{n} inputs: {}",
            escape(&s.inputs.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "))
        ))),
    }
    let unique = |f: &dyn Fn(&crate::InputInfo) -> String| -> Vec<String> {
        let set: BTreeSet<String> = s.inputs.iter().map(f).collect();
        set.into_iter().collect()
    };
    let services = unique(&|i| i.service.clone());
    let hosts = unique(&|i| i.hostname.clone());
    let pids = unique(&|i| i.pid.to_string());
    let reasons = unique(&|i| i.reason.clone());
    if !s.inputs.is_empty() {
        // One or two values are listed ("pid 12,31"), more are counted
        // ("pids 5").
        for (v, one, many) in [
            (&services, "service", "services"),
            (&hosts, "host", "hosts"),
            (&pids, "pid", "pids"),
            (&reasons, "reason", "reasons"),
        ] {
            let (label, value) =
                if v.len() <= 2 { (one, escape(&v.join(",")).into_owned()) } else { (many, v.len().to_string()) };
            first.push(Span::styled(format!("  {label} "), dim()));
            first.push(Span::raw(value));
        }
    }
    let mut second = vec![
        Span::styled(" events ", dim()),
        Span::raw(count_text(s.total_events())),
        Span::styled("  shown ", dim()),
        Span::raw(match &app.view {
            Some(v) => count_text(v.len() as u64),
            None => "–".into(),
        }),
        Span::styled("  overwritten ", dim()),
        Span::styled(
            count_text(s.overwritten()),
            if s.overwritten() > 0 { Style::new().yellow() } else { Style::new() },
        ),
        Span::styled("  dropped ", dim()),
        Span::styled(count_text(s.dropped()), if s.dropped() > 0 { Style::new().red() } else { Style::new() }),
    ];
    let problems: usize = s.inputs.iter().map(|i| i.problems.len()).sum();
    if problems > 0 {
        second.push(Span::styled(format!("  {problems} damaged part(s) skipped"), Style::new().red()));
    }
    if let Some(a) = &app.loading {
        second.push(Span::raw("  "));
        second.extend(activity_spans(a, app.ticks));
    }
    let mut lines = vec![Line::from(first), Line::from(second)];
    // The banner: what ended the process (the newest snapshot that says).
    if let Some(cause) =
        s.inputs.iter().filter(|i| i.cause.is_some()).max_by_key(|i| i.created_at_ns).and_then(|i| i.cause.as_ref())
    {
        let hint = if s.inputs.iter().any(|i| i.panic_thread.is_some()) { "  (! its last events)" } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", escape(cause)), Style::new().white().on_red().bold()),
            Span::styled(hint, dim()),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn activity_spans(a: &Activity, ticks: u64) -> Vec<Span<'static>> {
    const SPIN: [char; 4] = ['|', '/', '-', '\\'];
    let mut text = format!("{} {}", SPIN[(ticks % 4) as usize], escape(&a.label));
    if let Some(f) = a.progress.fraction() {
        text.push_str(&format!(" {:.0}%", f * 100.0));
    }
    vec![Span::styled(text, Style::new().cyan())]
}

/// Eighth blocks, empty to full.
const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn render_timeline(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(h) = &app.histogram else {
        let text = if app.view.is_some() { "computing timeline…" } else { "" };
        frame.render_widget(Paragraph::new(Span::styled(text, dim())), area);
        return;
    };
    if h.buckets.is_empty() || area.height < TIMELINE_ROWS {
        return;
    }
    // Any event shows at least one eighth of a row, so a lone event (or
    // error) in a long span stays visible.
    let height =
        |n: u64, max: u64, eighths: u64| if n == 0 { 0 } else { (n * eighths).div_ceil(max.max(1)).max(1) as usize };
    let max = h.buckets.iter().map(|b| b.total).max().unwrap_or(0);
    let max_errors = h.buckets.iter().map(|b| b.error).max().unwrap_or(0);
    let max_warnings = h.buckets.iter().map(|b| b.warn).max().unwrap_or(0);
    let selected = app.selected_row().and_then(|r| h.bucket_of(r.timestamp_ns));
    let mut top = Vec::with_capacity(h.buckets.len());
    let mut bottom = Vec::with_capacity(h.buckets.len());
    let mut severity = Vec::with_capacity(h.buckets.len());
    for (i, b) in h.buckets.iter().take(area.width as usize).enumerate() {
        let mark = |style: Style| if selected == Some(i) { style.bg(Color::Magenta) } else { style };
        let eighths = height(b.total, max, 16);
        let style = mark(Style::new().fg(Color::Cyan));
        top.push(Span::styled(BARS[eighths.saturating_sub(8).min(8)].to_string(), style));
        bottom.push(Span::styled(BARS[eighths.min(8)].to_string(), style));
        // Errors where there are any, else warnings, each scaled to its own
        // maximum: where the trouble is, not how much of everything.
        let (n, of, color) =
            if b.error > 0 { (b.error, max_errors, Color::Red) } else { (b.warn, max_warnings, Color::Yellow) };
        severity.push(Span::styled(BARS[height(n, of, 8).min(8)].to_string(), mark(Style::new().fg(color))));
    }
    let axis = timeline_axis(h, selected, area.width as usize);
    frame.render_widget(Paragraph::new(vec![Line::from(top), Line::from(bottom), Line::from(severity), axis]), area);
}

/// The line under the bars: start and end times, and `▲` under the
/// selected event's bucket (on the label's character, highlighted, when a
/// label is there).
fn timeline_axis(h: &Histogram, selected: Option<usize>, width: usize) -> Line<'static> {
    let mut cells: Vec<char> = vec![' '; width];
    let start = time_of_day(h.start_ns);
    let end = time_of_day(h.end_ns);
    let put = |cells: &mut Vec<char>, at: usize, s: &str| {
        for (i, c) in s.chars().enumerate() {
            if let Some(cell) = cells.get_mut(at + i) {
                *cell = c;
            }
        }
    };
    put(&mut cells, 0, &start);
    if width > start.len() + end.len() + 2 {
        put(&mut cells, width - end.len(), &end);
    }
    let text: String = cells.iter().collect();
    match selected.filter(|&b| b < width) {
        Some(b) => {
            let before: String = cells[..b].iter().collect();
            let after: String = cells[b + 1..].iter().collect();
            let marker = if cells[b] == ' ' {
                Span::styled("▲", Style::new().fg(Color::Magenta).bold())
            } else {
                Span::styled(cells[b].to_string(), Style::new().bg(Color::Magenta).fg(Color::White))
            };
            Line::from(vec![Span::styled(before, dim()), marker, Span::styled(after, dim())])
        }
        None => Line::from(Span::styled(text, dim())),
    }
}

/// `text` (escaped) as spans with the search matches highlighted.
fn highlighted(text: &str, search: Option<&Regex>, base: Style) -> Vec<Span<'static>> {
    let text = escape(text).into_owned();
    let Some(re) = search else { return vec![Span::styled(text, base)] };
    let mut spans = Vec::new();
    let mut last = 0;
    for m in re.find_iter(&text) {
        if m.start() == m.end() {
            continue;
        }
        if m.start() > last {
            spans.push(Span::styled(text[last..m.start()].to_owned(), base));
        }
        spans.push(Span::styled(m.as_str().to_owned(), base.bg(Color::Yellow).fg(Color::Black)));
        last = m.end();
    }
    if last < text.len() {
        spans.push(Span::styled(text[last..].to_owned(), base));
    }
    spans
}

fn render_table(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(view) = &app.view else {
        render_waiting(app, frame, area);
        return;
    };
    if view.is_empty() {
        let text = if app.summary.inputs.is_empty() {
            "no snapshot loaded yet".to_owned()
        } else {
            format!("no event matches the filter {:?} and levels {}", app.query.expr, app.query.levels)
        };
        frame.render_widget(Paragraph::new(Span::styled(escape(&text).into_owned(), dim())).centered(), area);
        return;
    }
    let several = app.summary.inputs.len() > 1;
    let width_of = |f: &dyn Fn(&Row) -> usize, min: usize, max: usize| -> u16 {
        app.page.iter().map(f).max().unwrap_or(0).clamp(min, max) as u16
    };
    let thread_w = width_of(&|r| escape(&r.thread).chars().count(), 6, 14);
    let target_w = width_of(&|r| escape(&r.target).chars().count(), 6, 18);
    let message_w = width_of(&|r| escape(&r.message).chars().count(), 7, 48);
    let file_w = if several {
        width_of(&|r| app.summary.inputs.get(r.input).map_or(1, |i| i.name().chars().count()), 4, 20)
    } else {
        0
    };
    let mut widths =
        vec![Constraint::Length(1), Constraint::Length(15), Constraint::Length(5), Constraint::Length(thread_w)];
    let mut titles = vec!["", "time (UTC)", "level", "thread"];
    if several {
        widths.push(Constraint::Length(file_w));
        titles.push("file");
    }
    // Scrolled right (h/l), message and fields are one column whose first
    // `hscroll` characters are out of sight.
    let scrolled = app.hscroll > 0;
    let scrolled_title = format!("message and fields (→ {})", app.hscroll);
    if scrolled {
        widths.extend([Constraint::Length(target_w), Constraint::Fill(1)]);
        titles.extend(["target", scrolled_title.as_str()]);
    } else {
        widths.extend([Constraint::Length(target_w), Constraint::Length(message_w), Constraint::Fill(1)]);
        titles.extend(["target", "message", "fields"]);
    }
    let search = app.search.as_ref();
    let rows = app.page.iter().map(|r| {
        let mark = if app.marks.contains(&r.id) { Span::styled("●", Style::new().magenta()) } else { Span::raw(" ") };
        let mut cells = vec![
            Cell::from(mark),
            Cell::from(Span::styled(time_of_day(r.timestamp_ns), dim())),
            Cell::from(Span::styled(r.level.as_str(), level_style(r.level))),
            Cell::from(escape(&r.thread).into_owned()),
        ];
        if several {
            let name = app.summary.inputs.get(r.input).map(|i| i.name()).unwrap_or_default();
            cells.push(Cell::from(Span::styled(escape(&name).into_owned(), dim())));
        }
        cells.push(Cell::from(Span::styled(escape(&r.target).into_owned(), Style::new().fg(Color::Cyan))));
        if scrolled {
            let text = format!("{}  {}", r.message, fields_text(&r.fields));
            let rest: String = text.chars().skip(app.hscroll).collect();
            cells.push(Cell::from(Line::from(highlighted(&rest, search, Style::new()))));
        } else {
            cells.push(Cell::from(Line::from(highlighted(&r.message, search, Style::new()))));
            cells.push(Cell::from(Line::from(highlighted(&fields_text(&r.fields), search, dim()))));
        }
        TableRow::new(cells)
    });
    let header = TableRow::new(titles).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().bg(Color::Rgb(40, 50, 80)).add_modifier(Modifier::BOLD));
    let mut state = TableState::default().with_selected(app.selected.checked_sub(app.offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_waiting(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let activity = app.loading.as_ref().or(app.filtering.as_ref());
    let Some(a) = activity else {
        return;
    };
    let [_, text, gauge, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1), Constraint::Length(1), Constraint::Fill(1)])
            .areas(area);
    let done = a.progress.done();
    let label = format!("{}… {} events", escape(&a.label), count_text(done));
    frame.render_widget(Paragraph::new(label).centered(), text);
    let [_, g, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Percentage(60), Constraint::Fill(1)]).areas(gauge);
    let ratio = a.progress.fraction().unwrap_or(0.0);
    frame.render_widget(Gauge::default().ratio(ratio).gauge_style(Style::new().fg(Color::Cyan)), g);
}

fn render_detail(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title(format!(
        " event {} of {} ",
        count_text(app.selected as u64 + 1),
        count_text(app.shown() as u64)
    ));
    let Some(r) = app.selected_row() else {
        frame.render_widget(block, area);
        return;
    };
    let key = |k: &str| Span::styled(format!("{k:<10}"), dim());
    let mut lines = vec![
        Line::from(vec![key("time"), Span::raw(format_rfc3339(r.timestamp_ns))]),
        Line::from(vec![key("level"), Span::styled(r.level.as_str(), level_style(r.level))]),
        Line::from(vec![key("message"), Span::raw(escape(&r.message).into_owned())]),
        Line::from(vec![key("target"), Span::raw(escape(&r.target).into_owned())]),
        Line::from(vec![key("module"), Span::raw(escape(&r.module_path).into_owned())]),
        Line::from(vec![key("at"), Span::raw(format!("{}:{}", escape(&r.file), r.line))]),
        Line::from(vec![key("thread"), Span::raw(format!("{} (id {})", escape(&r.thread), r.thread_id))]),
    ];
    if r.fields.is_empty() {
        lines.push(Line::from(vec![key("fields"), Span::styled("none", dim())]));
    }
    let name_w = r.fields.iter().map(|(n, _)| escape(n).chars().count()).max().unwrap_or(0);
    for (i, (name, value)) in r.fields.iter().enumerate() {
        let mut spans = vec![
            key(if i == 0 { "fields" } else { "" }),
            Span::styled(format!("{:<name_w$}", escape(name)), Style::new().cyan()),
            Span::styled(format!(" {:<5} ", value.kind().as_str()), dim()),
        ];
        spans.extend(highlighted(&value.to_string(), app.search.as_ref(), Style::new()));
        lines.push(Line::from(spans));
    }
    if let Some(input) = app.summary.inputs.get(r.input) {
        lines.push(Line::from(vec![
            key("snapshot"),
            Span::raw(escape(&input.name()).into_owned()),
            Span::styled(
                escape(&format!(
                    "  ({} on {}, pid {}, {} at {})",
                    input.service,
                    input.hostname,
                    input.pid,
                    input.reason,
                    format_rfc3339(input.created_at_ns)
                ))
                .into_owned(),
                dim(),
            ),
        ]));
    }
    // Long values (text fields hold up to 512 bytes) wrap rather than vanish
    // at the edge.
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

fn render_status(app: &App, frame: &mut Frame<'_>, area: Rect) {
    if let Some(p) = &app.prompt {
        let label = match p.kind {
            PromptKind::Search => "search /",
            PromptKind::Filter => "filter: ",
            PromptKind::Time => "go to time: ",
            PromptKind::Export => "export to (.json/.ndjson/.csv): ",
        };
        let mut spans = vec![Span::styled(label, Style::new().bold())];
        let chars: Vec<char> = escape(&p.text).chars().collect();
        let err_col = p.error.as_ref().map(|e| e.column);
        for (i, c) in chars.iter().enumerate() {
            let mut style = Style::new();
            if Some(i) == err_col {
                style = style.bg(Color::Red);
            }
            if i == p.cursor {
                style = style.add_modifier(Modifier::REVERSED);
            }
            spans.push(Span::styled(c.to_string(), style));
        }
        if p.cursor >= chars.len() {
            spans.push(Span::styled(" ", Style::new().add_modifier(Modifier::REVERSED)));
        }
        match &p.error {
            Some(e) => spans.push(Span::styled(format!("  ✗ {}", escape(&e.message)), Style::new().red())),
            None if p.kind == PromptKind::Filter => spans.push(Span::styled("  ✓", Style::new().green())),
            None => {}
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // The row counter first, so that a narrow terminal cuts the filter
    // text rather than the position.
    let mut left = vec![];
    let shown = app.shown();
    left.push(Span::styled(" row ", dim()));
    left.push(Span::raw(if shown == 0 {
        "0/0".to_owned()
    } else {
        format!("{}/{}", count_text(app.selected as u64 + 1), count_text(shown as u64))
    }));
    left.push(Span::styled(format!(" of {}", count_text(app.summary.total_events())), dim()));
    if !app.marks.is_empty() {
        left.push(Span::styled(format!("  {} marked", app.marks.len()), Style::new().magenta()));
    }
    for a in [&app.filtering, &app.searching].into_iter().flatten() {
        left.push(Span::raw("  "));
        left.extend(activity_spans(a, app.ticks));
    }
    let filter = if app.query.expr.is_empty() { "none".to_owned() } else { escape(&app.query.expr).into_owned() };
    left.push(Span::styled("  filter ", dim()));
    left.push(Span::raw(filter));
    left.push(Span::styled("  levels ", dim()));
    left.push(Span::raw(app.query.levels.to_string()));
    if let Some(re) = &app.search {
        left.push(Span::styled("  search ", dim()));
        left.push(Span::raw(format!("/{}", escape(re.as_str()))));
    }
    let right = match &app.message {
        Some((m, tone, _)) => {
            let style = if *tone == Tone::Error { Style::new().red().bold() } else { Style::new().green() };
            Span::styled(format!("{} ", escape(m)), style)
        }
        None => Span::styled(
            match app.screen {
                Screen::Groups(_) => "j/k move  Enter choose  Esc back ",
                Screen::Stats(_) | Screen::Last(_) => "j/k scroll  Esc back ",
                // Narrow terminals keep the row counter and the filter.
                _ if area.width < 110 => "? keys  q quit ",
                _ => "? keys  / search  f filter  b group  s stats  q quit ",
            },
            dim(),
        ),
    };
    let right_w = right.width() as u16;
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(right_w.min(area.width))]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(Paragraph::new(Line::from(right)), r);
}

pub(crate) const HELP: &[(&str, &str)] = &[
    ("j k ↓ ↑", "next / previous event"),
    ("PgDn PgUp Space", "page down / up"),
    ("Ctrl-D Ctrl-U", "half a page down / up"),
    ("Ctrl-F Ctrl-B", "page down / up"),
    ("h l ← →", "scroll message and fields left / right"),
    ("g G Home End", "first / last event"),
    ("Enter", "show / hide the detail pane"),
    ("/", "search (regex), highlighted"),
    ("n N", "next / previous match"),
    ("f :", "edit the filter (applied as you type)"),
    ("1 2 3 4 5", "show / hide TRACE DEBUG INFO WARN ERROR"),
    ("e E", "next / previous error"),
    ("!", "the last events of the thread that panicked"),
    ("t", "go to a time (HH:MM:SS or RFC 3339)"),
    ("m '", "mark the event / go to the next mark"),
    ("s", "stats of the shown events, what filled the rings"),
    ("L", "the last moments: each thread's last events"),
    ("b", "group by a key; Enter on a group filters to it"),
    ("x", "export the shown events (.json .ndjson .csv)"),
    ("mouse", "wheel scrolls, click selects, click the timeline jumps"),
    ("q Esc", "back one level; q on the table quits"),
    ("Ctrl-C", "quits from anywhere"),
];

/// Width of the key column of the help.
const HELP_KEYS: usize = 17;

/// The help box in a terminal of `size`: as wide as its longest line (or
/// the terminal), as high as its lines (or the terminal).
fn help_box(area: Rect) -> Rect {
    let longest = HELP.iter().map(|(_, v)| 1 + HELP_KEYS + v.chars().count() + 1).max().unwrap_or(0);
    let w = (longest as u16 + 2).min(area.width);
    let h = (HELP.len() as u16 + 2).min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}

/// Lines of the help that fit in a terminal of `size`.
pub(crate) fn help_height(size: (u16, u16)) -> usize {
    help_box(Rect::new(0, 0, size.0, size.1)).height.saturating_sub(2) as usize
}

fn render_help(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let popup = help_box(area);
    let fits = popup.height.saturating_sub(2) as usize;
    let lines: Vec<Line<'_>> = HELP
        .iter()
        .skip(app.help_scroll)
        .map(|(k, v)| {
            Line::from(vec![Span::styled(format!(" {k:<HELP_KEYS$}"), Style::new().bold().cyan()), Span::raw(*v)])
        })
        .collect();
    let bottom = if fits >= HELP.len() {
        " q Esc ? close ".to_owned()
    } else {
        format!(" {}-{} of {}: j k scroll, q closes ", app.help_scroll + 1, app.help_scroll + fits, HELP.len())
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(" keys ").title_bottom(bottom)),
        popup,
    );
}

fn bar(count: u64, max: u64, width: usize) -> String {
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = ((count as u128 * width as u128 * 8).div_ceil(max as u128)) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
    }
    s
}

/// Draws `lines` under `block` from the app's scroll position (kept within
/// the text), and notes how many lines there are for the keys.
fn render_scrolled(app: &App, lines: Vec<Line<'_>>, block: Block<'_>, frame: &mut Frame<'_>, area: Rect) {
    let shown = area.height.saturating_sub(1) as usize;
    app.screen_lines.set((lines.len(), shown));
    let at = app.screen_scroll.min(lines.len().saturating_sub(shown));
    let more = if lines.len() > shown {
        format!(" lines {}-{} of {}: j k scroll ", at + 1, (at + shown).min(lines.len()), lines.len())
    } else {
        String::new()
    };
    let block = block.title_top(Line::from(Span::styled(more, dim())).right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block).scroll((at.min(u16::MAX as usize) as u16, 0)), area);
}

/// The ring-pressure lines of the stats screen: per thread, most
/// overwritten first, its ring and the call sites that filled it.
fn ring_lines(rings: &[crate::source::RingPressure], lines: &mut Vec<Line<'_>>) {
    use ttlog_core::memory::size_text;
    if rings.is_empty() {
        return;
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "what filled the rings (newest snapshot of each process, most overwritten first)",
        Style::new().bold(),
    )));
    // Rings that lost events or whose file says what filled them.
    let listed: Vec<&crate::source::RingPressure> =
        rings.iter().filter(|r| r.capacity.is_some() || r.overwritten > 0).take(20).collect();
    let hidden = rings.len() - listed.len();
    for r in listed {
        let share = if r.written == 0 { 0.0 } else { 100.0 * r.overwritten as f64 / r.written as f64 };
        let mut head = vec![
            Span::styled(format!("{} ", escape(&r.thread)), Style::new().bold()),
            Span::styled(format!("({}) ", escape(&r.process)), dim()),
        ];
        if let Some(cap) = r.capacity {
            head.push(Span::raw(format!("ring {}, ", size_text(cap))));
        }
        head.push(Span::raw(format!("written {}, overwritten {} ", count_text(r.written), count_text(r.overwritten))));
        let tone = if share >= 50.0 { Style::new().red().bold() } else { Style::new() };
        head.push(Span::styled(format!("({share:.1} %)"), tone));
        if let Some((a, b)) = r.window_ns {
            head.push(Span::raw(format!(
                ", holds {} from {}",
                ttlog_core::time::span_text(a, b),
                crate::text::time_of_day(a)
            )));
        }
        lines.push(Line::from(head));
        if r.capacity.is_none() {
            lines.push(Line::from(Span::styled(
                "    what filled its ring is not in this file (writers of format 1.2 record it)",
                dim(),
            )));
        }
        let kept = r.written.saturating_sub(r.overwritten).max(1) as f64;
        let bytes = r.kept_bytes.unwrap_or(0).max(1) as f64;
        for site in &r.sites {
            lines.push(Line::from(vec![
                Span::raw(format!("  {:>12} {:>5.1}% ", count_text(site.events), 100.0 * site.events as f64 / kept)),
                Span::raw(format!("{:>10} {:>5.1}% ", size_text(site.bytes), 100.0 * site.bytes as f64 / bytes)),
                Span::styled(format!("{:<5} ", site.level.as_str()), level_style(site.level)),
                Span::styled(format!("{} ", escape(&site.target)), Style::new().cyan()),
                Span::raw(escape(&site.message).into_owned()),
            ]));
        }
    }
    if hidden > 0 {
        lines.push(Line::from(Span::styled(
            format!("  … and {hidden} more threads (the others lost nothing, or are past the first 20)"),
            dim(),
        )));
    }
}

/// The last-moments screen: each thread's last events under a heading,
/// the thread that went quiet first at the top.
fn render_last(app: &App, threads: Option<&[crate::source::ThreadLast]>, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title(" last moments: each thread's last events ");
    let Some(threads) = threads else {
        frame.render_widget(Paragraph::new("reading the last events…").block(block), area);
        return;
    };
    let mut lines = Vec::new();
    if threads.is_empty() {
        lines.push(Line::from("no events"));
    }
    for t in threads {
        let input = app.summary.inputs.get(t.input);
        let mut head = vec![Span::styled(format!("── {} ", escape(&t.thread)), Style::new().bold())];
        if let Some(i) = input {
            head.push(Span::styled(format!("({} pid {}) ", escape(&i.service), i.pid), dim()));
            if i.panic_thread.as_deref() == Some(&*t.thread) {
                head.push(Span::styled("panicked ", Style::new().red().bold()));
            }
        }
        if let Some(last) = t.rows.last() {
            head.push(Span::raw(format!("last event {}", crate::text::time_of_day(last.timestamp_ns))));
        }
        if let Some((kept, overwritten)) = t.ring {
            head.push(Span::styled(
                format!("; its ring kept {}, overwrote {}", count_text(kept), count_text(overwritten)),
                dim(),
            ));
        }
        lines.push(Line::from(head));
        for r in &t.rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {} ", crate::text::time_of_day(r.timestamp_ns)), dim()),
                Span::styled(format!("{:<5} ", r.level.as_str()), level_style(r.level)),
                Span::styled(format!("{} ", escape(&r.target)), Style::new().cyan()),
                Span::raw(escape(&r.message).into_owned()),
                Span::styled(format!(" {}", escape(&crate::text::fields_text(&r.fields))), dim()),
            ]));
        }
    }
    if app.last_missing > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "… and {} more threads that logged nothing in the last {} events (filter to one to see its last events)",
                app.last_missing,
                count_text(crate::app::LAST_ROWS_MAX as u64)
            ),
            dim(),
        )));
    }
    render_scrolled(app, lines, block, frame, area);
}

fn render_stats(app: &App, stats: Option<&Stats>, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title(" stats of the shown events ");
    let Some(s) = stats else {
        frame.render_widget(Paragraph::new("computing…").block(block), area);
        return;
    };
    let mut lines = Vec::new();
    let label = |t: &str| Span::styled(format!("{t:<12}"), dim());
    lines.push(Line::from(vec![label("events"), Span::raw(count_text(s.events))]));
    if let Some((a, b)) = s.span_ns {
        // In 128 bits: the extreme timestamps are 584 years apart.
        let secs = (i128::from(b) - i128::from(a)) as f64 / 1e9;
        lines.push(Line::from(vec![label("from"), Span::raw(format_rfc3339(a))]));
        lines.push(Line::from(vec![label("to"), Span::raw(format_rfc3339(b))]));
        let rate = if secs > 0.0 { format!("  ({:.1} events/s)", s.events as f64 / secs) } else { String::new() };
        lines.push(Line::from(vec![label("span"), Span::raw(format!("{secs:.3} s{rate}"))]));
    }
    lines.push(Line::from(""));
    let max = s.per_level.iter().copied().max().unwrap_or(0);
    for l in Level::ALL.iter().rev() {
        let n = s.per_level[*l as usize];
        lines.push(Line::from(vec![
            Span::styled(format!("{:<12}", l.as_str()), level_style(*l)),
            Span::raw(format!("{:>12} ", count_text(n))),
            Span::styled(bar(n, max, 30), level_style(*l)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("most frequent messages", Style::new().bold())));
    for (level, target, message, n) in s.top_messages.iter().take(10) {
        lines.push(Line::from(vec![
            Span::raw(format!("{:>12} ", count_text(*n))),
            Span::styled(format!("{:<5} ", level.as_str()), level_style(*level)),
            Span::styled(format!("{} ", escape(target)), Style::new().cyan()),
            Span::raw(escape(message).into_owned()),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("threads", Style::new().bold())));
    for (name, n) in s.per_thread.iter().take(10) {
        lines.push(Line::from(vec![
            Span::raw(format!("{:>12} ", count_text(*n))),
            Span::raw(escape(name).into_owned()),
        ]));
    }
    ring_lines(&s.rings, &mut lines);
    render_scrolled(app, lines, block, frame, area);
}

fn render_groups(g: &GroupScreen, frame: &mut Frame<'_>, area: Rect) {
    let [keys_area, groups_area] = Layout::horizontal([Constraint::Length(24), Constraint::Fill(1)]).areas(area);
    let choosing = g.groups.is_none();
    let key_rows = g.keys.iter().map(|k| TableRow::new([Cell::from(escape(k).into_owned())]));
    let keys = Table::new(key_rows, [Constraint::Fill(1)])
        .block(Block::default().borders(Borders::TOP | Borders::RIGHT).title(" group by "))
        .row_highlight_style(if choosing {
            Style::new().bg(Color::Rgb(40, 50, 80)).bold()
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        })
        .highlight_symbol("› ");
    let mut state = TableState::default().with_selected(Some(g.key_index));
    frame.render_stateful_widget(keys, keys_area, &mut state);
    let block = Block::default().borders(Borders::TOP);
    match &g.groups {
        None => frame.render_widget(
            Paragraph::new(Span::styled("choose a key with j/k and Enter", dim())).block(block),
            groups_area,
        ),
        Some(None) => frame.render_widget(Paragraph::new("counting…").block(block), groups_area),
        Some(Some(groups)) => {
            let total: u64 = groups.groups.iter().map(|x| x.count).sum::<u64>() + groups.missing;
            let max = groups.groups.first().map_or(0, |x| x.count);
            let value_w =
                groups.groups.iter().map(|x| escape(&x.value).chars().count()).max().unwrap_or(5).clamp(5, 40);
            let bar_w = (groups_area.width as usize).saturating_sub(value_w + 12 + 8 + 4).max(4);
            let rows = groups.groups.iter().map(|x| {
                TableRow::new([
                    Cell::from(escape(&x.value).into_owned()),
                    Cell::from(format!("{:>12}", count_text(x.count))),
                    Cell::from(format!("{:>6.1}%", 100.0 * x.count as f64 / total.max(1) as f64)),
                    Cell::from(Span::styled(bar(x.count, max, bar_w), Style::new().cyan())),
                ])
            });
            let mut title = format!(" {} groups by {} ", groups.groups.len(), escape(&groups.key));
            if groups.more > 0 {
                title.push_str(&format!("(+{} more) ", groups.more));
            }
            if groups.missing > 0 {
                title.push_str(&format!("· {} events without it ", count_text(groups.missing)));
            }
            let table = Table::new(
                rows,
                [
                    Constraint::Length(value_w as u16),
                    Constraint::Length(12),
                    Constraint::Length(7),
                    Constraint::Fill(1),
                ],
            )
            .header(
                TableRow::new([
                    "value".to_owned(),
                    format!("{:>12}", "events"),
                    format!("{:>7}", "share"),
                    String::new(),
                ])
                .style(Style::new().bold()),
            )
            .block(block.title(title))
            .row_highlight_style(Style::new().bg(Color::Rgb(40, 50, 80)).bold());
            let mut state = TableState::default().with_selected(Some(g.group_index));
            frame.render_stateful_widget(table, groups_area, &mut state);
        }
    }
}
