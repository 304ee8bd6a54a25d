//! New identities and secrets: instance ids, access keys, activation codes. All randomness comes from the
//! thread-local CSPRNG (`rand::rng`, seeded from the OS).

use fleetrun_store::{AccessKey, Activation, KeyKind};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

fn random_text(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `mi-` + 17 hex characters, the form SSM gives hybrid nodes.
pub fn new_instance_id() -> String {
    format!("mi-{}", random_text(17, b"0123456789abcdef"))
}

/// A new key pair. Ids start with `AKFR` (admin) or `AKFA` (agent) so they are easy to tell apart.
pub fn new_access_key(kind: KeyKind, instance_id: Option<&str>, description: &str, now_ms: i64) -> AccessKey {
    let prefix = match kind {
        KeyKind::Admin => "AKFR",
        KeyKind::Agent => "AKFA",
    };
    let secret: String = rand::rng().sample_iter(&Alphanumeric).take(40).map(char::from).collect();
    AccessKey {
        access_key_id: format!("{prefix}{}", random_text(16, UPPER_DIGITS)),
        secret_access_key: secret,
        kind,
        instance_id: instance_id.map(Into::into),
        description: description.to_string(),
        created_ms: now_ms,
    }
}

/// What CreateActivation (or `fleetrun dev`) asks for.
pub struct ActivationSpec {
    pub description: String,
    pub default_instance_name: String,
    pub iam_role: String,
    pub registration_limit: i64,
    pub expiration_ms: i64,
}

/// A new activation and its code. Only the code's hash is stored; the code is shown once.
pub fn new_activation(spec: ActivationSpec) -> (Activation, String) {
    let code: String = rand::rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect();
    let activation = Activation {
        activation_id: uuid::Uuid::new_v4().to_string(),
        code_sha256: hash_code(&code),
        description: spec.description,
        default_instance_name: spec.default_instance_name,
        iam_role: spec.iam_role,
        registration_limit: spec.registration_limit,
        registrations_count: 0,
        expiration_ms: spec.expiration_ms,
        created_ms: crate::app::now_ms(),
    };
    (activation, code)
}

pub fn hash_code(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = new_instance_id();
        assert!(fleetrun_core::target::is_instance_id(&id), "{id}");
        let key = new_access_key(KeyKind::Agent, Some(&id), "", 0);
        assert!(key.access_key_id.starts_with("AKFA") && key.access_key_id.len() == 20);
        assert_eq!(key.secret_access_key.len(), 40);
        assert_ne!(new_access_key(KeyKind::Admin, None, "", 0).secret_access_key, key.secret_access_key);
        let (activation, code) = new_activation(ActivationSpec {
            description: String::new(),
            default_instance_name: String::new(),
            iam_role: "r".into(),
            registration_limit: 1,
            expiration_ms: 1,
        });
        assert_eq!(activation.code_sha256, hash_code(&code));
        assert!(code.len() >= 20);
    }
}
