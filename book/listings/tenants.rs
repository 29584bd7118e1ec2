//! The book's tenants chapter: one log for many tenants, commands bound to a tenant, a view
//! kept per tenant and queries scoped to one.

// ANCHOR: view
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};

use bank::{AccountOpened, MoneyDeposited};

/// One row per tenant and account: the same account id in two tenants is two rows.
pub struct TenantBalances;

#[projection(name = "bank.tenant_balances", version = 1)]
impl TenantBalances {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS tenant_balances (
                 tenant TEXT NOT NULL, account_id TEXT NOT NULL, balance BIGINT NOT NULL,
                 PRIMARY KEY (tenant, account_id))",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM tenant_balances")
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    /// `meta` is the stored event: its `tenant` says whose account this is.
    #[on]
    async fn opened(
        &self,
        event: &AccountOpened,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO tenant_balances (tenant, account_id, balance) VALUES ($1, $2, 0)")
            .bind(&meta.tenant)
            .bind(&event.account_id)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn deposited(
        &self,
        event: &MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE tenant_balances SET balance = balance + $3 WHERE tenant = $1 AND account_id = $2",
        )
        .bind(&meta.tenant)
        .bind(&event.account_id)
        .bind(event.amount)
        .execute(&mut *db)
        .await?;
        Ok(())
    }

    /// The query reads the rows of the tenant it is asked for, and no other's.
    #[query]
    async fn balance(
        &self,
        query: &TenantBalanceOf,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let tenant = db.tenant().as_str().to_owned();
        db.fetch_optional(
            sqlx::query_scalar("SELECT balance FROM tenant_balances WHERE tenant = $1 AND account_id = $2")
                .bind(tenant)
                .bind(&query.account_id),
        )
        .await
    }
}

/// The balance of one of the asking tenant's accounts.
#[derive(Query)]
#[query(output = Option<i64>, read_model = TenantBalances)]
pub struct TenantBalanceOf {
    pub account_id: String,
}
// ANCHOR_END: view

// ANCHOR: service
/// One request of tenant `tenant`: its command runs on its own streams, and its query reads its
/// own rows, once the view includes the command.
pub async fn deposit_for(
    app: &Chronicle<PostgresStore>,
    read_side: &ReadSide<PostgresStore, PostgresReadStore>,
    tenant: &str,
    account_id: &str,
    amount: i64,
) -> Result<Option<i64>, Box<dyn std::error::Error + Send + Sync>> {
    let tenant = Tenant::new(tenant)?; // refuses anything but plain ids
    let receipt = app
        .for_tenant(tenant.clone())
        .execute(bank::Deposit {
            account_id: account_id.to_owned(),
            amount,
        })
        .await?;
    let query = TenantBalanceOf {
        account_id: account_id.to_owned(),
    };
    let balance = read_side
        .for_tenant(tenant)
        .query_consistent(
            &TenantBalances,
            &query,
            &receipt,
            std::time::Duration::from_secs(5),
        )
        .await?;
    Ok(balance)
}
// ANCHOR_END: service

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chronicle::{OnPoison, RetryPolicy};
    use chronicle_tests::conformance::write::open;
    use chronicle_tests::support;
    use uuid::Uuid;

    use super::*;

    /// Refuses deposits of 13: a poison event for the dead-letter part of the test.
    struct Picky;

    #[derive(Debug, thiserror::Error)]
    #[error("13 is refused")]
    struct Thirteen;

    #[projection(name = "test.picky", version = 1)]
    impl Picky {
        #[reset]
        async fn reset(&self, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
            Ok(())
        }

        #[on]
        async fn deposited(&self, event: &MoneyDeposited, _db: &mut PgConnection) -> Result<(), Thirteen> {
            if event.amount == 13 {
                return Err(Thirteen);
            }
            Ok(())
        }
    }

    fn tenant(id: &str) -> Tenant {
        Tenant::new(id).expect("plain")
    }

    /// Two tenants with the same account ids and the same commands (command ids too) never see
    /// each other's events, views or dead letters.
    #[tokio::test]
    async fn two_tenants_never_see_each_others_events_views_or_dead_letters() {
        let store = support::postgres_store().await;
        let read = support::postgres_read_store_beside(&store).await;
        let app = Chronicle::new(store.clone());
        let (acme, globex) = (app.for_tenant(tenant("acme")), app.for_tenant(tenant("globex")));
        let opened_id = Uuid::new_v4();
        for handle in [&acme, &globex] {
            handle
                .execute_with(open("a-1"), CommandContext::new().command_id(opened_id))
                .await
                .expect("opened in each tenant");
        }
        acme.execute(bank::Deposit {
            account_id: "a-1".into(),
            amount: 13,
        })
        .await
        .expect("acme's poison deposit");
        globex
            .execute(open("only-globex"))
            .await
            .expect("an account of globex alone");

        let balances = ProjectionRunner::new(store.clone(), read.clone(), TenantBalances).spawn();
        let picky = ProjectionRunner::new(store.clone(), read.clone(), Picky)
            .retry(RetryPolicy::new(2, Duration::from_millis(5)))
            .on_poison(OnPoison::DeadLetter)
            .spawn();
        let read_side = ReadSide::new(store.clone(), read.clone());
        assert_eq!(
            deposit_for(&app, &read_side, "globex", "a-1", 5)
                .await
                .expect("globex"),
            Some(5),
            "globex's a-1 holds globex's deposit alone"
        );
        assert_eq!(
            deposit_for(&app, &read_side, "acme", "a-1", 70)
                .await
                .expect("acme"),
            Some(83)
        );
        let ask = |tenant: Option<&str>, account: &str| {
            let side = match tenant {
                Some(id) => read_side.for_tenant(Tenant::new(id).expect("plain")),
                None => read_side.clone(),
            };
            let query = TenantBalanceOf {
                account_id: account.into(),
            };
            async move { side.query(&TenantBalances, &query).await.expect("query") }
        };
        assert_eq!(ask(Some("acme"), "only-globex").await, None);
        assert_eq!(ask(Some("globex"), "only-globex").await, Some(0));
        assert_eq!(ask(None, "a-1").await, None, "no tenant has no accounts");
        assert!(deposit_for(&app, &read_side, "acme'; --", "a-1", 1)
            .await
            .is_err());

        let last = store
            .read_all(0, 100)
            .await
            .expect("log")
            .last()
            .expect("events")
            .position;
        picky
            .wait_for(Some(last), Duration::from_secs(10))
            .await
            .expect("picky caught up");
        let letters = |tenant: Option<&str>| {
            let side = match tenant {
                Some(id) => read_side.for_tenant(Tenant::new(id).expect("plain")),
                None => read_side.clone(),
            };
            async move { side.dead_letters::<Picky>().await.expect("dead letters").len() }
        };
        assert_eq!(letters(Some("acme")).await, 1, "acme's poison deposit");
        assert_eq!(letters(Some("globex")).await, 0, "none of globex's");
        assert_eq!(letters(None).await, 1, "an operator sees every tenant's");
        balances.stop().await.into_result().expect("a clean stop");
        picky.stop().await.into_result().expect("a clean stop");
        support::drop_schema(store.pool(), store.schema()).await;
    }
}
