//! API keys in the database: only a short prefix (to find the key and to show people) and a
//! hash of the whole secret are kept. Revoking keeps the row, so old request records still
//! name their key.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::{db_run, nodes::Origin, schema::api_keys, Store, StoreError};

/// An API key as stored; the secret itself is never stored or shown again.
#[derive(
    Debug, Clone, PartialEq, Insertable, Queryable, Selectable, AsChangeset, Serialize, ToSchema,
)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// SHA-256 of the secret, hex; never leaves the server.
    #[serde(skip)]
    pub hash: String,
    pub enabled: bool,
    pub expires_ms: Option<i64>,
    /// A JSON array of model names; `None`: every model.
    #[serde(serialize_with = "json_text")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_models: Option<String>,
    pub rpm_limit: Option<i32>,
    pub tpm_limit: Option<i32>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// Shows a JSON column as JSON, not as a string holding JSON.
fn json_text<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let value = text
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    value.serialize(s)
}

impl KeyRow {
    /// The models this key may use; `None`: all.
    pub fn models(&self) -> Option<Vec<String>> {
        serde_json::from_str(self.allowed_models.as_deref()?).ok()
    }
}

impl Store {
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        db_run!(self, |conn| api_keys::table
            .order(api_keys::created_ms)
            .select(KeyRow::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }

    pub async fn get_key(&self, id: &str) -> Result<Option<KeyRow>, StoreError> {
        db_run!(self, |conn| api_keys::table
            .find(id)
            .select(KeyRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    /// Inserts a new key, or replaces the settings of one (its secret never changes). The
    /// history keeps the metadata, never the hash.
    pub async fn put_key(
        &self,
        row: &KeyRow,
        origin: impl Into<Origin<'_>>,
    ) -> Result<(), StoreError> {
        let before = self.get_key(&row.id).await?;
        db_run!(self, |conn| diesel::insert_into(api_keys::table)
            .values(row)
            .on_conflict(api_keys::id)
            .do_update()
            .set(row)
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.record_change(
            origin.into(),
            &format!("key:{}", row.id),
            before.as_ref(),
            Some(row),
        )
        .await
    }
}
