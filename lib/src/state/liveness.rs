//! Is a recorded process still the one we started? A pid alone is not enough: pids are
//! reused. A process is identified by its pid together with its start time, field 22 of
//! `/proc/PID/stat` (clock ticks since boot), which no other process can share.

use std::io::Read;

/// A procfs file read into `room` bytes made ahead. A procfs file has no size, so std would
/// start from 32 bytes and double, one read each, and every read makes the kernel generate
/// the file again up to its offset: two reads instead of five to eight on the start path.
pub fn read_procfs(path: &str, room: usize) -> std::io::Result<String> {
    let mut text = String::with_capacity(room);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// `/proc/PID/stat`, or `None` if there is no such process.
fn stat(pid: i32) -> Option<String> {
    if pid <= 0 {
        return None;
    }
    read_procfs(&format!("/proc/{pid}/stat"), 1024).ok()
}

/// The start time of `pid`, or `None` if there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    parse_start_time(&stat(pid)?)
}

/// Parses field 22 of a `/proc/PID/stat` line. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come field 3 (state) onwards; field 22 is the 20th of those.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The single-letter state (field 3) of `pid`: R, S, D, Z, T...
pub fn proc_state(pid: i32) -> Option<char> {
    parse_state(&stat(pid)?)
}

fn parse_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// True if `pid` is alive, is not a zombie, and started at `start` (when `start` is known).
pub fn is_alive(pid: i32, start: u64) -> bool {
    let Some(stat) = stat(pid) else {
        return false;
    };
    match parse_start_time(&stat) {
        Some(t) if start == 0 || t == start => parse_state(&stat) != Some('Z'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
        assert!(!is_alive(0, 0));
    }

    #[test]
    fn a_zombie_is_not_alive() {
        use nix::sys::wait::{Id, WaitPidFlag, waitid};
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        // Exited, not reaped: still in /proc, as a zombie.
        waitid(
            Id::Pid(nix::unistd::Pid::from_raw(pid)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .unwrap();
        assert_eq!(proc_state(pid), Some('Z'));
        assert!(!is_alive(pid, start));
        child.wait().unwrap();
        assert!(!is_alive(pid, start));
    }

    #[test]
    fn parses_names_with_parentheses() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(parse_start_time(line), Some(98765));
    }
}
