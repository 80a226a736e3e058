//! Passwords: the rules for a new one, and Argon2id hashing and checking,
//! off the async threads and a few at a time.
//!
//! Parameters: Argon2id, 19 MiB of memory, 2 passes, 1 lane (OWASP's
//! recommendation), a 16-byte random salt, kept as a PHC string that
//! names them, so that stronger parameters later still check old hashes.
//! One hash takes tens of milliseconds of one core: hashing runs on
//! tokio's blocking threads, at most [`HASHING_AT_ONCE`] at a time, so a
//! flood of sign-ins slows sign-ins, not chat.

use std::{sync::Arc, time::Duration};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

/// Characters a password has at least; bytes at most (Argon2 takes any
/// length, but a megabyte of "password" is an attack, not a secret).
pub const MIN_CHARS: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// Memory (KiB), passes and lanes of a hash.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Hashes computed at once, at most: each holds 19 MiB and a core.
pub const HASHING_AT_ONCE: usize = 2;

/// How long a request waits for its turn to hash before it is refused as
/// busy (while sign-ins queue behind a flood).
const WAIT_TO_HASH: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password is at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password is at most {MAX_BYTES} bytes")]
    TooLong,
    #[error("a password must not be the username")]
    IsUsername,
    #[error("too many passwords are being checked; try again in a moment")]
    Busy,
    #[error("a password could not be hashed or checked: {0}")]
    Hashing(String),
}

/// Whether `password` may be a new password of `username`.
pub fn check_new(password: &str, username: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if super::username::key_of(password) == super::username::key_of(username) {
        return Err(PasswordError::IsUsername);
    }
    Ok(())
}

/// Hashes and checks passwords, a few at a time.
#[derive(Clone)]
pub struct Passwords {
    turns: Arc<Semaphore>,
    /// A hash of nothing anyone knows: checked against when a sign-in names
    /// no account, so that the answer takes as long as for a real one.
    decoy: Arc<str>,
}

impl Passwords {
    pub fn new() -> Result<Self, PasswordError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|error| PasswordError::Hashing(error.to_string()))?;
        let decoy = hash_now(&secret)?;
        Ok(Self {
            turns: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
            decoy: decoy.into(),
        })
    }

    /// The PHC string of `password` under a new salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.in_turn(move || hash_now(password.as_bytes())).await
    }

    /// Whether `password` is the one `stored` was made from; with no stored
    /// hash (no such account), false, after as long as a real check.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.to_string());
        let matches = self
            .in_turn(move || {
                Ok(argon2()
                    .verify_password(password.as_bytes(), stored.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let turn = tokio::time::timeout(WAIT_TO_HASH, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|error| PasswordError::Hashing(error.to_string()))?
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .unwrap_or_else(|_| unreachable!("the parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| PasswordError::Hashing(error.to_string()))?;
    argon2()
        .hash_password_with_salt(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hashing(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_checks_its_password_only_and_names_argon2id_and_its_parameters() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        let again = passwords.hash("correct horse".into()).await.unwrap();
        assert_ne!(hash, again, "a new salt each time");
        let check = |password: &str, stored: Option<&str>| {
            passwords.verify(password.into(), stored.map(str::to_owned))
        };
        assert!(check("correct horse", Some(&hash)).await.unwrap());
        assert!(!check("correct horsE", Some(&hash)).await.unwrap());
        assert!(!check("", Some(&hash)).await.unwrap());
        // No account: false, whatever the password.
        assert!(!check("correct horse", None).await.unwrap());
    }

    #[test]
    fn a_new_password_is_long_enough_not_too_long_and_not_the_username() {
        assert_eq!(check_new("short", "ana"), Err(PasswordError::TooShort));
        assert_eq!(check_new("ünïcödé", "ana"), Err(PasswordError::TooShort));
        assert_eq!(
            check_new(&"x".repeat(1025), "ana"),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_new("Anastasia", "anastasia"),
            Err(PasswordError::IsUsername)
        );
        assert_eq!(check_new("eight ch", "ana"), Ok(()));
    }
}
