//! Finding the `.rs` files under the given paths, skipping `target/` and hidden
//! folders, and the crate each belongs to (the nearest folder at or above it, within the
//! given path, holding a `Cargo.toml`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A source file to assess.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as shown: the given path joined with the path below it, `/`-separated.
    pub shown: String,
    /// The path to open (absolute, so that drones in any folder find it).
    pub open: PathBuf,
    /// The shown path of its crate's folder (the given path itself if no `Cargo.toml`
    /// is found at or below it on the way).
    pub krate: String,
}

/// Every `.rs` file under `roots`, sorted by shown path (each file once). Symbolic links
/// to folders are not followed; a root that does not exist is an error.
pub fn sources(roots: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for root in roots {
        let meta =
            std::fs::metadata(root).with_context(|| format!("cannot read `{}`", root.display()))?;
        let open = std::path::absolute(root)
            .with_context(|| format!("cannot resolve `{}`", root.display()))?;
        let shown = shown(root);
        if meta.is_file() {
            // a file given alone: its folder stands for its crate
            let krate = shown_parent(&shown);
            out.push(Source { shown, open, krate });
        } else {
            let krate = shown.clone();
            walk(&open, &shown, &krate, &mut out)?;
        }
    }
    out.sort_by(|a, b| a.shown.cmp(&b.shown));
    out.dedup_by(|a, b| a.shown == b.shown);
    if out.is_empty() {
        bail!(
            "no .rs files under {}",
            roots
                .iter()
                .map(|r| format!("`{}`", r.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

fn shown(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        "/".into()
    } else {
        s.into()
    }
}

fn shown_parent(shown: &str) -> String {
    match shown.rsplit_once('/') {
        Some((p, _)) if !p.is_empty() => p.into(),
        _ => ".".into(),
    }
}

fn join(shown: &str, name: &str) -> String {
    if shown == "/" {
        format!("/{name}")
    } else {
        format!("{shown}/{name}")
    }
}

fn walk(dir: &Path, shown: &str, krate: &str, out: &mut Vec<Source>) -> Result<()> {
    let krate = if dir.join("Cargo.toml").is_file() {
        shown.to_string()
    } else {
        krate.to_string()
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list `{}`", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list `{}`", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let kind = e
            .file_type()
            .with_context(|| format!("cannot stat `{}`", e.path().display()))?;
        if kind.is_dir() {
            if name.starts_with('.') || name == "target" {
                continue;
            }
            walk(&e.path(), &join(shown, &name), &krate, out)?;
        } else if name.ends_with(".rs") && (kind.is_file() || e.path().is_file()) {
            out.push(Source {
                shown: join(shown, &name),
                open: e.path(),
                krate: krate.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_skips_target_and_hidden_and_finds_crates() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "a/Cargo.toml",
            "a/src/lib.rs",
            "a/src/b/mod.rs",
            "a/target/gen.rs",
            "a/.git/x.rs",
            "loose.rs",
            "notes.txt",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let s = sources(&[root.to_path_buf()]).unwrap();
        let top = shown(root);
        let got: Vec<(String, String)> = s
            .iter()
            .map(|s| {
                (
                    s.shown.strip_prefix(&top).unwrap().to_string(),
                    s.krate.strip_prefix(&top).unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/a/src/b/mod.rs".to_string(), "/a".to_string()),
                ("/a/src/lib.rs".to_string(), "/a".to_string()),
                ("/loose.rs".to_string(), String::new()),
            ]
        );
        assert!(s.iter().all(|s| s.open.is_absolute()));
        assert!(sources(&[root.join("nope")]).is_err());
    }
}
