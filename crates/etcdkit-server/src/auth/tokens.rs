//! etcd's simple tokens: `<16 random letters>.<index>`, held in memory, each valid until
//! it has gone unused for the TTL (etcd's `--auth-token-ttl`); every use extends it.
//!
//! etcd's index is the raft index of the Authenticate entry; this server has no raft and
//! counts authentications instead. Simple tokens carry no auth revision (JWT tokens do;
//! this server does not issue them), so a role change never makes a token "old".

use std::collections::HashMap;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::time::Instant;

/// The letters etcd draws a token's prefix from.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PREFIX_LEN: usize = 16;

#[derive(Debug)]
struct Entry {
    user: String,
    deadline: Instant,
}

/// The tokens handed out and not yet expired or revoked.
#[derive(Debug)]
pub(crate) struct SimpleTokens {
    ttl: Duration,
    tokens: HashMap<String, Entry>,
    index: u64,
}

impl SimpleTokens {
    pub(crate) fn new(ttl: Duration) -> Self {
        SimpleTokens {
            ttl,
            tokens: HashMap::new(),
            index: 0,
        }
    }

    /// A new token for `user`; `None` only if the system's random source fails.
    pub(crate) fn assign(&mut self, user: &str, now: Instant) -> Option<String> {
        // Tokens nobody uses again are dropped here rather than by a timer.
        self.tokens.retain(|_, e| e.deadline > now);
        let mut random = [0u8; PREFIX_LEN];
        SystemRandom::new().fill(&mut random).ok()?;
        let prefix: String = random
            .iter()
            .map(|b| char::from(LETTERS[usize::from(*b) % LETTERS.len()]))
            .collect();
        self.index += 1;
        let token = format!("{prefix}.{}", self.index);
        self.tokens.insert(
            token.clone(),
            Entry {
                user: user.to_owned(),
                deadline: now + self.ttl,
            },
        );
        Some(token)
    }

    /// The user a live token was issued to, extending its life as etcd does on each use.
    pub(crate) fn user(&mut self, token: &str, now: Instant) -> Option<String> {
        let entry = self.tokens.get_mut(token)?;
        if entry.deadline <= now {
            self.tokens.remove(token);
            return None;
        }
        entry.deadline = now + self.ttl;
        Some(entry.user.clone())
    }

    /// Forgets every token of `user` (deleted, or its password changed).
    pub(crate) fn revoke_user(&mut self, user: &str) {
        self.tokens.retain(|_, e| e.user != user);
    }

    /// Forgets every token (auth disabled).
    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_looks_like_etcds_and_lives_while_used() {
        let t0 = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(2));
        let Some(tok) = tokens.assign("u", t0) else {
            panic!("no randomness")
        };
        let (prefix, index) = tok.split_once('.').unwrap_or_default();
        assert_eq!(prefix.len(), 16);
        assert!(prefix.bytes().all(|b| b.is_ascii_alphabetic()));
        assert_eq!(index, "1");
        // Used every 1.5 s, it outlives its 2 s TTL.
        for i in 1..4 {
            let at = t0 + Duration::from_millis(1500 * i);
            assert_eq!(tokens.user(&tok, at).as_deref(), Some("u"));
        }
        // Unused for the TTL, it is gone.
        assert_eq!(tokens.user(&tok, t0 + Duration::from_secs(9)), None);
        assert_eq!(tokens.user("nope.1", t0), None);
    }

    #[test]
    fn revoking_a_user_forgets_only_its_tokens() {
        let t0 = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(60));
        let (Some(a), Some(b)) = (tokens.assign("a", t0), tokens.assign("b", t0)) else {
            panic!("no randomness")
        };
        tokens.revoke_user("a");
        assert_eq!(tokens.user(&a, t0), None);
        assert_eq!(tokens.user(&b, t0).as_deref(), Some("b"));
        tokens.clear();
        assert_eq!(tokens.user(&b, t0), None);
    }
}
