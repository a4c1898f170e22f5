//! Named cursors in `sync_cursors` (where a pull from WorkOS got to). One row
//! by name: written with the `entity` crate and sea-orm's builder.
use crate::domain::Micros;
use entity::sync_cursor;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

pub async fn get(c: &impl ConnectionTrait, name: &str) -> Result<Option<String>, DbErr> {
    Ok(sync_cursor::Entity::find_by_id(name.to_owned()).one(c).await?.map(|row| row.cursor))
}

pub async fn put(c: &impl ConnectionTrait, name: &str, cursor: &str) -> Result<(), DbErr> {
    let row = sync_cursor::ActiveModel {
        name: Set(name.to_owned()),
        cursor: Set(cursor.to_owned()),
        updated_at: Set(Micros::now().0),
    };
    sync_cursor::Entity::insert(row)
        .on_conflict(
            OnConflict::column(sync_cursor::Column::Name)
                .update_columns([sync_cursor::Column::Cursor, sync_cursor::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(c)
        .await
        .map(|_| ())
}
