//! Bounds on the stream transports (TCP and TLS): how many connections in all
//! and from one address (counted by [`crate::admission`]), how long a
//! connection may stay silent or spend on one message, and how much may wait
//! to be written to it.

use std::time::Duration;

/// The bounds of one server's TCP and TLS connections (counted together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, all sources together.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// A connection that sends no byte at all for this long is closed.
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte, a TLS
    /// handshake done this long after the connection came, and each write
    /// of ours taken by the peer within this long.
    pub message_timeout: Duration,
    /// Bytes queued for one connection; a peer that does not read is
    /// disconnected rather than let the queue grow.
    pub write_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_ip: 32,
            idle_timeout: Duration::from_secs(300),
            message_timeout: Duration::from_secs(10),
            write_queue_bytes: 256 * 1024,
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as a server with
/// a thousand connections needs (service managers often start processes
/// with a soft limit of 1024). Returns the soft limit in force.
pub(super) fn raise_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited"; an unlimited hard limit is left alone (Linux
    // refuses an unlimited soft limit for open files anyway).
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(hard);
        }
    }
    limit.current
}
