//! The accounts' rows: `accounts` and `sessions`, in SQLite or
//! PostgreSQL (the same statements on either, through `on_tables!`).
//! What the rows mean is `mod.rs`'s to say; this file only reads and
//! writes them.

use sqlx::Row;

use super::username::Username;
use crate::on_tables;
use crate::protocol::UserId;
use crate::server::identity::SessionId;
use crate::server::store::{StoreError, Tables};

/// An account as sign-in needs it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub user: UserId,
    pub username: Username,
    /// The password's Argon2id PHC string.
    pub password: String,
}

/// A session as its owner's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub created_ms: i64,
    pub seen_ms: i64,
    pub expires_ms: i64,
    pub label: String,
}

/// What the tables say of a user and one of their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// No account: a guest.
    Guest,
    /// An account, and the session is theirs, not revoked, not expired.
    Active { username: Username, seen_ms: i64 },
    /// An account, and the session is not (or no longer) one of its own.
    Ended,
}

/// Why a new account was not made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the username is taken")]
    Taken,
    #[error("this user has an account already")]
    HasAccount,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new session's row.
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user: UserId,
    pub now_ms: i64,
    pub expires_ms: i64,
    pub label: &'a str,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("accounts.{what}"))
}

/// Makes an account for `session.user` and its first session, in one
/// transaction: both or neither.
pub async fn create(
    tables: &Tables,
    username: &Username,
    password: &str,
    session: NewSession<'_>,
) -> Result<(), CreateError> {
    let user = session.user.to_string();
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await.map_err(StoreError::from)?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (user_id, username, username_key, password, created_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&user)
        .bind(username.as_str())
        .bind(username.key())
        .bind(password)
        .bind(session.now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if inserted == 0 {
            let taken: Option<String> =
                sqlx::query_scalar("SELECT user_id FROM accounts WHERE username_key = $1")
                    .bind(username.key())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            return Err(match taken {
                Some(owner) if owner != user => CreateError::Taken,
                _ => CreateError::HasAccount,
            });
        }
        sqlx::query(INSERT_SESSION)
            .bind(session.id.as_str())
            .bind(&user)
            .bind(session.now_ms)
            .bind(session.expires_ms)
            .bind(session.label)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    })
}

/// The account whose username reads as `key`.
pub async fn by_key(tables: &Tables, key: &str) -> Result<Option<AccountRow>, StoreError> {
    let row = on_tables!(tables, |pool| {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT user_id, username, password FROM accounts WHERE username_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    row.map(|(user, username, password)| {
        Ok(AccountRow {
            user: UserId::parse(&user).map_err(|_| corrupt("user_id"))?,
            username: Username::from_stored(username),
            password,
        })
    })
    .transpose()
}

/// Whose username has one of `keys`, if anyone's.
pub async fn owner_of_keys(
    tables: &Tables,
    keys: &[String; 2],
) -> Result<Option<UserId>, StoreError> {
    let owner: Option<String> = on_tables!(tables, |pool| {
        sqlx::query_scalar("SELECT user_id FROM accounts WHERE username_key IN ($1, $2) LIMIT 1")
            .bind(&keys[0])
            .bind(&keys[1])
            .fetch_optional(pool)
            .await?
    });
    owner
        .map(|user| UserId::parse(&user).map_err(|_| corrupt("user_id")))
        .transpose()
}

/// `user`'s account.
pub async fn by_user(tables: &Tables, user: UserId) -> Result<Option<AccountRow>, StoreError> {
    let row = on_tables!(tables, |pool| {
        sqlx::query_as::<_, (String, String)>(
            "SELECT username, password FROM accounts WHERE user_id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|(username, password)| AccountRow {
        user,
        username: Username::from_stored(username),
        password,
    }))
}

/// Replaces `user`'s password hash.
pub async fn set_password(tables: &Tables, user: UserId, password: &str) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        sqlx::query("UPDATE accounts SET password = $2 WHERE user_id = $1")
            .bind(user.to_string())
            .bind(password)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A new session: its id, user, now, expiry and label, in that order.
const INSERT_SESSION: &str = "INSERT INTO sessions (id, user_id, created_ms, seen_ms, expires_ms, label) \
     VALUES ($1, $2, $3, $3, $4, $5)";

/// Adds a session to `session.user`'s account.
pub async fn add_session(tables: &Tables, session: NewSession<'_>) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        sqlx::query(INSERT_SESSION)
            .bind(session.id.as_str())
            .bind(session.user.to_string())
            .bind(session.now_ms)
            .bind(session.expires_ms)
            .bind(session.label)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Where `user` stands with `session` (None: a token from before
/// sessions) at `now_ms`.
pub async fn standing(
    tables: &Tables,
    user: UserId,
    session: Option<&SessionId>,
    now_ms: i64,
) -> Result<Standing, StoreError> {
    let row = on_tables!(tables, |pool| {
        sqlx::query(
            "SELECT a.username, s.seen_ms FROM accounts a \
             LEFT JOIN sessions s ON s.id = $2 AND s.user_id = a.user_id \
                 AND s.revoked_ms IS NULL AND s.expires_ms > $3 \
             WHERE a.user_id = $1",
        )
        .bind(user.to_string())
        .bind(session.map(SessionId::as_str))
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
        .map(|row| -> Result<(String, Option<i64>), sqlx::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
        .transpose()?
    });
    Ok(match row {
        None => Standing::Guest,
        Some((username, Some(seen_ms))) => Standing::Active {
            username: Username::from_stored(username),
            seen_ms,
        },
        Some((_, None)) => Standing::Ended,
    })
}

/// Marks a live session seen at `now_ms` and good until `expires_ms`.
pub async fn touch(
    tables: &Tables,
    session: &SessionId,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), StoreError> {
    on_tables!(tables, |pool| {
        sqlx::query(
            "UPDATE sessions SET seen_ms = $2, expires_ms = $3 \
             WHERE id = $1 AND revoked_ms IS NULL",
        )
        .bind(session.as_str())
        .bind(now_ms)
        .bind(expires_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// `user`'s live sessions, the most recently seen first.
pub async fn sessions(
    tables: &Tables,
    user: UserId,
    now_ms: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    let rows = on_tables!(tables, |pool| {
        sqlx::query_as::<_, (String, i64, i64, i64, String)>(
            "SELECT id, created_ms, seen_ms, expires_ms, label FROM sessions \
             WHERE user_id = $1 AND revoked_ms IS NULL AND expires_ms > $2 \
             ORDER BY seen_ms DESC, id",
        )
        .bind(user.to_string())
        .bind(now_ms)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(id, created_ms, seen_ms, expires_ms, label)| {
            Ok(SessionRow {
                id: SessionId::parse(&id).ok_or_else(|| corrupt("sessions.id"))?,
                created_ms,
                seen_ms,
                expires_ms,
                label,
            })
        })
        .collect()
}

/// Which of a user's sessions to end.
pub enum Ending<'a> {
    One(&'a SessionId),
    AllBut(&'a SessionId),
}

/// Revokes `user`'s sessions as `ending` says, at `now_ms`; how many were
/// live.
pub async fn revoke(
    tables: &Tables,
    user: UserId,
    ending: Ending<'_>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let (matching, session) = match ending {
        Ending::One(session) => ("id = $3", session),
        Ending::AllBut(session) => ("id <> $3", session),
    };
    let statement = format!(
        "UPDATE sessions SET revoked_ms = $2 \
         WHERE user_id = $1 AND revoked_ms IS NULL AND expires_ms > $2 AND {matching}"
    );
    let revoked = on_tables!(tables, |pool| {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(user.to_string())
            .bind(now_ms)
            .bind(session.as_str())
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(revoked)
}
