//! The room broker: one task owns every room and session, and the rest of the
//! server talks to it through [`Broker`], a cloneable handle around a bounded
//! command channel. One owner means no locks, and one order of events per
//! room that every member sees.
//!
//! The task never waits on a client: deliveries go into each connection's
//! [`Outbox`] with `try_send`, and a full outbox gets its connection evicted.

mod state;

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{ClientMessage, UserId};
use crate::server::outbox::Outbox;

use state::BrokerState;

/// Commands queued for the broker before a reader has to wait. A reader that
/// waits stops reading its socket, which pushes back on that one client only.
const COMMAND_QUEUE: usize = 4096;

/// Commands handled per wake-up of the broker task.
const COMMAND_BATCH: usize = 64;

/// Why the broker dropped a connection on its own initiative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Its outbox was full.
    SlowConsumer,
    /// The server is stopping and the outbox had no room for the notice.
    ShuttingDown,
}

/// What connections ask of the broker.
#[derive(Debug)]
pub enum Command {
    /// A new connection; it must come before any other command for `id`.
    Connect {
        id: UserId,
        outbox: Outbox,
        kick: oneshot::Sender<Kick>,
    },
    /// A decoded, validated message from the client.
    Client { id: UserId, message: ClientMessage },
    /// The connection ended for any reason. Idempotent.
    Disconnect { id: UserId },
    /// The connection's reader found its outbox full: evict it like any
    /// other slow consumer.
    SlowConsumer { id: UserId },
    /// Tell every client the server is stopping, then close them with 1012.
    Shutdown,
}

/// The handle every connection holds.
#[derive(Debug, Clone)]
pub struct Broker {
    commands: mpsc::Sender<Command>,
}

impl Broker {
    /// Starts the broker task. It ends when every handle has been dropped.
    pub fn spawn() -> Self {
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        tokio::spawn(broker_loop(receiver));
        Self { commands }
    }

    /// Queues a command, waiting while the broker is behind. A command sent
    /// after the broker has stopped is dropped: the server is exiting.
    pub async fn send(&self, command: Command) {
        let _ = self.commands.send(command).await;
    }
}

async fn broker_loop(mut commands: mpsc::Receiver<Command>) {
    let mut state = BrokerState::default();
    let mut batch = Vec::with_capacity(COMMAND_BATCH);
    while commands.recv_many(&mut batch, COMMAND_BATCH).await > 0 {
        for command in batch.drain(..) {
            state.handle(command);
        }
    }
}
