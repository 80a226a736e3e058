//! Accounts: a username and a password for a user id, and the sessions
//! that sign its devices in. A guest who signs up keeps their user id, so
//! their name, rooms and history stay theirs; guests (and clients that know
//! only the article) go on as before.
//!
//! A session is what a token names (`identity.rs`). A guest's token needs
//! no row: it proves itself, and expires by the date it carries. An
//! account's session has a row, so it can be listed and revoked, and it
//! expires when unused for `session_days` (each connection extends it).
//!
//! The API (`api/accounts.rs`) serves sign-up, sign-in, sign-out and the
//! session list over HTTP; `hello` asks [`Accounts::admit`] who a token's
//! holder is.

mod password;
mod records;
pub mod username;

use std::collections::HashSet;

use tracing::info;

use crate::protocol::UserId;
use crate::server::config::Settings;
use crate::server::identity::{Identity, SessionId, Verified};
use crate::server::store::{StoreError, Tables};
pub use password::PasswordError;
use records::{CreateError, NewSession};
pub use records::{Ending, SessionRow, Standing};
use username::{Username, UsernameError};

/// How stale a session's "last seen" may get before a connection writes
/// it anew (and extends its expiry): a reconnect storm then writes
/// nothing.
const SEEN_EVERY_MS: i64 = 60 * 60 * 1000;

/// Characters of a session's label (the browser's user agent) kept.
const LABEL_CHARS: usize = 120;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Why sign-up or sign-in did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Username(#[from] UsernameError),
    #[error("{0}")]
    Password(#[from] PasswordError),
    #[error("that username is taken")]
    Taken,
    #[error("you have an account already: sign in to it")]
    HasAccount,
    #[error("wrong username or password")]
    WrongPassword,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Someone signed in: the session's token, and whose it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: UserId,
    pub username: Username,
    pub session: SessionId,
    pub token: String,
}

/// Who a token's holder is, for `hello`.
#[derive(Debug, Clone)]
pub enum Admission {
    /// The user the token names: `username` if they have an account.
    /// `token` is a fresh one for the same session (a later expiry).
    Admitted {
        username: Option<Username>,
        token: String,
    },
    /// An account's session that was signed out or has expired.
    Ended,
}

/// The accounts, and what to make sessions with.
pub struct Accounts {
    tables: Tables,
    passwords: password::Passwords,
    /// How long a session lasts unused: an account's, a guest's.
    session_ms: i64,
    guest_ms: i64,
    /// The keys of the usernames in `admins`.
    admins: HashSet<String>,
}

impl Accounts {
    pub fn new(tables: Tables, settings: &Settings) -> Result<Self, PasswordError> {
        let days = |days: u64| i64::try_from(days).unwrap_or(i64::MAX / DAY_MS) * DAY_MS;
        Ok(Self {
            tables,
            passwords: password::Passwords::new()?,
            session_ms: days(settings.session_days),
            guest_ms: days(settings.guest_session_days),
            admins: settings
                .admins
                .iter()
                .map(|name| username::key_of(name))
                .collect(),
        })
    }

    /// Whether the account named `username` is one of the server's admins.
    pub fn is_admin(&self, username: &Username) -> bool {
        self.admins.contains(&username.key())
    }

    /// Whether `user` is one of the server's admins (an account whose
    /// username is listed): what a moderator may not act on.
    pub async fn is_admin_user(&self, user: UserId) -> Result<bool, StoreError> {
        if self.admins.is_empty() {
            return Ok(false);
        }
        let row = records::by_user(&self.tables, user).await?;
        Ok(row.is_some_and(|row| self.is_admin(&row.username)))
    }

    /// A token for a guest who has none: a new session of a new user.
    pub fn new_guest(&self, identity: &Identity, user: UserId, now_ms: i64) -> String {
        let session = SessionId::new_random();
        identity.issue(user, &session, (now_ms + self.guest_ms) / 1000)
    }

    /// Makes an account named `username`. For `guest` (a guest's verified
    /// token), on their user id, the session they hold becoming the
    /// account's (their token goes on working); with none, for a new user.
    pub async fn sign_up(
        &self,
        identity: &Identity,
        guest: Option<Verified>,
        username: &str,
        password: String,
        label: &str,
        now_ms: i64,
    ) -> Result<SignedIn, AccountError> {
        let username = Username::parse(username)?;
        password::check_new(&password, username.as_str())?;
        let (user, session) = match guest {
            Some(Verified {
                user,
                session: Some(session),
            }) => (user, session),
            Some(Verified {
                user,
                session: None,
            }) => (user, SessionId::new_random()),
            None => (UserId::new_random(), SessionId::new_random()),
        };
        let hash = self.passwords.hash(password).await?;
        let expires_ms = now_ms + self.session_ms;
        let new = NewSession {
            id: &session,
            user,
            now_ms,
            expires_ms,
            label: &label_of(label),
        };
        records::create(&self.tables, &username, &hash, new)
            .await
            .map_err(|error| match error {
                CreateError::Taken => AccountError::Taken,
                CreateError::HasAccount => AccountError::HasAccount,
                CreateError::Store(error) => AccountError::Store(error),
            })?;
        info!(%user, "signed up");
        let token = identity.issue(user, &session, expires_ms / 1000);
        Ok(SignedIn {
            user,
            username,
            session,
            token,
        })
    }

    /// Signs `username` in with `password` on a new session.
    pub async fn sign_in(
        &self,
        identity: &Identity,
        username: &str,
        password: String,
        label: &str,
        now_ms: i64,
    ) -> Result<SignedIn, AccountError> {
        if password.len() > password::MAX_BYTES || username.len() > username::MAX_TYPED_BYTES {
            return Err(AccountError::WrongPassword);
        }
        let account = records::by_key(&self.tables, &username::key_of(username)).await?;
        let stored = account.as_ref().map(|account| account.password.clone());
        // Checked (against a decoy) even for no account: the time taken
        // does not say whether the username exists.
        let matches = self.passwords.verify(password, stored).await?;
        let Some(account) = account.filter(|_| matches) else {
            return Err(AccountError::WrongPassword);
        };
        let session = SessionId::new_random();
        let expires_ms = now_ms + self.session_ms;
        let new = NewSession {
            id: &session,
            user: account.user,
            now_ms,
            expires_ms,
            label: &label_of(label),
        };
        records::add_session(&self.tables, new).await?;
        info!(user = %account.user, "signed in");
        let token = identity.issue(account.user, &session, expires_ms / 1000);
        Ok(SignedIn {
            user: account.user,
            username: account.username,
            session,
            token,
        })
    }

    /// Changes `user`'s password from `current` to `new`, and signs every
    /// other session of theirs out (`keep` is the one asking): whoever knew
    /// the old password is out.
    pub async fn change_password(
        &self,
        user: UserId,
        keep: &SessionId,
        current: String,
        new: String,
        now_ms: i64,
    ) -> Result<u64, AccountError> {
        if current.len() > password::MAX_BYTES {
            return Err(AccountError::WrongPassword);
        }
        let account = records::by_user(&self.tables, user).await?;
        let Some(account) = account else {
            return Err(AccountError::WrongPassword);
        };
        password::check_new(&new, account.username.as_str())?;
        if !self
            .passwords
            .verify(current, Some(account.password))
            .await?
        {
            return Err(AccountError::WrongPassword);
        }
        let hash = self.passwords.hash(new).await?;
        records::set_password(&self.tables, user, &hash).await?;
        let ended = records::revoke(&self.tables, user, Ending::AllBut(keep), now_ms).await?;
        info!(%user, ended, "changed a password");
        Ok(ended)
    }

    /// Who the holder of a verified token is now.
    pub async fn admit(
        &self,
        identity: &Identity,
        verified: &Verified,
        now_ms: i64,
    ) -> Result<Admission, StoreError> {
        let standing = self.standing(verified, now_ms).await?;
        let user = verified.user;
        Ok(match standing {
            Standing::Guest => {
                let session = match &verified.session {
                    Some(session) => session.clone(),
                    None => SessionId::new_random(),
                };
                Admission::Admitted {
                    username: None,
                    token: identity.issue(user, &session, (now_ms + self.guest_ms) / 1000),
                }
            }
            Standing::Active { username, seen_ms } => {
                let Some(session) = &verified.session else {
                    return Ok(Admission::Ended);
                };
                // The token's own expiry never passes the row's.
                let expires_ms = if now_ms - seen_ms >= SEEN_EVERY_MS {
                    let expires_ms = now_ms + self.session_ms;
                    records::touch(&self.tables, session, now_ms, expires_ms).await?;
                    expires_ms
                } else {
                    seen_ms + self.session_ms
                };
                Admission::Admitted {
                    username: Some(username),
                    token: identity.issue(user, session, expires_ms / 1000),
                }
            }
            Standing::Ended => Admission::Ended,
        })
    }

    /// Where a token's holder stands.
    pub async fn standing(&self, verified: &Verified, now_ms: i64) -> Result<Standing, StoreError> {
        records::standing(
            &self.tables,
            verified.user,
            verified.session.as_ref(),
            now_ms,
        )
        .await
    }

    /// Whose username `name` reads as, if anyone's (a display name is
    /// checked against them: nobody may look like an account holder).
    pub async fn owner_of_name(&self, name: &str) -> Result<Option<UserId>, StoreError> {
        records::owner_of_keys(&self.tables, &username::keys_of_display(name)).await
    }

    /// `user`'s live sessions, the most recently seen first.
    pub async fn sessions(&self, user: UserId, now_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        records::sessions(&self.tables, user, now_ms).await
    }

    /// Ends `user`'s sessions as `ending` says; how many were live.
    pub async fn end(
        &self,
        user: UserId,
        ending: Ending<'_>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let ended = records::revoke(&self.tables, user, ending, now_ms).await?;
        info!(%user, ended, "signed out");
        Ok(ended)
    }
}

/// A session's label: the first characters of the user agent, printable.
fn label_of(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(LABEL_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    async fn accounts() -> (Accounts, Identity) {
        let settings = Settings {
            token_secret: Some("s".repeat(40)),
            ..Settings::default()
        };
        let tables = Tables::in_memory().await.unwrap();
        let accounts = Accounts::new(tables, &settings).unwrap();
        (accounts, Identity::load(&settings, None).unwrap())
    }

    fn verify(identity: &Identity, token: &str, now_ms: i64) -> Verified {
        identity.verify(token, now_ms / 1000).unwrap()
    }

    async fn admitted(
        accounts: &Accounts,
        identity: &Identity,
        verified: &Verified,
        now_ms: i64,
    ) -> Option<Username> {
        match accounts.admit(identity, verified, now_ms).await.unwrap() {
            Admission::Admitted { username, token } => {
                assert_eq!(verify(identity, &token, now_ms).user, verified.user);
                username
            }
            Admission::Ended => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn a_guest_who_signs_up_keeps_their_id_and_their_token_goes_on_working() {
        let (accounts, identity) = accounts().await;
        let guest = UserId::new_random();
        let token = accounts.new_guest(&identity, guest, NOW);
        let verified = verify(&identity, &token, NOW);
        assert_eq!(admitted(&accounts, &identity, &verified, NOW).await, None);
        let signed_up = accounts
            .sign_up(
                &identity,
                Some(verified.clone()),
                "Ana",
                "a long password".into(),
                "Firefox",
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(signed_up.user, guest);
        assert_eq!(Some(&signed_up.session), verified.session.as_ref());
        let username = admitted(&accounts, &identity, &verified, NOW + 1).await;
        assert_eq!(
            username.map(|name| name.to_string()).as_deref(),
            Some("ana")
        );
        // A second sign-up of the same guest is refused.
        let again = accounts
            .sign_up(
                &identity,
                Some(verified),
                "ana2",
                "a long password".into(),
                "",
                NOW,
            )
            .await;
        assert!(matches!(again, Err(AccountError::HasAccount)), "{again:?}");
    }

    #[tokio::test]
    async fn a_session_ends_when_signed_out_or_unused_too_long_and_other_sessions_go_on() {
        let (accounts, identity) = accounts().await;
        let first = accounts
            .sign_up(
                &identity,
                None,
                "ben",
                "another password".into(),
                "laptop",
                NOW,
            )
            .await
            .unwrap();
        let second = accounts
            .sign_in(
                &identity,
                "BEN",
                "another password".into(),
                "phone",
                NOW + 5,
            )
            .await
            .unwrap();
        assert_eq!(second.user, first.user);
        assert_ne!(second.session, first.session);
        let (one, two) = (
            verify(&identity, &first.token, NOW),
            verify(&identity, &second.token, NOW),
        );
        let live = accounts.sessions(first.user, NOW + 10).await.unwrap();
        let labels: Vec<&str> = live.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["phone", "laptop"]);

        // Signed out: that session is over; the other goes on.
        let ended = accounts
            .end(first.user, Ending::One(&first.session), NOW + 20)
            .await
            .unwrap();
        assert_eq!(ended, 1);
        assert!(matches!(
            accounts.admit(&identity, &one, NOW + 30).await.unwrap(),
            Admission::Ended
        ));
        assert!(
            admitted(&accounts, &identity, &two, NOW + 30)
                .await
                .is_some()
        );
        assert_eq!(
            accounts
                .end(first.user, Ending::One(&first.session), NOW + 40)
                .await
                .unwrap(),
            0
        );

        // Unused for longer than session_days (30): over too, token or no
        // token. Used, it lasts.
        let month = 30 * DAY_MS;
        assert!(
            admitted(&accounts, &identity, &two, NOW + month - 1)
                .await
                .is_some()
        );
        assert!(
            admitted(&accounts, &identity, &two, NOW + 2 * month - 2)
                .await
                .is_some()
        );
        assert!(matches!(
            accounts
                .admit(&identity, &two, NOW + 3 * month)
                .await
                .unwrap(),
            Admission::Ended
        ));
        assert_eq!(
            accounts
                .sessions(first.user, NOW + 3 * month)
                .await
                .unwrap(),
            []
        );
    }

    #[tokio::test]
    async fn a_token_from_before_sessions_is_a_guests_only() {
        let (accounts, identity) = accounts().await;
        let guest = UserId::new_random();
        let old = verify(&identity, &identity.issue_v1(guest), NOW);
        assert_eq!(old.session, None);
        // A guest: let in, with a token of a new session.
        assert_eq!(admitted(&accounts, &identity, &old, NOW).await, None);
        // Signing up with it makes a new session; the old token is done.
        let signed_up = accounts
            .sign_up(
                &identity,
                Some(old.clone()),
                "cy",
                "yet another one".into(),
                "",
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(signed_up.user, guest);
        assert!(matches!(
            accounts.admit(&identity, &old, NOW).await.unwrap(),
            Admission::Ended
        ));
        let new = verify(&identity, &signed_up.token, NOW);
        assert!(admitted(&accounts, &identity, &new, NOW).await.is_some());
    }

    #[tokio::test]
    async fn sign_in_refuses_a_wrong_password_and_an_unknown_name_alike() {
        let (accounts, identity) = accounts().await;
        accounts
            .sign_up(&identity, None, "dee", "the right one".into(), "", NOW)
            .await
            .unwrap();
        for (name, password) in [
            ("dee", "the wrong one"),
            ("nobody", "the right one"),
            ("dee", ""),
        ] {
            let refused = accounts
                .sign_in(&identity, name, password.into(), "", NOW)
                .await;
            assert!(
                matches!(refused, Err(AccountError::WrongPassword)),
                "{name} {refused:?}"
            );
        }
        let taken = accounts
            .sign_up(&identity, None, "ＤＥＥ", "something else".into(), "", NOW)
            .await;
        assert!(matches!(taken, Err(AccountError::Taken)), "{taken:?}");
    }
}
