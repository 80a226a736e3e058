//! `baseline-server`: the least a broker can do for `fanout`, as the
//! yardstick confab's steady-state cost is measured against in the same run
//! (`confab-bench steady`). tokio-tungstenite, rooms in one task, each
//! message encoded once and handed to every member's writer task through an
//! unbounded channel: no storage, no heartbeat, no limits, no checks, no
//! acks, no presence. What a chat server written in an afternoon does, and
//! so what confab's durability, fairness and liveness cost on top.

use std::collections::HashMap;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// What a member sends (the article's two messages the scenario uses).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Request {
    JoinRoom { room: String },
    RoomMessage { room: String, content: String },
}

enum Command {
    Join {
        conn: u64,
        room: String,
        writer: mpsc::UnboundedSender<Message>,
    },
    Say {
        conn: u64,
        room: String,
        content: String,
    },
    Gone {
        conn: u64,
    },
}

/// Serves until killed, printing the line `process::spawn` waits for.
pub fn serve() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "{}{}",
            confab::server::process::LISTENING,
            listener.local_addr()?
        );
        let (commands, queue) = mpsc::unbounded_channel();
        tokio::spawn(broker(queue));
        let mut next = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            next += 1;
            tokio::spawn(connection(stream, next, commands.clone()));
        }
    })
}

async fn broker(mut queue: mpsc::UnboundedReceiver<Command>) {
    let mut rooms: HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>> = HashMap::new();
    while let Some(command) = queue.recv().await {
        match command {
            Command::Join { conn, room, writer } => {
                let joined = format!(
                    r#"{{"type":"joined","room":{}}}"#,
                    serde_json::Value::from(room.as_str())
                );
                let _ = writer.send(Message::text(joined));
                rooms.entry(room).or_default().push((conn, writer));
            }
            Command::Say {
                conn,
                room,
                content,
            } => {
                let Some(members) = rooms.get(&room) else {
                    continue;
                };
                // The article's field order, `type` first, as confab writes it.
                let frame = format!(
                    r#"{{"type":"room_message","room":{},"from":"{conn}","content":{}}}"#,
                    serde_json::Value::from(room.as_str()),
                    serde_json::Value::from(content),
                );
                let frame = Message::Text(Utf8Bytes::from(frame));
                for (_, writer) in members {
                    let _ = writer.send(frame.clone());
                }
            }
            Command::Gone { conn } => {
                for members in rooms.values_mut() {
                    members.retain(|(member, _)| *member != conn);
                }
            }
        }
    }
}

async fn connection(stream: TcpStream, conn: u64, commands: mpsc::UnboundedSender<Command>) {
    let _ = stream.set_nodelay(true);
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = socket.split();
    let (writer, mut outgoing) = mpsc::unbounded_channel::<Message>();
    let writing = tokio::spawn(async move {
        while let Some(first) = outgoing.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(more) = outgoing.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(frame)) = source.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        let command = match serde_json::from_str::<Request>(&text) {
            Ok(Request::JoinRoom { room }) => Command::Join {
                conn,
                room,
                writer: writer.clone(),
            },
            Ok(Request::RoomMessage { room, content }) => Command::Say {
                conn,
                room,
                content,
            },
            Err(_) => continue,
        };
        let _ = commands.send(command);
    }
    let _ = commands.send(Command::Gone { conn });
    writing.abort();
}
