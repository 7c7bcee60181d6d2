//! The documents' lists of layers and quantizer kinds, read for the tests that check them
//! against [`super::LAYERS`] and the quantizer table (test builds only).

const README: &str = include_str!("../../README.md");
const REFERENCE: &str = include_str!("../../docs/language.md");

/// The README's one-line list that follows `label` (`Layers: `) up to `end`, without the
/// backticks.
pub fn readme_list(label: &str, end: &str) -> Vec<&'static str> {
    let list = README
        .split(&format!("\n{label}"))
        .nth(1)
        .and_then(|rest| rest.split_once(end))
        .unwrap_or_else(|| panic!("the README has a list after `{label}`"))
        .0;
    list.split(',')
        .map(|w| w.trim().trim_matches('`'))
        .collect()
}

/// The rows of the first table of the language reference's section `heading` (`## Layers`),
/// without the header, each a list of trimmed cells.
pub fn reference_table(heading: &str) -> Vec<Vec<&'static str>> {
    let section = REFERENCE
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/language.md has a `{heading}` section"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}
