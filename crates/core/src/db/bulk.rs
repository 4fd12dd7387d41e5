//! Bulk loads into a table that is small next to what is being loaded (the benchmark tenant on a fresh
//! install). PostgreSQL builds an index from sorted data, and validates a foreign key with one join,
//! several times faster than it maintains them row by row: a million demo messages took 39 s into the
//! indexed table and 18 s with its secondary indexes and foreign keys set aside and rebuilt, the way
//! `pg_restore` loads. Everything happens in the caller's transaction, so a failed load leaves the
//! schema exactly as it was; the table is locked against every other session meanwhile.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::Result;

/// The secondary indexes and foreign keys of a table, set aside for a load.
#[must_use = "restore the indexes and keys before committing"]
pub struct Deferred {
    /// Index definitions first, then the keys (whose validation may use the other tables' indexes).
    restore: Vec<String>,
}

/// How many rows `table` holds, as the planner last estimated (0 when it was never analysed).
pub async fn estimated_rows(conn: &mut PgConnection, table: &str) -> Result<f64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT GREATEST(reltuples, 0)::float8 AS "rows!" FROM pg_class WHERE oid = $1::text::regclass"#,
        table
    )
    .fetch_one(conn)
    .await?)
}

/// Drops the foreign keys of `table` and the indexes that back no constraint (its primary key and
/// unique constraints other tables may reference stay), remembering their definitions.
pub async fn defer_indexes_and_keys(conn: &mut PgConnection, table: &str) -> Result<Deferred> {
    let set_aside = sqlx::query!(
        r#"SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS "drop!",
                  format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                         pg_get_constraintdef(oid)) AS "restore!",
                  1 AS "restore_order!"
           FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'f'
           UNION ALL
           SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 0
           FROM pg_index i
           WHERE i.indrelid = $1::text::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           ORDER BY 3"#,
        table
    )
    .fetch_all(&mut *conn)
    .await?;
    // The statements come from the catalog (`format` with `%I`/`%s` of regclass names), not from input.
    for statement in &set_aside {
        sqlx::raw_sql(AssertSqlSafe(statement.drop.as_str())).execute(&mut *conn).await?;
    }
    Ok(Deferred { restore: set_aside.into_iter().map(|s| s.restore).collect() })
}

impl Deferred {
    /// Rebuilds the indexes and re-adds (and so validates) the keys.
    pub async fn restore(self, conn: &mut PgConnection) -> Result<()> {
        // Index builds sort in memory rather than in temporary files.
        sqlx::query!(r#"SELECT set_config('maintenance_work_mem', '512MB', true) AS "set!""#)
            .fetch_one(&mut *conn)
            .await?;
        for statement in &self.restore {
            sqlx::raw_sql(AssertSqlSafe(statement.as_str())).execute(&mut *conn).await?;
        }
        Ok(())
    }
}
