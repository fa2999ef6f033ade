//! Reading a request before a verb runs: its path and query parameters, its selectors and
//! its body, each parsed and checked in one place so the verbs only bind and write.
//!
//! - [`params`]: path (namespace, name) and query parameters (list and watch options,
//!   dryRun, fieldManager, force, fieldValidation, DeleteOptions' propagation).
//! - [`selectors`]: labelSelector and fieldSelector as one predicate.
//! - [`body`]: the body as a format (size limit, JSON/YAML/protobuf, repeated keys).
//! - [`decode`]: the body as an object of the request's kind, checked against the path.

pub mod body;
pub mod decode;
pub mod params;
pub mod selectors;
