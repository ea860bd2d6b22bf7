//! The auth store as the data directory keeps it: one value, rewritten whole on each auth
//! change (they are rare, and whole values cannot disagree with each other).
//!
//! Version 1, integers big-endian: the version byte (1), enabled (u8), the auth revision
//! (u64), the users (u32 count, then each as a u32 length and an `authpb.User`: name,
//! roles, `password` = salt then PBKDF2 hash, empty with `options.no_password`), then the
//! roles the same way as `authpb.Role`s (name, permissions).

use bytes::Bytes;
use prost::Message;

use super::password::PasswordHash;
use super::{AuthStore, Role, User};
use crate::generated::authpb;

const VERSION: u8 = 1;

impl AuthStore {
    /// The store in the data directory's form.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![VERSION, u8::from(self.enabled)];
        out.extend_from_slice(&self.revision.to_be_bytes());
        put_count(&mut out, self.users.len());
        for (name, user) in &self.users {
            let message = authpb::User {
                name: Bytes::copy_from_slice(name.as_bytes()),
                password: user
                    .password
                    .as_ref()
                    .map_or_else(Bytes::new, |p| Bytes::from(p.to_bytes())),
                roles: user.roles.clone(),
                options: Some(authpb::UserAddOptions {
                    no_password: user.password.is_none(),
                }),
            };
            put_message(&mut out, &message);
        }
        put_count(&mut out, self.roles.len());
        for (name, role) in &self.roles {
            let message = authpb::Role {
                name: Bytes::copy_from_slice(name.as_bytes()),
                key_permission: role.perms.clone(),
            };
            put_message(&mut out, &message);
        }
        out
    }

    /// Reads [`AuthStore::to_bytes`]'s form back; `None` when it does not decode.
    pub(crate) fn from_bytes(mut bytes: &[u8]) -> Option<AuthStore> {
        let [version, enabled] = <[u8; 2]>::try_from(take(&mut bytes, 2)?).ok()?;
        if version != VERSION || enabled > 1 {
            return None;
        }
        let revision = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
        let mut store = AuthStore {
            enabled: enabled == 1,
            revision,
            users: Default::default(),
            roles: Default::default(),
        };
        for _ in 0..take_count(&mut bytes)? {
            let user = authpb::User::decode(take_sized(&mut bytes)?).ok()?;
            let no_password = user.options.is_some_and(|o| o.no_password);
            let password = if no_password {
                None
            } else {
                Some(PasswordHash::from_bytes(&user.password)?)
            };
            let name = String::from_utf8(user.name.to_vec()).ok()?;
            store.users.insert(
                name,
                User {
                    password,
                    roles: user.roles,
                },
            );
        }
        for _ in 0..take_count(&mut bytes)? {
            let role = authpb::Role::decode(take_sized(&mut bytes)?).ok()?;
            let name = String::from_utf8(role.name.to_vec()).ok()?;
            store.roles.insert(
                name,
                Role {
                    perms: role.key_permission,
                },
            );
        }
        bytes.is_empty().then_some(store)
    }
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_message(out: &mut Vec<u8>, message: &impl Message) {
    put_count(out, message.encoded_len());
    message.encode_raw(out);
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

fn take_count(bytes: &mut &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?))
}

fn take_sized<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = usize::try_from(take_count(bytes)?).ok()?;
    take(bytes, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::authpb::permission::Type;

    #[test]
    fn the_auth_store_reads_back_as_it_was_written() {
        let mut store = AuthStore {
            enabled: true,
            revision: 7,
            ..AuthStore::default()
        };
        store.users.insert(
            "root".into(),
            User {
                password: PasswordHash::new("pw"),
                roles: vec!["root".into()],
            },
        );
        store.users.insert("svc".into(), User::default());
        store.roles.insert(
            "reader".into(),
            Role {
                perms: vec![authpb::Permission {
                    perm_type: Type::Read as i32,
                    key: Bytes::from_static(b"a"),
                    range_end: Bytes::from_static(b"b"),
                }],
            },
        );
        let back = AuthStore::from_bytes(&store.to_bytes()).unwrap();
        assert!(back.enabled);
        assert_eq!(back.revision, 7);
        assert!(back.users["root"].password.as_ref().unwrap().matches("pw"));
        assert_eq!(back.users["root"].roles, ["root"]);
        assert!(back.users["svc"].password.is_none());
        assert_eq!(back.roles["reader"].perms, store.roles["reader"].perms);
        assert_eq!(back.to_bytes(), store.to_bytes());
    }

    #[test]
    fn a_damaged_auth_value_does_not_decode() {
        let bytes = AuthStore::default().to_bytes();
        assert!(AuthStore::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        assert!(AuthStore::from_bytes(&[2]).is_none());
        assert!(AuthStore::from_bytes(&[]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(AuthStore::from_bytes(&longer).is_none());
    }
}
