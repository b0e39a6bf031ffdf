//! Bounds-checked big-endian reading and small writing helpers shared by the codec.

use super::DecodeError;

/// A cursor over a byte slice whose reads fail with [`DecodeError`] instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Splits off a sub-reader of `n` bytes.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.bytes(n)?))
    }

    pub(crate) fn peek_u16(&self) -> Result<u16, DecodeError> {
        self.clone().u16()
    }

    pub(crate) fn peek_u16_at(&self, offset: usize) -> Result<u16, DecodeError> {
        let mut r = self.clone();
        r.skip(offset)?;
        r.u16()
    }
}

/// Rounds `n` up to a multiple of 8, the alignment of most OpenFlow structures.
pub(crate) fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Appends zero bytes until `out.len() - start` is a multiple of 8.
pub(crate) fn pad_to_8(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    out.resize(start + pad8(len), 0);
}

/// Writes `value` as a big-endian u16 at `at` (used to patch length fields).
pub(crate) fn patch_u16(out: &mut [u8], at: usize, value: usize) -> Result<(), super::EncodeError> {
    let value = u16::try_from(value).map_err(|_| super::EncodeError::TooLong(value))?;
    out[at..at + 2].copy_from_slice(&value.to_be_bytes());
    Ok(())
}

/// Decodes a NUL-padded fixed-size string.
pub(crate) fn fixed_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Encodes `s` into a NUL-padded field of `len` bytes (truncating, keeping a final NUL).
pub(crate) fn put_fixed_str(out: &mut Vec<u8>, s: &str, len: usize) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(len.saturating_sub(1));
    out.extend_from_slice(&bytes[..n]);
    out.resize(out.len() + (len - n), 0);
}
