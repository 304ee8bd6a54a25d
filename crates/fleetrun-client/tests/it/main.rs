//! Loopback integration tests for fleetrun-client: the real aws CLI and boto3 against the
//! verifier, and `SsmClient` against canned responses. One binary, so helpers are shared.
//!
//! Nothing here talks to the network beyond 127.0.0.1; `support` is a hand-written HTTP/1.1
//! responder, not a server implementation.

mod real_clients;
mod ssm_client;
mod support;
