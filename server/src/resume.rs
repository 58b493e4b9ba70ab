//! Resume tokens: how a client keeps its id across reconnects and server restarts.

use crate::ClientId;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{
    fs, io,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The key file in the data folder.
pub const KEY_FILE: &str = "resume.key";

/// How long a token stays good.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Issues and checks resume tokens: `connected` gives each client one, and a client that opens
/// its next connection with `?resume=<token>` gets the same `clientId` back.
///
/// A token is the client id and the time it was issued, signed with HMAC-SHA-256 under a key kept
/// in the data folder (created on first start, readable by the server's user only), so a client
/// cannot take another's id, and tokens outlive a restart of the server. 40 bytes, base64url.
#[derive(Clone)]
pub struct ResumeKeys {
    key: [u8; 32],
}

impl std::fmt::Debug for ResumeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ResumeKeys")
    }
}

impl ResumeKeys {
    /// The key in `folder`, created if there is none.
    pub fn load_or_create(folder: &Path) -> io::Result<Self> {
        let path = folder.join(KEY_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                let key = bytes.try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a 32-byte key", path.display()),
                    )
                })?;
                Ok(Self { key })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(folder)?;
                let keys = Self::ephemeral()?;
                write_private(&path, &keys.key)?;
                Ok(keys)
            }
            Err(err) => Err(err),
        }
    }

    /// The key every node of a cluster shares, kept in Redis by the first node that needed it.
    pub async fn shared(store: &crate::redis_store::RedisStore) -> io::Result<Self> {
        let key = store
            .shared_secret("tether:resume-key", Self::ephemeral()?.key.to_vec())
            .await
            .map_err(io::Error::other)?;
        let key = key.try_into().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the resume key in Redis is not 32 bytes",
            )
        })?;
        Ok(Self { key })
    }

    /// A key for this process only: tokens die with it (for `--store memory`).
    pub fn ephemeral() -> io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(io::Error::other)?;
        Ok(Self { key })
    }

    /// A token for `id`, issued at `now` to `user` (the token auth's user, or "" without auth):
    /// only a connection of the same user gets the id back with it.
    pub fn issue(&self, id: ClientId, user: &str, now: SystemTime) -> String {
        let mut token = [0u8; 40];
        token[..16].copy_from_slice(id.as_bytes());
        token[16..24].copy_from_slice(&seconds(now).to_be_bytes());
        let tag = self.tag(&token[..24], user);
        token[24..].copy_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The client id in `token`, if the token is ours, was issued to `user`, and is still good
    /// at `now`.
    pub fn verify(&self, token: &str, user: &str, now: SystemTime) -> Option<ClientId> {
        let bytes: [u8; 40] = URL_SAFE_NO_PAD.decode(token).ok()?.try_into().ok()?;
        let mut mac = self.mac();
        mac.update(&bytes[..24]);
        mac.update(user.as_bytes());
        mac.verify_truncated_left(&bytes[24..]).ok()?;
        let issued = u64::from_be_bytes(bytes[16..24].try_into().ok()?);
        let age = seconds(now).checked_sub(issued)?;
        if age > TOKEN_LIFETIME.as_secs() {
            return None;
        }
        Some(ClientId::from_bytes(bytes[..16].try_into().ok()?))
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    fn tag(&self, data: &[u8], user: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(data);
        mac.update(user.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gives_back_its_id_and_only_to_its_server() {
        let keys = ResumeKeys::ephemeral().expect("a key");
        let other = ResumeKeys::ephemeral().expect("a key");
        let id = ClientId::random();
        let now = SystemTime::now();
        let token = keys.issue(id, "", now);
        assert_eq!(token.len(), 54);
        assert_eq!(keys.verify(&token, "", now), Some(id));
        let ada = keys.issue(id, "ada", now);
        assert_eq!(
            keys.verify(&ada, "ada", now),
            Some(id),
            "the user it was issued to"
        );
        assert_eq!(keys.verify(&ada, "bo", now), None, "another user");
        assert_eq!(keys.verify(&ada, "", now), None, "without auth");
        assert_eq!(other.verify(&token, "", now), None, "another key");
        assert_eq!(
            keys.verify(&token, "", now + TOKEN_LIFETIME + Duration::from_secs(1)),
            None
        );
        assert_eq!(keys.verify("not a token", "", now), None);
        // One bit changed anywhere breaks it.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[3] ^= 1;
        assert_eq!(keys.verify(&URL_SAFE_NO_PAD.encode(bytes), "", now), None);
    }

    #[test]
    fn the_key_is_kept_in_the_folder() {
        let dir = tempfile::tempdir().expect("a folder");
        let first = ResumeKeys::load_or_create(dir.path()).expect("created");
        let again = ResumeKeys::load_or_create(dir.path()).expect("read");
        let id = ClientId::random();
        let now = SystemTime::now();
        assert_eq!(again.verify(&first.issue(id, "", now), "", now), Some(id));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .expect("the file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
