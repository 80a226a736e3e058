//! Who a connection is across reconnects: session tokens. A token names a
//! user, a session and when it expires, and carries an HMAC-SHA256 of
//! those under the server's secret, so the server can check one without
//! looking anything up, and nobody can make one up, extend it, or turn
//! theirs into someone else's. Whether an account's session was signed
//! out is the accounts' to say (`accounts/`): a token only proves what it
//! was issued for.
//!
//! Tokens from before sessions (`<user>.<mac>`) still verify, with no
//! session: the accounts take them for guests only.
//!
//! The secret comes from the settings, or is generated on first run and kept
//! in `<data_dir>/token.secret` (readable by the owner only), or with
//! PostgreSQL in the database, so every node of a cluster shares it. In memory
//! storage without a configured secret it lives as long as the process.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::protocol::UserId;
use crate::server::config::{Settings, Storage};

const SECRET_FILE: &str = "token.secret";

/// Bytes of a generated secret.
const SECRET_BYTES: usize = 32;

/// Domain separation: a MAC made for something else never passes as a
/// token, nor a token of one format as one of the other.
const TOKEN_CONTEXT: &[u8] = b"confab session token v1\0";
const SESSION_CONTEXT: &[u8] = b"confab session token v2\0";

/// One signed-in browser or device: a UUID v7 (the millisecond it was
/// made, then 74 random bits; those made before were v4s, 122 random
/// bits), as 32 hex digits. The token that carries it is signed: the id is
/// a name, not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// When it was made, in milliseconds since the Unix epoch: for a
    /// guest, when their identity was (a guest's session is made with
    /// it). None for one made before sessions carried the time.
    pub fn born_ms(&self) -> Option<i64> {
        let uuid = uuid::Uuid::parse_str(&self.0).ok()?;
        let (seconds, nanos) = uuid.get_timestamp()?.to_unix();
        let ms = i64::try_from(seconds).ok()?.checked_mul(1000)?;
        ms.checked_add(i64::from(nanos / 1_000_000))
    }

    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32 && decode_hex(text).is_some()).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token that verified says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: UserId,
    /// None for a token from before sessions.
    pub session: Option<SessionId>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read or create the token secret {path}: {source}")]
    SecretFile { path: String, source: io::Error },
    #[error("the token secret {path} is not hex of at least 32 bytes")]
    BadSecretFile { path: String },
    #[error("no random numbers from the operating system: {0}")]
    Random(getrandom::Error),
}

/// Issues and checks session tokens.
pub struct Identity {
    key: Vec<u8>,
}

impl Identity {
    /// The secret from the settings; else the one `stored` in a database
    /// the nodes share; else the file in `data_dir`, or a random one for
    /// memory storage.
    pub fn load(settings: &Settings, stored: Option<&[u8]>) -> Result<Self, IdentityError> {
        let key = match (&settings.token_secret, stored, settings.storage) {
            (Some(secret), _, _) => secret.as_bytes().to_vec(),
            (None, Some(stored), _) => stored.to_vec(),
            (None, None, Storage::Sqlite | Storage::Postgres) => {
                load_or_create_secret(&settings.data_dir)?
            }
            (None, None, Storage::Memory) => random_secret()?,
        };
        Ok(Self { key })
    }

    /// The token for `user`'s `session`, good until `expires` (seconds
    /// since the Unix epoch): `<user id>.<session>.<expires>.<hex MAC>`.
    pub fn issue(&self, user: UserId, session: &SessionId, expires: i64) -> String {
        let payload = format!("{user}.{session}.{expires}");
        let tag = self.mac(SESSION_CONTEXT, &payload).finalize().into_bytes();
        let mut token = payload;
        token.push('.');
        for byte in tag {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    /// Who a token was issued for, if this server issued it unchanged and,
    /// for a token with a session, it has not expired by `now` (seconds).
    pub fn verify(&self, token: &str, now: i64) -> Option<Verified> {
        let (payload, tag) = token.rsplit_once('.')?;
        let tag = decode_hex(tag)?;
        let mut parts = payload.split('.');
        let (id, session, expires) = match (parts.next(), parts.next(), parts.next(), parts.next())
        {
            (Some(id), None, None, None) => (id, None, None),
            (Some(id), Some(session), Some(expires), None) => (id, Some(session), Some(expires)),
            _ => return None,
        };
        let user = UserId::parse(id).ok()?;
        // The canonical spelling only, so one user has exactly one token.
        if user.to_string() != id {
            return None;
        }
        let context = if session.is_some() {
            SESSION_CONTEXT
        } else {
            TOKEN_CONTEXT
        };
        // Constant-time comparison: timing reveals nothing about the tag.
        self.mac(context, payload).verify_slice(&tag).ok()?;
        let session = match (session, expires) {
            (Some(session), Some(expires)) => {
                let expires: i64 = expires.parse().ok()?;
                if expires <= now {
                    return None;
                }
                Some(SessionId::parse(session)?)
            }
            _ => None,
        };
        Some(Verified { user, session })
    }

    fn mac(&self, context: &[u8], payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(context);
        mac.update(payload.as_bytes());
        mac
    }

    /// A token in the format before sessions, as older servers issued
    /// (for tests and the fuzz target: this server issues none).
    #[doc(hidden)]
    pub fn issue_v1(&self, user: UserId) -> String {
        let tag = self
            .mac(TOKEN_CONTEXT, &user.to_string())
            .finalize()
            .into_bytes();
        let hex: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("{user}.{hex}")
    }
}

fn load_or_create_secret(data_dir: &Path) -> Result<Vec<u8>, IdentityError> {
    let path = data_dir.join(SECRET_FILE);
    let shown = path.display().to_string();
    let io_error = |source| IdentityError::SecretFile {
        path: shown.clone(),
        source,
    };
    fs::create_dir_all(data_dir).map_err(io_error)?;
    match fs::read_to_string(&path) {
        Ok(text) => decode_hex(text.trim())
            .filter(|key| key.len() >= SECRET_BYTES)
            .ok_or(IdentityError::BadSecretFile { path: shown }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let key = random_secret()?;
            let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
            // create_new: two servers starting at once cannot both write it.
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_error)?;
            file.write_all(hex.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io_error)?;
            Ok(key)
        }
        Err(error) => Err(io_error(error)),
    }
}

fn random_secret() -> Result<Vec<u8>, IdentityError> {
    let mut key = vec![0; SECRET_BYTES];
    getrandom::fill(&mut key).map_err(IdentityError::Random)?;
    Ok(key)
}

/// Lower-case hex only: one spelling per byte string, so no altered token
/// (upper case, a `+` that `from_str_radix` would take) passes as the same.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let canonical = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !text.len().is_multiple_of(2) || !canonical {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_says_when_it_was_made() {
        let before = crate::server::store::now_ms();
        let session = SessionId::new_random();
        let after = crate::server::store::now_ms();
        let born = session.born_ms().expect("a v7 session carries its time");
        assert!((before..=after).contains(&born), "{before} {born} {after}");
        // One from before (a v4) does not.
        let old = SessionId::parse(&uuid::Uuid::new_v4().simple().to_string()).unwrap();
        assert_eq!(old.born_ms(), None);
    }

    const NOW: i64 = 1_800_000_000;

    fn settings(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.to_owned(),
            ..Settings::default()
        }
    }

    fn verified(user: UserId, session: &SessionId) -> Option<Verified> {
        Some(Verified {
            user,
            session: Some(session.clone()),
        })
    }

    #[test]
    fn a_token_names_its_user_and_session_and_survives_a_restart_with_the_same_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let (user, session) = (UserId::new_random(), SessionId::new_random());
        let token =
            Identity::load(&settings(dir.path()), None)
                .unwrap()
                .issue(user, &session, NOW + 60);
        let restarted = Identity::load(&settings(dir.path()), None).unwrap();
        assert_eq!(restarted.verify(&token, NOW), verified(user, &session));
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_token_expires_and_cannot_be_extended() {
        let ours = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let (user, session) = (UserId::new_random(), SessionId::new_random());
        let token = ours.issue(user, &session, NOW + 60);
        assert_eq!(ours.verify(&token, NOW + 59), verified(user, &session));
        assert_eq!(ours.verify(&token, NOW + 60), None);
        let later = token.replace(&format!(".{}.", NOW + 60), &format!(".{}.", NOW + 6000));
        assert_ne!(later, token);
        assert_eq!(ours.verify(&later, NOW + 60), None);
    }

    #[test]
    fn a_token_from_before_sessions_still_names_its_user() {
        let ours = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let user = UserId::new_random();
        let old = ours.issue_v1(user);
        assert_eq!(
            ours.verify(&old, NOW),
            Some(Verified {
                user,
                session: None
            })
        );
        // A v1 tag does not pass for a v2 token, nor the other way round.
        let (_, tag) = old.split_once('.').unwrap();
        let session = SessionId::new_random();
        assert_eq!(
            ours.verify(&format!("{user}.{session}.{}.{tag}", NOW + 60), NOW),
            None
        );
        let new = ours.issue(user, &session, NOW + 60);
        let (_, tag) = new.rsplit_once('.').unwrap();
        assert_eq!(ours.verify(&format!("{user}.{tag}"), NOW), None);
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let ours = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let theirs = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let session = SessionId::new_random();
        let token = ours.issue(ana, &session, NOW + 60);
        assert_eq!(ours.verify(&token, NOW), verified(ana, &session));
        // Signed by another server.
        assert_eq!(
            ours.verify(&theirs.issue(ana, &session, NOW + 60), NOW),
            None
        );
        // Someone else's id, or another session, under my tag.
        let (payload, tag) = token.rsplit_once('.').unwrap();
        let rest = payload.split_once('.').unwrap().1;
        assert_eq!(ours.verify(&format!("{ben}.{rest}.{tag}"), NOW), None);
        let other = SessionId::new_random();
        let swapped = format!("{ana}.{other}.{}.{tag}", NOW + 60);
        assert_eq!(ours.verify(&swapped, NOW), None);
        // One flipped digit of the tag, a truncated tag, garbage.
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(ours.verify(&String::from_utf8(flipped).unwrap(), NOW), None);
        assert_eq!(ours.verify(&token[..token.len() - 2], NOW), None);
        // The same bytes spelled differently are altered all the same.
        let upper = format!("{payload}.{}", tag.to_uppercase());
        assert_eq!(ours.verify(&upper, NOW), None);
        assert_eq!(
            ours.verify(&format!("{payload}.+a{}", &tag[2..]), NOW),
            None
        );
        for garbage in ["", ".", "...", "not-a-token", &ana.to_string(), payload] {
            assert_eq!(ours.verify(garbage, NOW), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_configured_secret_is_used_instead_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let configured = Settings {
            token_secret: Some("x".repeat(40)),
            ..settings(dir.path())
        };
        let (user, session) = (UserId::new_random(), SessionId::new_random());
        let token = Identity::load(&configured, None)
            .unwrap()
            .issue(user, &session, NOW + 60);
        assert!(!dir.path().join(SECRET_FILE).exists());
        assert_eq!(
            Identity::load(&configured, None)
                .unwrap()
                .verify(&token, NOW),
            verified(user, &session)
        );
        assert_eq!(
            Identity::load(&settings(dir.path()), None)
                .unwrap()
                .verify(&token, NOW),
            None
        );
    }
}
