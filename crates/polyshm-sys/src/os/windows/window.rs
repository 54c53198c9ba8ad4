//! Message-only windows (`HWND_MESSAGE`) on threads of their own, and `SendMessage`
//! between processes: the transport of the study's `Win32MessageSending`.
//!
//! A [`MessageWindow`] is a window of class `polyshm.relay` whose parent is
//! `HWND_MESSAGE`: it is never shown, receives no broadcasts, needs no display (Wine
//! runs it headless), and can be found by its title ([`find_window`]) or addressed by
//! its handle, which is valid in every process of the desktop. A thread of its own
//! creates it and pumps its messages (`GetMessageW` / `DispatchMessageW`); the window
//! procedure hands every message in the application range (`WM_APP` = 0x8000 up to
//! 0xBFFF) to the handler the owner gave, on that thread, and returns the handler's
//! answer to the sender. [`send_message`] is `SendMessageTimeoutW`: synchronous, it
//! returns once the receiving thread has handled the message.

use super::handle::wide;
use crate::WindowHandle;
use std::cell::RefCell;
use std::io;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_CLASS_ALREADY_EXISTS, ERROR_INVALID_THREAD_ID, ERROR_INVALID_WINDOW_HANDLE,
    ERROR_TIMEOUT, HWND, LPARAM, LRESULT, WPARAM,
};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, FindWindowExW, GetMessageW, PostMessageW,
    PostQuitMessage, RegisterClassExW, SendMessageTimeoutW, HWND_MESSAGE, MSG, SMTO_ABORTIFHUNG,
    SMTO_BLOCK, WM_APP, WM_CLOSE, WM_DESTROY, WNDCLASSEXW,
};

/// The last message code of the application range (`WM_APP` through 0xBFFF).
const LAST_APP_MESSAGE: u32 = 0xBFFF;

/// What a [`MessageWindow`] does with an application message: `(code, wParam,
/// lParam) -> reply`. Runs on the window's own thread, one message at a time.
pub type MessageHandler = Arc<dyn Fn(u32, usize, isize) -> isize + Send + Sync>;

thread_local! {
    /// The handler of the one window this thread owns (a window thread owns one).
    static HANDLER: RefCell<Option<MessageHandler>> = const { RefCell::new(None) };
}

/// The window class, registered once per process.
fn class_name() -> &'static [u16] {
    static CLASS: OnceLock<Vec<u16>> = OnceLock::new();
    CLASS.get_or_init(|| wide("polyshm.relay"))
}

/// `RegisterClassExW` of `polyshm.relay`, once per process: threads that create
/// relays at the same time wait for the one registration to finish (CI under Wine saw
/// a second thread, told the class already existed, fail `CreateWindowExW` with "Class
/// does not exist" while the first was still registering it).
fn register_class() -> io::Result<()> {
    static REGISTERED: OnceLock<Result<(), i32>> = OnceLock::new();
    let done = REGISTERED.get_or_init(|| {
        // SAFETY: a null module name asks for this executable's handle.
        let instance = unsafe { GetModuleHandleW(std::ptr::null()) };
        // SAFETY: all zeroes is a valid WNDCLASSEXW (nulls and zeros); fields set below.
        let mut class: WNDCLASSEXW = unsafe { std::mem::zeroed() };
        class.cbSize = std::mem::size_of::<WNDCLASSEXW>() as u32;
        class.lpfnWndProc = Some(window_proc);
        class.hInstance = instance;
        class.lpszClassName = class_name().as_ptr();
        // SAFETY: `class` is filled in; the class name is a 'static NUL-terminated string.
        if unsafe { RegisterClassExW(&class) } == 0 {
            // SAFETY: no preconditions.
            let err = unsafe { GetLastError() };
            if err != ERROR_CLASS_ALREADY_EXISTS {
                return Err(err as i32);
            }
        }
        Ok(())
    });
    done.map_err(io::Error::from_raw_os_error)
}

/// The window procedure of `polyshm.relay`: application messages go to this thread's
/// handler; `WM_DESTROY` ends the thread's message loop; the rest is the default's.
unsafe extern "system" fn window_proc(
    hwnd: HWND,
    msg: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    if (WM_APP..=LAST_APP_MESSAGE).contains(&msg) {
        let handler = HANDLER.with(|h| h.borrow().clone());
        if let Some(handler) = handler {
            // A panic must not unwind into the system's caller: it answers 0.
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler(msg, wparam, lparam)
            }))
            .unwrap_or(0);
        }
        return 0;
    }
    if msg == WM_DESTROY {
        // SAFETY: no preconditions; ends this thread's `GetMessageW` loop.
        unsafe { PostQuitMessage(0) };
        return 0;
    }
    // SAFETY: the arguments are the ones the system passed to this procedure.
    unsafe { DefWindowProcW(hwnd, msg, wparam, lparam) }
}

/// A message-only window on a thread of its own; the window is destroyed and the
/// thread joined on drop.
#[derive(Debug)]
pub struct MessageWindow {
    hwnd: WindowHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MessageWindow {
    /// `CreateWindowExW(class "polyshm.relay", title name, parent HWND_MESSAGE)` on a
    /// new thread that then pumps the window's messages, handing every application
    /// message (`WM_APP`..=0xBFFF) to `handler`.
    pub fn create(name: &str, handler: MessageHandler) -> io::Result<MessageWindow> {
        let title = wide(name);
        let (tx, rx) = mpsc::channel::<io::Result<WindowHandle>>();
        let thread = std::thread::Builder::new()
            .name(format!("relay {name}"))
            .spawn(move || {
                HANDLER.with(|h| *h.borrow_mut() = Some(handler));
                let made = register_class().and_then(|()| {
                    // SAFETY: the class is registered; the strings are NUL-terminated
                    // and outlive the call; HWND_MESSAGE makes a message-only window.
                    let hwnd = unsafe {
                        CreateWindowExW(
                            0,
                            class_name().as_ptr(),
                            title.as_ptr(),
                            0,
                            0,
                            0,
                            0,
                            0,
                            HWND_MESSAGE,
                            std::ptr::null_mut(),
                            GetModuleHandleW(std::ptr::null()),
                            std::ptr::null(),
                        )
                    };
                    if hwnd.is_null() {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(WindowHandle(hwnd as usize as u64))
                    }
                });
                let ok = made.is_ok();
                if tx.send(made).is_err() || !ok {
                    return;
                }
                let mut msg = MSG::default();
                // SAFETY: `msg` is a writable MSG; a null window filter takes every
                // message of this thread. The loop ends at WM_QUIT (0) or on error (-1).
                while unsafe { GetMessageW(&mut msg, std::ptr::null_mut(), 0, 0) } > 0 {
                    // SAFETY: `msg` was filled in by GetMessageW.
                    unsafe { DispatchMessageW(&msg) };
                }
            })?;
        let hwnd = rx
            .recv()
            .map_err(|_| io::Error::other("the relay window thread ended before its window"))?;
        match hwnd {
            Ok(hwnd) => Ok(MessageWindow {
                hwnd,
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// The window's handle, valid in every process of this desktop.
    pub fn handle(&self) -> WindowHandle {
        self.hwnd
    }
}

impl Drop for MessageWindow {
    fn drop(&mut self) {
        // WM_CLOSE: the default procedure destroys the window on its own thread, whose
        // WM_DESTROY ends the message loop.
        // SAFETY: posting to a handle is safe even if the window is gone (it fails).
        let posted = unsafe { PostMessageW(self.hwnd.0 as usize as HWND, WM_CLOSE, 0, 0) };
        if posted != 0 {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// `FindWindowExW(HWND_MESSAGE, class "polyshm.relay", title name)`: the message-only
/// relay window titled `name`, in any process of this desktop.
pub fn find_window(name: &str) -> io::Result<WindowHandle> {
    let title = wide(name);
    // SAFETY: the strings are NUL-terminated and outlive the call.
    let hwnd = unsafe {
        FindWindowExW(
            HWND_MESSAGE,
            std::ptr::null_mut(),
            class_name().as_ptr(),
            title.as_ptr(),
        )
    };
    if hwnd.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no relay window titled `{name}` (is its process running?)"),
        ));
    }
    Ok(WindowHandle(hwnd as usize as u64))
}

/// `SendMessageTimeoutW(to, code, wParam, lParam, SMTO_BLOCK | SMTO_ABORTIFHUNG,
/// timeout)`: deliver the message and wait for the receiving thread's answer.
///
/// `NotFound` if no window has that handle (its process has ended), `TimedOut` if the
/// answer did not come within `timeout` (rounded up to whole milliseconds; the message
/// may still be handled later), `InvalidInput` for a code outside the application range.
pub fn send_message(
    to: WindowHandle,
    code: u32,
    wparam: usize,
    lparam: isize,
    timeout: Duration,
) -> io::Result<isize> {
    if !(WM_APP..=LAST_APP_MESSAGE).contains(&code) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message code {code:#x} is outside the application range 0x8000..=0xBFFF"),
        ));
    }
    let ms = u32::try_from(crate::clamp_timeout(timeout).as_millis().max(1)).unwrap_or(u32::MAX);
    let mut answer: usize = 0;
    // SAFETY: `answer` is a writable usize; a stale handle makes the call fail, not UB.
    let ok = unsafe {
        SendMessageTimeoutW(
            to.0 as usize as HWND,
            code,
            wparam,
            lparam,
            SMTO_BLOCK | SMTO_ABORTIFHUNG,
            ms,
            &mut answer,
        )
    };
    if ok != 0 {
        return Ok(answer as isize);
    }
    // SAFETY: no preconditions.
    let err = unsafe { GetLastError() };
    Err(match err {
        // Wine reports a window whose thread has ended as an invalid thread id.
        ERROR_INVALID_WINDOW_HANDLE | ERROR_INVALID_THREAD_ID => io::Error::new(
            io::ErrorKind::NotFound,
            format!("no window {:#x}: its process has ended", to.0),
        ),
        // Some systems report a timeout with no error code.
        ERROR_TIMEOUT | 0 => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("window {:#x} did not answer within {ms} ms", to.0),
        ),
        e => io::Error::from_raw_os_error(e as i32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_window_answers_by_handle_and_by_name_and_goes_on_drop() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let name = format!("polyshm.test.{}", std::process::id());
        let w = MessageWindow::create(
            &name,
            Arc::new(move |code, wp, lp| {
                s.fetch_add(1, Ordering::SeqCst);
                (code - WM_APP) as isize * 1000 + wp as isize + lp
            }),
        )
        .unwrap();
        assert_eq!(find_window(&name).unwrap(), w.handle());
        for i in 0..100usize {
            let r = send_message(w.handle(), WM_APP + 3, i, -1, SECOND).unwrap();
            assert_eq!(r, 3000 + i as isize - 1);
        }
        assert_eq!(seen.load(Ordering::SeqCst), 100);
        // Codes outside the application range are refused before sending.
        let e = send_message(w.handle(), WM_CLOSE, 0, 0, SECOND).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let h = w.handle();
        drop(w);
        let e = send_message(h, WM_APP, 0, 0, SECOND).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert_eq!(
            find_window(&name).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
