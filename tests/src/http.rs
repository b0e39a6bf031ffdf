//! A minimal HTTP/1.1 client over unix sockets, for talking to the plugin socket and dockerd
//! the way dockerd's plugin client does, including deliberately malformed requests.
//!
//! [`parse_response`] is a pure function over the bytes received so far: it returns
//! `Ok(None)` while the response is incomplete.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Body after transfer decoding.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as (lossy) text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
///
/// If the server stops reading our body early (e.g. it refuses an oversized body), the write
/// error is ignored as long as a response can still be read.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: plugin\r\nUser-Agent: ovs-e2e-tests\r\n\
         Accept: application/vnd.docker.plugins.v1.2+json\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let write_result = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());

    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some(response) = parse_response(&received, false).map_err(invalid_data)? {
            return Ok(response);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete response within {timeout:?}"),
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                if received.is_empty() {
                    // Prefer the write error: it usually explains the failed read.
                    return Err(write_result.err().unwrap_or(error));
                }
                break;
            }
        }
    }
    match parse_response(&received, true).map_err(invalid_data)? {
        Some(response) => Ok(response),
        None => {
            let what = if received.is_empty() {
                "connection closed without a response".to_string()
            } else {
                format!(
                    "connection closed in the middle of a response: {:?}",
                    String::from_utf8_lossy(&received)
                )
            };
            let what = match write_result {
                Err(error) => format!("{what} (writing the request failed: {error})"),
                Ok(()) => what,
            };
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, what))
        }
    }
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Parses a response from the bytes received so far.
///
/// `Ok(None)`: more bytes are needed. With `at_eof`, a response without Content-Length or
/// chunked encoding ends at the end of the data.
pub fn parse_response(data: &[u8], at_eof: bool) -> Result<Option<HttpResponse>, String> {
    let Some(head_end) = find(data, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&data[..head_end])
        .map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    let rest = &data[head_end + 4..];
    let chunked = header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        match decode_chunked(rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length {length:?}"))?;
        if rest.len() < length {
            return Ok(None);
        }
        rest[..length].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if at_eof {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(HttpResponse {
        status,
        headers,
        body,
    }))
}

/// Decodes a chunked body; `Ok(None)` until the terminating chunk (and trailers) arrived.
fn decode_chunked(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..line_end])
            .map_err(|_| "bad chunk size line".to_string())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(find(data, b"\r\n").map(|_| body));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_responses_incrementally() {
        let full =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false).unwrap(),
                None,
                "cut {cut}"
            );
        }
        let response = parse_response(full, false).unwrap().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{}");
        assert_eq!(response.headers[0].0, "content-type");
    }

    #[test]
    fn parses_chunked_responses() {
        let full = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"Err\r\n7\r\n\": \"x\"}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(&full[..full.len() - 2], false).unwrap(),
            None
        );
        let response = parse_response(full, false).unwrap().unwrap();
        assert_eq!(response.status, 500);
        assert_eq!(response.body_text(), "{\"Err\": \"x\"}");
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let full = b"HTTP/1.0 404 Not Found\r\n\r\nnope";
        assert_eq!(parse_response(full, false).unwrap(), None);
        let response = parse_response(full, true).unwrap().unwrap();
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (404, "nope")
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
    }
}
