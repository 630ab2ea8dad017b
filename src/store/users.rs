//! Admin users and their sessions. Passwords are kept as argon2 PHC strings; sessions only
//! as the SHA-256 of their token.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    db_run,
    nodes::{now_ms, Origin},
    schema::{sessions, users},
    Store, StoreError,
};

/// An admin user; the password hash never leaves the server.
#[derive(
    Debug, Clone, PartialEq, Insertable, Queryable, Selectable, AsChangeset, Serialize, ToSchema,
)]
#[diesel(table_name = users, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct UserRow {
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    /// `admin` (may change things) or `viewer` (may read).
    #[schema(example = "viewer")]
    pub role: String,
    pub created_ms: i64,
}

impl Store {
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        db_run!(self, |conn| users::table
            .order(users::username)
            .select(UserRow::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }

    pub async fn get_user(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        db_run!(self, |conn| users::table
            .find(username)
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    /// Inserts or replaces a user; the history records the change without the hash.
    pub async fn put_user(
        &self,
        row: &UserRow,
        origin: impl Into<Origin<'_>>,
    ) -> Result<(), StoreError> {
        let before = self.get_user(&row.username).await?;
        db_run!(self, |conn| diesel::insert_into(users::table)
            .values(row)
            .on_conflict(users::username)
            .do_update()
            .set(row)
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.record_change(
            origin.into(),
            &format!("user:{}", row.username),
            before.as_ref(),
            Some(row),
        )
        .await
    }

    /// Deletes a user and ends their sessions; false when there was none.
    pub async fn delete_user(
        &self,
        username: &str,
        origin: impl Into<Origin<'_>>,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_user(username).await? else {
            return Ok(false);
        };
        db_run!(self, |conn| diesel::delete(users::table.find(username))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.end_sessions(username).await?;
        self.record_change(
            origin.into(),
            &format!("user:{username}"),
            Some(&before),
            None,
        )
        .await?;
        Ok(true)
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        db_run!(self, |conn| diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(token_hash),
                sessions::username.eq(username),
                sessions::created_ms.eq(now),
                sessions::expires_ms.eq(expires_ms),
            ))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        // Expired sessions are swept as new ones start; there is no other writer.
        db_run!(self, |conn| diesel::delete(
            sessions::table.filter(sessions::expires_ms.le(now))
        )
        .execute(conn)
        .await
        .map_err(StoreError::from))?;
        Ok(())
    }

    /// The user a live session belongs to.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<UserRow>, StoreError> {
        let now = now_ms();
        let username: Option<String> = db_run!(self, |conn| sessions::table
            .find(token_hash)
            .filter(sessions::expires_ms.gt(now))
            .select(sessions::username)
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))?;
        match username {
            Some(name) => self.get_user(&name).await,
            None => Ok(None),
        }
    }

    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        db_run!(self, |conn| diesel::delete(
            sessions::table.find(token_hash)
        )
        .execute(conn)
        .await
        .map_err(StoreError::from))?;
        Ok(())
    }

    /// Ends every session of a user (deleted, or their password changed).
    pub async fn end_sessions(&self, username: &str) -> Result<(), StoreError> {
        db_run!(self, |conn| diesel::delete(
            sessions::table.filter(sessions::username.eq(username))
        )
        .execute(conn)
        .await
        .map_err(StoreError::from))?;
        Ok(())
    }
}
