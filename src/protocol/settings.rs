//! A room's settings as its members see them: the topic, whether it is
//! private, and who runs it (its owners and moderators). Sent in `joined`
//! and, when they change, in `room_updated`; only to `hello` clients.

use serde::{Deserialize, Serialize};

use super::decode::{DecodeError, JsonValue, checked, flag, integer, list, required, text};
use super::values::{RoomName, UserId};

/// Someone's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sets the topic and privacy, invites, names moderators, moderates.
    Owner,
    /// Invites and moderates.
    Moderator,
    /// A member of a private room: let in by an invite.
    Member,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Moderator, Role::Member];

    /// The name on the wire and in the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }

    /// Owners and moderators moderate, invite, and set the topic.
    pub fn runs_the_room(self) -> bool {
        matches!(self, Role::Owner | Role::Moderator)
    }
}

/// The most unread messages a `memberships` entry counts: more show as
/// this many.
pub const MAX_UNREAD: u32 = 100;

/// A room the user has a standing in, as `memberships` lists it on each
/// device they connect from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub room: RoomName,
    pub role: Role,
    /// Messages from others since what the user last read there (marked
    /// with `mark_read`), at most [`MAX_UNREAD`].
    pub unread: u32,
}

impl Membership {
    /// `None` for a role this build does not know.
    pub(crate) fn from_json<V: JsonValue>(object: &V) -> Result<Option<Self>, DecodeError> {
        let role = required(text(object, "role")?, "role")?;
        let room = required(checked(object, "room")?, "room")?;
        let unread = required(integer(object, "unread")?, "unread")?;
        Ok(Role::from_name(&role).map(|role| Self { room, role, unread }))
    }
}

/// One of a room's owners or moderators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub user: UserId,
    pub role: Role,
}

/// A room's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// What the room is about, shown under its name; empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Left out of the lobby; only its members may join, read or search it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// Its owners and moderators, by user id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staff: Vec<Staff>,
}

impl RoomInfo {
    /// `user`'s role among the staff, if any.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.staff
            .iter()
            .find(|staff| staff.user == user)
            .map(|staff| staff.role)
    }

    pub(crate) fn from_json<V: JsonValue>(object: &V) -> Result<Self, DecodeError> {
        Ok(Self {
            topic: text(object, "topic")?.unwrap_or_default(),
            private: flag(object, "private")?.unwrap_or(false),
            // A role a newer server has and this build does not know is
            // left out, not an error.
            staff: list(object, "staff", staff)?
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect(),
        })
    }
}

fn staff<V: JsonValue>(object: &V) -> Result<Option<Staff>, DecodeError> {
    let role = required(text(object, "role")?, "role")?;
    let user = required(checked(object, "user")?, "user")?;
    Ok(Role::from_name(&role).map(|role| Staff { user, role }))
}
