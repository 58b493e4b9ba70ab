//! Token auth (`--jwt-secret`, `--jwt-public-key`): who a connection is, from a JWT it presents.

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use serde::{Deserialize, Serialize};
use std::{
    io,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// How far a token's `exp` may be in the past and still count (clocks differ a little).
const LEEWAY: Duration = Duration::from_secs(5);

/// The longest a dev token may last.
const MAX_DEV_TOKEN: Duration = Duration::from_secs(24 * 3600);

/// What a token says, as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub exp: u64,
    /// The user's display name, which `identify` cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The rooms the user may join: names, or patterns ending in `*` (`team-*`); all if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
    /// The audience, checked when the server is given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Who a connection is, from its token.
#[derive(Debug)]
pub struct Identity {
    /// The user id (`sub`): what others see in `from` and `userId`.
    pub user: Arc<str>,
    /// The name the token gives.
    pub name: Option<Arc<str>>,
    /// The rooms the user may join, if the token limits them.
    pub rooms: Option<Box<[Box<str>]>>,
    /// When the token expires, in seconds since the Unix epoch; a `refresh` moves it.
    pub expires: AtomicU64,
}

impl Identity {
    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires.load(Ordering::Relaxed) + LEEWAY.as_secs() < seconds(now)
    }

    /// Whether the token lets the user into `room`.
    pub fn may_join(&self, room: &str) -> bool {
        self.rooms.as_deref().is_none_or(|rooms| {
            rooms.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => room.starts_with(prefix),
                None => **pattern == *room,
            })
        })
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// None was given, or it is not valid (signature, audience, claims): closed with 4401.
    Invalid,
    /// It has expired: closed with 4419, for the client to come back with a fresh one.
    Expired,
}

/// 32 random bytes: a signing secret for development tokens.
pub fn random_secret() -> io::Result<Vec<u8>> {
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret).map_err(io::Error::other)?;
    Ok(secret)
}

/// The server's token check: a key and what a token must satisfy.
pub struct Auth {
    key: DecodingKey,
    validation: Validation,
    // Only with `--dev-issue-tokens` and a secret: signs tokens for `POST /dev/token`.
    issuer: Option<EncodingKey>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("algorithms", &self.validation.algorithms)
            .field("dev_issuer", &self.issuer.is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The token auth `config` asks for, if any. `dev_secret` is what `--dev-issue-tokens`
    /// signs with when no `--jwt-secret` is given (the cluster's shared one); without it, a
    /// random one for this process.
    pub fn from_config(
        config: &crate::Config,
        dev_secret: Option<Vec<u8>>,
    ) -> io::Result<Option<Self>> {
        let audience = config.jwt_audience.as_deref();
        if let Some(path) = &config.jwt_public_key {
            return Self::with_public_key(path, audience).map(Some);
        }
        let secret = match (&config.jwt_secret, config.dev_issue_tokens) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, true) => match dev_secret {
                Some(secret) => secret,
                None => random_secret()?,
            },
            (None, false) => return Ok(None),
        };
        let auth = Self::with_secret(&secret, audience)?;
        if config.dev_issue_tokens {
            tracing::warn!(
                "DEVELOPMENT ONLY: POST /dev/token gives anyone a token (--dev-issue-tokens)"
            );
            return auth.issuing(&secret).map(Some);
        }
        Ok(Some(auth))
    }

    /// HS256 tokens signed with `secret`.
    pub fn with_secret(secret: &[u8], audience: Option<&str>) -> io::Result<Self> {
        let key = DecodingKey::from_secret(secret).map_err(io::Error::other)?;
        Ok(Self {
            key,
            validation: validation(vec![Algorithm::HS256], audience),
            issuer: None,
        })
    }

    /// Tokens signed with the private half of the PEM public key at `path`: RSA (RS256), P-256
    /// (ES256) or Ed25519 (EdDSA).
    pub fn with_public_key(path: &Path, audience: Option<&str>) -> io::Result<Self> {
        let pem = std::fs::read(path)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            (
                key,
                vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            )
        } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            (key, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not an RSA, EC or Ed25519 public key in PEM",
                    path.display()
                ),
            ));
        };
        Ok(Self {
            key,
            validation: validation(algorithms, audience),
            issuer: None,
        })
    }

    /// Also issues tokens (`POST /dev/token`), signed with `secret`: for development only.
    pub fn issuing(mut self, secret: &[u8]) -> io::Result<Self> {
        self.issuer = Some(EncodingKey::from_secret(secret).map_err(io::Error::other)?);
        Ok(self)
    }

    /// Whether this server issues tokens itself.
    pub fn issues(&self) -> bool {
        self.issuer.is_some()
    }

    /// Checks `token` at `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Identity, Refused> {
        let claims = match decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => data.claims,
            Err(err) if matches!(err.kind(), ErrorKind::ExpiredSignature) => {
                return Err(Refused::Expired);
            }
            Err(_) => return Err(Refused::Invalid),
        };
        // The library allows its leeway; so do we, and no more.
        if claims.exp + LEEWAY.as_secs() < seconds(now) {
            return Err(Refused::Expired);
        }
        if claims.sub.is_empty() || claims.sub.len() > 256 {
            return Err(Refused::Invalid);
        }
        Ok(Identity {
            user: Arc::from(claims.sub),
            name: claims.name.filter(|n| !n.is_empty()).map(Arc::from),
            rooms: claims
                .rooms
                .map(|rooms| rooms.into_iter().map(String::into_boxed_str).collect()),
            expires: AtomicU64::new(claims.exp),
        })
    }

    /// A token for `user` named `name`, good for `lifetime` (at most a day), if this server
    /// issues tokens.
    pub fn issue(
        &self,
        user: &str,
        name: Option<&str>,
        lifetime: Duration,
        now: SystemTime,
    ) -> Option<String> {
        let issuer = self.issuer.as_ref()?;
        let claims = Claims {
            sub: user.to_owned(),
            exp: seconds(now) + lifetime.min(MAX_DEV_TOKEN).as_secs().max(1),
            name: name.map(str::to_owned),
            rooms: None,
            aud: self
                .validation
                .aud
                .as_ref()
                .and_then(|aud| aud.iter().next().cloned()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, issuer).ok()
    }
}

fn validation(algorithms: Vec<Algorithm>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithms[0]);
    validation.algorithms = algorithms;
    validation.leeway = LEEWAY.as_secs();
    validation.set_required_spec_claims(&["exp", "sub"]);
    match audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation
}

/// Seconds since the Unix epoch.
pub fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: &[u8], claims: &Claims) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret).expect("a key"),
        )
        .expect("signed")
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "ada".into(),
            exp,
            name: Some("Ada".into()),
            rooms: Some(vec!["lobby".into(), "team-*".into()]),
            aud: Some("chat".into()),
        }
    }

    #[test]
    fn a_good_token_names_its_user_and_rooms() {
        let now = SystemTime::now();
        let auth = Auth::with_secret(b"k", Some("chat")).expect("auth");
        let identity = auth
            .verify(&token(b"k", &claims(seconds(now) + 60)), now)
            .expect("valid");
        assert_eq!(&*identity.user, "ada");
        assert_eq!(identity.name.as_deref(), Some("Ada"));
        assert!(identity.may_join("lobby"));
        assert!(identity.may_join("team-red"));
        assert!(!identity.may_join("lobby2"));
        assert!(!identity.may_join("other"));
    }

    #[test]
    fn bad_tokens_are_invalid_and_old_ones_expired() {
        let now = SystemTime::now();
        let auth = Auth::with_secret(b"k", Some("chat")).expect("auth");
        let refused = |token: &str| auth.verify(token, now).err();
        let fresh = claims(seconds(now) + 60);
        assert_eq!(refused(&token(b"other", &fresh)), Some(Refused::Invalid));
        let elsewhere = Claims {
            aud: Some("billing".into()),
            ..fresh.clone()
        };
        assert_eq!(refused(&token(b"k", &elsewhere)), Some(Refused::Invalid));
        assert_eq!(refused("not.a.token"), Some(Refused::Invalid));
        assert_eq!(refused(""), Some(Refused::Invalid));
        let old = claims(seconds(now) - 60);
        assert_eq!(refused(&token(b"k", &old)), Some(Refused::Expired));
    }

    #[test]
    fn issued_tokens_verify() {
        let now = SystemTime::now();
        let auth = Auth::with_secret(b"k", None)
            .and_then(|a| a.issuing(b"k"))
            .expect("auth");
        let token = auth
            .issue("bo", Some("Bo"), Duration::from_secs(60), now)
            .expect("issued");
        let identity = auth.verify(&token, now).expect("valid");
        assert_eq!(
            (&*identity.user, identity.name.as_deref()),
            ("bo", Some("Bo"))
        );
        assert!(identity.may_join("anything"));
    }
}
