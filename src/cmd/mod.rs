//! One module per CLI verb.

pub mod apply;
pub mod cluster;
pub mod delete;
pub mod get;
pub mod node;
pub mod kill;
pub mod rollout;
pub mod scale;
pub mod scenario;
pub mod set_image;

use api::model::KindInfo;

/// How kubectl names a kind in its messages: `deployment.apps`, `pod`.
pub fn display_kind(info: &KindInfo) -> String {
    let kind = info.kind.to_ascii_lowercase();
    if info.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", info.group)
    }
}
