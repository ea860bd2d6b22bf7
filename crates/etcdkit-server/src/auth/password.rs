//! Password hashes: PBKDF2-HMAC-SHA256 from `ring` with a random salt per password.
//!
//! etcd stores bcrypt hashes; any slow, salted hash does the same job here, and `ring` is
//! already a dependency. The iteration count is low on purpose: this server is for tests,
//! where a user add should not cost a noticeable fraction of a second (etcd's own test
//! setups lower bcrypt's cost the same way).

use std::num::NonZeroU32;

use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const ITERATIONS: NonZeroU32 = NonZeroU32::MIN.saturating_add(999);
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A salted password hash; its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordHash {
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh salt; `None` only if the system's random source
    /// fails.
    pub(crate) fn new(password: &str) -> Option<Self> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new().fill(&mut salt).ok()?;
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, ITERATIONS, &salt, password.as_bytes(), &mut hash);
        Some(PasswordHash { salt, hash })
    }

    /// The salt then the hash, as the data directory keeps them.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        [self.salt.as_slice(), self.hash.as_slice()].concat()
    }

    /// Reads [`PasswordHash::to_bytes`]'s form back; `None` for any other length.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SALT_LEN + HASH_LEN {
            return None;
        }
        let (salt, hash) = bytes.split_at(SALT_LEN);
        Some(PasswordHash {
            salt: salt.try_into().ok()?,
            hash: hash.try_into().ok()?,
        })
    }

    /// True when `password` is the one hashed (compared in constant time by `ring`).
    pub(crate) fn matches(&self, password: &str) -> bool {
        pbkdf2::verify(
            ALGORITHM,
            ITERATIONS,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::PasswordHash;

    #[test]
    fn a_hash_matches_its_password_only() {
        let Some(h) = PasswordHash::new("pw") else {
            panic!("no randomness")
        };
        assert!(h.matches("pw"));
        assert!(!h.matches("pw2"));
        assert!(!h.matches(""));
        assert!(!format!("{h:?}").contains(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let (Some(a), Some(b)) = (PasswordHash::new("x"), PasswordHash::new("x")) else {
            panic!("no randomness")
        };
        assert_ne!(a, b);
    }
}
