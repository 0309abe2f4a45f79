//! glibc's allocator set up for a process that frees large frame buffers again and again.
//!
//! glibc serves a block larger than its mmap threshold (128 KiB at start) with its own mapping
//! and gives it back to the kernel when freed. But after the first such block is freed it
//! raises that threshold to the freed block's size (up to 32 MiB), so every later decoded frame,
//! photograph or crop of that size comes from the heap, and freed ones stay there as resident
//! free memory. Fixing the threshold keeps the first behaviour: peak RSS 8–9 MiB lower for
//! `replay` and `run` (docs/memory.md). `MALLOC_MMAP_THRESHOLD_` in the
//! environment does the same, but only where the environment is set (the unit, not a person's
//! shell); set by the program, every command (`run`, `replay`, `eval`) allocates alike.
//!
//! An operator's own `MALLOC_MMAP_THRESHOLD_` wins: glibc has read it before `main`, and
//! [`tune`] leaves the threshold alone when it is set.

/// Blocks of this size and larger get their own mapping, given back when freed. 1 MiB: a
/// 1280×960 RGB frame (3.7 MB) and a photograph are above it, the plate crops, OCR batches and
/// the small allocations of parsing, MQTT and tracking below, so the buffers every image
/// reuses stay in the heap. Measured on `eval` of the US photographs against glibc's dynamic
/// threshold: 256 KiB cost 7 % more CPU (every mid-sized buffer mapped and faulted in anew),
/// 1 MiB 1–2 % (within noise), for the same peak (docs/memory.md).
pub const MMAP_THRESHOLD: usize = 1024 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] unless the environment already sets one.
/// Call first thing in `main`, before any thread exists. Returns whether it was set (false on
/// other C libraries, where it does nothing).
pub fn tune() -> bool {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return false;
    }
    set_mmap_threshold(MMAP_THRESHOLD)
}

/// `mallopt(M_MMAP_THRESHOLD, bytes)`: the crate's second unsafe call (the first is adjtimex, in
/// `src/clock.rs`); neither std nor rustix wraps it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_mmap_threshold(bytes: usize) -> bool {
    let Ok(value) = libc::c_int::try_from(bytes) else {
        return false;
    };
    // SAFETY: mallopt takes two integers and no pointer; glibc checks the value (at most
    // 32 MiB on 64-bit) and returns 0 when it refuses it. It takes the allocator's own lock;
    // `main` calls it before any thread of ours exists, so no allocation races the change.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_mmap_threshold(_bytes: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_threshold() {
        // Called from a test thread, not main: mallopt locks the arena, so this is sound too.
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(set_mmap_threshold(MMAP_THRESHOLD));
        }
    }
}
