//! Words for help messages: "did you mean" suggestions and lists of names in backticks.
//!
//! Used by lowering, and by every other stage that suggests a name (keywords, layers of a
//! weights file, models of a file).

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo: an edit
/// distance (a swap of two neighbours counts as one edit) of at most a third of the word, or
/// one being a prefix of the other (`conv` → `conv2d`, `maximum` → `max`).
pub fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let close = candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    close.or_else(|| {
        candidates
            .iter()
            .filter(|c| {
                let (short, long) = if c.len() < word.len() {
                    (**c, word)
                } else {
                    (word, **c)
                };
                short.len() >= 3 && long.starts_with(short)
            })
            .min_by_key(|c| c.len().abs_diff(word.len()))
            .copied()
    })
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, v) in d[0].iter_mut().enumerate() {
        *v = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// Names in backticks, separated by commas: `` `a`, `b`, `c` ``.
pub fn code_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    backticked(names).join(", ")
}

/// Names in backticks, the last two joined by "and": `` `a`, `b` and `c` ``.
pub(crate) fn code_list_and<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    match backticked(names).as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn backticked<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("vaild", &["valid", "same"]), Some("valid"));
        assert_eq!(did_you_mean("conv", &["conv2d", "dense"]), Some("conv2d"));
        assert_eq!(
            did_you_mean("maximum", &["max", "max_per_axis"]),
            Some("max")
        );
        assert_eq!(
            did_you_mean("paddin", &["padding", "strides"]),
            Some("padding")
        );
        assert_eq!(did_you_mean("xyz", &["padding", "strides"]), None);
    }

    #[test]
    fn lists() {
        assert_eq!(code_list(["a", "b", "c"]), "`a`, `b`, `c`");
        assert_eq!(code_list_and(["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(code_list_and(["a"]), "`a`");
        assert_eq!(code_list(Vec::<String>::new()), "");
    }
}
