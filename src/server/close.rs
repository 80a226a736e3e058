//! Why the server closes a WebSocket: each reason with its close code and
//! text. Every close frame the server sends is made here, from one of these.
//!
//! A leaf module: the broker, the send queue, the writer and the connection
//! all name reasons, and none of them needs the others for it.

use tokio_tungstenite::tungstenite::{Message, Utf8Bytes, protocol::CloseFrame};

use crate::protocol::close_code;

/// Why the server ends a connection with a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A message over `max_message_bytes` (the limit, for the text).
    MessageTooBig { limit: usize },
    /// Nothing arrived within the heartbeat timeout.
    HeartbeatTimeout,
    /// The client's send queue filled up: it does not read fast enough.
    SlowConsumer,
    /// The server is stopping: reconnect after a short, jittered wait.
    Restarting,
    /// The client broke RFC 6455 (an unmasked frame, reserved bits, an
    /// unknown opcode, a control frame too long or fragmented, a bad close
    /// payload, a continuation out of place).
    ProtocolError,
    /// A text message that is not UTF-8.
    InvalidUtf8,
    /// The client kept sending past its rate limits after being told to wait.
    PolicyViolation,
    /// An operator disconnected the user (the HTTP API); they may connect
    /// again.
    Disconnected,
    /// A session of the user's account was signed out: every connection
    /// of theirs is closed, and those whose session lives connect again.
    SignedOut,
    /// An admin banned the user from the server.
    Banned,
    /// Who the connection is could not be settled now (storage did not
    /// answer): connect again in a while, with the same token.
    TryAgainLater,
}

impl CloseReason {
    /// The close code, as a metric's label.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::MessageTooBig { .. } => "1009",
            CloseReason::HeartbeatTimeout => "4408",
            CloseReason::SlowConsumer => "1013",
            CloseReason::Restarting => "1012",
            CloseReason::ProtocolError => "1002",
            CloseReason::InvalidUtf8 => "1007",
            CloseReason::PolicyViolation => "1008",
            CloseReason::Disconnected => "4001",
            CloseReason::SignedOut => "4002",
            CloseReason::Banned => "4003",
            CloseReason::TryAgainLater => "1013",
        }
    }

    pub fn code(self) -> u16 {
        match self {
            CloseReason::MessageTooBig { .. } => close_code::MESSAGE_TOO_BIG,
            CloseReason::HeartbeatTimeout => close_code::HEARTBEAT_TIMEOUT,
            CloseReason::SlowConsumer => close_code::SLOW_CONSUMER,
            CloseReason::Restarting => close_code::SERVICE_RESTART,
            CloseReason::ProtocolError => close_code::PROTOCOL_ERROR,
            CloseReason::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            CloseReason::PolicyViolation => close_code::POLICY_VIOLATION,
            CloseReason::Disconnected => close_code::DISCONNECTED,
            CloseReason::SignedOut => close_code::SIGNED_OUT,
            CloseReason::Banned => close_code::BANNED,
            CloseReason::TryAgainLater => close_code::SLOW_CONSUMER,
        }
    }

    /// The close frame's reason text (at most 123 bytes, RFC 6455 §5.5).
    pub fn text(self) -> Utf8Bytes {
        match self {
            CloseReason::MessageTooBig { limit } => {
                format!("message too big: the limit is {limit} bytes").into()
            }
            CloseReason::HeartbeatTimeout => Utf8Bytes::from_static("heartbeat timeout"),
            CloseReason::SlowConsumer => Utf8Bytes::from_static("slow consumer"),
            CloseReason::Restarting => Utf8Bytes::from_static("server restarting"),
            CloseReason::ProtocolError => Utf8Bytes::from_static("protocol error"),
            CloseReason::InvalidUtf8 => Utf8Bytes::from_static("text message is not UTF-8"),
            CloseReason::PolicyViolation => {
                Utf8Bytes::from_static("rate limits exceeded after being told to wait")
            }
            CloseReason::Disconnected => Utf8Bytes::from_static("disconnected by the operator"),
            CloseReason::SignedOut => {
                Utf8Bytes::from_static("a session of this account was signed out: connect again")
            }
            CloseReason::TryAgainLater => Utf8Bytes::from_static("try again later"),
            CloseReason::Banned => Utf8Bytes::from_static("banned from this server"),
        }
    }

    /// The close frame itself.
    pub fn message(self) -> Message {
        Message::Close(Some(CloseFrame {
            code: self.code().into(),
            reason: self.text(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_code_and_a_text_that_fits_a_close_frame() {
        let reasons = [
            (CloseReason::MessageTooBig { limit: usize::MAX }, 1009),
            (CloseReason::HeartbeatTimeout, 4408),
            (CloseReason::SlowConsumer, 1013),
            (CloseReason::Restarting, 1012),
            (CloseReason::ProtocolError, 1002),
            (CloseReason::InvalidUtf8, 1007),
            (CloseReason::PolicyViolation, 1008),
            (CloseReason::Disconnected, 4001),
            (CloseReason::SignedOut, 4002),
            (CloseReason::Banned, 4003),
        ];
        for (reason, code) in reasons {
            assert_eq!(reason.code(), code, "{reason:?}");
            assert!(reason.text().len() <= 123, "{reason:?}");
        }
    }
}
