//! Units as Docker users type and read them, in one place: sizes (`64m`, `1.5GiB`, `-1`),
//! Go durations (`1h30m`), timestamps for `--since`/`--until`/`until=` filters, and the
//! human-readable sizes and ages Docker prints. Every flag and filter that takes one of these
//! parses it here, so two verbs never read the same value differently.

pub mod human;
pub mod size;
pub mod time;

/// A value that does not parse; the message names the value and the accepted forms.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(pub String);

impl crate::error::Coded for BadValue {
    fn code(&self) -> crate::Code {
        crate::Code::BAD_ARGS
    }
}
