//! The workloads the runner drives through etcdkit while the nemesis injects faults, one
//! module each. Each runs until told to stop and returns what it recorded.

pub mod lease;
pub mod mutex;
pub mod register;
pub mod registry;
pub mod watchers;
pub mod writers;

use std::time::Duration;

use etcdkit::{Client, ClientOptions};

/// Per-request deadline of the workload clients. Shorter than the client's 30 s default so
/// that a request stuck on a dead member is given up (outcome unknown) within the run;
/// what matters to the checkers is that the outcome is reported honestly.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of all endpoints, the list rotated by `offset` so that clients start on
/// different members.
pub async fn client(endpoints: &[String], offset: usize) -> anyhow::Result<Client> {
    let mut eps = endpoints.to_vec();
    if !eps.is_empty() {
        let n = offset % eps.len();
        eps.rotate_left(n);
    }
    Ok(ClientOptions::new(eps)
        .request_timeout(REQUEST_TIMEOUT)
        .connect()
        .await?)
}
