//! Window messages where there are none (every platform but Windows): each operation
//! answers `ErrorKind::Unsupported`, and [`HAS_WINDOW_MESSAGES`](crate::HAS_WINDOW_MESSAGES)
//! is `false`.

use crate::WindowHandle;
use std::io;
use std::sync::Arc;
use std::time::Duration;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "window messages exist only on Windows; signal through shared-memory semaphores here",
    )
}

/// What a [`MessageWindow`] does with an application message (never called here).
pub type MessageHandler = Arc<dyn Fn(u32, usize, isize) -> isize + Send + Sync>;

/// A message-only window (never made on this platform).
#[derive(Debug)]
pub struct MessageWindow {
    _never: std::convert::Infallible,
}

impl MessageWindow {
    /// `Unsupported`.
    pub fn create(_name: &str, _handler: MessageHandler) -> io::Result<MessageWindow> {
        Err(unsupported())
    }
    /// The window's handle.
    pub fn handle(&self) -> WindowHandle {
        match self._never {}
    }
}

/// `Unsupported`.
pub fn find_window(_name: &str) -> io::Result<WindowHandle> {
    Err(unsupported())
}

/// `Unsupported`.
pub fn send_message(
    _to: WindowHandle,
    _code: u32,
    _wparam: usize,
    _lparam: isize,
    _timeout: Duration,
) -> io::Result<isize> {
    Err(unsupported())
}
