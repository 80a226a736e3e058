//! What the server counts, served at `GET /metrics` in the Prometheus
//! (OpenMetrics) text format through `prometheus-client`. One [`Metrics`]
//! per server, made as it starts and handed to whatever counts: no global,
//! so servers in one process (the tests) count apart.
//!
//! Every label takes its value from a set fixed here (a message type, an
//! error code, how a connection ended), never from what a client chooses
//! (a room, a user, a name): the number of series stays bounded, and
//! nothing a client sent leaks into monitoring.

use std::sync::Arc;

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
        info::Info,
    },
    registry::{Registry, Unit},
};

/// One label whose value is one of a fixed set.
type Label = [(&'static str, &'static str); 1];

/// Counters, gauges and histograms, and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    pub connections_opened: Counter,
    connections_closed: Family<Label, Counter>,
    messages_received: Family<Label, Counter>,
    errors_sent: Family<Label, Counter>,
    rate_limited: Family<[(&'static str, &'static str); 2], Counter>,
    account_events: Family<[(&'static str, &'static str); 2], Counter>,
    moderation: Family<[(&'static str, &'static str); 1], Counter>,
    pub deliveries: Counter,
    pub sent_bytes: Counter,
    pub slow_consumers: Counter,
    pub history_requests: Counter,
    pub searches: Counter,
    pub resumes: Counter,
    pub rooms: Gauge,
    pub users: Gauge,
    pub broker_queue: Gauge,
    pub store_queue: Gauge,
    pub commit_seconds: Histogram,
    pub commit_messages: Histogram,
    pub bus_publishes: Counter,
    pub gap_fills: Counter,
    pub bus_lag_seconds: Histogram,
}

impl Metrics {
    pub fn new(clustered: bool) -> Arc<Self> {
        let mut metrics = Self {
            registry: Registry::with_prefix("confab"),
            connections_open: Gauge::default(),
            connections_opened: Counter::default(),
            connections_closed: Family::default(),
            messages_received: Family::default(),
            errors_sent: Family::default(),
            rate_limited: Family::default(),
            account_events: Family::default(),
            moderation: Family::default(),
            deliveries: Counter::default(),
            sent_bytes: Counter::default(),
            slow_consumers: Counter::default(),
            history_requests: Counter::default(),
            searches: Counter::default(),
            resumes: Counter::default(),
            rooms: Gauge::default(),
            users: Gauge::default(),
            broker_queue: Gauge::default(),
            store_queue: Gauge::default(),
            // 0.25 ms to 8 s: an fsync, up to a database far behind.
            commit_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            commit_messages: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            bus_publishes: Counter::default(),
            gap_fills: Counter::default(),
            // 1 ms to 16 s.
            bus_lag_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        };
        let r = &mut metrics.registry;
        let build = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        r.register("build", "The running build", build);
        r.register(
            "connections_open",
            "WebSocket connections open now",
            metrics.connections_open.clone(),
        );
        r.register(
            "connections_opened",
            "WebSocket connections opened",
            metrics.connections_opened.clone(),
        );
        r.register(
            "connections_closed",
            "WebSocket connections closed, by how they ended (client, lost, or the close code the server sent)",
            metrics.connections_closed.clone(),
        );
        r.register(
            "messages_received",
            "Messages received from clients, by type (invalid: not a message)",
            metrics.messages_received.clone(),
        );
        r.register(
            "errors_sent",
            "Protocol errors sent to clients, by code",
            metrics.errors_sent.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused for their rate, by what was asked (message, typing, join, history, rename; connect and open at upgrade; sign_in, sign_up) and whose limit it was (connection, user, ip, account)",
            metrics.rate_limited.clone(),
        );
        r.register(
            "account_events",
            "Sign-ups and sign-ins (ok or refused), sign-outs and password changes",
            metrics.account_events.clone(),
        );
        r.register(
            "moderation",
            "Moderation actions taken (mute, ban, kick, unmute, unban)",
            metrics.moderation.clone(),
        );
        r.register(
            "deliveries",
            "Messages handed to clients' sockets",
            metrics.deliveries.clone(),
        );
        r.register_with_unit(
            "sent",
            "Bytes of WebSocket payload handed to clients' sockets",
            Unit::Bytes,
            metrics.sent_bytes.clone(),
        );
        r.register(
            "slow_consumers_evicted",
            "Connections closed because their send queue was full (1013)",
            metrics.slow_consumers.clone(),
        );
        r.register(
            "history_requests",
            "History pages asked for (history, direct_history)",
            metrics.history_requests.clone(),
        );
        r.register(
            "searches",
            "Searches carried out (search)",
            metrics.searches.clone(),
        );
        r.register(
            "resumes",
            "Joins that asked for what came after a sequence number",
            metrics.resumes.clone(),
        );
        r.register("rooms", "Rooms in memory", metrics.rooms.clone());
        r.register("users", "Users connected", metrics.users.clone());
        r.register(
            "broker_queue_depth",
            "Commands waiting in the broker's queue",
            metrics.broker_queue.clone(),
        );
        r.register(
            "store_queue_depth",
            "Requests waiting in the store's queue",
            metrics.store_queue.clone(),
        );
        r.register_with_unit(
            "store_commit_duration",
            "Time to commit one batch of messages",
            Unit::Seconds,
            metrics.commit_seconds.clone(),
        );
        r.register(
            "store_commit_batch_messages",
            "Messages per committed batch",
            metrics.commit_messages.clone(),
        );
        if clustered {
            r.register(
                "bus_publishes",
                "Publications sent to Redis",
                metrics.bus_publishes.clone(),
            );
            r.register(
                "gap_fills",
                "Reads from storage of messages the bus did not bring",
                metrics.gap_fills.clone(),
            );
            r.register_with_unit(
                "bus_lag",
                "From a message's commit on another node to its arrival here",
                Unit::Seconds,
                metrics.bus_lag_seconds.clone(),
            );
        }
        Arc::new(metrics)
    }

    pub fn closed(&self, how: &'static str) {
        self.connections_closed.get_or_create(&[("how", how)]).inc();
    }

    pub fn received(&self, kind: &'static str) {
        self.messages_received
            .get_or_create(&[("type", kind)])
            .inc();
    }

    pub fn error_sent(&self, code: &'static str) {
        self.errors_sent.get_or_create(&[("code", code)]).inc();
    }

    pub fn rate_limited(&self, kind: &'static str, scope: &'static str) {
        self.rate_limited
            .get_or_create(&[("kind", kind), ("scope", scope)])
            .inc();
    }

    /// A sign-up, sign-in or sign-out, and whether it went through.
    pub fn account_event(&self, kind: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.account_events
            .get_or_create(&[("kind", kind), ("result", result)])
            .inc();
    }

    /// A moderation action taken.
    pub fn moderated(&self, action: &'static str) {
        self.moderation.get_or_create(&[("action", action)]).inc();
    }

    /// Everything, as `GET /metrics` serves it.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let metrics = Metrics::new(true);
        metrics.closed("client");
        metrics.received("join_room");
        metrics.error_sent("busy");
        metrics.rate_limited("message", "user");
        let text = metrics.encode();
        assert!(text.contains("confab_build_info{version=\""), "{text}");
        for line in [
            "confab_connections_opened_total 0",
            "confab_connections_closed_total{how=\"client\"} 1",
            "confab_messages_received_total{type=\"join_room\"} 1",
            "confab_errors_sent_total{code=\"busy\"} 1",
            "confab_rate_limited_total{kind=\"message\",scope=\"user\"} 1",
            "confab_sent_bytes_total 0",
            "# TYPE confab_store_commit_duration_seconds histogram",
            "# TYPE confab_bus_lag_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert!(!Metrics::new(false).encode().contains("confab_bus_"));
    }
}
