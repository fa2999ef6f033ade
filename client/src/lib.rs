//! shoal's API client: a typed `Api<T>` per kind with paths from its `KindInfo`, one error
//! type carrying the server's `Status`, raw requests for tests, watch streams, and a
//! watcher (list + watch + relist) that feeds the same [`Cache`] the control plane uses.

pub mod api;
pub mod blocking;
pub mod cache;
pub mod error;
pub mod http;
pub mod images;
pub mod metrics;
pub mod path;
pub mod status;
pub mod watch;
pub mod watcher;

pub use crate::api::{Api, Deleted, ObjectList, Scale, ScaleSpec, ScaleStatus};
pub use cache::{Cache, Change, Revision, Update};
pub use error::Error;
pub use http::{Client, Request, Response};
pub use path::{DeleteParams, ListParams, Patch, PatchParams, Preconditions, PropagationPolicy};
pub use status::{Status, StatusCause, StatusDetails};
pub use watch::{WatchEvent, WatchStream};
