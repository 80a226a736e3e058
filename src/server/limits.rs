//! Rate limits, through governor's GCRA: how often a connection and a user
//! may do each thing, and how often one client address may connect and how
//! many connections it may hold. Asked before the work is done: by a
//! connection's reader before it forwards a request to the broker, and by
//! the upgrade before a socket is opened. Nothing here waits: a request
//! over its limit is refused with how long until it would pass.
//!
//! Per user means over a user's connections on this node: a cluster of N
//! nodes lets a user spread over them N times the rate (each node keeps its
//! own counts; sharing them would put a Redis round trip on every request).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed, keyed::DashMapStateStore},
};

use super::config::{Rate, RateLimits};
use crate::protocol::{ClientMessage, UserId};

/// What a request costs: the requests each limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `room_message`, `direct_message`, and changes to messages
    /// (`edit_message`, `delete_message`, `react`): each is stored.
    Message,
    Typing,
    /// `join_room`, `leave_room`, `mark_read`.
    Join,
    /// `history`, `direct_history`, `search`, `list_rooms`.
    History,
    /// `set_name`.
    Rename,
}

impl Action {
    const COUNT: usize = 5;

    /// What `message` counts against; `hello` counts against nothing (it
    /// comes once, first).
    pub fn of(message: &ClientMessage) -> Option<Self> {
        Some(match message {
            ClientMessage::RoomMessage { .. }
            | ClientMessage::DirectMessage { .. }
            | ClientMessage::EditMessage { .. }
            | ClientMessage::DeleteMessage { .. }
            | ClientMessage::React { .. } => Action::Message,
            ClientMessage::Typing { .. } => Action::Typing,
            ClientMessage::JoinRoom { .. }
            | ClientMessage::LeaveRoom { .. }
            | ClientMessage::MarkRead { .. } => Action::Join,
            ClientMessage::History { .. }
            | ClientMessage::DirectHistory { .. }
            | ClientMessage::Search { .. }
            | ClientMessage::ListRooms => Action::History,
            ClientMessage::SetName { .. } => Action::Rename,
            ClientMessage::Hello { .. } => return None,
        })
    }

    /// Its name in metrics and in the refusal's text.
    pub fn label(self) -> &'static str {
        match self {
            Action::Message => "message",
            Action::Typing => "typing",
            Action::Join => "join",
            Action::History => "history",
            Action::Rename => "rename",
        }
    }

    /// What too many of it are, in a refusal's text.
    pub fn plural(self) -> &'static str {
        match self {
            Action::Message => "messages",
            Action::Typing => "typing notices",
            Action::Join => "joins and leaves",
            Action::History => "history requests",
            Action::Rename => "renames",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whose limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Connection,
    User,
    /// The client address, over all its connections and identities.
    Address,
    /// One account's sign-ins, from anywhere.
    Account,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Connection => "connection",
            Scope::User => "user",
            Scope::Address => "ip",
            Scope::Account => "account",
        }
    }
}

/// A request over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub scope: Scope,
    /// How long until the same request would pass (at least 1 ms).
    pub retry_after: Duration,
}

/// What becomes of a request a connection makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Refused; the connection is told to wait.
    Wait(Refused),
    /// Refused once too often after being told to wait: close with 1008.
    Close,
}

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Connections open per client address (kept only with `open_per_ip`).
type OpenCounts = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The server's limits: the quotas, and the counts kept per user and per
/// client address. One per server, shared by every connection.
pub struct Limits<C: Clock = DefaultClock> {
    /// Per connection, by [`Action`]; `None`: off.
    quotas: [Option<Quota>; Action::COUNT],
    refusals: Option<Quota>,
    users: [Option<Keyed<UserId, C>>; Action::COUNT],
    /// Per client address (see [`address_key`]): messages and joins.
    address_messages: Option<Keyed<IpAddr, C>>,
    address_joins: Option<Keyed<IpAddr, C>>,
    connects: Option<Keyed<IpAddr, C>>,
    /// HTTP API requests, by the key's place in `api_keys`.
    api: Option<Keyed<usize, C>>,
    /// Sign-in attempts by client address and by username key; sign-ups
    /// by client address.
    sign_ins: Option<Keyed<IpAddr, C>>,
    account_sign_ins: Option<Keyed<String, C>>,
    sign_ups: Option<Keyed<IpAddr, C>>,
    open_per_ip: u32,
    open: OpenCounts,
    clock: C,
}

/// One connection's counts, made when it first does something limited
/// (a connection that only listens never needs them).
pub struct ConnectionLimits<C: Clock = DefaultClock> {
    actions: [Option<Direct<C>>; Action::COUNT],
    refusals: Option<Direct<C>>,
}

fn quota(rate: Rate) -> Option<Quota> {
    match rate {
        Rate::Off => None,
        Rate::Every { burst, period } => {
            Quota::with_period(period / burst.get()).map(|quota| quota.allow_burst(burst))
        }
    }
}

fn keyed<K: Hash + Eq + Clone, C: Clock + Clone>(rate: Rate, clock: &C) -> Option<Keyed<K, C>> {
    quota(rate).map(|quota| RateLimiter::dashmap_with_clock(quota, clock.clone()))
}

impl Limits {
    pub fn new(settings: &RateLimits) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    pub fn with_clock(settings: &RateLimits, clock: C) -> Self {
        let per_connection = [
            settings.messages,
            settings.typing,
            settings.joins,
            settings.history,
            settings.renames,
        ];
        let per_user = [
            settings.user_messages,
            settings.user_typing,
            settings.user_joins,
            settings.user_history,
            settings.user_renames,
        ];
        Self {
            quotas: per_connection.map(quota),
            refusals: quota(settings.refusals),
            users: per_user.map(|rate| keyed(rate, &clock)),
            address_messages: keyed(settings.address_messages, &clock),
            address_joins: keyed(settings.address_joins, &clock),
            connects: keyed(settings.connects_per_ip, &clock),
            api: keyed(settings.api, &clock),
            sign_ins: keyed(settings.sign_ins_per_ip, &clock),
            account_sign_ins: keyed(settings.sign_ins_per_account, &clock),
            sign_ups: keyed(settings.sign_ups_per_ip, &clock),
            open_per_ip: settings.open_per_ip,
            open: Arc::default(),
            clock,
        }
    }

    /// Whether any limit is kept per connection (else a connection's counts
    /// hold nothing, and need not be kept).
    pub fn counts_connections(&self) -> bool {
        self.refusals.is_some() || self.quotas.iter().any(Option::is_some)
    }

    /// A new connection's counts.
    pub fn connection(&self) -> ConnectionLimits<C> {
        let direct = |quota: Option<Quota>| {
            quota.map(|quota| RateLimiter::direct_with_clock(quota, self.clock.clone()))
        };
        ConnectionLimits {
            actions: self.quotas.map(direct),
            refusals: direct(self.refusals),
        }
    }

    /// Whether `user`, on the connection with these counts from `address`,
    /// may do `action` now. A pass is counted against every limit; a
    /// refusal against the connection's refusals.
    pub fn admit(
        &self,
        connection: &mut ConnectionLimits<C>,
        user: UserId,
        address: IpAddr,
        action: Action,
    ) -> Verdict {
        let index = action.index();
        let now = self.clock.now();
        let over = |scope, not_until: governor::NotUntil<C::Instant>| Refused {
            scope,
            retry_after: not_until.wait_time_from(now).max(Duration::from_millis(1)),
        };
        let refused = match &connection.actions[index] {
            Some(limiter) => limiter.check().err().map(|n| over(Scope::Connection, n)),
            None => None,
        }
        .or_else(|| match &self.users[index] {
            Some(limiter) => limiter.check_key(&user).err().map(|n| over(Scope::User, n)),
            None => None,
        })
        .or_else(|| {
            let limiter = match action {
                Action::Message => self.address_messages.as_ref(),
                Action::Join => self.address_joins.as_ref(),
                _ => None,
            }?;
            let key = address_key(address);
            limiter
                .check_key(&key)
                .err()
                .map(|n| over(Scope::Address, n))
        });
        match refused {
            None => Verdict::Pass,
            Some(refused) if self.refuse(connection) => Verdict::Wait(refused),
            Some(_) => Verdict::Close,
        }
    }

    /// Counts a refusal against the connection (a request refused for its
    /// rate, or an invalid message). False once the connection has drawn
    /// more than it may: it should be closed.
    pub fn refuse(&self, connection: &mut ConnectionLimits<C>) -> bool {
        connection
            .refusals
            .as_ref()
            .is_none_or(|limiter| limiter.check().is_ok())
    }

    /// Whether `address` may open another connection now: its place among
    /// the connections open, held until the returned slot is dropped.
    pub fn connect(&self, address: IpAddr) -> Result<AddressSlot, AddressRefused> {
        let address = address_key(address);
        if let Some(limiter) = &self.connects
            && let Err(not_until) = limiter.check_key(&address)
        {
            let now = self.clock.now();
            let retry_after = not_until.wait_time_from(now).max(Duration::from_millis(1));
            return Err(AddressRefused::Attempts { retry_after });
        }
        if self.open_per_ip == 0 {
            return Ok(AddressSlot(None));
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_default();
        if *count >= self.open_per_ip {
            return Err(AddressRefused::Open);
        }
        *count += 1;
        Ok(AddressSlot(Some((Arc::clone(&self.open), address))))
    }

    /// Whether the API key at `key` may make another request now; if not,
    /// how long until it may.
    pub fn api(&self, key: usize) -> Result<(), Duration> {
        match &self.api {
            Some(limiter) => limiter.check_key(&key).map_err(|not_until| {
                not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_millis(1))
            }),
            None => Ok(()),
        }
    }

    /// Whether `address` may try to sign in to the account named `key`
    /// (its username's key) now. An attempt counts against both, whatever
    /// becomes of it: a guesser spread over many addresses is still held
    /// to the account's rate, and one address to its own over many names.
    pub fn sign_in(&self, address: IpAddr, key: &str) -> Result<(), Refused> {
        let now = self.clock.now();
        let over = |scope, not_until: governor::NotUntil<C::Instant>| Refused {
            scope,
            retry_after: not_until.wait_time_from(now).max(Duration::from_millis(1)),
        };
        if let Some(limiter) = &self.sign_ins {
            limiter
                .check_key(&address_key(address))
                .map_err(|n| over(Scope::Address, n))?;
        }
        if let Some(limiter) = &self.account_sign_ins {
            let key = key.to_owned();
            limiter
                .check_key(&key)
                .map_err(|n| over(Scope::Account, n))?;
        }
        Ok(())
    }

    /// Whether `address` may make another account now.
    pub fn sign_up(&self, address: IpAddr) -> Result<(), Refused> {
        match &self.sign_ups {
            Some(limiter) => limiter
                .check_key(&address_key(address))
                .map_err(|n| Refused {
                    scope: Scope::Address,
                    retry_after: n
                        .wait_time_from(self.clock.now())
                        .max(Duration::from_millis(1)),
                }),
            None => Ok(()),
        }
    }

    /// Forgets the users and addresses whose counts are back to where a
    /// newcomer's start (run every minute: the maps hold only who was
    /// active lately).
    pub fn forget_idle(&self) {
        fn tidy<K: Hash + Eq + Clone, C: Clock>(limiter: &Keyed<K, C>) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.users.iter().flatten().for_each(tidy);
        let by_address = [
            &self.connects,
            &self.address_messages,
            &self.address_joins,
            &self.sign_ins,
            &self.sign_ups,
        ];
        by_address.into_iter().flatten().for_each(tidy);
        self.account_sign_ins.iter().for_each(tidy);
    }

    /// Users and addresses with counts kept.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        let users: usize = self.users.iter().flatten().map(Keyed::len).sum();
        let by_address = [&self.connects, &self.address_messages, &self.address_joins];
        users
            + by_address
                .into_iter()
                .flatten()
                .map(Keyed::len)
                .sum::<usize>()
    }
}

/// What counts as one client address: an IPv4 address, or an IPv6 /64 (a
/// single host or home is usually given a whole /64, and could otherwise
/// take a fresh address per connection).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Why a client address may not connect now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRefused {
    /// Too many attempts lately.
    Attempts { retry_after: Duration },
    /// As many connections open as it may hold.
    Open,
}

impl AddressRefused {
    /// What was refused, in metrics.
    pub fn label(self) -> &'static str {
        match self {
            AddressRefused::Attempts { .. } => "connect",
            AddressRefused::Open => "open",
        }
    }

    /// How long to wait: for a place to free up no time says, so a few
    /// seconds.
    pub fn retry_after(self) -> Duration {
        match self {
            AddressRefused::Attempts { retry_after } => retry_after,
            AddressRefused::Open => Duration::from_secs(5),
        }
    }
}

/// A connection's place under its address's `open_per_ip`, given back when
/// dropped.
pub struct AddressSlot(Option<(OpenCounts, IpAddr)>);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some((open, address)) = self.0.take() {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = open.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::protocol::{MessageContent, RoomName};

    fn limits(
        configure: impl FnOnce(&mut RateLimits),
    ) -> (Limits<FakeRelativeClock>, FakeRelativeClock) {
        let mut settings = RateLimits::off();
        configure(&mut settings);
        let clock = FakeRelativeClock::default();
        (Limits::with_clock(&settings, clock.clone()), clock)
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    #[test]
    fn a_burst_passes_then_one_more_each_period_over_burst() {
        let (limits, clock) = limits(|s| s.messages = rate("4/2s"));
        let mut conn = limits.connection();
        let user = UserId::new_random();
        for _ in 0..4 {
            assert_eq!(
                limits.admit(&mut conn, user, HOME, Action::Message),
                Verdict::Pass
            );
        }
        assert_eq!(
            limits.admit(&mut conn, user, HOME, Action::Message),
            Verdict::Wait(Refused {
                scope: Scope::Connection,
                retry_after: Duration::from_millis(500)
            })
        );
        clock.advance(Duration::from_millis(499));
        assert!(matches!(
            limits.admit(&mut conn, user, HOME, Action::Message),
            Verdict::Wait(Refused { retry_after, .. }) if retry_after == Duration::from_millis(1)
        ));
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            limits.admit(&mut conn, user, HOME, Action::Message),
            Verdict::Pass
        );
        // Other actions have limits of their own (here none).
        for _ in 0..100 {
            assert_eq!(
                limits.admit(&mut conn, user, HOME, Action::Typing),
                Verdict::Pass
            );
        }
    }

    #[test]
    fn a_user_is_limited_over_all_their_connections_and_others_are_not() {
        let (limits, _clock) = limits(|s| {
            s.messages = rate("3/10s");
            s.user_messages = rate("4/10s");
        });
        let (ana, bo) = (UserId::new_random(), UserId::new_random());
        let (mut tab1, mut tab2, mut other) = (
            limits.connection(),
            limits.connection(),
            limits.connection(),
        );
        for _ in 0..3 {
            assert_eq!(
                limits.admit(&mut tab1, ana, HOME, Action::Message),
                Verdict::Pass
            );
        }
        assert_eq!(
            limits.admit(&mut tab2, ana, HOME, Action::Message),
            Verdict::Pass
        );
        assert!(matches!(
            limits.admit(&mut tab2, ana, HOME, Action::Message),
            Verdict::Wait(Refused {
                scope: Scope::User,
                ..
            })
        ));
        for _ in 0..3 {
            assert_eq!(
                limits.admit(&mut other, bo, HOME, Action::Message),
                Verdict::Pass
            );
        }
    }

    #[test]
    fn a_connection_that_keeps_going_after_refusals_is_closed() {
        let (limits, clock) = limits(|s| {
            s.joins = rate("1/10s");
            s.refusals = rate("3/10s");
        });
        let mut conn = limits.connection();
        let user = UserId::new_random();
        assert_eq!(
            limits.admit(&mut conn, user, HOME, Action::Join),
            Verdict::Pass
        );
        for _ in 0..3 {
            assert!(matches!(
                limits.admit(&mut conn, user, HOME, Action::Join),
                Verdict::Wait(_)
            ));
        }
        assert_eq!(
            limits.admit(&mut conn, user, HOME, Action::Join),
            Verdict::Close
        );
        // A client that waits as told is never closed.
        let mut patient = limits.connection();
        for _ in 0..20 {
            assert_eq!(
                limits.admit(&mut patient, user, HOME, Action::Join),
                Verdict::Pass
            );
            let Verdict::Wait(refused) = limits.admit(&mut patient, user, HOME, Action::Join)
            else {
                panic!("a second join within the period is refused");
            };
            clock.advance(refused.retry_after);
        }
    }

    #[test]
    fn connections_are_counted_only_when_a_limit_is_kept_per_connection() {
        assert!(!limits(|_| {}).0.counts_connections());
        // Per user or per address only: still nothing per connection.
        let (per_user, _) = limits(|s| {
            s.user_messages = rate("5/1s");
            s.address_joins = rate("5/1s");
        });
        assert!(!per_user.counts_connections());
        assert!(limits(|s| s.typing = rate("5/1s")).0.counts_connections());
        assert!(limits(|s| s.refusals = rate("5/1s")).0.counts_connections());
        let defaults = Limits::new(&RateLimits::default());
        assert!(defaults.counts_connections());
    }

    #[test]
    fn addresses_are_limited_in_attempts_and_in_connections_held() {
        let (limits, clock) = limits(|s| {
            s.connects_per_ip = rate("3/3s");
            s.open_per_ip = 2;
        });
        let (home, office): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let first = limits.connect(home).unwrap();
        let second = limits.connect(home).unwrap();
        assert_eq!(limits.connect(home).err(), Some(AddressRefused::Open));
        drop(first);
        // The third attempt (refused) used the last of the burst.
        assert_eq!(
            limits.connect(home).err(),
            Some(AddressRefused::Attempts {
                retry_after: Duration::from_secs(1)
            })
        );
        clock.advance(Duration::from_secs(1));
        let third = limits.connect(home).unwrap();
        assert!(
            limits.connect(office).is_ok(),
            "another address is unaffected"
        );
        drop((second, third));
        assert!(
            limits.open.lock().unwrap().is_empty(),
            "nothing kept for closed connections"
        );
    }

    #[test]
    fn one_address_is_limited_over_every_identity_it_takes() {
        let (limits, _clock) = limits(|s| s.address_messages = rate("3/10s"));
        let office: IpAddr = "2001:db8:1:2::10".parse().unwrap();
        // A fresh guest on a fresh connection each time, even from another
        // address of the same /64: one client.
        let mut passed = 0;
        for n in 0..5u16 {
            let mut conn = limits.connection();
            let from = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, n));
            let address = if n % 2 == 0 { office } else { from };
            match limits.admit(&mut conn, UserId::new_random(), address, Action::Message) {
                Verdict::Pass => passed += 1,
                Verdict::Wait(refused) => assert_eq!(refused.scope, Scope::Address),
                Verdict::Close => panic!("one refusal does not close"),
            }
        }
        assert_eq!(passed, 3);
        let elsewhere: IpAddr = "2001:db8:1:3::10".parse().unwrap();
        let mut conn = limits.connection();
        let verdict = limits.admit(&mut conn, UserId::new_random(), elsewhere, Action::Message);
        assert_eq!(verdict, Verdict::Pass, "the next /64 is another client");
        // Typing is not counted per address.
        assert_eq!(
            limits.admit(&mut conn, UserId::new_random(), office, Action::Typing),
            Verdict::Pass
        );
    }

    #[test]
    fn each_api_key_has_its_own_rate() {
        let (limits, clock) = limits(|s| s.api = rate("2/1s"));
        assert_eq!(limits.api(0), Ok(()));
        assert_eq!(limits.api(0), Ok(()));
        assert_eq!(limits.api(0), Err(Duration::from_millis(500)));
        assert_eq!(limits.api(1), Ok(()), "another key is unaffected");
        clock.advance(Duration::from_millis(500));
        assert_eq!(limits.api(0), Ok(()));
    }

    #[test]
    fn idle_users_and_addresses_are_forgotten() {
        let (limits, clock) = limits(|s| {
            s.user_messages = rate("2/1s");
            s.connects_per_ip = rate("2/1s");
        });
        let mut conn = limits.connection();
        for _ in 0..10 {
            limits.admit(&mut conn, UserId::new_random(), HOME, Action::Message);
        }
        drop(limits.connect("192.0.2.1".parse().unwrap()));
        assert_eq!(limits.tracked(), 11);
        limits.forget_idle();
        assert_eq!(
            limits.tracked(),
            11,
            "counts not back to a newcomer's are kept"
        );
        clock.advance(Duration::from_secs(1));
        limits.forget_idle();
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn each_request_counts_against_its_own_action() {
        let room = RoomName::parse("general").unwrap();
        let message = ClientMessage::RoomMessage {
            room: room.clone(),
            content: MessageContent::parse("hi").unwrap(),
            id: None,
            mentions: Vec::new(),
            reply_to: None,
        };
        assert_eq!(Action::of(&message), Some(Action::Message));
        assert_eq!(
            Action::of(&ClientMessage::LeaveRoom { room }),
            Some(Action::Join)
        );
        assert_eq!(Action::of(&ClientMessage::ListRooms), Some(Action::History));
        let hello = ClientMessage::Hello {
            protocol: 2,
            token: None,
        };
        assert_eq!(Action::of(&hello), None);
    }
}
