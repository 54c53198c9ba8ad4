//! Segment names: what is allowed, and how a name maps to the operating system's.
//!
//! A polyshm name is 1 to [`MAX_NAME_LEN`] bytes of `A-Z a-z 0-9 _ - .`, not starting
//! with `.`. The operating-system name adds [`PREFIX`]: `/polyshm.<name>` on Linux and
//! macOS (visible as `/dev/shm/polyshm.<name>` on Linux), `Local\polyshm.<name>` on
//! Windows. The limit keeps the whole name within macOS's 31 bytes.

use super::ShmError;

/// Prefix of every OS-level polyshm segment name.
pub const PREFIX: &str = "polyshm.";
/// Longest polyshm name, in bytes: `/` + [`PREFIX`] + name fits in 31 bytes.
pub const MAX_NAME_LEN: usize = polyshm_sys::MAX_OS_NAME_LEN - 1 - PREFIX.len();

/// Check a user-facing name; on success answer the OS-level name (without any `/`).
pub fn os_name(name: &str) -> Result<String, ShmError> {
    let bad = |reason: String| ShmError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(format!("it is {} bytes long; the limit is {MAX_NAME_LEN} (macOS allows 31 bytes in all, and polyshm adds `/{PREFIX}`)", name.len())));
    }
    if name.starts_with('.') {
        return Err(bad("it starts with `.`".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(bad(format!("it holds {c:?}; use only A-Z a-z 0-9 _ - .")));
    }
    Ok(format!("{PREFIX}{name}"))
}

/// The user-facing name of an OS-level name, if it is one of ours.
pub fn from_os_name(os: &str) -> Option<&str> {
    os.strip_prefix(PREFIX)
}

/// A fresh, unique name starting with `stem` (truncated to fit): for temporary
/// segments such as mailboxes and test fixtures.
pub fn unique_name(stem: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let salt = super::header::random_u64() as u32 & 0xfff;
    let tail = format!("{:x}-{seq:x}{salt:03x}", std::process::id());
    let keep = MAX_NAME_LEN.saturating_sub(tail.len() + 1).min(stem.len());
    format!("{}-{tail}", &stem[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(os_name("a.b-c_1").unwrap(), "polyshm.a.b-c_1");
        for bad in ["", ".x", "a/b", "a b", "é", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert!(
                matches!(os_name(bad), Err(ShmError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(os_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        let u = unique_name("a-rather-long-stem-for-a-name");
        assert!(os_name(&u).is_ok(), "{u}");
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
