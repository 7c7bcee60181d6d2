//! The memory budget: how many bytes one allocation driven by file contents (or by a model's
//! sizes) may take, checked *before* allocating.
//!
//! The limit is, in order of precedence: the value given to [`set_limit`] (the CLI's
//! `--memory-budget`), the environment variable `QNNC_MEMORY_BUDGET` (e.g. `512M`, `2G`), or a
//! quarter of the physical memory (`MemTotal` in `/proc/meminfo`; 4 GiB where that cannot be
//! read). Sizes use binary units: `K` = 1024 bytes, `M` = 1024², `G` = 1024³, `T` = 1024⁴.
//!
//! The budget bounds each request on its own (an array, a dataset file, the arrays of one
//! archive together); it is not a running account of everything the process holds.

use super::error::{ErrorKind, IoError};
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that sets the budget when the CLI flag is absent.
pub const ENV_VAR: &str = "QNNC_MEMORY_BUDGET";

/// The budget when the physical memory size is unknown.
pub const FALLBACK_LIMIT: u64 = 4 << 30;

/// Set by [`set_limit`]; 0 means "not set" (a zero budget is refused by [`parse_size`]).
static OVERRIDE: AtomicU64 = AtomicU64::new(0);

/// A memory budget of a fixed number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Budget {
        Budget { limit }
    }

    /// The budget in force now: [`set_limit`], else `QNNC_MEMORY_BUDGET`, else a quarter of RAM.
    pub fn current() -> Result<Budget, IoError> {
        let set = OVERRIDE.load(Ordering::Relaxed);
        if set != 0 {
            return Ok(Budget::new(set));
        }
        match std::env::var(ENV_VAR) {
            Ok(text) => parse_size(&text).map(Budget::new).map_err(|e| {
                IoError::new(ErrorKind::BadSize, format!("`{ENV_VAR}`: {}", e.cause()))
                    .with_help("write a size such as `512M` or `2G`, or unset the variable")
            }),
            Err(_) => Ok(Budget::new(default_limit())),
        }
    }

    /// The limit in bytes.
    pub fn limit(self) -> u64 {
        self.limit
    }

    /// Refuses `bytes` when it exceeds the budget; `what` names the request, e.g.
    /// ``"the array"`` or ``"member `conv1/kernel`"``.
    pub fn check(self, bytes: u64, what: &str) -> Result<(), IoError> {
        if bytes <= self.limit {
            return Ok(());
        }
        Err(IoError::new(
            ErrorKind::TooLarge,
            format!(
                "{what} needs {} but the memory budget is {}",
                describe_size(bytes),
                describe_size(self.limit)
            ),
        )
        .with_help(format!(
            "if this size is expected, raise the budget with `--memory-budget` or `{ENV_VAR}` (e.g. `{ENV_VAR}={}`)",
            suggest(bytes)
        )))
    }
}

impl Budget {
    /// Refuses a model (or program) that needs `bytes` for `purpose` when that exceeds the
    /// budget: ``model `m` needs 37.2 GiB for its weights and activations, more than the memory
    /// budget of 3.9 GiB``. `subject` is e.g. ``"model `m`"``, `purpose` e.g. `"its weights"`.
    pub fn check_model(self, subject: &str, purpose: &str, bytes: u64) -> Result<(), IoError> {
        if bytes <= self.limit {
            return Ok(());
        }
        Err(IoError::new(
            ErrorKind::TooLarge,
            format!(
                "{subject} needs {} for {purpose}, more than the memory budget of {}",
                human_size(bytes),
                human_size(self.limit)
            ),
        )
        .with_help(format!(
            "raise it with `--memory-budget` (or `{ENV_VAR}`), or shrink the model"
        )))
    }
}

/// Sets the budget for the whole process (the CLI's `--memory-budget`). Overrides the
/// environment variable.
pub fn set_limit(bytes: u64) {
    assert!(bytes > 0, "a zero memory budget is refused by parse_size");
    OVERRIDE.store(bytes, Ordering::Relaxed);
}

/// The limit in force now, in bytes (see [`Budget::current`]).
pub fn limit() -> Result<u64, IoError> {
    Budget::current().map(Budget::limit)
}

/// Refuses `bytes` when it exceeds the budget in force, before anything is allocated.
pub fn check(bytes: u64, what: &str) -> Result<(), IoError> {
    Budget::current()?.check(bytes, what)
}

/// [`Budget::check_model`] against the budget in force.
pub fn check_model(subject: &str, purpose: &str, bytes: u64) -> Result<(), IoError> {
    Budget::current()?.check_model(subject, purpose, bytes)
}

/// A quarter of the physical memory, or [`FALLBACK_LIMIT`] when it is unknown.
pub fn default_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total_from_meminfo(&text))
        .map(|total| total / 4)
        .filter(|&quarter| quarter > 0)
        .unwrap_or(FALLBACK_LIMIT)
}

/// `MemTotal` in bytes from the text of `/proc/meminfo` (`MemTotal:  16318976 kB`).
pub fn mem_total_from_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let scale = match words.next() {
        Some("kB") | Some("KB") | Some("kiB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(scale)
}

/// Parses a size such as `512M`, `2G`, `1.5GiB`, `65536` (bytes); units are binary and
/// case-insensitive (`K`, `KB`, `KiB`, … up to `T`). Zero is refused.
pub fn parse_size(text: &str) -> Result<u64, IoError> {
    let bad = |why: &str| {
        IoError::new(ErrorKind::BadSize, format!("`{text}` is not a size: {why}")).with_help(
            "write a size such as `512M`, `2G` or `1.5G` (units K, M, G, T are powers of 1024)",
        )
    };
    let trimmed = text.trim();
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad("unknown unit")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad("no number"));
    }
    if fraction.contains('.') {
        return Err(bad("malformed number"));
    }
    if fraction.len() > 18 {
        return Err(bad("too many decimal places"));
    }
    let too_big = || bad("larger than 16 EiB");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_big())?
    };
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad("malformed number"))?
    };
    let denominator = 10u128.pow(fraction.len() as u32);
    let bytes = whole
        .checked_mul(denominator)
        .and_then(|n| n.checked_add(fraction_value))
        .and_then(|n| n.checked_mul(1u128 << shift))
        .map(|n| n / denominator)
        .ok_or_else(too_big)?;
    let bytes = u64::try_from(bytes).map_err(|_| too_big())?;
    if bytes == 0 {
        return Err(bad("the budget must be at least one byte"));
    }
    Ok(bytes)
}

/// `1.5 GiB (1610612736 bytes)`, or `100 bytes` for small sizes.
pub fn describe_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    format!("{} ({bytes} bytes)", human_size(bytes))
}

/// A size with one decimal in the largest binary unit that keeps it at or above 1.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    while unit + 1 < UNITS.len() && bytes >> (10 * (unit + 1)) > 0 {
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} bytes");
    }
    let scaled = bytes as f64 / (1u64 << (10 * unit)) as f64;
    format!("{scaled:.1} {}", UNITS[unit])
}

/// A round budget (in whole units) that would admit `bytes`, for the help text.
fn suggest(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift {
            return format!("{}{unit}", bytes.div_ceil(1 << shift));
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_with_binary_units() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2gib").unwrap(), 2 << 30);
        assert_eq!(parse_size(" 1.5G ").unwrap(), 3 << 29);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("1 KB").unwrap(), 1024);
        assert_eq!(parse_size(".5K").unwrap(), 512);
    }

    #[test]
    fn refuses_malformed_sizes() {
        for text in [
            "",
            "G",
            "0",
            "0.0M",
            "-1G",
            "1.2.3G",
            "12X",
            "99999999999T",
            "1e9",
        ] {
            let e = parse_size(text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadSize, "{text}");
        }
    }

    #[test]
    fn reads_mem_total() {
        let text = "MemFree: 1 kB\nMemTotal:       16318976 kB\n";
        assert_eq!(mem_total_from_meminfo(text), Some(16318976 * 1024));
        assert_eq!(mem_total_from_meminfo("nothing"), None);
    }

    #[test]
    fn check_refuses_with_size_and_budget() {
        let b = Budget::new(1 << 30);
        assert!(b.check(1 << 30, "x").is_ok());
        let e = b.check(3 << 30, "the array").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(
            e.cause(),
            "the array needs 3.0 GiB (3221225472 bytes) but the memory budget is 1.0 GiB (1073741824 bytes)"
        );
        assert!(e.help_text().unwrap().contains("QNNC_MEMORY_BUDGET=3G"));
    }

    #[test]
    fn model_check_names_model_size_and_budget() {
        let b = Budget::new(4 << 30);
        assert!(b.check_model("model `m`", "its weights", 4 << 30).is_ok());
        let e = b
            .check_model("model `m`", "its weights and activations", 37 << 30)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(
            e.cause(),
            "model `m` needs 37.0 GiB for its weights and activations, more than the memory budget of 4.0 GiB"
        );
        assert!(e.help_text().unwrap().contains("--memory-budget"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(100), "100 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }
}
