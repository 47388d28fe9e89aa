//! The actions, one module each.

pub mod diff;
pub mod freeze;
pub mod log;
pub mod overview;
pub mod pin;
pub mod plan;
pub mod promote;
pub mod pull_request;
pub mod quickstart;
pub mod render_dir;
pub mod status;
pub mod sync;
