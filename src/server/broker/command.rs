//! What connections ask of the broker, and how it names a connection.

use crate::protocol::{ClientMessage, DisplayName, UserId};
use crate::server::outbox::Outbox;

/// One connection. A user (one identity) may have several at once: tabs,
/// devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What connections ask of the broker.
#[derive(Debug)]
pub enum Command {
    /// A new connection, as a fresh guest `user`; it must come before any
    /// other command for `conn`.
    Connect {
        conn: ConnId,
        user: UserId,
        outbox: Outbox,
    },
    /// The connection opened with `hello`: from now on it is `user`, with
    /// the name the store remembers for it, if any. `token` is the user's
    /// session token for the `welcome`; `token_refused` says the client
    /// presented a token that did not verify, so `user` is new.
    Identify {
        conn: ConnId,
        user: UserId,
        stored_name: Option<DisplayName>,
        token: String,
        token_refused: bool,
    },
    /// A decoded, validated message from the client (never `hello`).
    Client {
        conn: ConnId,
        message: ClientMessage,
    },
    /// The connection ended for any reason. Idempotent.
    Disconnect { conn: ConnId },
    /// Tell every client the server is stopping, then close them with 1012.
    Shutdown,
}
