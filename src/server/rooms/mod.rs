//! Rooms' owners, settings and invites: who runs a room, what it is about,
//! whether it is private, and the links that let people into a private
//! one. The rows are `records.rs`'s. The broker holds each loaded room's
//! [`RoomSettings`] and enforces them in one place (`broker/state/rooms.rs`);
//! the HTTP API changes them here and tells the broker (and through the
//! bus, every node) to read them again.
//!
//! The rules:
//! - A room nobody has claimed (no row) is claimed by its next joiner, who
//!   becomes its owner. Rooms with history from before ownership have a
//!   row with no owner: the server's admins run them.
//! - The server's admins (accounts named in `admins`) and the operator
//!   stand above every owner in every room: they may enter, read and
//!   moderate any, and are never banned from one ([`Who`]).
//! - One moderates (mutes, bans, deletes the messages of) only those who
//!   stand lower ([`RoomSettings::rank`]). A ban holds against the user,
//!   and against new guests from the addresses they were seen at.
//! - A private room is left out of the lobby, and only its members (anyone
//!   with a role in it) may join it, read it, search it or post in it.
//!   Whoever is in it when it becomes private stays a member.
//! - An invite makes its user a member, unless it is revoked, expired or
//!   used up.

pub mod records;
pub mod sanctions;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::protocol::{MAX_UNREAD, Membership, Role, RoomInfo, RoomName, Staff, UserId};
use crate::server::store::{Channel, Store, StoreError, Tables};
pub use records::InviteRow;
pub use sanctions::{Action, AuditRow, Change, Kind, SERVER, Sanction};

/// A room's topic, in characters at most.
pub const MAX_TOPIC_CHARS: usize = 300;

/// A loaded room's settings, as the broker enforces them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSettings {
    /// Whether the room has a row: one without has no owner yet, and its
    /// next joiner claims it.
    pub recorded: bool,
    pub topic: String,
    pub private: bool,
    /// Everyone with a standing: owners, moderators, and a private room's
    /// members.
    pub roles: HashMap<UserId, Role>,
    /// Who may not post, until when, and why.
    pub muted: HashMap<UserId, Sanction>,
    /// Who may not be in the room, until when, and why.
    pub banned: HashMap<UserId, Sanction>,
    /// Addresses ([`address_key`]) whose new guests may not be in the
    /// room: a banned guest's new identities (one entry per ban).
    pub banned_addresses: HashMap<IpAddr, Vec<AddressBan>>,
}

/// Who asks to be in a room, or to act in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    pub user: UserId,
    /// One of the server's admins, or the operator: runs every room.
    pub admin: bool,
    /// A guest, as an address's ban sees them (an account's address is not
    /// asked).
    pub guest: Option<Guest>,
}

/// A guest: where they connect from, and when their identity was made (0
/// if not known: one from before identities carried it). A ban of an
/// address keeps out the guests made there after it, not those before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    pub at: IpAddr,
    pub born_ms: i64,
}

/// A ban's hold on an address's new guests: until when, and since when
/// (guests made before it are not new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBan {
    pub until_ms: i64,
    pub since_ms: i64,
}

impl AddressBan {
    /// Whether it keeps `guest` out at `now_ms`.
    pub fn holds(&self, guest: &Guest, now_ms: i64) -> bool {
        self.until_ms > now_ms && guest.born_ms >= self.since_ms
    }
}

impl Who {
    /// The operator (an API key), under the nil user id.
    pub const OPERATOR: Who = Who {
        user: UserId::OPERATOR,
        admin: true,
        guest: None,
    };

    /// An account holder, or an admin.
    pub fn account(user: UserId, admin: bool) -> Self {
        Self {
            user,
            admin,
            guest: None,
        }
    }
}

/// How an address is banned: an IPv4 address itself, an IPv6 one by its
/// /64 (one household or host has the whole /64).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// The sanction, if it holds at `now_ms`.
fn holds(sanction: Option<&Sanction>, now_ms: i64) -> Option<&Sanction> {
    sanction.filter(|sanction| sanction.until.is_none_or(|until| until > now_ms))
}

impl RoomSettings {
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.roles.get(&user).copied()
    }

    /// Whether `who` may join, read, search and post in the room at
    /// `now_ms`: an admin always; anyone else if a member when it is
    /// private, and not banned (nor a guest from a banned address).
    pub fn lets_in(&self, who: &Who, now_ms: i64) -> bool {
        who.admin
            || ((!self.private || self.roles.contains_key(&who.user)) && !self.bans(who, now_ms))
    }

    /// Whether a ban keeps `who` out at `now_ms`: theirs, or (a guest) one
    /// of new guests from their address. Admins are never banned.
    pub fn bans(&self, who: &Who, now_ms: i64) -> bool {
        !who.admin
            && (self.banned_until(who.user, now_ms).is_some()
                || who.guest.is_some_and(|guest| {
                    self.banned_addresses
                        .get(&address_key(guest.at))
                        .is_some_and(|bans| bans.iter().any(|ban| ban.holds(&guest, now_ms)))
                }))
    }

    /// How high `who` stands in the room: 3 an admin, 2 an owner, 1 a
    /// moderator, 0 anyone else. One moderates only those below.
    pub fn rank(&self, who: &Who) -> u8 {
        if who.admin {
            return 3;
        }
        match self.role_of(who.user) {
            Some(Role::Owner) => 2,
            Some(Role::Moderator) => 1,
            _ => 0,
        }
    }

    /// `user`'s ban, if it holds at `now_ms`.
    pub fn banned_until(&self, user: UserId, now_ms: i64) -> Option<&Sanction> {
        holds(self.banned.get(&user), now_ms)
    }

    /// `user`'s mute, if it holds at `now_ms`.
    pub fn muted_until(&self, user: UserId, now_ms: i64) -> Option<&Sanction> {
        holds(self.muted.get(&user), now_ms)
    }

    /// Whose messages `who` may not delete, if they may delete others' at
    /// all (a moderator and up): those who stand as high.
    pub fn protected_from(&self, who: &Who) -> Option<Vec<UserId>> {
        let rank = self.rank(who);
        (rank > 0).then(|| {
            self.roles
                .keys()
                .filter(|user| {
                    **user != who.user && self.rank(&Who::account(**user, false)) >= rank
                })
                .copied()
                .collect()
        })
    }

    /// As the room's members see them: the staff, owners first.
    pub fn info(&self) -> RoomInfo {
        let mut staff: Vec<Staff> = self
            .roles
            .iter()
            .filter(|(_, role)| role.runs_the_room())
            .map(|(&user, &role)| Staff { user, role })
            .collect();
        staff.sort_by_key(|staff| (staff.role, staff.user));
        RoomInfo {
            topic: self.topic.clone(),
            private: self.private,
            staff,
        }
    }
}

/// Why an invite let nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefusal {
    #[error("there is no such invite")]
    Unknown,
    #[error("this invite was revoked")]
    Revoked,
    #[error("this invite has expired")]
    Expired,
    #[error("this invite has been used as many times as it may be")]
    UsedUp,
}

impl InviteRow {
    /// Why it lets nobody in now, if it does not.
    pub fn refusal(&self, now_ms: i64) -> Option<InviteRefusal> {
        if self.revoked_ms.is_some() {
            Some(InviteRefusal::Revoked)
        } else if self.expires_ms.is_some_and(|expires| expires <= now_ms) {
            Some(InviteRefusal::Expired)
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            Some(InviteRefusal::UsedUp)
        } else {
            None
        }
    }
}

/// A topic as given, checked: see [`check_line`].
pub fn check_topic(topic: &str) -> Result<String, String> {
    check_line(topic, MAX_TOPIC_CHARS, "topic")
}

/// A line of text others are shown (a topic, a moderator's reason) as
/// given, checked: trimmed, at most `max` characters, no control, hidden
/// or direction-changing characters (nor line or paragraph separators).
pub fn check_line(text: &str, max: usize, what: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(format!("a {what} is at most {max} characters"));
    }
    if text.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}')
            || crate::protocol::is_hidden(c)
            || crate::protocol::is_bidi_control(c)
    }) {
        return Err(format!("a {what} is one line of visible text"));
    }
    Ok(text.to_owned())
}

/// The rooms' rows, for the broker and the HTTP API.
#[derive(Clone, Debug)]
pub struct Rooms {
    tables: Tables,
}

impl Rooms {
    pub fn new(tables: Tables) -> Self {
        Self { tables }
    }

    /// `room`'s settings as stored now, with the sanctions in force at
    /// `now_ms`.
    pub async fn settings(&self, room: &RoomName, now_ms: i64) -> Result<RoomSettings, StoreError> {
        let mut settings = match records::load(&self.tables, room).await? {
            Some(row) => RoomSettings {
                recorded: true,
                topic: row.topic,
                private: row.private,
                roles: row.roles.into_iter().collect(),
                ..RoomSettings::default()
            },
            None => RoomSettings::default(),
        };
        for (user, kind, sanction) in
            sanctions::of_scope(&self.tables, room.as_str(), now_ms).await?
        {
            match kind {
                Kind::Mute => settings.muted.insert(user, sanction),
                Kind::Ban => settings.banned.insert(user, sanction),
            };
        }
        for (address, ban) in
            sanctions::banned_addresses(&self.tables, room.as_str(), now_ms).await?
        {
            settings
                .banned_addresses
                .entry(address)
                .or_default()
                .push(ban);
        }
        Ok(settings)
    }

    /// Makes the action's change to a sanction, if any, and writes the
    /// action to the audit log.
    pub async fn act(&self, action: &Action<'_>, change: Option<Change>) -> Result<(), StoreError> {
        sanctions::act(&self.tables, action, change).await
    }

    /// The audit log of `scope` (a room's name, or [`SERVER`]), newest
    /// first.
    pub async fn audit(
        &self,
        scope: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        sanctions::audit_of(&self.tables, scope, before, limit).await
    }

    /// Why `who` may not use the server at `now_ms`, if they may not: a
    /// ban of them, or (a guest) of new guests from their address. Admins
    /// are never banned.
    pub async fn server_ban(&self, who: &Who, now_ms: i64) -> Result<Option<Sanction>, StoreError> {
        if who.admin {
            return Ok(None);
        }
        sanctions::server_ban(&self.tables, who.user, who.guest, now_ms).await
    }

    /// Makes `user`'s ban in `scope` (if one holds) keep new guests from
    /// `addresses` out too, `at_most_ms` at most; whether it did.
    pub async fn ban_addresses(
        &self,
        scope: &str,
        user: UserId,
        addresses: &[IpAddr],
        now_ms: i64,
        at_most_ms: i64,
    ) -> Result<bool, StoreError> {
        sanctions::ban_addresses(&self.tables, scope, user, addresses, now_ms, at_most_ms).await
    }

    /// `user`'s rooms (those they have a standing in), their role there,
    /// and the highest number they have read there.
    pub async fn memberships(
        &self,
        user: UserId,
    ) -> Result<Vec<(RoomName, Role, u64)>, StoreError> {
        records::memberships(&self.tables, user).await
    }

    /// `user`'s rooms, each with how many messages from others came since
    /// what they last read there (at most [`MAX_UNREAD`]): what
    /// `memberships` tells each of their devices. A room they are banned
    /// from is left out (what it says meanwhile is not theirs to count).
    pub async fn unread_of(
        &self,
        store: &Store,
        user: UserId,
    ) -> Result<Vec<Membership>, StoreError> {
        let mut memberships = Vec::new();
        let rooms = self.memberships(user).await?;
        let banned = match rooms.is_empty() {
            true => Vec::new(),
            false => {
                let now = crate::server::store::now_ms();
                sanctions::banned_from(&self.tables, user, now).await?
            }
        };
        for (room, role, read) in rooms {
            if banned.iter().any(|banned| banned == room.as_str()) {
                continue;
            }
            let channel = Channel::Room(room.clone());
            // Their own messages (from another device) are read: a page
            // larger than the count leaves room for some.
            let page = 2 * MAX_UNREAD as usize;
            let after = store.messages_after(&channel, read, None, page).await?;
            let unread = after.iter().filter(|message| message.from != user).count();
            memberships.push(Membership {
                room,
                role,
                unread: u32::try_from(unread).unwrap_or(MAX_UNREAD).min(MAX_UNREAD),
            });
        }
        Ok(memberships)
    }

    /// `user` has read `room` up to `seq`, if they have a standing in it.
    pub async fn mark_read(
        &self,
        room: &RoomName,
        user: UserId,
        seq: u64,
    ) -> Result<(), StoreError> {
        records::mark_read(&self.tables, room, user, seq).await
    }

    /// `user` owns `room` if nobody claimed it before; whether they do.
    pub async fn claim(
        &self,
        room: &RoomName,
        user: UserId,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        records::claim(&self.tables, room, user, now_ms).await
    }

    pub async fn add_members(
        &self,
        room: &RoomName,
        users: &[UserId],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        records::add_members(&self.tables, room, users, now_ms).await
    }

    pub async fn update(
        &self,
        room: &RoomName,
        topic: Option<&str>,
        private: Option<bool>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        records::update(&self.tables, room, topic, private, now_ms).await
    }

    pub async fn set_role(
        &self,
        room: &RoomName,
        user: UserId,
        role: Option<Role>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        records::set_role(&self.tables, room, user, role, now_ms).await
    }

    /// A new invite to `room`, by `by`.
    pub async fn invite_to(
        &self,
        room: &RoomName,
        by: UserId,
        expires_ms: Option<i64>,
        max_uses: Option<i64>,
        now_ms: i64,
    ) -> Result<InviteRow, StoreError> {
        let invite = InviteRow {
            // 122 random bits: not to be guessed, even without the rate
            // limits.
            code: uuid::Uuid::new_v4().simple().to_string(),
            room: room.clone(),
            created_by: by,
            created_ms: now_ms,
            expires_ms,
            max_uses,
            uses: 0,
            revoked_ms: None,
        };
        records::create_invite(&self.tables, &invite).await?;
        Ok(invite)
    }

    pub async fn invites(&self, room: &RoomName) -> Result<Vec<InviteRow>, StoreError> {
        records::invites_of(&self.tables, room).await
    }

    pub async fn invite(&self, code: &str) -> Result<Option<InviteRow>, StoreError> {
        if !is_code(code) {
            return Ok(None);
        }
        records::invite(&self.tables, code).await
    }

    /// Revokes `code`; whether it was live.
    pub async fn revoke(&self, code: &str, now_ms: i64) -> Result<bool, StoreError> {
        records::revoke_invite(&self.tables, code, now_ms).await
    }

    /// Lets `user` into the room `code` invites to: its name, or why not.
    pub async fn accept(
        &self,
        code: &str,
        user: UserId,
        now_ms: i64,
    ) -> Result<Result<RoomName, InviteRefusal>, StoreError> {
        if !is_code(code) {
            return Ok(Err(InviteRefusal::Unknown));
        }
        if let Some(room) = records::use_invite(&self.tables, code, user, now_ms).await? {
            return Ok(Ok(room));
        }
        let why = match records::invite(&self.tables, code).await? {
            Some(invite) => invite.refusal(now_ms).unwrap_or(InviteRefusal::UsedUp),
            None => InviteRefusal::Unknown,
        };
        Ok(Err(why))
    }
}

/// Whether `code` could be an invite's (32 hex digits): anything else is
/// answered without a read.
pub fn is_code(code: &str) -> bool {
    code.len() == 32 && code.bytes().all(|b| b.is_ascii_hexdigit())
}
