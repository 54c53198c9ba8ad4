//! Duplicates: functions with the same token stream (signature and body, without
//! attributes, comments or spacing; compared by a 128-bit fingerprint) found in at least
//! two different files. A group lists every location, in the same file too.

use std::collections::BTreeMap;

use super::units::FileReport;
use super::walk::Source;

/// Where a function lies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    /// The file (shown path).
    pub file: String,
    /// The function's first line.
    pub line: u32,
    /// The function's name.
    pub name: String,
}

/// Functions with one token stream.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Tokens of each copy.
    pub tokens: u32,
    /// Lines of the first copy.
    pub lines: u32,
    /// Every copy, sorted by file and line.
    pub locations: Vec<Location>,
}

/// The duplicate groups among `reports` (one per source): the largest copies first
/// (by tokens), then by first location.
pub fn find(sources: &[Source], reports: &[FileReport]) -> Vec<Group> {
    let mut by_print: BTreeMap<[u64; 2], Group> = BTreeMap::new();
    for (s, r) in sources.iter().zip(reports) {
        for f in &r.functions {
            let g = by_print.entry(f.fingerprint).or_insert_with(|| Group {
                tokens: f.metrics.tokens,
                lines: f.metrics.lines,
                locations: Vec::new(),
            });
            g.locations.push(Location {
                file: s.shown.clone(),
                line: f.line,
                name: f.name.clone(),
            });
        }
    }
    let mut groups: Vec<Group> = by_print
        .into_values()
        .filter(|g| g.locations.iter().any(|l| l.file != g.locations[0].file))
        .map(|mut g| {
            g.locations.sort();
            g
        })
        .collect();
    groups.sort_by(|a, b| {
        b.tokens
            .cmp(&a.tokens)
            .then_with(|| a.locations.cmp(&b.locations))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::units::assess_source;

    fn source(shown: &str) -> Source {
        Source {
            shown: shown.into(),
            open: shown.into(),
            krate: ".".into(),
        }
    }

    #[test]
    fn same_tokens_across_files_whatever_the_spacing_and_comments() {
        let a = "/// doc\nfn add(a: u32, b: u32) -> u32 {\n    a + b // sum\n}\nfn other() {}\n";
        let b = "#[inline]\npub fn add(a:u32,b:u32)->u32{a+b}\n\nfn add2(a: u32, b: u32) -> u32 { a - b }\n";
        let c = "fn other() {}\nmod m { fn other() { } }\n";
        let sources = [source("a.rs"), source("b.rs"), source("c.rs")];
        let reports: Vec<_> = [a, b, c].iter().map(|s| assess_source(s)).collect();
        let groups = find(&sources, &reports);
        let got: Vec<Vec<(&str, u32, &str)>> = groups
            .iter()
            .map(|g| {
                g.locations
                    .iter()
                    .map(|l| (l.file.as_str(), l.line, l.name.as_str()))
                    .collect()
            })
            .collect();
        // `add` (19 tokens: `->` is two) before `other` (6); `add2` differs by one token; the two
        // `other`s of c.rs are both listed
        assert_eq!(
            got,
            [
                vec![("a.rs", 2, "add"), ("b.rs", 2, "add")],
                vec![
                    ("a.rs", 5, "other"),
                    ("c.rs", 1, "other"),
                    ("c.rs", 2, "m::other")
                ],
            ]
        );
        assert_eq!(groups[0].tokens, 19);
        assert_eq!(groups[1].tokens, 6);
    }

    #[test]
    fn copies_in_one_file_only_are_not_a_group() {
        let a = "fn f() { g(); }\nmod m { fn f() { g(); } }\n";
        let reports = [assess_source(a)];
        assert!(find(&[source("a.rs")], &reports).is_empty());
    }
}
