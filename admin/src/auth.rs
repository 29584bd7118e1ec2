//! Who may act: named admin tokens, a login that trades one for a session cookie, and the check
//! every action makes.
//!
//! Tokens are compared in constant time on their SHA-256 digests (so neither their contents nor
//! their length shows in the time an answer takes), and never logged or put in a URL. A browser
//! logs in with a form and gets a random session id in an `HttpOnly`, `SameSite=Strict` cookie
//! (so another site's page cannot post an action with it); scripts send
//! `Authorization: Bearer <token>` instead. Sessions live in memory: a restart logs everyone out.

use std::sync::Mutex;

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::AdminError;

/// The cookie a browser's session id travels in.
pub(crate) const SESSION_COOKIE: &str = "chronicle_admin_session";

/// Sessions kept at most: the oldest is forgotten past it, so logins cannot grow memory.
const MAX_SESSIONS: usize = 1024;

/// An admin token: its name (who acted, in the audit table) and the digest of its secret.
#[derive(Clone)]
pub(crate) struct Token {
    name: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Token {
    pub(crate) fn new(name: &str, secret: &str) -> Self {
        Self {
            name: name.to_owned(),
            digest: digest(secret),
        }
    }
}

/// The tokens and the sessions logged in with them.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    tokens: Vec<Token>,
    /// Session id digests (compared like tokens) and the name of the token each logged in with,
    /// in the order they were made.
    sessions: Mutex<Vec<([u8; 32], String)>>,
}

impl Guard {
    pub(crate) fn new(tokens: Vec<Token>) -> Self {
        Self {
            tokens,
            sessions: Mutex::default(),
        }
    }

    /// Whether any token is configured: without one the server is read-only.
    pub(crate) fn writable(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The name of the token whose secret is `secret`. Every token is compared, so the time
    /// taken does not tell which one (if any) matched.
    fn name_of(&self, secret: &str) -> Option<String> {
        let given = digest(secret);
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.digest.ct_eq(&given)) {
                found = Some(token.name.clone());
            }
        }
        found
    }

    /// Trades a token's secret for a new session id; `None` when it is no token's.
    pub(crate) fn login(&self, secret: &str) -> Option<(String, String)> {
        let name = self.name_of(secret)?;
        // Two v4 UUIDs: 244 random bits from the system's generator.
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push((digest(&id), name.clone()));
        Some((id, name))
    }

    /// Forgets the session of `headers`' cookie, if any.
    pub(crate) fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = session_id(headers) {
            let given = digest(id);
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            sessions.retain(|(digest, _)| !bool::from(digest.ct_eq(&given)));
        }
    }

    /// Who the request comes from: the token of its `Authorization: Bearer` header, or of the
    /// session its cookie names; `None` for anyone else.
    pub(crate) fn who(&self, headers: &HeaderMap) -> Option<String> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if let Some(secret) = bearer {
            return self.name_of(secret.trim());
        }
        let given = digest(session_id(headers)?);
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut found = None;
        for (digest, name) in sessions.iter() {
            if bool::from(digest.ct_eq(&given)) {
                found = Some(name.clone());
            }
        }
        found
    }

    /// The name of who may act on this request, or why they may not.
    pub(crate) fn require(&self, headers: &HeaderMap) -> Result<String, AdminError> {
        if !self.writable() {
            return Err(AdminError::ReadOnly);
        }
        self.who(headers).ok_or_else(|| {
            AdminError::Unauthorized(
                "this action needs an admin token: log in first (or send Authorization: Bearer <token>)"
                    .to_owned(),
            )
        })
    }
}

/// The session id in a request's cookies, if any.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("other=1; {SESSION_COOKIE}={id}");
        headers.insert(COOKIE, value.parse().expect("a header value"));
        headers
    }

    #[test]
    fn a_session_names_its_token_until_logged_out() {
        let guard = Guard::new(vec![Token::new("ops", "s3cret"), Token::new("dev", "other")]);
        assert!(guard.login("wrong").is_none());
        let (id, name) = guard.login("other").expect("a token's secret logs in");
        assert_eq!(name, "dev");
        assert_eq!(guard.who(&cookie(&id)).as_deref(), Some("dev"));
        assert_eq!(guard.who(&cookie("forged")), None);
        guard.logout(&cookie(&id));
        assert_eq!(guard.who(&cookie(&id)), None);
    }

    #[test]
    fn a_bearer_header_names_its_token() {
        let guard = Guard::new(vec![Token::new("ops", "s3cret")]);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer s3cret".parse().expect("a header value"));
        assert_eq!(guard.require(&headers).expect("allowed"), "ops");
        headers.insert(AUTHORIZATION, "Bearer s3cre".parse().expect("a header value"));
        assert!(matches!(
            guard.require(&headers),
            Err(AdminError::Unauthorized(_))
        ));
    }

    #[test]
    fn without_tokens_every_action_is_refused() {
        let guard = Guard::new(Vec::new());
        assert!(guard.login("").is_none());
        assert!(matches!(
            guard.require(&HeaderMap::new()),
            Err(AdminError::ReadOnly)
        ));
    }
}
