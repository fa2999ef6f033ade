//! The overlay's counters: packets and bytes sent to and received from peers, and packets
//! dropped by reason. Atomic, so the two directions of the shell count without a lock;
//! rendered as Prometheus text for the node's `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the overlay dropped a packet (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A datagram from an address that is no known node's.
    UnknownPeer,
    /// A datagram from a known node whose inner source is outside that node's subnet.
    SpoofedSource,
    /// No node holds the destination (or it is this node's own subnet, or a datagram's
    /// inner destination is not in this node's subnet).
    NoRoute,
    /// Not an IPv4 packet the overlay can forward (lengths, version, checksum).
    Malformed,
    /// The TTL would reach 0.
    TtlExceeded,
}

impl DropReason {
    pub const ALL: [DropReason; 5] =
        [DropReason::UnknownPeer, DropReason::SpoofedSource, DropReason::NoRoute, DropReason::Malformed, DropReason::TtlExceeded];

    /// The label value in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::SpoofedSource => "spoofed_source",
            DropReason::NoRoute => "no_route",
            DropReason::Malformed => "malformed",
            DropReason::TtlExceeded => "ttl_exceeded",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One direction's counters on a cache line of their own: the two tasks of the shell
/// never write the same line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Flow {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Flow {
    fn add(&self, packets: usize, bytes: usize) {
        self.packets.fetch_add(packets as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The counters of one node's overlay.
#[derive(Debug, Default)]
pub struct Metrics {
    sent: Flow,
    received: Flow,
    dropped: [AtomicU64; 5],
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub received_packets: u64,
    pub received_bytes: u64,
    pub dropped: [u64; 5],
}

impl Snapshot {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }
}

impl Metrics {
    /// A packet from the TUN sent to a peer (`bytes`: the UDP payload).
    pub fn sent(&self, bytes: usize) {
        self.sent.add(1, bytes);
    }

    /// `packets` packets of `bytes` in all sent to peers (a batch counted at once).
    pub fn sent_many(&self, packets: usize, bytes: usize) {
        self.sent.add(packets, bytes);
    }

    /// A datagram from a peer written to the TUN.
    pub fn received(&self, bytes: usize) {
        self.received.add(1, bytes);
    }

    /// `packets` datagrams of `bytes` in all from peers (a batch counted at once).
    pub fn received_many(&self, packets: usize, bytes: usize) {
        self.received.add(packets, bytes);
    }

    pub fn dropped(&self, reason: DropReason) {
        self.dropped_many(reason, 1);
    }

    pub fn dropped_many(&self, reason: DropReason, packets: usize) {
        self.dropped[reason.index()].fetch_add(packets as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            sent_packets: get(&self.sent.packets),
            sent_bytes: get(&self.sent.bytes),
            received_packets: get(&self.received.packets),
            received_bytes: get(&self.received.bytes),
            dropped: std::array::from_fn(|i| get(&self.dropped[i])),
        }
    }

    /// The counters in the Prometheus text format (appended to `out`).
    pub fn render_prometheus(&self, out: &mut String) {
        let s = self.snapshot();
        let counters = [
            ("shoal_overlay_sent_packets_total", "Packets read from the TUN and sent to a peer node.", s.sent_packets),
            ("shoal_overlay_sent_bytes_total", "Bytes of the packets sent to peer nodes (UDP payload).", s.sent_bytes),
            ("shoal_overlay_received_packets_total", "Packets received from peer nodes and written to the TUN.", s.received_packets),
            ("shoal_overlay_received_bytes_total", "Bytes of the packets received from peer nodes.", s.received_bytes),
        ];
        for (name, help, value) in counters {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        }
        let name = "shoal_overlay_dropped_packets_total";
        let _ = write!(out, "# HELP {name} Packets the overlay dropped, by reason.\n# TYPE {name} counter\n");
        for r in DropReason::ALL {
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {}", r.label(), s.dropped(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_and_every_reason() {
        let m = Metrics::default();
        m.sent(100);
        m.sent(50);
        m.received(7);
        m.dropped(DropReason::SpoofedSource);
        m.dropped(DropReason::SpoofedSource);
        let mut out = String::new();
        m.render_prometheus(&mut out);
        assert!(out.contains("shoal_overlay_sent_packets_total 2\n"), "{out}");
        assert!(out.contains("shoal_overlay_sent_bytes_total 150\n"), "{out}");
        assert!(out.contains("shoal_overlay_received_bytes_total 7\n"), "{out}");
        assert!(out.contains("shoal_overlay_dropped_packets_total{reason=\"spoofed_source\"} 2\n"), "{out}");
        for r in DropReason::ALL {
            assert!(out.contains(&format!("reason=\"{}\"", r.label())), "{out}");
        }
        assert_eq!(DropReason::ALL.iter().map(|r| r.index()).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }
}
