//! The read-only statements queries may run, for the SQL backends.

/// Implements [`Fetch`](crate::Fetch) for sqlx's three statement types of one database: invoked
/// once by each SQL backend.
macro_rules! fetch_impls {
    ($db:ty, $connection:ty, $row:ty, $arguments:ty) => {
        impl<'q> $crate::core::query::sealed::Sealed for sqlx::query::Query<'q, $db, $arguments> {}

        impl<'q> $crate::core::query::Fetch<$connection> for sqlx::query::Query<'q, $db, $arguments> {
            type Row = $row;
            type Error = sqlx::Error;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Vec<$row>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::Query::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Option<$row>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::Query::fetch_optional(self, connection))
            }

            fn fetch_one<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<$row, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::Query::fetch_one(self, connection))
            }
        }

        impl<'q, O> $crate::core::query::sealed::Sealed for sqlx::query::QueryAs<'q, $db, O, $arguments> {}

        impl<'q, O> $crate::core::query::Fetch<$connection> for sqlx::query::QueryAs<'q, $db, O, $arguments>
        where
            O: Send + Unpin + for<'r> sqlx::FromRow<'r, $row>,
        {
            type Row = O;
            type Error = sqlx::Error;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Vec<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryAs::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Option<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryAs::fetch_optional(self, connection))
            }

            fn fetch_one<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<O, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryAs::fetch_one(self, connection))
            }
        }

        impl<'q, O> $crate::core::query::sealed::Sealed for sqlx::query::QueryScalar<'q, $db, O, $arguments> {}

        impl<'q, O> $crate::core::query::Fetch<$connection> for sqlx::query::QueryScalar<'q, $db, O, $arguments>
        where
            O: Send + Unpin,
            (O,): for<'r> sqlx::FromRow<'r, $row>,
        {
            type Row = O;
            type Error = sqlx::Error;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Vec<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryScalar::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<Option<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryScalar::fetch_optional(self, connection))
            }

            fn fetch_one<'c>(
                self,
                connection: &'c mut $connection,
            ) -> $crate::core::future::BoxFuture<'c, Result<O, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryScalar::fetch_one(self, connection))
            }
        }
    };
}

pub(crate) use fetch_impls;
