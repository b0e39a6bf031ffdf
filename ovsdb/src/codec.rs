//! Pure framing of JSON-RPC messages on a byte stream.
//!
//! OVSDB sends JSON texts back to back without delimiters. [`FrameDecoder`] finds the end of
//! each top-level object by tracking nesting depth and string/escape state. The scan state is
//! kept across calls, so every byte is looked at once no matter how the input is split: decoding
//! is linear in the input size even when a large message arrives one byte at a time.
//! [`FrameDecoder::decode`] returning `Ok(None)` means "incomplete", not an error.

use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Incremental decoder of concatenated JSON values.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes before this offset belong to messages already returned.
    consumed: usize,
    /// Next byte to scan.
    pos: usize,
    /// Start of the message being scanned, if inside one.
    message_start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    scanned: u64,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        // Dropping consumed bytes moves the unconsumed tail; doing it only when the consumed part
        // is at least as large as the tail keeps the total copying linear.
        if self.consumed > 0 && self.consumed >= self.buf.len() - self.consumed {
            self.buf.drain(..self.consumed);
            self.pos -= self.consumed;
            if let Some(start) = &mut self.message_start {
                *start -= self.consumed;
            }
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete message, or `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Json>> {
        while self.pos < self.buf.len() {
            let byte = self.buf[self.pos];
            self.pos += 1;
            self.scanned += 1;
            let Some(start) = self.message_start else {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => self.consumed = self.pos,
                    b'{' | b'[' => {
                        self.message_start = Some(self.pos - 1);
                        self.depth = 1;
                    }
                    other => {
                        // Skip the offending byte so a caller that keeps going does not loop.
                        self.consumed = self.pos;
                        return Err(Error::Protocol(format!(
                            "unexpected byte {:?} between JSON-RPC messages",
                            other as char
                        )));
                    }
                }
                continue;
            };
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.message_start = None;
                        self.consumed = self.pos;
                        let message = serde_json::from_slice(&self.buf[start..self.pos])?;
                        return Ok(Some(message));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Total number of bytes examined so far (for checking linearity).
    pub fn scanned_bytes(&self) -> u64 {
        self.scanned
    }

    /// Bytes received but not yet returned as part of a message.
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

/// Serializes one message for the wire.
pub fn encode(message: &Json) -> Vec<u8> {
    // Serializing a `serde_json::Value` cannot fail.
    serde_json::to_vec(message).expect("JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_all(decoder: &mut FrameDecoder) -> Vec<Json> {
        let mut out = Vec::new();
        while let Some(message) = decoder.decode().unwrap() {
            out.push(message);
        }
        out
    }

    fn tricky_messages() -> Vec<Json> {
        vec![
            json!({"id": 1, "method": "echo", "params": []}),
            json!({"id": null, "method": "update", "params": ["m", {"T": {"a": {"new": {"s": "}{][\"\\"}}}}]}),
            json!({"id": "x\"}", "result": [{"rows": [{"name": "{not a brace}"}]}], "error": null}),
            json!({"id": 2, "result": {"nested": [[[{}]]], "esc": "\\\\\"", "u": "\u{00e9}\u{1F600}"}, "error": null}),
        ]
    }

    #[test]
    fn split_at_every_position() {
        let messages = tricky_messages();
        let mut bytes = Vec::new();
        for m in &messages {
            bytes.extend(encode(m));
            bytes.extend(b" \n");
        }
        for split in 0..=bytes.len() {
            let mut decoder = FrameDecoder::new();
            decoder.extend(&bytes[..split]);
            let mut got = decode_all(&mut decoder);
            decoder.extend(&bytes[split..]);
            got.extend(decode_all(&mut decoder));
            assert_eq!(got, messages, "split at {split}");
            assert_eq!(decoder.pending_len(), 0);
        }
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let messages = tricky_messages();
        let bytes: Vec<u8> = messages.iter().flat_map(encode).collect();
        let mut decoder = FrameDecoder::new();
        decoder.extend(&bytes);
        assert_eq!(decode_all(&mut decoder), messages);
        assert_eq!(decoder.scanned_bytes(), bytes.len() as u64);
    }

    #[test]
    fn incomplete_is_not_an_error() {
        let mut decoder = FrameDecoder::new();
        decoder.extend(br#"{"id": 1, "result": "}"#);
        assert_eq!(decoder.decode().unwrap(), None);
        decoder.extend(br#"", "error": null}"#);
        assert_eq!(
            decoder.decode().unwrap(),
            Some(json!({"id": 1, "result": "}", "error": null}))
        );
        assert_eq!(decoder.decode().unwrap(), None);
    }

    #[test]
    fn garbage_between_messages_is_an_error() {
        let mut decoder = FrameDecoder::new();
        decoder.extend(b"x{}");
        assert!(decoder.decode().is_err());
        assert_eq!(decoder.decode().unwrap(), Some(json!({})));
    }

    #[test]
    fn invalid_json_inside_braces_is_an_error() {
        let mut decoder = FrameDecoder::new();
        decoder.extend(b"{nope}{\"a\":1}");
        assert!(decoder.decode().is_err());
        assert_eq!(decoder.decode().unwrap(), Some(json!({"a": 1})));
    }

    #[test]
    fn large_message_byte_by_byte_is_linear() {
        let rows: serde_json::Map<String, Json> = (0..10_000)
            .map(|i| {
                (
                    format!("{:08x}-0000-0000-0000-000000000000", i),
                    json!({"new": {"name": format!("port{i} {{\"}}"), "tag": i, "ids": ["map", [["k", "v"]]]}}),
                )
            })
            .collect();
        let message = json!({"id": null, "method": "update", "params": ["m", {"Port": rows}]});
        let bytes = encode(&message);
        let mut decoder = FrameDecoder::new();
        let mut got = None;
        for (i, byte) in bytes.iter().enumerate() {
            decoder.extend(std::slice::from_ref(byte));
            if let Some(m) = decoder.decode().unwrap() {
                assert_eq!(i, bytes.len() - 1, "completed early");
                got = Some(m);
            }
        }
        assert_eq!(got.as_ref(), Some(&message));
        // Every byte is scanned exactly once however the input is split.
        assert_eq!(decoder.scanned_bytes(), bytes.len() as u64);
        assert!(bytes.len() > 500_000);
    }
}
