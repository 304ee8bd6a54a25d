//! fleetrun's domain core: documents, parameters, invocation states, command status, rate control and targets.
//!
//! Everything here is pure: no IO, no clock, no randomness, no async runtime.
//! Callers pass in "now" and ids; the store and the server own persistence and time.
//! Wire formats (SSM JSON, the agent protocol) live in other crates and convert to and from these types.

pub mod automation;
pub mod document;
pub mod mask;
pub mod output;
pub mod parameter;
pub mod rate;
pub mod state;
pub mod target;
