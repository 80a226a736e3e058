//! Who a connection is across reconnects: session tokens. A token is a user
//! id and an HMAC-SHA256 of it under the server's secret, so the server can
//! check one without looking anything up, and nobody can make one up or
//! turn theirs into someone else's.
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

/// Domain separation: a MAC made for something else never passes as a token.
const TOKEN_CONTEXT: &[u8] = b"confab session token v1\0";

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

    /// The token for `user`: `<user id>.<hex MAC>`.
    pub fn issue(&self, user: UserId) -> String {
        let tag = self.mac(user).finalize().into_bytes();
        let mut token = user.to_string();
        token.push('.');
        for byte in tag {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    /// The user a token was issued for, if this server issued it unchanged.
    pub fn verify(&self, token: &str) -> Option<UserId> {
        let (id, tag) = token.split_once('.')?;
        let user = UserId::parse(id).ok()?;
        // The canonical spelling only, so one user has exactly one token.
        if user.to_string() != id {
            return None;
        }
        let tag = decode_hex(tag)?;
        // Constant-time comparison: timing reveals nothing about the tag.
        self.mac(user).verify_slice(&tag).ok()?;
        Some(user)
    }

    fn mac(&self, user: UserId) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(TOKEN_CONTEXT);
        mac.update(user.to_string().as_bytes());
        mac
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

    fn settings(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.to_owned(),
            ..Settings::default()
        }
    }

    #[test]
    fn a_token_names_its_user_and_survives_a_restart_with_the_same_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let user = UserId::new_random();
        let token = Identity::load(&settings(dir.path()), None)
            .unwrap()
            .issue(user);
        let restarted = Identity::load(&settings(dir.path()), None).unwrap();
        assert_eq!(restarted.verify(&token), Some(user));
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let ours = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let theirs = Identity::load(&settings(tempfile::tempdir().unwrap().path()), None).unwrap();
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let token = ours.issue(ana);
        assert_eq!(ours.verify(&token), Some(ana));
        // Signed by another server.
        assert_eq!(ours.verify(&theirs.issue(ana)), None);
        // Someone else's id under my tag.
        let (_, tag) = token.split_once('.').unwrap();
        assert_eq!(ours.verify(&format!("{ben}.{tag}")), None);
        // One flipped digit of the tag, a truncated tag, garbage.
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(ours.verify(&String::from_utf8(flipped).unwrap()), None);
        assert_eq!(ours.verify(&token[..token.len() - 2]), None);
        // The same bytes spelled differently are altered all the same.
        assert_eq!(ours.verify(&format!("{ana}.{}", tag.to_uppercase())), None);
        let plus = format!("{ana}.+{}", &tag[1..]);
        if tag.starts_with('0') {
            assert_eq!(ours.verify(&plus), None);
        }
        assert_eq!(ours.verify(&format!("{ana}.+a{}", &tag[2..])), None);
        for garbage in ["", ".", "not-a-token", &ana.to_string()] {
            assert_eq!(ours.verify(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_configured_secret_is_used_instead_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let configured = Settings {
            token_secret: Some("x".repeat(40)),
            ..settings(dir.path())
        };
        let user = UserId::new_random();
        let token = Identity::load(&configured, None).unwrap().issue(user);
        assert!(!dir.path().join(SECRET_FILE).exists());
        assert_eq!(
            Identity::load(&configured, None).unwrap().verify(&token),
            Some(user)
        );
        assert_eq!(
            Identity::load(&settings(dir.path()), None)
                .unwrap()
                .verify(&token),
            None
        );
    }
}
