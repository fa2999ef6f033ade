//! Netlink bytes (pure): a builder of nfnetlink messages with nested attributes, batched
//! between `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END` (one kernel transaction), and
//! a reader of the messages and attributes the kernel answers with.

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
pub const NFNL_SUBSYS_NFTABLES: u8 = 10;
pub const AF_INET: u8 = 2;

const HEADER: usize = 16;
const NFGENMSG: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Netlink messages, each a header, an `nfgenmsg` and attributes, one after the other.
#[derive(Debug, Default)]
pub struct Messages {
    buf: Vec<u8>,
    /// Where the message being written starts, and its open nests.
    msg: Option<usize>,
    /// Where the last message of a batch (not `BATCH_BEGIN`) starts.
    last: Option<usize>,
    nests: Vec<usize>,
    seq: u32,
}

impl Messages {
    pub fn with_capacity(n: usize) -> Self {
        Messages { buf: Vec::with_capacity(n), ..Default::default() }
    }

    /// An nftables transaction: `BATCH_BEGIN` now, `BATCH_END` in [`Self::finish_batch`].
    pub fn batch(capacity: usize) -> Self {
        let mut m = Messages::with_capacity(capacity);
        m.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, u16::from(NFNL_SUBSYS_NFTABLES));
        m.end();
        m
    }

    /// Starts a message of `subsys` (`NFNL_SUBSYS_*`) type `msg` for `family`.
    pub fn start(&mut self, subsys: u8, msg: u8, flags: u16, family: u8) {
        self.last = Some(self.buf.len());
        self.begin((u16::from(subsys) << 8) | u16::from(msg), NLM_F_REQUEST | flags, family, 0);
    }

    fn begin(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) {
        debug_assert!(self.msg.is_none(), "a message is already open");
        self.seq += 1;
        self.msg = Some(self.buf.len());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
    }

    /// Ends the message started last.
    pub fn end(&mut self) {
        let start = self.msg.take().expect("no open message");
        debug_assert!(self.nests.is_empty(), "unclosed nest");
        let len = u32::try_from(self.buf.len() - start).expect("message under 4 GiB");
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// The sequence number of the last message started.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Closes the batch: `NLM_F_ACK` on its last message (the kernel answers every
    /// message that fails, and those that ask), `BATCH_END`; the bytes to send and the
    /// sequence number whose acknowledgement says the transaction was committed (`None`:
    /// an empty batch).
    pub fn finish_batch(mut self) -> (Vec<u8>, Option<u32>) {
        let acked = self.last.map(|at| {
            let flags = u16::from_ne_bytes([self.buf[at + 6], self.buf[at + 7]]) | NLM_F_ACK;
            self.buf[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
            u32::from_ne_bytes([self.buf[at + 8], self.buf[at + 9], self.buf[at + 10], self.buf[at + 11]])
        });
        self.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, u16::from(NFNL_SUBSYS_NFTABLES));
        self.end();
        (self.buf, acked)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn bytes(&mut self, ty: u16, value: &[u8]) {
        let len = u16::try_from(4 + value.len()).expect("attribute under 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align4(self.buf.len()), 0);
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, ty: u16, s: &str) {
        let len = u16::try_from(5 + s.len()).expect("attribute under 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.buf.resize(align4(self.buf.len()), 0);
    }

    pub fn u32(&mut self, ty: u16, v: u32) {
        self.bytes(ty, &v.to_be_bytes());
    }

    pub fn u64(&mut self, ty: u16, v: u64) {
        self.bytes(ty, &v.to_be_bytes());
    }

    /// Opens a nested attribute; [`Self::close`] ends it.
    pub fn open(&mut self, ty: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }

    pub fn close(&mut self) {
        let start = self.nests.pop().expect("no open nest");
        let len = u16::try_from(self.buf.len() - start).expect("nest under 64 KiB");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// A nested attribute written by `f`.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self)) {
        self.open(ty);
        f(self);
        self.close();
    }
}

/// One message of an answer.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub ty: u16,
    pub seq: u32,
    /// After the header (for nfnetlink: the `nfgenmsg`, then attributes).
    pub payload: &'a [u8],
}

/// The messages in `buf`, stopping at the first malformed one.
pub fn replies(buf: &[u8]) -> impl Iterator<Item = Reply<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = buf.get(at..at + HEADER)?;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < HEADER || at + len > buf.len() {
            return None;
        }
        let r = Reply { ty: u16::from_ne_bytes([h[4], h[5]]), seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]), payload: &buf[at + HEADER..at + len] };
        at += align4(len);
        Some(r)
    })
}

impl<'a> Reply<'a> {
    /// For `NLMSG_ERROR`: the error number (0: an acknowledgement) and the sequence
    /// number of the message it answers.
    pub fn error(&self) -> Option<(i32, u32)> {
        if self.ty != NLMSG_ERROR || self.payload.len() < 4 + HEADER {
            return None;
        }
        let p = self.payload;
        Some((i32::from_ne_bytes([p[0], p[1], p[2], p[3]]), u32::from_ne_bytes([p[12], p[13], p[14], p[15]])))
    }

    /// The extended-ack message of an error (`NLMSGERR_ATTR_MSG`), when the kernel gave one.
    pub fn error_message(&self) -> Option<String> {
        // With NETLINK_CAP_ACK the original message is cut to its header.
        let tlvs = self.payload.get(4 + HEADER..)?;
        attrs(tlvs).find(|(ty, _)| *ty == 1).map(|(_, v)| String::from_utf8_lossy(v.strip_suffix(&[0]).unwrap_or(v)).into_owned())
    }

    /// The attributes after the `nfgenmsg`.
    pub fn attrs(&self) -> impl Iterator<Item = (u16, &'a [u8])> {
        attrs(self.payload.get(NFGENMSG..).unwrap_or_default())
    }
}

/// The attributes (type without flags, value) in `buf`.
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = buf.get(at..at + 4)?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        if len < 4 || at + len > buf.len() {
            return None;
        }
        let a = (u16::from_ne_bytes([h[2], h[3]]) & NLA_TYPE_MASK, &buf[at + 4..at + len]);
        at += align4(len);
        Some(a)
    })
}

/// A NUL-terminated string attribute's text.
pub fn attr_str(v: &[u8]) -> &str {
    std::str::from_utf8(v.split(|b| *b == 0).next().unwrap_or_default()).unwrap_or_default()
}

pub fn attr_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_frames_its_messages_and_pads_attributes() {
        let mut m = Messages::batch(64);
        m.start(NFNL_SUBSYS_NFTABLES, 0, NLM_F_CREATE, AF_INET);
        m.str(1, "t");
        m.nest(4, |m| m.u32(1, 0x0102_0304));
        m.end();
        let (bytes, acked) = m.finish_batch();
        assert_eq!(acked, Some(2));
        let msgs: Vec<Reply<'_>> = replies(&bytes).collect();
        assert_eq!(msgs.iter().map(|r| r.ty).collect::<Vec<_>>(), [0x10, 0x0a00, 0x11]);
        assert_eq!(msgs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(&msgs[0].payload[..4], &[0, 0, 0, 10], "BATCH_BEGIN names the nftables subsystem (big-endian)");
        assert_eq!(&msgs[1].payload[..4], &[2, 0, 0, 0], "AF_INET");
        let a: Vec<(u16, &[u8])> = msgs[1].attrs().collect();
        assert_eq!(a[0], (1, &b"t\0"[..]));
        // "t\0" (6 bytes) is padded to 8: the nest starts right after.
        assert_eq!(&msgs[1].payload[4 + 8..4 + 12], &[12, 0, 4, 0x80], "length 12, type 4 | NLA_F_NESTED");
        assert_eq!(attrs(a[1].1).next(), Some((1, &[1u8, 2, 3, 4][..])));
        let flags = u16::from_ne_bytes([bytes[20 + 6], bytes[20 + 7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, "the last message asks for the acknowledgement");
    }

    #[test]
    fn an_error_reply_gives_its_errno_and_the_sequence_it_answers() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&[0; 10]);
        buf.extend_from_slice(&(-2i32).to_ne_bytes());
        let mut orig = [0u8; 16];
        orig[8..12].copy_from_slice(&7u32.to_ne_bytes());
        buf.extend_from_slice(&orig);
        let r = replies(&buf).next().unwrap();
        assert_eq!(r.error(), Some((-2, 7)));
    }
}
