//! The one error type of `crate::io`: which file, which member of it, and what is wrong.
//!
//! Readers build an [`IoError`] from a [`ErrorKind`] and a one-line lowercase cause, then attach
//! the member (inside an archive) and the path as the error travels outwards. It renders as
//! ``` `w.npz`: member `conv1/kernel`: header says shape (3, 3, 1, 8) … ``` and implements
//! [`miette::Diagnostic`] with a `io::…` code, so the driver shows it like every other
//! diagnostic.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What class of problem an [`IoError`] is; each has its own diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The file or directory does not exist.
    NotFound,
    /// Any other operating-system error while opening, reading or writing.
    Os,
    /// The file holds no bytes at all.
    Empty,
    /// The data ends before the header (or the format) says it should.
    Truncated,
    /// The data goes on after everything the header describes.
    TrailingBytes,
    /// The first bytes are not the magic number of the expected format.
    BadMagic,
    /// A format version this reader does not know.
    BadVersion,
    /// A header that cannot be parsed or does not say what the format requires.
    BadHeader,
    /// A dtype the readers do not support (complex, object, strings, …).
    UnsupportedDtype,
    /// A `.npy` array stored in Fortran (column-major) order.
    FortranOrder,
    /// A well-formed array whose dtype is not the one the caller needs.
    WrongDtype,
    /// A well-formed array whose shape is not the one the caller needs.
    WrongShape,
    /// The data would need more memory than the budget allows (or than exists).
    TooLarge,
    /// A zip or gzip container that is damaged.
    Corrupt,
    /// Two archive members that give the same array name.
    DuplicateMember,
    /// Images and labels of a dataset disagree on the number of samples.
    CountMismatch,
    /// Several files could play the same role and none is preferred.
    Ambiguous,
    /// An output path that names an existing directory.
    OutputIsDirectory,
    /// An output path that is the same file as one of the inputs.
    OutputIsInput,
    /// An array name that cannot be stored as an archive member.
    InvalidName,
    /// Floating-point data holding NaN or infinite values.
    NonFinite,
    /// A value outside the range its role allows (e.g. a label above 255).
    BadValue,
    /// A size such as `QNNC_MEMORY_BUDGET=2G` that cannot be parsed.
    BadSize,
    /// A valid file made for something else: a training checkpoint of another model, data set
    /// or set of options.
    Mismatch,
}

impl ErrorKind {
    /// The diagnostic code, e.g. `io::truncated`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "io::not_found",
            ErrorKind::Os => "io::os",
            ErrorKind::Empty => "io::empty",
            ErrorKind::Truncated => "io::truncated",
            ErrorKind::TrailingBytes => "io::trailing_bytes",
            ErrorKind::BadMagic => "io::bad_magic",
            ErrorKind::BadVersion => "io::bad_version",
            ErrorKind::BadHeader => "io::bad_header",
            ErrorKind::UnsupportedDtype => "io::unsupported_dtype",
            ErrorKind::FortranOrder => "io::fortran_order",
            ErrorKind::WrongDtype => "io::wrong_dtype",
            ErrorKind::WrongShape => "io::wrong_shape",
            ErrorKind::TooLarge => "io::too_large",
            ErrorKind::Corrupt => "io::corrupt",
            ErrorKind::DuplicateMember => "io::duplicate_member",
            ErrorKind::CountMismatch => "io::count_mismatch",
            ErrorKind::Ambiguous => "io::ambiguous",
            ErrorKind::OutputIsDirectory => "io::output_is_directory",
            ErrorKind::OutputIsInput => "io::output_is_input",
            ErrorKind::InvalidName => "io::invalid_name",
            ErrorKind::NonFinite => "io::non_finite",
            ErrorKind::BadValue => "io::bad_value",
            ErrorKind::BadSize => "io::bad_size",
            ErrorKind::Mismatch => "io::mismatch",
        }
    }
}

/// A problem with a file: its path (when there is one), the archive member being read (when
/// there is one), a one-line lowercase cause and an optional fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoError {
    kind: ErrorKind,
    path: Option<PathBuf>,
    member: Option<String>,
    cause: String,
    help: Option<String>,
}

impl IoError {
    /// An error without location; attach it with [`IoError::at`] and [`IoError::in_member`].
    pub fn new(kind: ErrorKind, cause: impl Into<String>) -> IoError {
        IoError {
            kind,
            path: None,
            member: None,
            cause: cause.into(),
            help: None,
        }
    }

    /// An operating-system error, phrased as `could not {doing}: {cause}`.
    pub fn os(doing: &str, err: &io::Error) -> IoError {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Os,
        };
        IoError::new(
            kind,
            format!("could not {doing}: {}", describe_os_error(err)),
        )
    }

    /// Sets the path unless one is already set (the innermost path wins).
    pub fn at(mut self, path: &Path) -> IoError {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// Sets the archive member unless one is already set.
    pub fn in_member(mut self, member: &str) -> IoError {
        if self.member.is_none() {
            self.member = Some(member.to_string());
        }
        self
    }

    /// Adds (or replaces) the suggested fix.
    pub fn with_help(mut self, help: impl Into<String>) -> IoError {
        self.help = Some(help.into());
        self
    }

    /// The class of problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the problem is in, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The archive member the problem is in, if any.
    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }

    /// The one-line cause, without path or member.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// The suggested fix, if any.
    pub fn help_text(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "`{}`: ", path.display())?;
        }
        if let Some(member) = &self.member {
            write!(f, "member `{member}`: ")?;
        }
        f.write_str(&self.cause)
    }
}

impl std::error::Error for IoError {}

impl miette::Diagnostic for IoError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

/// A lowercase, one-line description of an OS error (without the `(os error N)` suffix).
pub(crate) fn describe_os_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::UnexpectedEof => "unexpected end of data".to_string(),
        _ => {
            let text = err.to_string();
            let text = match text.find(" (os error") {
                Some(at) => &text[..at],
                None => &text,
            };
            lowercase_line(text)
        }
    }
}

/// `text` on one line with a lowercase first letter and no final period, as messages require.
pub(crate) fn lowercase_line(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = one_line.trim_end_matches('.');
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A shape the way NumPy prints it: `()`, `(5,)`, `(3, 3, 1, 8)`.
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_path_member_and_cause() {
        let e = IoError::new(ErrorKind::Truncated, "payload too short")
            .in_member("conv1/kernel")
            .at(Path::new("w.npz"))
            .at(Path::new("outer.npz"));
        assert_eq!(
            e.to_string(),
            "`w.npz`: member `conv1/kernel`: payload too short"
        );
        assert_eq!(e.kind().code(), "io::truncated");
    }

    #[test]
    fn lowercase_line_normalises_messages() {
        assert_eq!(
            lowercase_line("Invalid checksum.\n more"),
            "invalid checksum. more"
        );
        assert_eq!(lowercase_line(""), "");
    }

    #[test]
    fn shapes_print_like_numpy() {
        assert_eq!(fmt_shape(&[]), "()");
        assert_eq!(fmt_shape(&[5]), "(5,)");
        assert_eq!(fmt_shape(&[3, 3, 1, 8]), "(3, 3, 1, 8)");
    }
}
