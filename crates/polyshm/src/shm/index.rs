//! The per-user index of segments, kept where the system cannot enumerate them
//! (Windows, macOS: see [`polyshm_sys::segment_index_dir`]), so that
//! [`admin`](super::admin) can list and clean them there too.
//!
//! The process that creates a segment enters it once its header is published: one
//! small text file per segment, `<name>@<pid>-<start time>-<nonce>`, written to a
//! temporary name (`.<file>.tmp`) and renamed into place, so that no reader sees half
//! an entry and two creators never write the same file. The owner removes its entry
//! when it lets the segment go (as it unlinks the segment on Linux); a crashed owner
//! leaves it, and `clean` removes an entry whose segment is gone.
//!
//! The index is untrusted input, like shared memory: any process of the user may
//! write anything there. [`read`] never fails on one file: a file that is not an
//! entry (not a regular file, too long, not UTF-8, a field missing or malformed, a
//! name that disagrees with the file's) is answered as that file's problem.
//!
//! An entry reads:
//!
//! ```text
//! polyshm segment index 1
//! name=mailbox-1f2e-3a
//! pid=4242
//! start_time=133777000000000000
//! nonce=9c1d2e3f40516273
//! size=65536
//! created=1764768000
//! ```
//!
//! `start_time` is in the platform's units ([`ProcessId`]); `created` is in seconds
//! since 1970.

use super::name;
use polyshm_sys::ProcessId;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// First line of every entry: the format and its version.
const FIRST_LINE: &str = "polyshm segment index 1";
/// No entry is longer (a longer file is not an entry, and is not read further).
const MAX_ENTRY_BYTES: u64 = 512;

/// What the creator of a segment entered in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The segment's polyshm name.
    pub name: String,
    /// Its creator.
    pub owner: ProcessId,
    /// The nonce of its header: tells this segment from a later one of the same name.
    pub nonce: u64,
    /// Its data bytes.
    pub size: u64,
    /// When it was made, in seconds since 1970.
    pub created: u64,
}

impl Entry {
    /// The entry's file name: `<name>@<pid>-<start time>-<nonce>`.
    fn file_name(&self) -> String {
        format!(
            "{}@{}-{}-{:016x}",
            self.name, self.owner.pid, self.owner.start_time, self.nonce
        )
    }

    fn to_text(&self) -> String {
        format!(
            "{FIRST_LINE}\nname={}\npid={}\nstart_time={}\nnonce={:016x}\nsize={}\ncreated={}\n",
            self.name, self.owner.pid, self.owner.start_time, self.nonce, self.size, self.created
        )
    }

    /// Parse an entry's text, checking every field; `Err` says what is wrong.
    fn parse(text: &str) -> Result<Entry, String> {
        let mut lines = text.lines();
        if lines.next() != Some(FIRST_LINE) {
            return Err(format!("it does not start with {FIRST_LINE:?}"));
        }
        let mut fields: [Option<&str>; 6] = [None; 6];
        const KEYS: [&str; 6] = ["name", "pid", "start_time", "nonce", "size", "created"];
        for line in lines {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {line:?} is not `key=value`"))?;
            let slot = KEYS
                .iter()
                .position(|k| *k == key)
                .ok_or_else(|| format!("unknown field {key:?}"))?;
            if fields[slot].replace(value).is_some() {
                return Err(format!("field {key:?} appears twice"));
            }
        }
        let field = |i: usize| {
            fields[i].ok_or_else(|| format!("field {:?} is missing (cut short?)", KEYS[i]))
        };
        let number = |i: usize| -> Result<u64, String> {
            let v = field(i)?;
            v.parse()
                .map_err(|_| format!("field {:?} = {v:?} is not a number", KEYS[i]))
        };
        let name = field(0)?;
        name::os_name(name).map_err(|e| e.to_string())?;
        let pid = u32::try_from(number(1)?).map_err(|_| "field \"pid\" is out of range")?;
        let nonce = field(3)?;
        let nonce = u64::from_str_radix(nonce, 16)
            .map_err(|_| format!("field \"nonce\" = {nonce:?} is not hexadecimal"))?;
        Ok(Entry {
            name: name.to_owned(),
            owner: ProcessId {
                pid,
                start_time: number(2)?,
            },
            nonce,
            size: number(4)?,
            created: number(5)?,
        })
    }
}

/// One file of the index, as [`read`] found it.
#[derive(Debug)]
pub(crate) struct Found {
    /// The file.
    pub path: PathBuf,
    /// The segment name its file name gives (the part before `@`), for reports.
    pub name_hint: String,
    /// The entry, or what is wrong with the file.
    pub entry: Result<Entry, String>,
}

/// The index folder, or why there is none.
pub(crate) fn dir() -> io::Result<PathBuf> {
    polyshm_sys::segment_index_dir()
}

/// Enter segment `name` (made by this process, header published) in the index.
/// Answers the entry's file, or `None` if it could not be written: the index is an
/// aid to `polyshm shm ls` and `clean`, and a segment whose entry could not be written
/// works all the same (it is only not listed).
pub(crate) fn register(name: &str, owner: ProcessId, nonce: u64, size: u64) -> Option<PathBuf> {
    let created = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let entry = Entry {
        name: name.to_owned(),
        owner,
        nonce,
        size,
        created,
    };
    let dir = dir().ok()?;
    let path = dir.join(entry.file_name());
    let tmp = dir.join(format!(".{}.tmp", entry.file_name()));
    let written = std::fs::write(&tmp, entry.to_text()).and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    Some(path)
}

/// Remove an entry's file; one already gone is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Every entry of the index in `dir`, sorted by file name. Fails only if the folder
/// cannot be read; a bad file is that file's [`Found::entry`] error. Temporary files
/// (names starting with `.`) are skipped: see [`sweep_temporaries`].
pub(crate) fn read(dir: &Path) -> io::Result<Vec<Found>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let file_name = item.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let name_hint = match file_name.split_once('@') {
            Some((n, _)) => n.to_owned(),
            None => file_name.clone(),
        };
        let path = item.path();
        let entry = read_one(&path).and_then(|e| {
            if file_name.split_once('@').map(|(n, _)| n) == Some(e.name.as_str()) {
                Ok(e)
            } else {
                Err(format!(
                    "it names segment {:?} but its file name does not",
                    e.name
                ))
            }
        });
        out.push(Found {
            path,
            name_hint,
            entry,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Read and parse one file, never more than [`MAX_ENTRY_BYTES`] of it, never a file
/// that is not a regular one (a FIFO would block the reader).
fn read_one(path: &Path) -> Result<Entry, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_ENTRY_BYTES {
        return Err(format!(
            "it holds {} bytes; an entry holds at most {MAX_ENTRY_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot be read: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    Entry::parse(text)
}

/// Remove the temporary files (`.<entry>.tmp`) in `dir` of segments named
/// `prefix…` older than `age`: what a creator that died between writing and renaming
/// its entry leaves. Younger ones may be a creator at work.
pub(crate) fn sweep_temporaries(dir: &Path, prefix: &str, age: Duration) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.flatten() {
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age);
        let ours = item
            .file_name()
            .to_string_lossy()
            .strip_prefix('.')
            .is_some_and(|n| n.starts_with(prefix));
        if ours && old {
            let _ = std::fs::remove_file(item.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            name: "mb-1.x_y".into(),
            owner: ProcessId {
                pid: 4242,
                start_time: 133_777_000_000_000_000,
            },
            nonce: 0x9c1d_2e3f_4051_6273,
            size: 65536,
            created: 1_764_768_000,
        }
    }

    #[test]
    fn an_entry_reads_back() {
        let e = sample();
        assert_eq!(Entry::parse(&e.to_text()), Ok(e.clone()));
        assert!(e.file_name().starts_with("mb-1.x_y@4242-"));
        assert!(e.to_text().len() as u64 <= MAX_ENTRY_BYTES);
    }

    #[test]
    fn a_bad_entry_says_what_is_wrong() {
        let good = sample().to_text();
        let cut = &good[..good.find("size=").unwrap()];
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "does not start"),
            ("polyshm segment index 2\n".into(), "does not start"),
            (cut.into(), "\"size\" is missing"),
            (good.replace("pid=4242", "pid=-1"), "not a number"),
            (good.replace("pid=4242", "pid=99999999999"), "out of range"),
            (good.replace("nonce=9c", "nonce=zz"), "not hexadecimal"),
            (
                good.replace("name=mb-1.x_y", "name=../x"),
                "bad segment name",
            ),
            (format!("{good}size=1\n"), "appears twice"),
            (format!("{good}colour=red\n"), "unknown field"),
            (format!("{good}garbage\n"), "not `key=value`"),
        ];
        for (text, says) in cases {
            let e = Entry::parse(&text).expect_err(&text);
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
