//! fleetrun-client: how fleetrun programs authenticate and talk to an SSM-compatible API.
//!
//! It holds the client half (credentials and endpoint from the environment, SigV4 signing,
//! `SsmClient`) and, in `sigv4_verify`, the pure verification half the server calls, so both
//! sides share one signing implementation. It has no typed SSM models, no retries, and no
//! server code beyond that verifier.

pub mod credentials;
pub mod sign;
pub mod sigv4_verify;
pub mod ssm;

pub use credentials::{Credentials, Endpoint, EnvError};
pub use sign::{SignError, SigningScope, sign_request};
pub use ssm::{ClientError, SsmClient};
