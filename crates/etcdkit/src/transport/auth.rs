//! Username/password auth: a token fetched on first use and attached to every call,
//! streams included, and fetched again when the server says it is invalid, expired, or
//! issued at an old auth revision (users or roles changed since).

use std::fmt;
use std::sync::Mutex;

use super::{Call, Transport};
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;

/// A user name and password. `Debug` hides the password.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// A token given by the caller. `Debug` hides it.
#[derive(Clone)]
pub(crate) struct PresetToken(pub String);

impl fmt::Debug for PresetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden token>")
    }
}

/// A token and its generation: a refresh replaces the token only if nobody refreshed it
/// since the caller saw it, so many calls failing at once cause one authentication.
#[derive(Clone)]
pub(crate) struct Token {
    /// The token as the header every call carries (unary calls and streams alike).
    pub header: http::HeaderValue,
    pub generation: u64,
}

impl Token {
    fn new(token: &str, generation: u64) -> Result<Token> {
        // TransportState bytes, so that attaching the token to a call is a cheap clone.
        let header = http::HeaderValue::from_maybe_shared(bytes::Bytes::from(token.to_owned()))
            .map_err(|_| {
                Error::new(
                    ErrorKind::Protocol,
                    "the auth token has characters that cannot go in a gRPC header",
                )
            })?;
        Ok(Token { header, generation })
    }
}

#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Token>>,
    generation: Mutex<u64>,
    refresh: tokio::sync::Mutex<()>,
}

impl Transport {
    /// The token to attach to `call`, fetching one first when there is none yet.
    pub(crate) async fn token_for(&self, call: &Call) -> Result<Option<Token>> {
        if !call.with_token {
            return Ok(None);
        }
        match self.current_token()? {
            Some(token) => Ok(Some(token)),
            None if self.options().credentials.is_some() => {
                self.refresh_token(None).await.map(Some)
            }
            None => Ok(None),
        }
    }

    /// The token calls carry now, without fetching one: the preset token, or the last
    /// one fetched with the credentials (none before the first fetch).
    pub(crate) fn current_token(&self) -> Result<Option<Token>> {
        let opts = self.options();
        if opts.credentials.is_none() {
            return match &opts.token {
                Some(PresetToken(t)) => Ok(Some(Token::new(t, 0)?)),
                None => Ok(None),
            };
        }
        Ok(self
            .shared
            .tokens
            .current
            .lock()
            .ok()
            .and_then(|c| c.clone()))
    }

    /// Authenticates again, unless another call already did since `stale` was seen.
    ///
    /// Boxed, and declared `Send`: authenticating is itself a call, so this future and the
    /// call's future contain each other, and the compiler needs the type written down.
    pub(crate) fn refresh_token(
        &self,
        stale: Option<u64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Token>> + Send + '_>> {
        Box::pin(async move {
            let cache = &self.shared.tokens;
            let _one_at_a_time = cache.refresh.lock().await;
            if let Some(current) = cache.current.lock().ok().and_then(|c| c.clone())
                && Some(current.generation) != stale
            {
                return Ok(current);
            }
            let Some(credentials) = self.options().credentials.clone() else {
                return Err(Error::new(
                    ErrorKind::InvalidToken,
                    "the server refused the auth token, and no user and password are configured to get another",
                ));
            };
            let request = pb::AuthenticateRequest {
                name: credentials.user,
                password: credentials.password,
            };
            let mut call = Call::idempotent("auth.authenticate", None);
            call.with_token = false;
            let response = self.authenticate(call, request).await?;
            let generation = match cache.generation.lock() {
                Ok(mut g) => {
                    *g += 1;
                    *g
                }
                Err(_) => 0,
            };
            match stale {
                // The server refused the token a call carried: worth knowing about (an
                // expiring TTL too short for the workload shows up here).
                Some(stale) => tracing::info!(
                    user = self
                        .options()
                        .credentials
                        .as_ref()
                        .map_or("", |c| c.user.as_str()),
                    stale_generation = stale,
                    generation,
                    "auth token refreshed"
                ),
                None => tracing::debug!(generation, "fetched an auth token"),
            }
            let token = Token::new(&response.token, generation)?;
            if let Ok(mut current) = cache.current.lock() {
                *current = Some(token.clone());
            }
            Ok(token)
        })
    }
}
