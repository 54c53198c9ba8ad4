//! The master's merge: the per-file reports (in the sorted order of the sources, however
//! they arrived) become one [`Assessment`] — crates, modules (files), their types,
//! traits and impl blocks, their functions — with aggregates (sum, max, mean of each
//! metric) at every level that holds functions, and the duplicate groups. Nothing in it
//! depends on who computed what, or when: the exports are byte-identical across drone
//! counts, transports and granularities.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::duplicates::{self, Group};
use super::metrics::{Metrics, NAMES};
use super::units::{FileError, FileReport, Function};
use super::walk::Source;

/// Sum, max and mean of each metric over some functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Functions counted.
    pub count: u32,
    /// Sums, in the order of [`NAMES`].
    pub sum: [u64; 7],
    /// Maxima, in the order of [`NAMES`].
    pub max: [u32; 7],
}

impl Aggregates {
    /// Add one function.
    pub fn add(&mut self, m: &Metrics) {
        self.count += 1;
        for (k, v) in m.values().into_iter().enumerate() {
            self.sum[k] += u64::from(v);
            self.max[k] = self.max[k].max(v);
        }
    }

    /// Add another set.
    pub fn merge(&mut self, o: &Aggregates) {
        self.count += o.count;
        for k in 0..NAMES.len() {
            self.sum[k] += o.sum[k];
            self.max[k] = self.max[k].max(o.max[k]);
        }
    }

    /// Mean of metric `k`, rounded to 2 decimals, as text (`0.00` over no functions).
    pub fn mean(&self, k: usize) -> String {
        if self.count == 0 {
            return "0.00".into();
        }
        // exact integer rounding, so that no float formatting can differ
        let hundredths = (self.sum[k] * 200 + u64::from(self.count)) / (2 * u64::from(self.count));
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

impl Serialize for Aggregates {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct One {
            sum: u64,
            max: u32,
            mean: serde_json::Number,
        }
        let mut map = s.serialize_map(Some(NAMES.len()))?;
        for (k, name) in NAMES.iter().enumerate() {
            let mean = self.mean(k).parse().map_err(serde::ser::Error::custom)?;
            map.serialize_entry(
                name,
                &One {
                    sum: self.sum[k],
                    max: self.max[k],
                    mean,
                },
            )?;
        }
        map.end()
    }
}

/// A function as exported.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FunctionOut {
    /// Name with inline modules and enclosing functions.
    pub name: String,
    /// First line.
    pub line: u32,
    /// Its metrics.
    pub metrics: Metrics,
}

impl From<&Function> for FunctionOut {
    fn from(f: &Function) -> FunctionOut {
        FunctionOut {
            name: f.name.clone(),
            line: f.line,
            metrics: f.metrics,
        }
    }
}

/// A type, trait or impl block as exported, with its functions (traits: their default
/// methods; impl blocks: their methods; structs, enums, unions: none).
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnitOut {
    /// `struct`, `enum`, `union`, `trait` or `impl`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its line.
    pub line: u32,
    /// Aggregates over its functions.
    pub aggregates: Aggregates,
    /// Its functions, in source order.
    pub functions: Vec<FunctionOut>,
}

/// A module (file).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Module {
    /// Shown path.
    pub path: String,
    /// Lines.
    pub lines: u32,
    /// Code lines.
    pub code_lines: u32,
    /// Why it could not be parsed, if so.
    pub error: Option<FileError>,
    /// Aggregates over every function in the file.
    pub aggregates: Aggregates,
    /// Functions outside any impl block or trait, in source order.
    pub functions: Vec<FunctionOut>,
    /// Its types, traits and impl blocks, in source order.
    pub units: Vec<UnitOut>,
}

/// A crate (a folder with `Cargo.toml`, or a given path).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Crate {
    /// Shown path of its folder.
    pub path: String,
    /// Lines in its files.
    pub lines: u64,
    /// Code lines in its files.
    pub code_lines: u64,
    /// Aggregates over its functions.
    pub aggregates: Aggregates,
    /// Its files, sorted by path.
    pub modules: Vec<Module>,
}

/// The whole assessment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Assessment {
    /// Files assessed.
    pub files: u64,
    /// Lines in them.
    pub lines: u64,
    /// Code lines in them.
    pub code_lines: u64,
    /// Functions found.
    pub functions: u64,
    /// Files that could not be parsed (or read).
    pub parse_errors: u64,
    /// Aggregates over every function.
    pub aggregates: Aggregates,
    /// Crates, sorted by path.
    pub crates: Vec<Crate>,
    /// Duplicate groups, the largest first.
    pub duplicates: Vec<Group>,
}

/// Merge the reports (one per source, in the same order) into the assessment.
pub fn merge(sources: &[Source], reports: &[FileReport]) -> Assessment {
    let mut crates: Vec<Crate> = Vec::new();
    let mut all = Aggregates::default();
    let (mut lines, mut code_lines, mut functions, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut order: Vec<(&Source, &FileReport)> = sources.iter().zip(reports).collect();
    order.sort_by(|a, b| (&a.0.krate, &a.0.shown).cmp(&(&b.0.krate, &b.0.shown)));
    for (s, r) in order {
        let module = module(s, r);
        lines += u64::from(module.lines);
        code_lines += u64::from(module.code_lines);
        functions += r.functions.len() as u64;
        errors += u64::from(module.error.is_some());
        all.merge(&module.aggregates);
        if crates.last().is_none_or(|c| c.path != s.krate) {
            crates.push(Crate {
                path: s.krate.clone(),
                lines: 0,
                code_lines: 0,
                aggregates: Aggregates::default(),
                modules: Vec::new(),
            });
        }
        let c = crates.last_mut().expect("pushed above");
        c.lines += u64::from(module.lines);
        c.code_lines += u64::from(module.code_lines);
        c.aggregates.merge(&module.aggregates);
        c.modules.push(module);
    }
    Assessment {
        files: sources.len() as u64,
        lines,
        code_lines,
        functions,
        parse_errors: errors,
        aggregates: all,
        crates,
        duplicates: duplicates::find(sources, reports),
    }
}

fn module(s: &Source, r: &FileReport) -> Module {
    let h = &r.header;
    let mut units: Vec<UnitOut> = h
        .units
        .iter()
        .map(|u| UnitOut {
            kind: u.kind.clone(),
            name: u.name.clone(),
            line: u.line,
            aggregates: Aggregates::default(),
            functions: Vec::new(),
        })
        .collect();
    let mut free = Vec::new();
    let mut aggregates = Aggregates::default();
    for f in &r.functions {
        aggregates.add(&f.metrics);
        match f.unit.and_then(|i| units.get_mut(i as usize)) {
            Some(u) => {
                u.aggregates.add(&f.metrics);
                u.functions.push(f.into());
            }
            None => free.push(FunctionOut::from(f)),
        }
    }
    Module {
        path: s.shown.clone(),
        lines: h.lines,
        code_lines: h.code_lines,
        error: h.error.clone(),
        aggregates,
        functions: free,
        units,
    }
}

/// The `n` most complex functions: (complexity, file, line, name), the most complex
/// first, ties by file and line.
pub fn most_complex(a: &Assessment, n: usize) -> Vec<(u32, String, u32, String)> {
    let mut all: Vec<(u32, String, u32, String)> = Vec::new();
    for m in a.crates.iter().flat_map(|c| &c.modules) {
        let fs = m
            .functions
            .iter()
            .chain(m.units.iter().flat_map(|u| &u.functions));
        for f in fs {
            all.push((f.metrics.complexity, m.path.clone(), f.line, f.name.clone()));
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, a.2).cmp(&(&b.1, b.2))));
    all.truncate(n);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_sum_max_and_round_the_mean_exactly() {
        let mut a = Aggregates::default();
        for lines in [1, 2, 2] {
            a.add(&Metrics {
                lines,
                ..Metrics::default()
            });
        }
        assert_eq!((a.count, a.sum[0], a.max[0]), (3, 5, 2));
        assert_eq!(a.mean(0), "1.67");
        assert_eq!(a.mean(1), "0.00");
        let mut b = Aggregates::default();
        b.add(&Metrics {
            lines: 7,
            ..Metrics::default()
        });
        a.merge(&b);
        assert_eq!(
            (a.count, a.sum[0], a.max[0], a.mean(0)),
            (4, 12, 7, "3.00".into())
        );
        assert_eq!(Aggregates::default().mean(0), "0.00");
    }
}
