//! `sha256:<hex>` digests of byte strings and streams.

use sha2::{Digest as _, Sha256};

/// `sha256:<64 hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

fn format_digest(sum: &[u8]) -> String {
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in sum {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The hex part of a `sha256:` digest, when `digest` is one.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    api::image::is_digest(digest).then(|| &digest["sha256:".len()..])
}

/// Hashes what passes through it (and counts it) into an inner writer.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: std::io::Write> Sha256Writer<W> {
    pub fn new(inner: W) -> Self {
        Sha256Writer { inner, hasher: Sha256::new(), written: 0 }
    }

    /// The digest of everything written, the byte count and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (format_digest(&self.hasher.finalize()), self.written, self.inner)
    }
}

impl<W: std::io::Write> std::io::Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn digests_of_slices_and_streams_agree() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_digest(b""), empty);
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"ab").unwrap();
        w.write_all(b"c").unwrap();
        let (d, n, inner) = w.finish();
        assert_eq!((d, n, inner), (sha256_digest(b"abc"), 3, b"abc".to_vec()));
        assert_eq!(sha256_hex(empty), Some(&empty[7..]));
        assert_eq!(sha256_hex("md5:00"), None);
    }
}
