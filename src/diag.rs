//! Rendering diagnostics in the three `--message-format`s.
//!
//! - `human`: miette's graphical report (colour only on a terminal without `NO_COLOR`);
//! - `short`: one line per diagnostic, `file:line:col: error[code]: message`, through
//!   codespan-reporting's short style (what editors parse);
//! - `json`: one JSON object per line with code, severity, message, labels (byte offsets and
//!   1-based line/column) and help.
//!
//! Every renderer reads diagnostics only through the [`miette::Diagnostic`] trait, so any stage's
//! error type renders the same way.

use crate::source::{SourceFile, Span};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, Severity};
use serde::Serialize;
use std::fmt::Write as _;

/// `--message-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum MessageFormat {
    /// Annotated source snippets (the default).
    #[default]
    Human,
    /// One line per diagnostic: `file:line:col: error[code]: message`.
    Short,
    /// One JSON object per line.
    Json,
}

/// How to render: the format, whether to use colour, and the width of human reports.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub format: MessageFormat,
    pub color: bool,
    pub width: usize,
}

impl RenderOptions {
    /// Plain text, 80 columns: what golden tests compare.
    pub fn plain(format: MessageFormat) -> RenderOptions {
        RenderOptions {
            format,
            color: false,
            width: 80,
        }
    }
}

/// A diagnostic, read through the trait into plain data.
#[derive(Clone, Debug, Serialize)]
pub struct Flat {
    pub file: String,
    pub code: Option<String>,
    pub severity: &'static str,
    pub message: String,
    pub labels: Vec<FlatLabel>,
    pub help: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlatLabel {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub primary: bool,
    pub text: Option<String>,
}

fn severity_name(d: &dyn Diagnostic) -> &'static str {
    match d.severity().unwrap_or(Severity::Error) {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "advice",
    }
}

/// Reads a diagnostic into plain data. The first label is the primary one unless a label is
/// marked primary.
pub fn flatten(src: &SourceFile, d: &dyn Diagnostic) -> Flat {
    let labels: Vec<miette::LabeledSpan> = d.labels().map(|l| l.collect()).unwrap_or_default();
    let any_primary = labels.iter().any(|l| l.primary());
    let labels = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (line, column) = src.line_col(l.offset());
            let (end_line, end_column) = src.line_col(l.offset() + l.len());
            FlatLabel {
                start: l.offset(),
                end: l.offset() + l.len(),
                line,
                column,
                end_line,
                end_column,
                primary: if any_primary { l.primary() } else { i == 0 },
                text: l.label().map(str::to_string),
            }
        })
        .collect();
    Flat {
        file: src.name().to_string(),
        code: d.code().map(|c| c.to_string()),
        severity: severity_name(d),
        message: d.to_string(),
        labels,
        help: d.help().map(|h| h.to_string()),
    }
}

/// Renders one diagnostic about `src`.
pub fn render(src: &SourceFile, d: &dyn Diagnostic, opts: RenderOptions) -> String {
    match opts.format {
        MessageFormat::Human => render_human(src, d, opts),
        MessageFormat::Short => render_short(src, d),
        MessageFormat::Json => {
            let mut s = serde_json::to_string(&flatten(src, d)).expect("diagnostics serialize");
            s.push('\n');
            s
        }
    }
}

/// A diagnostic with the source attached, for miette's renderer.
struct WithSource<'a> {
    inner: &'a dyn Diagnostic,
    source: NamedSource<String>,
}

impl std::fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.inner, f)
    }
}

impl std::fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.inner.help()
    }
    fn url<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.inner.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

fn render_human(src: &SourceFile, d: &dyn Diagnostic, opts: RenderOptions) -> String {
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_urls(false)
        .with_context_lines(1);
    let wrapped = WithSource {
        inner: d,
        source: NamedSource::new(src.name(), src.text().to_string()),
    };
    let mut out = String::new();
    handler
        .render_report(&mut out, &wrapped)
        .expect("writing to a String cannot fail");
    out
}

fn render_short(src: &SourceFile, d: &dyn Diagnostic) -> String {
    use codespan_reporting::diagnostic::{
        Diagnostic as CsDiagnostic, Label, Severity as CsSeverity,
    };
    use codespan_reporting::files::SimpleFile;
    use codespan_reporting::term::{self, Config, DisplayStyle};
    let flat = flatten(src, d);
    let severity = match flat.severity {
        "error" => CsSeverity::Error,
        "warning" => CsSeverity::Warning,
        _ => CsSeverity::Note,
    };
    let labels = flat
        .labels
        .iter()
        .map(|l| {
            let label = if l.primary {
                Label::primary((), l.start..l.end)
            } else {
                Label::secondary((), l.start..l.end)
            };
            label.with_message(l.text.clone().unwrap_or_default())
        })
        .collect();
    let mut diag = CsDiagnostic::new(severity)
        .with_message(flat.message)
        .with_labels(labels);
    if let Some(code) = flat.code {
        diag = diag.with_code(code);
    }
    let file = SimpleFile::new(src.name(), src.text());
    let config = Config {
        display_style: DisplayStyle::Short,
        ..Config::default()
    };
    term::emit_into_string(&config, &file, &diag).expect("the span lies inside the file")
}

/// Renders every diagnostic, then (for `human`) a closing count line.
pub fn render_all<'a>(
    src: &SourceFile,
    diags: impl IntoIterator<Item = &'a (dyn Diagnostic + 'a)>,
    opts: RenderOptions,
) -> String {
    let mut out = String::new();
    let (mut errors, mut warnings) = (0, 0);
    for d in diags {
        match d.severity().unwrap_or(Severity::Error) {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            Severity::Advice => {}
        }
        out.push_str(&render(src, d, opts));
    }
    if opts.format == MessageFormat::Human && errors + warnings > 0 {
        let _ = writeln!(out, "{}", count_line(src.name(), errors, warnings));
    }
    out
}

/// `2 errors and 1 warning in `toy.q``
pub fn count_line(file: &str, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) => format!("{} in `{file}`", plural(w, "warning")),
        (e, 0) => format!("{} in `{file}`", plural(e, "error")),
        (e, w) => format!(
            "{} and {} in `{file}`",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

/// A span covering a whole label of a flattened diagnostic (for tests).
pub fn label_span(l: &FlatLabel) -> Span {
    Span::new(l.start, l.end)
}

/// A diagnostic shown as a warning whatever its own severity: what the AKD1000 would refuse,
/// when compiling for the simulator.
#[derive(Debug)]
pub struct AsWarning(pub crate::Error);

impl std::fmt::Display for AsWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for AsWarning {}

impl Diagnostic for AsWarning {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.0.code()
    }
    fn severity(&self) -> Option<Severity> {
        Some(Severity::Warning)
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.0.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// Render options for the terminal: colour on a TTY unless `NO_COLOR` is set; width from
/// `COLUMNS` or the terminal, else 100.
pub fn terminal_options(format: MessageFormat) -> RenderOptions {
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    RenderOptions {
        format,
        color,
        width,
    }
}
