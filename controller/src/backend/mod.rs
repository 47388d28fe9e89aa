//! Where the resources come from and where status goes: the API server, or a directory.

pub mod dir;
pub mod kube;
