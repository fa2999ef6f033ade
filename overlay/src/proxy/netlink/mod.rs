//! nf_tables over netlink, without the `nft` binary: each sync is one batch
//! (`NFNL_MSG_BATCH_BEGIN` … `BATCH_END`) in one `sendmsg`, so one kernel transaction,
//! and nothing is read back first (`nft` 1.0.6 fetches the whole ruleset into its cache
//! before it applies even one element: 0.3 s for 60,000 chains).
//!
//! - [`msg`]: messages and attributes (pure);
//! - [`expr`]: rule expressions as `nft` encodes them (pure);
//! - [`table`]: the proxy's tables as one batch, full or from a diff (pure);
//! - [`NetlinkNft`]: the socket: a batch sent, the kernel's answer read; the chains and
//!   sets of the proxy's tables listed.

pub mod expr;
pub mod msg;
pub mod table;

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use self::msg::{attr_str, attr_u64, replies, Messages, AF_INET, NFNL_SUBSYS_NFTABLES, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP};
use super::nft::{Change, Nft, NftError};
use super::render::{ObservedTables, TableSpec};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netfilter netlink socket")]
    Socket(#[source] io::Error),
    #[error("sending a batch of {bytes} bytes")]
    Send { bytes: usize, #[source] source: io::Error },
    #[error("reading the kernel's answer")]
    Recv(#[source] io::Error),
    #[error("the kernel refused message {seq} of the batch ({errno}): {message}")]
    Refused { seq: u32, errno: io::Error, message: String },
    #[error("the kernel did not acknowledge the batch")]
    NoAck,
    #[error("map element {key:?} is not in the form the proxy writes")]
    Element { key: String },
}

/// nf_tables through a netlink socket of the calling thread's network namespace (opened
/// per call: the thread may have moved to another namespace since).
#[derive(Debug, Clone, Default)]
pub struct NetlinkNft;

impl Nft for NetlinkNft {
    fn apply(&self, spec: &TableSpec, change: &Change<'_>) -> Result<usize, NftError> {
        let mut b = table::TableBatch::new(spec, change.size_hint());
        match change {
            Change::Full { want, observed } => b.full(want, observed)?,
            Change::Recreate { want, observed } => {
                b.delete_all(observed);
                b.full(want, &ObservedTables::new())?;
            }
            Change::Incremental { diff, want } => b.incremental(diff, want)?,
            Change::Delete { observed } => b.delete_all(observed),
        }
        let (bytes, acked) = b.finish();
        let Some(acked) = acked else { return Ok(0) };
        let conn = Conn::open()?;
        conn.transact(&bytes, acked)?;
        if matches!(change, Change::Full { .. } | Change::Recreate { .. }) {
            // The commit after one that changed every chain brings each chain's other rule
            // generation up to date and frees the old one (`nf_tables_commit_chain`, for
            // every chain): ≈35 ms for 60,000 chains. Pay it now, not in the next sync.
            let mut settle = table::TableBatch::new(spec, 256);
            settle.settle();
            if let (bytes, Some(acked)) = settle.finish() {
                conn.transact(&bytes, acked)?;
            }
        }
        Ok(bytes.len())
    }

    fn observe(&self, spec: &TableSpec) -> Result<ObservedTables, NftError> {
        let conn = Conn::open()?;
        let mut out = ObservedTables::new();
        // A table's name is its attribute 1, as a chain's or set's table is: empty ones count too.
        for l in conn.dump(GETTABLE)?.into_iter().filter(|l| spec.is_ours(&l.table)) {
            out.entry(l.table).or_default();
        }
        for l in conn.dump(GETCHAIN)?.into_iter().filter(|l| spec.is_ours(&l.table)) {
            let seen = out.entry(l.table).or_default();
            seen.chains.extend(l.name);
        }
        for l in conn.dump(GETSET)?.into_iter().filter(|l| spec.is_ours(&l.table)) {
            let seen = out.entry(l.table).or_default();
            if let Some(name) = l.name {
                seen.sets.insert(name, l.timeout_ms.and_then(|t| u32::try_from(t / 1000).ok()));
            }
        }
        Ok(out)
    }
}

const GETTABLE: u8 = 1;
const GETCHAIN: u8 = 4;
const GETSET: u8 = 10;

/// What a dump tells of one chain or set.
struct Listed {
    table: String,
    name: Option<String>,
    timeout_ms: Option<u64>,
}

/// One netfilter netlink socket.
pub(crate) struct Conn {
    sock: Socket,
}

impl Conn {
    pub(crate) fn open() -> Result<Self, NetlinkError> {
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(NetlinkError::Socket)?;
        sock.bind_auto().map_err(NetlinkError::Socket)?;
        // Errors carry only the failed message's header, and the kernel's reason.
        sock.set_cap_ack(true).map_err(NetlinkError::Socket)?;
        sock.set_ext_ack(true).map_err(NetlinkError::Socket)?;
        sock.set_rx_buf_sz(1 << 20).map_err(NetlinkError::Socket)?;
        Ok(Conn { sock })
    }

    /// Sends `bytes` in one `sendmsg` (the batch needs a send buffer as big as itself),
    /// then reads the answer: nfnetlink handles a batch inside `sendmsg`, so every answer
    /// is queued by the time it returns.
    pub(crate) fn transact(&self, bytes: &[u8], acked: u32) -> Result<(), NetlinkError> {
        self.send(bytes)?;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut committed = false;
        loop {
            buf.clear();
            match self.sock.recv(&mut buf, libc::MSG_DONTWAIT) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(NetlinkError::Recv(e)),
            }
            for r in replies(&buf) {
                match r.error() {
                    Some((0, seq)) => committed |= seq == acked,
                    Some((errno, seq)) => {
                        return Err(NetlinkError::Refused { seq, errno: io::Error::from_raw_os_error(-errno), message: r.error_message().unwrap_or_default() })
                    }
                    None => {}
                }
            }
        }
        if committed {
            Ok(())
        } else {
            Err(NetlinkError::NoAck)
        }
    }

    pub(crate) fn sock(&self) -> &Socket {
        &self.sock
    }

    pub(crate) fn send(&self, bytes: &[u8]) -> Result<(), NetlinkError> {
        let send_err = |source| NetlinkError::Send { bytes: bytes.len(), source };
        if bytes.len() > 1 << 20 {
            set_sndbuf_force(&self.sock, bytes.len() + (1 << 16)).map_err(send_err)?;
        }
        let sent = self.sock.send(bytes, 0).map_err(send_err)?;
        if sent != bytes.len() {
            return Err(send_err(io::Error::other(format!("sent {sent} of {} bytes", bytes.len()))));
        }
        Ok(())
    }

    /// Every message a dump request answers with, until `NLMSG_DONE`.
    pub(crate) fn recv_dump(&self, mut each: impl FnMut(msg::Reply<'_>)) -> Result<(), NetlinkError> {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        loop {
            buf.clear();
            self.sock.recv(&mut buf, 0).map_err(NetlinkError::Recv)?;
            for r in replies(&buf) {
                match r.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => match r.error() {
                        Some((0, _)) => {}
                        // No such table: nothing listed.
                        Some((e, _)) if -e == libc::ENOENT => return Ok(()),
                        Some((e, seq)) => {
                            return Err(NetlinkError::Refused { seq, errno: io::Error::from_raw_os_error(-e), message: r.error_message().unwrap_or_default() })
                        }
                        None => return Err(NetlinkError::NoAck),
                    },
                    _ => each(r),
                }
            }
        }
    }

    /// A dump of nf_tables objects (`GETTABLE`, `GETCHAIN`, `GETSET`) of every table of the `ip` family.
    fn dump(&self, msg_type: u8) -> Result<Vec<Listed>, NetlinkError> {
        let mut m = Messages::with_capacity(64);
        m.start(NFNL_SUBSYS_NFTABLES, msg_type, NLM_F_DUMP, AF_INET);
        m.end();
        self.send(&m.into_bytes())?;
        // Chains name themselves in attribute 3, sets in 2; a set's timeout is 11.
        let name_attr = if msg_type == GETCHAIN { 3 } else { 2 };
        let mut out = Vec::new();
        self.recv_dump(|r| {
            let mut l = Listed { table: String::new(), name: None, timeout_ms: None };
            for (ty, v) in r.attrs() {
                match ty {
                    1 => l.table = attr_str(v).to_string(),
                    t if t == name_attr => l.name = Some(attr_str(v).to_string()),
                    11 if msg_type == GETSET => l.timeout_ms = attr_u64(v),
                    _ => {}
                }
            }
            out.push(l);
        })?;
        Ok(out)
    }
}

fn set_sndbuf_force(sock: &Socket, size: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = libc::c_int::try_from(size).map_err(|_| io::Error::other("batch over 2 GiB"))?;
    // SAFETY: a valid socket and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
