//! Reading the small files an operator names in the configuration: keys, certificates, the
//! pseudonym secret. Each is read whole, but never without a bound, so a wrong path (a device
//! such as /dev/zero, a log, a disk image) is an error naming the file instead of a daemon that
//! fills its memory before it starts. And writing the unit's own small files so that a power
//! cut leaves either the old file or the new one, never half of one.

use std::io::Read as _;
use std::path::Path;

/// Larger than any key or certificate bundle a unit is given (the system's CA bundle is about
/// 200 KiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// The file's bytes, or an error when it cannot be read or is larger than [`MAX_BYTES`].
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_BYTES} bytes: not a key, certificate or secret file"),
        ));
    }
    Ok(bytes)
}

/// Replaces `path` with `bytes`: written beside it, flushed to disk, renamed over it, and the
/// folder flushed so that the rename survives a power cut too.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.partial"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_is_read_whole_an_endless_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, b"secret\n").expect("write");
        assert_eq!(read(&path).expect("read"), b"secret\n");
        let e = read(Path::new("/dev/zero")).expect_err("endless");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(read(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        write_atomic(&path, b"old").expect("write");
        write_atomic(&path, b"new").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        assert!(write_atomic(&dir.path().join("absent/x"), b"x").is_err());
    }
}
