//! A real etcd for end-to-end tests: the same launcher the store conformance suite uses,
//! behind a blocking interface.

use std::path::Path;

#[allow(dead_code)]
#[path = "../../actors/tests/support/etcd.rs"]
mod server;

pub use server::EtcdServer;

/// A running etcd, killed on drop.
pub struct Etcd {
    pub server: EtcdServer,
    /// `127.0.0.1:PORT`, as `shoal server --store etcd://…` wants it.
    pub client_addr: String,
}

impl Etcd {
    /// Starts etcd and waits until it answers. (`_dir` is unused: etcd keeps its own
    /// temporary directory.)
    pub fn start(_dir: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let server = rt.block_on(EtcdServer::start());
        let client_addr = server.endpoint().trim_start_matches("http://").to_string();
        Etcd { server, client_addr }
    }
}
