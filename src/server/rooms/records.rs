//! The rooms' rows: `rooms`, `room_members` and `invites`, in SQLite or
//! PostgreSQL (the same statements on either, through `on_tables!`).
//! What the rows mean is `mod.rs`'s to say; this file only reads and
//! writes them.

use crate::on_tables;
use crate::protocol::{Role, RoomName, UserId};
use crate::server::store::{StoreError, Tables};

/// A room's row, and the rows of the people with a standing in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub topic: String,
    pub private: bool,
    pub roles: Vec<(UserId, Role)>,
}

/// An invite's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    pub code: String,
    pub room: RoomName,
    pub created_by: UserId,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_ms: Option<i64>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("rooms.{what}"))
}

fn user_of(text: &str) -> Result<UserId, StoreError> {
    UserId::parse(text).map_err(|_| corrupt("user_id"))
}

/// `room`'s row and roles, or `None` if it has no row (nobody claimed it).
pub async fn load(tables: &Tables, room: &RoomName) -> Result<Option<RoomRow>, StoreError> {
    let (row, roles) = on_tables!(tables, |pool| {
        let row: Option<(String, bool)> =
            sqlx::query_as("SELECT topic, is_private FROM rooms WHERE name = $1")
                .bind(room.as_str())
                .fetch_optional(pool)
                .await?;
        let roles: Vec<(String, String)> =
            sqlx::query_as("SELECT user_id, role FROM room_members WHERE room = $1")
                .bind(room.as_str())
                .fetch_all(pool)
                .await?;
        (row, roles)
    });
    let Some((topic, private)) = row else {
        return Ok(None);
    };
    let roles = roles
        .into_iter()
        .map(|(user, role)| {
            let role = Role::from_name(&role).ok_or_else(|| corrupt("role"))?;
            Ok((user_of(&user)?, role))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(RoomRow {
        topic,
        private,
        roles,
    }))
}

/// Makes `user` the owner of `room` if the room has no row yet; whether
/// it did. Two nodes claiming at once: one row wins, the other claims
/// nothing.
pub async fn claim(
    tables: &Tables,
    room: &RoomName,
    user: UserId,
    now_ms: i64,
) -> Result<bool, StoreError> {
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO rooms (name, created_ms, created_by) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(room.as_str())
        .bind(now_ms)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            sqlx::query(INSERT_MEMBER)
                .bind(room.as_str())
                .bind(user.to_string())
                .bind(Role::Owner.name())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    })
}

/// Someone with a standing in a room: room, user, role, since. One who has
/// one already keeps theirs.
const INSERT_MEMBER: &str = "INSERT INTO room_members (room, user_id, role, joined_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

/// Sets what is given of `room`'s topic and privacy, making its row (with
/// no owner) if it had none.
pub async fn update(
    tables: &Tables,
    room: &RoomName,
    topic: Option<&str>,
    private: Option<bool>,
    now_ms: i64,
) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        sqlx::query(
            "INSERT INTO rooms (name, topic, is_private, created_ms) \
             VALUES ($1, COALESCE($2, ''), COALESCE($3, FALSE), $4) \
             ON CONFLICT (name) DO UPDATE \
             SET topic = COALESCE($2, rooms.topic), is_private = COALESCE($3, rooms.is_private)",
        )
        .bind(room.as_str())
        .bind(topic)
        .bind(private)
        .bind(now_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Gives `user` `role` in `room` (or takes their standing away, with
/// `None`).
pub async fn set_role(
    tables: &Tables,
    room: &RoomName,
    user: UserId,
    role: Option<Role>,
    now_ms: i64,
) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        match role {
            Some(role) => {
                sqlx::query(
                    "INSERT INTO room_members (room, user_id, role, joined_ms) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (room, user_id) DO UPDATE SET role = $3",
                )
                .bind(room.as_str())
                .bind(user.to_string())
                .bind(role.name())
                .bind(now_ms)
                .execute(pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM room_members WHERE room = $1 AND user_id = $2")
                    .bind(room.as_str())
                    .bind(user.to_string())
                    .execute(pool)
                    .await?;
            }
        }
    });
    Ok(())
}

/// `user`'s rooms: those they have a standing in, with it, and the
/// highest number they have read there.
pub async fn memberships(
    tables: &Tables,
    user: UserId,
) -> Result<Vec<(RoomName, Role, u64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = on_tables!(tables, |pool| {
        sqlx::query_as("SELECT room, role, read_seq FROM room_members WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(room, role, read)| {
            // A row this build cannot read is left out, not an error: the
            // room's own rules hold whatever this list says.
            let room = RoomName::parse(room).ok()?;
            let role = Role::from_name(&role)?;
            Some((room, role, u64::try_from(read).unwrap_or(0)))
        })
        .collect())
}

/// `user` has read `room` up to `seq` (never back), if they have a
/// standing in it.
pub async fn mark_read(
    tables: &Tables,
    room: &RoomName,
    user: UserId,
    seq: u64,
) -> Result<(), StoreError> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    on_tables!(tables, |pool| {
        sqlx::query(
            "UPDATE room_members SET read_seq = $3 \
             WHERE room = $1 AND user_id = $2 AND read_seq < $3",
        )
        .bind(room.as_str())
        .bind(user.to_string())
        .bind(seq)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Makes each of `users` a member of `room`, keeping any standing they
/// have.
pub async fn add_members(
    tables: &Tables,
    room: &RoomName,
    users: &[UserId],
    now_ms: i64,
) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        for user in users {
            sqlx::query(INSERT_MEMBER)
                .bind(room.as_str())
                .bind(user.to_string())
                .bind(Role::Member.name())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// An invite's columns, in [`InviteTuple`]'s order.
macro_rules! invite_columns {
    () => {
        "code, room, created_by, created_ms, expires_ms, max_uses, uses, revoked_ms"
    };
}

type InviteTuple = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
);

fn invite_of(row: InviteTuple) -> Result<InviteRow, StoreError> {
    let (code, room, created_by, created_ms, expires_ms, max_uses, uses, revoked_ms) = row;
    Ok(InviteRow {
        code,
        room: RoomName::parse(room).map_err(|_| corrupt("invites.room"))?,
        created_by: user_of(&created_by)?,
        created_ms,
        expires_ms,
        max_uses,
        uses,
        revoked_ms,
    })
}

pub async fn create_invite(tables: &Tables, invite: &InviteRow) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        sqlx::query(concat!(
            "INSERT INTO invites (",
            invite_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&invite.code)
        .bind(invite.room.as_str())
        .bind(invite.created_by.to_string())
        .bind(invite.created_ms)
        .bind(invite.expires_ms)
        .bind(invite.max_uses)
        .bind(invite.uses)
        .bind(invite.revoked_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn invite(tables: &Tables, code: &str) -> Result<Option<InviteRow>, StoreError> {
    let row: Option<InviteTuple> = on_tables!(tables, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            invite_columns!(),
            " FROM invites WHERE code = $1"
        ))
        .bind(code)
        .fetch_optional(pool)
        .await?
    });
    row.map(invite_of).transpose()
}

/// `room`'s invites, newest first.
pub async fn invites_of(tables: &Tables, room: &RoomName) -> Result<Vec<InviteRow>, StoreError> {
    let rows: Vec<InviteTuple> = on_tables!(tables, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            invite_columns!(),
            " FROM invites WHERE room = $1 ORDER BY created_ms DESC, code"
        ))
        .bind(room.as_str())
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(invite_of).collect()
}

/// Revokes an invite that was not revoked already; whether it did.
pub async fn revoke_invite(tables: &Tables, code: &str, now_ms: i64) -> Result<bool, StoreError> {
    let revoked = on_tables!(tables, |pool| {
        sqlx::query("UPDATE invites SET revoked_ms = $2 WHERE code = $1 AND revoked_ms IS NULL")
            .bind(code)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(revoked == 1)
}

/// Uses the invite `code` for `user`, if it is live, making them a member
/// of its room, in one transaction: its room, or `None` if it is not live
/// (revoked, expired, used up, or no such code). Someone with a standing
/// in the room already uses nothing up.
pub async fn use_invite(
    tables: &Tables,
    code: &str,
    user: UserId,
    now_ms: i64,
) -> Result<Option<RoomName>, StoreError> {
    let room: Option<String> = on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        let used: Option<String> = sqlx::query_scalar(
            "UPDATE invites SET uses = uses + 1 \
             WHERE code = $1 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $2) \
             AND (max_uses IS NULL OR uses < max_uses) \
             RETURNING room",
        )
        .bind(code)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(room) = &used {
            let added = sqlx::query(INSERT_MEMBER)
                .bind(room)
                .bind(user.to_string())
                .bind(Role::Member.name())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if added == 0 {
                // A member already: the use is given back.
                sqlx::query("UPDATE invites SET uses = uses - 1 WHERE code = $1")
                    .bind(code)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        used
    });
    room.map(|room| RoomName::parse(room).map_err(|_| corrupt("invites.room")))
        .transpose()
}
