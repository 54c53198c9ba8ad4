//! `polyshm shm …`: manage named segments from the shell.
//!
//! Segments made by `create` are marked persistent: they outlive the command (whose
//! process ends at once) and stay until `polyshm shm rm NAME`. `clean` removes only
//! segments whose creating process died without removing them (a crashed program's
//! leftovers), never a persistent one, a live owner's, or another program's.
//!
//! Windows and macOS cannot enumerate segments: there `ls` and `clean` read the
//! per-user index that polyshm's creators keep (see `polyshm::shm::admin`). On
//! Windows a segment goes only when the last process holding it closes it or exits:
//! `create` is refused, and `rm` and `clean` say so for a segment still held, and
//! remove only the stale index entries of segments already gone.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use polyshm::shm::{admin, SharedMemory};
use std::io::{Read, Write};

/// Subcommands of `polyshm shm`.
#[derive(Subcommand, Debug)]
pub enum ShmCommand {
    /// Create a segment that stays until removed (`polyshm shm rm NAME`).
    Create {
        /// Segment name: 1-22 bytes of A-Z a-z 0-9 _ - . (not starting with `.`).
        name: String,
        /// Data bytes: 4096, 64K, 1M, 1G (K/M/G/T are powers of 1024).
        #[arg(long, value_parser = parse_size)]
        size: u64,
    },
    /// Copy standard input into a segment.
    Write {
        /// Segment name.
        name: String,
        /// Where in the data region to start (same suffixes as --size).
        #[arg(long, default_value = "0", value_parser = parse_size)]
        offset: u64,
    },
    /// Copy bytes of a segment to standard output.
    Read {
        /// Segment name.
        name: String,
        /// Where in the data region to start (same suffixes as --size).
        #[arg(long, default_value = "0", value_parser = parse_size)]
        offset: u64,
        /// How many bytes (default: up to the end of the data region).
        #[arg(long, value_parser = parse_size)]
        len: Option<u64>,
    },
    /// List polyshm segments: name, size, owner pid, whether the owner lives (on
    /// Windows and macOS, those polyshm's per-user index names).
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a segment by name (processes that mapped it keep their mapping). On
    /// Windows a segment some process holds cannot be removed: it says so.
    Rm {
        /// Segment name.
        name: String,
    },
    /// Remove segments whose owner died without removing them (never persistent
    /// segments, live owners' segments, or other programs' segments). On Windows,
    /// where a segment still held cannot be deleted, it says `kept NAME: why`.
    Clean {
        /// Only names that start with one of these prefixes (default: every name).
        prefixes: Vec<String>,
    },
}

/// Run one `polyshm shm` subcommand.
pub fn run(cmd: ShmCommand) -> Result<()> {
    match cmd {
        ShmCommand::Create { name, size } => create(&name, size),
        ShmCommand::Write { name, offset } => write(&name, offset),
        ShmCommand::Read { name, offset, len } => read(&name, offset, len),
        ShmCommand::Ls { json } => ls(json),
        ShmCommand::Rm { name } => Ok(admin::remove(&name)?),
        ShmCommand::Clean { prefixes } => {
            let mut done = admin::Cleaned::default();
            let all = [String::new()];
            for p in if prefixes.is_empty() {
                &all[..]
            } else {
                &prefixes
            } {
                let c = admin::clean_report(p)?;
                done.removed.extend(c.removed);
                done.kept.extend(c.kept);
            }
            for name in done.removed {
                println!("removed {name}");
            }
            for (name, why) in done.kept {
                println!("kept {name}: {why}");
            }
            Ok(())
        }
    }
}

/// Parse `4096`, `64K`, `1M`, `1G`, `2T` (also `64k`, `64KiB`, `64KB`): binary multiples.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!(
            "{text:?} is not a size: write a number, optionally followed by K, M, G or T"
        ));
    }
    let number: u64 = t[..digits].parse().map_err(|e| format!("{text:?}: {e}"))?;
    let shift = match t[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use K, M, G or T (powers of 1024)"
            ))
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn to_usize(v: u64, what: &str) -> Result<usize> {
    usize::try_from(v)
        .with_context(|| format!("{what} {v} does not fit this machine's address space"))
}

fn create(name: &str, size: u64) -> Result<()> {
    if !polyshm::sys::SEGMENTS_PERSIST {
        bail!(
            "on {} a segment exists only while some process holds it, so `polyshm shm create` \
             cannot leave one behind: create it from the program that uses it",
            polyshm::sys::PLATFORM
        );
    }
    let shm = SharedMemory::create(name, to_usize(size, "size")?)?;
    shm.persist();
    eprintln!("created segment {name}: {size} bytes; it stays until `polyshm shm rm {name}`");
    Ok(())
}

fn write(name: &str, offset: u64) -> Result<()> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .context("reading standard input")?;
    let shm = SharedMemory::open(name)?;
    shm.write_at(to_usize(offset, "offset")?, &data)?;
    Ok(())
}

fn read(name: &str, offset: u64, len: Option<u64>) -> Result<()> {
    let shm = SharedMemory::open(name)?;
    let offset = to_usize(offset, "offset")?;
    let len = match len {
        Some(l) => to_usize(l, "length")?,
        None if offset <= shm.len() => shm.len() - offset,
        None => bail!(
            "segment {name:?} holds {} bytes; offset {offset} is past its end",
            shm.len()
        ),
    };
    let mut buf = vec![0u8; len];
    shm.read_at(offset, &mut buf)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buf).context("writing standard output")?;
    out.flush().context("writing standard output")?;
    Ok(())
}

fn ls(json: bool) -> Result<()> {
    use std::fmt::Write as _;
    let list = admin::list()?;
    let mut text = String::new();
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "size": s.size,
                    "owner_pid": s.owner.map(|o| o.pid),
                    "owner_alive": s.owner_alive,
                    "persistent": s.persistent,
                    "unfinished": s.unfinished,
                    "stale": s.stale,
                    "problem": s.problem,
                })
            })
            .collect();
        writeln!(text, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        writeln!(
            text,
            "{:<24} {:>14} {:>9} {:>6} {:>10}  problem",
            "name", "size", "owner", "alive", "persistent"
        )?;
        for s in list {
            writeln!(
                text,
                "{:<24} {:>14} {:>9} {:>6} {:>10}  {}",
                s.name,
                s.size.map_or("-".into(), |v| v.to_string()),
                s.owner.map_or("-".into(), |o| o.pid.to_string()),
                if s.owner_alive { "yes" } else { "no" },
                if s.persistent { "yes" } else { "no" },
                s.problem.as_deref().unwrap_or("")
            )?;
        }
    }
    // A reader that stops early (`polyshm shm ls | head`) is not an error.
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing standard output")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        for bad in ["", "K", "1Q", "-1", "1.5M", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
