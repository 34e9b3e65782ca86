//! The attach protocol: clients (`berth attach`, `berth start -a`, `berth run -it`) talk to
//! the monitor, which owns the container's stdio, over a unix socket (`<run>/attach/<id>`, or
//! a socketpair end handed over at start so nothing is missed).
//!
//! Client to monitor: one mode byte ([`MODE_INPUT`], [`MODE_STDIN_ONCE`]), then input frames
//! `[kind, len: u32 BE] payload` ([`input_frame`]): [`IN_DATA`] input, [`IN_END`] end of
//! input. A client that goes away without ending its input (a detach) leaves the container's
//! stdin open.
//!
//! Monitor to client: one greeting byte, [`GREET_TTY`] (a terminal: its master comes along
//! with SCM_RIGHTS, [`crate::fdpass`], for the client's window-size changes) or
//! [`GREET_PIPES`]; then Docker's multiplexed frames `[kind, 0, 0, 0, len: u32 BE] payload`
//! ([`output_frame`]): [`OUT_STDOUT`], [`OUT_STDERR`] (a terminal's output is stdout), and
//! berth's [`OUT_EXIT`], the exit code in decimal, sent before the monitor closes the
//! connection when the container ends.

/// Mode bit: the client sends input.
pub const MODE_INPUT: u8 = 1;
/// Mode bit: the container's stdin closes when the client's input ends (Docker's StdinOnce).
pub const MODE_STDIN_ONCE: u8 = 2;

/// Greeting: the container has a terminal; its master travels with this byte.
pub const GREET_TTY: u8 = b't';
/// Greeting: the container's stdio are pipes.
pub const GREET_PIPES: u8 = b'p';

/// Input frame: bytes for the container's stdin.
pub const IN_DATA: u8 = 0;
/// Input frame: the client's input ended.
pub const IN_END: u8 = 1;

/// Output frame: the container's stdout (or its terminal).
pub const OUT_STDOUT: u8 = 1;
/// Output frame: the container's stderr.
pub const OUT_STDERR: u8 = 2;
/// Output frame: the container's exit code, in decimal.
pub const OUT_EXIT: u8 = 3;

/// Header sizes: input `[kind, len]`, output `[kind, 0, 0, 0, len]`.
const IN_HEADER: usize = 5;
const OUT_HEADER: usize = 8;

/// The mode byte a client sends first.
pub fn mode(input: bool, stdin_once: bool) -> u8 {
    (if input { MODE_INPUT } else { 0 }) | (if stdin_once { MODE_STDIN_ONCE } else { 0 })
}

/// Whether a client with this mode ends the container's stdin when its input ends.
pub fn ends_stdin(mode: u8) -> bool {
    mode & (MODE_INPUT | MODE_STDIN_ONCE) == MODE_INPUT | MODE_STDIN_ONCE
}

/// Whether a client with this mode sends input.
pub fn sends_input(mode: u8) -> bool {
    mode & MODE_INPUT != 0
}

fn frame(header: usize, kind: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(header + data.len());
    f.push(kind);
    f.resize(header - 4, 0);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// A client-to-monitor frame.
pub fn input_frame(kind: u8, data: &[u8]) -> Vec<u8> {
    frame(IN_HEADER, kind, data)
}

/// A monitor-to-client frame.
pub fn output_frame(kind: u8, data: &[u8]) -> Vec<u8> {
    frame(OUT_HEADER, kind, data)
}

/// The frame that tells a client the container exited with `code`.
pub fn exit_frame(code: i32) -> Vec<u8> {
    output_frame(OUT_EXIT, code.to_string().as_bytes())
}

/// The exit code an [`OUT_EXIT`] frame carries.
pub fn exit_code(payload: &[u8]) -> Option<i32> {
    std::str::from_utf8(payload).ok()?.parse().ok()
}

/// Reassembles frames from a byte stream that arrives in pieces of any size.
#[derive(Debug)]
pub struct Decoder {
    header: usize,
    buf: Vec<u8>,
}

impl Decoder {
    /// For frames from a client ([`input_frame`]).
    pub fn input() -> Decoder {
        Decoder {
            header: IN_HEADER,
            buf: Vec::new(),
        }
    }

    /// For frames from the monitor ([`output_frame`]).
    pub fn output() -> Decoder {
        Decoder {
            header: OUT_HEADER,
            buf: Vec::new(),
        }
    }

    /// Adds `data`, and calls `each(kind, payload)` for every frame now complete.
    pub fn push(&mut self, data: &[u8], mut each: impl FnMut(u8, &[u8])) {
        self.buf.extend_from_slice(data);
        let h = self.header;
        let mut at = 0;
        while self.buf.len() - at >= h {
            let l = &self.buf[at + h - 4..at + h];
            let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
            if self.buf.len() - at - h < len {
                break;
            }
            each(self.buf[at], &self.buf[at + h..at + h + len]);
            at += h + len;
        }
        self.buf.drain(..at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(mut d: Decoder, bytes: &[u8], piece: usize) -> Vec<(u8, Vec<u8>)> {
        let mut got = Vec::new();
        for chunk in bytes.chunks(piece) {
            d.push(chunk, |k, p| got.push((k, p.to_vec())));
        }
        got
    }

    #[test]
    fn output_frames_are_dockers_multiplexed_frames() {
        assert_eq!(
            output_frame(OUT_STDERR, b"hi"),
            [2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(exit_frame(137), [3, 0, 0, 0, 0, 0, 0, 3, b'1', b'3', b'7']);
    }

    #[test]
    fn input_frames_have_a_five_byte_header() {
        assert_eq!(
            input_frame(IN_DATA, b"ls\n"),
            [0, 0, 0, 0, 3, b'l', b's', b'\n']
        );
        assert_eq!(input_frame(IN_END, b""), [1, 0, 0, 0, 0]);
    }

    #[test]
    fn frames_round_trip_whatever_the_read_sizes() {
        let mut out = output_frame(OUT_STDOUT, b"abc");
        out.extend(output_frame(OUT_STDERR, b""));
        out.extend(exit_frame(-1));
        let want = vec![
            (OUT_STDOUT, b"abc".to_vec()),
            (OUT_STDERR, Vec::new()),
            (OUT_EXIT, b"-1".to_vec()),
        ];
        let mut inp = input_frame(IN_DATA, &[0x10; 300]);
        inp.extend(input_frame(IN_END, b""));
        for piece in [1, 3, 5, 8, 1000] {
            assert_eq!(decode_in_pieces(Decoder::output(), &out, piece), want);
            assert_eq!(
                decode_in_pieces(Decoder::input(), &inp, piece),
                vec![(IN_DATA, vec![0x10; 300]), (IN_END, Vec::new())]
            );
        }
        assert_eq!(exit_code(b"-1"), Some(-1));
        assert_eq!(exit_code(b"x"), None);
    }

    #[test]
    fn mode_bits() {
        assert_eq!(mode(false, false), 0);
        assert_eq!(mode(true, true), 3);
        assert!(ends_stdin(mode(true, true)));
        // StdinOnce without input ends nothing: the client never sent any.
        assert!(!ends_stdin(mode(false, true)));
        assert!(!ends_stdin(mode(true, false)));
        assert!(sends_input(mode(true, false)));
        assert!(!sends_input(mode(false, true)));
    }
}
