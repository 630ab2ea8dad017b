//! The API keys a replica accepts, held in memory so checking a key costs a hash and a map
//! lookup, never a database query. The ring reloads from the database after every change made
//! through this replica and every few seconds (for changes made elsewhere); a key's usage
//! counters survive reloads.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;

use super::{
    limits::{Refusal, Usage},
    secrets,
};
use crate::store::{keys::KeyRow, nodes::now_ms, Store, StoreError};

/// Every key starts with this, so people and secret scanners can tell what it is.
pub const KEY_TAG: &str = "drv_";
/// The part of a key used to find it (and shown in lists): the tag and 8 hex digits.
pub const PREFIX_LEN: usize = KEY_TAG.len() + 8;
/// How often the ring rereads the database for changes made by other replicas.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// A key as the request path checks it.
#[derive(Debug)]
pub struct ClientKey {
    pub id: Arc<str>,
    digest: String,
    enabled: bool,
    revoked: bool,
    expires_ms: Option<i64>,
    /// Allowed models, normalised (`name:tag`); `None`: all.
    models: Option<HashSet<String>>,
    rpm: Option<u32>,
    tpm: Option<u32>,
    pub usage: Arc<Usage>,
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("missing API key: send Authorization: Bearer drv_… (or x-api-key)")]
    Missing,
    #[error("invalid API key")]
    Invalid,
    #[error("API key has been revoked")]
    Revoked,
    #[error("API key is disabled")]
    Disabled,
    #[error("API key has expired")]
    Expired,
    #[error("API key may not use model \"{0}\"")]
    ModelNotAllowed(String),
    #[error("API key is over its limit of {} {} per minute", .0.per_minute, .0.limit.as_str())]
    RateLimited(Refusal),
}

/// `llama3` and `llama3:latest` are one model, as Ollama treats them.
fn normalise(model: &str) -> String {
    if model.contains(':') {
        model.to_owned()
    } else {
        format!("{model}:latest")
    }
}

impl ClientKey {
    fn from_row(row: &KeyRow, usage: Arc<Usage>) -> ClientKey {
        let limit = |l: Option<i32>| l.and_then(|l| u32::try_from(l).ok());
        ClientKey {
            id: row.id.as_str().into(),
            digest: row.hash.clone(),
            enabled: row.enabled,
            revoked: row.revoked_ms.is_some(),
            expires_ms: row.expires_ms,
            models: row
                .models()
                .map(|models| models.iter().map(|m| normalise(m)).collect()),
            rpm: limit(row.rpm_limit),
            tpm: limit(row.tpm_limit),
            usage,
        }
    }

    /// May this key ask for `model` now? Counts the request against its limits if so.
    pub fn admit(&self, model: &str) -> Result<(), KeyError> {
        if let Some(models) = &self.models {
            if !models.contains(&normalise(model)) {
                return Err(KeyError::ModelNotAllowed(model.to_owned()));
            }
        }
        self.usage
            .admit(now_ms(), self.rpm, self.tpm)
            .map_err(KeyError::RateLimited)
    }

    /// Adds a finished request's tokens to the key's consumption.
    pub fn spent(&self, tokens: u64) {
        if self.tpm.is_some() && tokens > 0 {
            self.usage.add_tokens(now_ms(), tokens);
        }
    }
}

pub struct KeyRing {
    store: Store,
    by_prefix: ArcSwap<HashMap<String, Arc<ClientKey>>>,
}

impl KeyRing {
    /// A ring holding every key in the database.
    pub async fn load(store: Store) -> Result<Arc<KeyRing>, StoreError> {
        let ring = Arc::new(KeyRing {
            store,
            by_prefix: ArcSwap::from_pointee(HashMap::new()),
        });
        ring.reload().await?;
        Ok(ring)
    }

    /// Rereads the keys; counters of keys that stay carry over.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let rows = self.store.list_keys().await?;
        let old = self.by_prefix.load();
        let usage_of = |id: &str| {
            old.values()
                .find(|k| &*k.id == id)
                .map(|k| k.usage.clone())
                .unwrap_or_default()
        };
        let keys = rows
            .iter()
            .map(|row| {
                let key = ClientKey::from_row(row, usage_of(&row.id));
                (row.prefix.clone(), Arc::new(key))
            })
            .collect();
        self.by_prefix.store(Arc::new(keys));
        Ok(())
    }

    /// Reloads every `RELOAD_EVERY` until the process ends; a failed read keeps the last keys.
    pub fn watch(self: &Arc<Self>) {
        let ring = Arc::downgrade(self);
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ring) = ring.upgrade() else { return };
                if let Err(error) = ring.reload().await {
                    tracing::warn!(%error, "cannot reload API keys; keeping the last ones");
                }
            }
        });
    }

    /// What this replica consumed per limited key since the last call: `(key id, window
    /// start, requests, tokens)`, for the peers.
    pub fn unsent(&self) -> Vec<(Arc<str>, i64, f64, f64)> {
        self.by_prefix
            .load()
            .values()
            .filter(|k| k.rpm.is_some() || k.tpm.is_some())
            .filter_map(|k| {
                let (start, requests, tokens) = k.usage.take_unsent()?;
                Some((k.id.clone(), start, requests, tokens))
            })
            .collect()
    }

    /// Adds a peer's consumption of key `id`.
    pub fn add_remote(&self, id: &str, start_ms: i64, requests: f64, tokens: f64) {
        if let Some(key) = self.by_prefix.load().values().find(|k| &*k.id == id) {
            key.usage.add_remote(now_ms(), start_ms, requests, tokens);
        }
    }

    /// The key a client sent, if it is valid now. The digest is compared in constant time;
    /// the secret itself is never logged.
    pub fn verify(&self, secret: Option<&str>) -> Result<Arc<ClientKey>, KeyError> {
        let secret = secret.ok_or(KeyError::Missing)?;
        let prefix = secret.get(..PREFIX_LEN).ok_or(KeyError::Invalid)?;
        let keys = self.by_prefix.load();
        let key = keys.get(prefix).ok_or(KeyError::Invalid)?;
        if !secrets::constant_time_eq(secrets::digest(secret).as_bytes(), key.digest.as_bytes()) {
            return Err(KeyError::Invalid);
        }
        if key.revoked {
            return Err(KeyError::Revoked);
        }
        if !key.enabled {
            return Err(KeyError::Disabled);
        }
        if key.expires_ms.is_some_and(|at| at <= now_ms()) {
            return Err(KeyError::Expired);
        }
        Ok(key.clone())
    }
}

/// A new key's secret and the row that stores it.
pub fn mint(name: String) -> Result<(String, KeyRow), getrandom::Error> {
    let secret = secrets::generate(KEY_TAG)?;
    let row = KeyRow {
        id: secrets::random_id()?,
        name,
        prefix: secret[..PREFIX_LEN].to_owned(),
        hash: secrets::digest(&secret),
        enabled: true,
        expires_ms: None,
        allowed_models: None,
        rpm_limit: None,
        tpm_limit: None,
        created_ms: now_ms(),
        revoked_ms: None,
    };
    Ok((secret, row))
}
