//! The one door for a seat change: the locks a seat-changing transaction
//! takes, in the one order every path takes them (the organization's group,
//! then its plan), and the end that writes the billing outbox for every plan
//! it locked (CONTRACT 7: in the same transaction as the change).
//!
//! Operator commands, a resync, a hold's preview and the billing backfill open
//! a `PlanChange` for one plan; the reconciler's batch keeps a `Locks` for the
//! many plans it touches (`reconcile::Scope`) and ends through
//! `Locks::announce`. Nothing else locks a plan or writes seat messages: a
//! test reads `src/` for it (`tests/api/architecture.rs`).
use crate::{
    billing::outbox,
    domain::{Micros, OrganizationId, PlanId, order_key},
    inbox::queue,
    store::plans::{self, Plan},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::collections::HashMap;

/// The plans one transaction has locked, in the order it locked them.
#[derive(Debug, Default)]
pub struct Locks {
    locked: Vec<PlanId>,
}

impl Locks {
    fn record(&mut self, plan: &Plan) {
        if !self.locked.contains(&plan.id) {
            self.locked.push(plan.id.clone());
        }
    }

    /// The plan, locked for the rest of the transaction.
    pub async fn plan(&mut self, c: &impl ConnectionTrait, id: &PlanId) -> Result<Option<Plan>, DbErr> {
        let plan = plans::lock_by_id(c, id).await?;
        plan.iter().for_each(|p| self.record(p));
        Ok(plan)
    }

    /// The organization's plan, locked.
    pub async fn plan_of(&mut self, c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Option<Plan>, DbErr> {
        let plan = plans::lock_by_org(c, org).await?;
        plan.iter().for_each(|p| self.record(p));
        Ok(plan)
    }

    /// Several organizations' plans, locked in one statement.
    pub async fn plans_of(&mut self, c: &impl ConnectionTrait, orgs: &[&OrganizationId]) -> Result<Vec<Plan>, DbErr> {
        let found = plans::lock_by_orgs(c, orgs).await?;
        found.iter().for_each(|p| self.record(p));
        Ok(found)
    }

    /// Writes each locked plan's seat message for its changes since it was
    /// last announced (nothing for a plan whose seats did not change); a
    /// plan's message joins `traces`' trace for it, if any.
    pub async fn announce(
        &self,
        c: &impl ConnectionTrait,
        now: Micros,
        traces: &HashMap<PlanId, String>,
    ) -> Result<usize, DbErr> {
        outbox::announce_traced(c, &self.locked, now, traces).await
    }
}

/// One plan's change, as one transaction holding its group's and its lock.
pub struct PlanChange {
    txn: DatabaseTransaction,
    plan: Plan,
    locks: Locks,
}

impl PlanChange {
    /// Locks the plan's organization group (when it has an organization) and
    /// then the plan. None when there is no such plan.
    pub async fn begin(db: &DatabaseConnection, id: &PlanId) -> Result<Option<Self>, DbErr> {
        // Its organization, read first to know which group to lock; checked
        // again under the plan's lock (an organization is set once, but a
        // plan could be deleted and its id never comes back).
        loop {
            let Some(found) = plans::find(db, id).await? else { return Ok(None) };
            let txn = Self::open(db, found.organization_id.as_ref()).await?;
            let mut locks = Locks::default();
            let Some(plan) = locks.plan(&txn, id).await? else { return Ok(None) };
            if plan.organization_id == found.organization_id {
                return Ok(Some(Self { txn, plan, locks }));
            }
            txn.rollback().await?;
        }
    }

    /// The organization's plan, its group locked first. None when the
    /// organization has no plan.
    pub async fn begin_for(db: &DatabaseConnection, org: &OrganizationId) -> Result<Option<Self>, DbErr> {
        let txn = Self::open(db, Some(org)).await?;
        let mut locks = Locks::default();
        match locks.plan_of(&txn, org).await? {
            Some(plan) => Ok(Some(Self { txn, plan, locks })),
            None => Ok(None),
        }
    }

    async fn open(db: &DatabaseConnection, org: Option<&OrganizationId>) -> Result<DatabaseTransaction, DbErr> {
        let txn = db.begin().await?;
        crate::db::plan_each_statement(&txn).await?;
        if let Some(org) = org {
            queue::lock_group(&txn, &order_key::of_organization(org)).await?;
        }
        Ok(txn)
    }

    /// The plan as locked (and as the caller has changed it since).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn plan_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }

    /// The transaction, for the change's own statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Writes the seat message for the changes so far now, before what the
    /// caller writes next (a Stripe resend that must come after it).
    pub async fn announce(&self, now: Micros) -> Result<(), DbErr> {
        self.locks.announce(&self.txn, now, &HashMap::new()).await.map(|_| ())
    }

    /// Writes the seat message for whatever changed and commits.
    pub async fn commit(self, now: Micros) -> Result<(), DbErr> {
        self.announce(now).await?;
        self.txn.commit().await
    }

    /// Nothing of it happens (a dry run, a preview, a refusal).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}
