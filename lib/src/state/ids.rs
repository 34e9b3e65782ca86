//! Container ids: 64 random hex characters, printed as 12.

/// `n` random bytes as hex (2n characters).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf);
    hex::encode(buf)
}

/// Fills `buf` from the kernel's random source (getrandom(2), waiting until it is seeded).
/// rustix's raw system call, not the getrandom crate: in berth's static builds that crate
/// finds no `getrandom` through dlsym and falls back to polling /dev/random and keeping
/// /dev/urandom open, four system calls and a descriptor more in every process that names a
/// file.
pub fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("the kernel's random source failed: {e}"),
        }
    }
}

/// A new 64-character container id. Like Docker, never all digits, so that an id can never be
/// mistaken for a number in a shell or a short-id prefix match of a pid.
pub fn new_id() -> String {
    loop {
        let id = random_hex(32);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// The 12-character short form.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Whether `s` looks like a full id.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_unique() {
        let a = new_id();
        assert!(is_full_id(&a));
        assert_ne!(a, new_id());
        assert_eq!(short(&a).len(), 12);
    }
}
