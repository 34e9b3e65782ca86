//! The contract between berth-spawn (crate `berth`, `container::monitor` and `container::attach`)
//! and berth-monitor (`tools/monitor`), written once so that both sides use the same
//! definition:
//!
//! - [`args`]: the monitor's command line, written by berth-spawn and parsed by the monitor;
//!   a bad value is an error the monitor reports and exits on, never a silent default;
//! - [`ready`]: the one line the monitor writes on its report pipe, `ok` or an error;
//! - [`attach`]: the attach protocol between clients and the monitor (mode bits, greeting,
//!   input and output frames);
//! - [`fdpass`]: one message with an optional descriptor (SCM_RIGHTS), used by the attach
//!   greeting, `monitor-hook respawn`'s answer, the sync channel and `--console-socket`.
//!
//! It depends on libc only: the monitor lives as long as its container and must stay small.

pub mod args;
pub mod attach;
pub mod fdpass;
pub mod ready;
