//! The one question berth asks of an ELF file: does it need a program interpreter (a
//! `PT_INTERP` program header, i.e. dynamic linking)? A binary that runs inside a container's
//! root (the default image's busybox, berth-init) must not: the root has no host libc.
//! Reading the ELF header and the program header table (elf(5)) is enough, so no ELF crate.

use std::io::{self, Read, Seek, SeekFrom};

/// How an executable is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    Static,
    /// It names an interpreter (ld.so), which must exist where it runs.
    Dynamic,
    NotElf,
}

const PT_INTERP: u32 = 3;

/// Reads the headers of `f` (from its start) and says how it is linked.
pub fn linkage(f: &mut (impl Read + Seek)) -> io::Result<Linkage> {
    let mut head = [0u8; 64];
    f.seek(SeekFrom::Start(0))?;
    if f.read_exact(&mut head).is_err() || &head[..4] != b"\x7fELF" {
        return Ok(Linkage::NotElf);
    }
    let is64 = head[4] == 2;
    let le = head[5] == 1;
    let uint = |b: &[u8], o: usize, n: usize| -> u64 {
        let bytes = &b[o..o + n];
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { bytes[n - 1 - i] } else { bytes[i] };
            v = (v << 8) | byte as u64;
        }
        v
    };
    let (phoff, phentsize, phnum) = if is64 {
        (uint(&head, 32, 8), uint(&head, 54, 2), uint(&head, 56, 2))
    } else {
        (uint(&head, 28, 4), uint(&head, 42, 2), uint(&head, 44, 2))
    };
    if phentsize < 4 {
        return Ok(Linkage::NotElf);
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    f.seek(SeekFrom::Start(phoff))?;
    f.read_exact(&mut table)?;
    let dynamic =
        (0..phnum as usize).any(|i| uint(&table, i * phentsize as usize, 4) as u32 == PT_INTERP);
    Ok(if dynamic {
        Linkage::Dynamic
    } else {
        Linkage::Static
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic_and_text_is_not_elf() {
        let mut me = std::fs::File::open("/proc/self/exe").unwrap();
        // cargo's test binaries for the gnu target are dynamically linked.
        assert_eq!(linkage(&mut me).unwrap(), Linkage::Dynamic);
        let mut text = io::Cursor::new(b"#!/bin/sh\necho hi\n".to_vec());
        assert_eq!(linkage(&mut text).unwrap(), Linkage::NotElf);
    }

    #[test]
    fn a_static_header_without_interp_is_static() {
        // A minimal 64-bit little-endian header with one PT_LOAD (type 1) program header.
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[32] = 64; // e_phoff
        elf[54] = 56; // e_phentsize
        elf[56] = 1; // e_phnum
        elf[64] = 1; // p_type = PT_LOAD
        assert_eq!(
            linkage(&mut io::Cursor::new(elf.clone())).unwrap(),
            Linkage::Static
        );
        elf[64] = 3; // PT_INTERP
        assert_eq!(
            linkage(&mut io::Cursor::new(elf)).unwrap(),
            Linkage::Dynamic
        );
    }
}
