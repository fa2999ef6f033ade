//! SPDY/3.1 framing, as much as port-forwarding needs (what kubectl's SPDY client, moby's
//! spdystream, sends): SYN_STREAM / SYN_REPLY with zlib-compressed header blocks (one
//! zlib stream per direction, primed with the spec's dictionary), DATA with FIN,
//! RST_STREAM, PING, GOAWAY; SETTINGS, HEADERS and WINDOW_UPDATE are read and ignored
//! (spdystream does no flow control).

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The header dictionary of SPDY/3 (spec section 2.6.10.1): these words, each with a
/// 4-byte big-endian length, then the tail.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414",
    "415416417502504505203 Non-Authoritative Information204 No Content301 Mov",
    "ed Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found5",
    "00 Internal Server Error501 Not Implemented503 Service UnavailableJan Fe",
    "b Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, ",
    "Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,applic",
    "ation/xml,application/xhtml+xml,text/plain,text/javascript,publicprivate",
    "max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
pub const FLAG_FIN: u8 = 0x01;
/// RST_STREAM statuses.
pub const PROTOCOL_ERROR: u32 = 1;
pub const REFUSED_STREAM: u32 = 3;
/// Frames longer than this are refused (spdystream's limit is 2^24-1; data comes in 32 KiB).
const MAX_FRAME: usize = 1 << 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream { stream_id: u32, headers: Vec<(String, String)>, fin: bool },
    SynReply { stream_id: u32, headers: Vec<(String, String)>, fin: bool },
    RstStream { stream_id: u32, status: u32 },
    Ping(u32),
    GoAway { last_good: u32, status: u32 },
    Data { stream_id: u32, fin: bool, data: bytes::Bytes },
    /// SETTINGS, HEADERS, WINDOW_UPDATE, NOOP and unknown types.
    Other,
}

impl Frame {
    pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("SPDY frame too large ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed SPDY frame: {0}")]
    Malformed(&'static str),
    #[error("SPDY header block: {0}")]
    Zlib(String),
}

/// Reads frames from the bytes of a connection, in whatever pieces they arrive.
pub struct Decoder {
    buf: BytesMut,
    inflate: Decompress,
    dict: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { buf: BytesMut::new(), inflate: Decompress::new(true), dict: dictionary() }
    }
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if len > MAX_FRAME {
            return Err(SpdyError::TooLarge(len));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let first = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let flags = self.buf[4];
        self.buf.advance(8);
        let mut body = self.buf.split_to(len);
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data { stream_id: first & 0x7fff_ffff, fin: flags & FLAG_FIN != 0, data: body.freeze() }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = (first & 0xffff) as u16;
        let fin = flags & FLAG_FIN != 0;
        let word = |b: &BytesMut, at: usize| -> Result<u32, SpdyError> {
            b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok_or(SpdyError::Malformed("short frame"))
        };
        Ok(Some(match kind {
            SYN_STREAM => {
                let stream_id = word(&body, 0)? & 0x7fff_ffff;
                if body.len() < 10 {
                    return Err(SpdyError::Malformed("short SYN_STREAM"));
                }
                body.advance(10);
                Frame::SynStream { stream_id, headers: self.headers(&body)?, fin }
            }
            SYN_REPLY | HEADERS => {
                let stream_id = word(&body, 0)? & 0x7fff_ffff;
                body.advance(4);
                let headers = self.headers(&body)?;
                if kind == HEADERS {
                    Frame::Other
                } else {
                    Frame::SynReply { stream_id, headers, fin }
                }
            }
            RST_STREAM => Frame::RstStream { stream_id: word(&body, 0)? & 0x7fff_ffff, status: word(&body, 4)? },
            PING => Frame::Ping(word(&body, 0)?),
            GOAWAY => Frame::GoAway { last_good: word(&body, 0)? & 0x7fff_ffff, status: word(&body, 4).unwrap_or(0) },
            _ => Frame::Other,
        }))
    }

    /// Inflates one header block (the zlib stream goes on across frames) and parses it.
    fn headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.inflate.total_in();
            let r = self.inflate.decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.inflate.total_in() - before) as usize..];
            match r {
                Ok(Status::Ok) | Ok(Status::BufError) if input.is_empty() && out.capacity() > out.len() => break,
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(&self.dict).map_err(|e| SpdyError::Zlib(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Zlib(e.to_string())),
            }
        }
        parse_header_block(&out)
    }
}

fn parse_header_block(mut b: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let take = |b: &mut &[u8], n: usize| -> Result<Vec<u8>, SpdyError> {
        if b.len() < n {
            return Err(SpdyError::Malformed("short header block"));
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h.to_vec())
    };
    let count = u32::from_be_bytes(take(&mut b, 4)?.try_into().unwrap_or([0; 4])) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let n = u32::from_be_bytes(take(&mut b, 4)?.try_into().unwrap_or([0; 4])) as usize;
        let name = String::from_utf8_lossy(&take(&mut b, n)?).to_lowercase();
        let n = u32::from_be_bytes(take(&mut b, 4)?.try_into().unwrap_or([0; 4])) as usize;
        let value = String::from_utf8_lossy(&take(&mut b, n)?).into_owned();
        // Several values of one name are separated by NUL.
        for v in value.split('\0') {
            out.push((name.clone(), v.to_string()));
        }
    }
    Ok(out)
}

/// Writes frames; owns the outgoing zlib stream of header blocks.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // Only fails for a stream already started.
        let _ = deflate.set_dictionary(&dictionary());
        Encoder { deflate }
    }
}

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + body.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(body);
    f
}

impl Encoder {
    fn header_block(&mut self, headers: &[(String, String)]) -> Vec<u8> {
        let mut plain = Vec::new();
        plain.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            plain.extend_from_slice(&(k.len() as u32).to_be_bytes());
            plain.extend_from_slice(k.to_lowercase().as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input = &plain[..];
        loop {
            out.reserve(256);
            let before = self.deflate.total_in();
            let _ = self.deflate.compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                break;
            }
        }
        out
    }

    pub fn encode(&mut self, frame: &Frame) -> Vec<u8> {
        match frame {
            Frame::SynReply { stream_id, headers, fin } => {
                let mut body = stream_id.to_be_bytes().to_vec();
                body.extend(self.header_block(headers));
                control(SYN_REPLY, if *fin { FLAG_FIN } else { 0 }, &body)
            }
            Frame::SynStream { stream_id, headers, fin } => {
                let mut body = stream_id.to_be_bytes().to_vec();
                body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
                body.extend(self.header_block(headers));
                control(SYN_STREAM, if *fin { FLAG_FIN } else { 0 }, &body)
            }
            Frame::RstStream { stream_id, status } => {
                let mut body = stream_id.to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &body)
            }
            Frame::Ping(id) => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut body = last_good.to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(GOAWAY, 0, &body)
            }
            Frame::Data { stream_id, fin, data } => {
                let mut f = Vec::with_capacity(8 + data.len());
                f.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                f.push(if *fin { FLAG_FIN } else { 0 });
                f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                f.extend_from_slice(data);
                f
            }
            Frame::Other => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn dictionary_is_the_specs() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"enq=0."));
    }

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut enc = Encoder::default();
        let frames = vec![
            Frame::SynStream { stream_id: 1, headers: h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]), fin: false },
            Frame::SynStream { stream_id: 3, headers: h(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]), fin: false },
            Frame::Data { stream_id: 3, fin: false, data: bytes::Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n") },
            Frame::Data { stream_id: 1, fin: true, data: bytes::Bytes::new() },
            Frame::SynReply { stream_id: 5, headers: vec![], fin: true },
            Frame::Ping(7),
            Frame::RstStream { stream_id: 3, status: REFUSED_STREAM },
            Frame::GoAway { last_good: 3, status: 0 },
        ];
        let wire: Vec<u8> = frames.iter().flat_map(|f| enc.encode(f)).collect();
        let mut dec = Decoder::default();
        let mut got = Vec::new();
        for piece in wire.chunks(5) {
            dec.push(piece);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut dec = Decoder::default();
        dec.push(&[0x80, 0x02, 0, 1, 0, 0, 0, 0]);
        assert_eq!(dec.next_frame(), Err(SpdyError::Version(2)));
        let mut dec = Decoder::default();
        dec.push(&[0x80, 0x03, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert!(matches!(dec.next_frame(), Err(SpdyError::Zlib(_)) | Err(SpdyError::Malformed(_))));
    }
}
