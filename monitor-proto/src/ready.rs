//! The report pipe (`--ready`): berth-spawn waits for one line on it before `run -d` or
//! `start` returns. The monitor writes [`OK`] once it listens on the attach socket; whoever
//! fails first (berth-spawn's detached child before the exec, or the monitor on a bad
//! command line) writes [`error_line`], a JSON object `{"code": N, "message": "..."}` with
//! berth's exit code and a one-line message. End-of-file without a line means the monitor
//! died.

/// The line (without its newline) that says the monitor is listening.
pub const OK: &str = "ok";

/// The line to write for success, newline included.
pub const OK_LINE: &[u8] = b"ok\n";

/// The line to write for an error, newline included.
pub fn error_line(code: u8, message: &str) -> String {
    let mut s = format!("{{\"code\":{code},\"message\":\"");
    for c in message.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push_str("\"}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_one_line_of_json() {
        let m = "bad \"value\" for --pid: C:\\x\nnext\u{1}é";
        let line = error_line(4, m);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["code"], 4);
        assert_eq!(v["message"], m);
    }

    #[test]
    fn ok_is_one_line() {
        assert_eq!(OK_LINE, format!("{OK}\n").as_bytes());
    }
}
