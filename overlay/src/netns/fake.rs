//! A recording [`Links`]: keeps the bridge and the attached veths in memory, and can be
//! told to fail the next attach.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{BridgeSpec, LinkError, Links, VethSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    EnsureBridge(BridgeSpec),
    Attach(VethSpec),
    Detach(String),
}

#[derive(Default)]
pub struct FakeLinks {
    calls: Mutex<Vec<Call>>,
    bridge: Mutex<Option<BridgeSpec>>,
    attached: Mutex<BTreeMap<String, VethSpec>>,
    fail_next_attach: AtomicBool,
}

impl FakeLinks {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The veths attached now, by host-side name.
    pub fn attached(&self) -> BTreeMap<String, VethSpec> {
        self.attached.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn fail_next_attach(&self) {
        self.fail_next_attach.store(true, Ordering::SeqCst);
    }

    fn record(&self, c: Call) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }
}

impl Links for FakeLinks {
    fn ensure_bridge(&self, b: &BridgeSpec) -> Result<(), LinkError> {
        self.record(Call::EnsureBridge(b.clone()));
        *self.bridge.lock().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        Ok(())
    }

    fn attach(&self, v: &VethSpec) -> Result<(), LinkError> {
        self.record(Call::Attach(v.clone()));
        if self.bridge.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(|b| b.name != v.bridge) {
            return Err(LinkError::NoBridge(v.bridge.clone()));
        }
        if self.fail_next_attach.swap(false, Ordering::SeqCst) {
            return Err(LinkError::Veth { host: v.host_name.clone(), netns: v.netns.clone(), source: std::io::Error::other("injected failure") });
        }
        self.attached.lock().unwrap_or_else(|p| p.into_inner()).insert(v.host_name.clone(), v.clone());
        Ok(())
    }

    fn is_attached(&self, v: &VethSpec) -> Result<bool, LinkError> {
        Ok(self.attached.lock().unwrap_or_else(|p| p.into_inner()).get(&v.host_name).is_some_and(|a| a.netns == v.netns))
    }

    fn detach(&self, host_name: &str) -> Result<bool, LinkError> {
        self.record(Call::Detach(host_name.to_string()));
        Ok(self.attached.lock().unwrap_or_else(|p| p.into_inner()).remove(host_name).is_some())
    }

    fn remove_bridge_if_unused(&self, name: &str) -> Result<bool, LinkError> {
        if !self.attached.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return Ok(false);
        }
        let mut b = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
        Ok(b.take_if(|b| b.name == name).is_some())
    }
}
