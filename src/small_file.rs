//! Reading the small files an operator names in the configuration: keys, certificates, the
//! pseudonym secret. Each is read whole, but never without a bound, so a wrong path (a device
//! such as /dev/zero, a log, a disk image) is an error naming the file instead of a daemon that
//! fills its memory before it starts.

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
}
