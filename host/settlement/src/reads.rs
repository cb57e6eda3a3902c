//! Typed reads of every settlement account, decoded with the interface's
//! layouts (size and discriminator checked).

use kiln_settlement_interface::pda::{config_address, job_address, node_address, treasury_address};
use kiln_settlement_interface::state::{Config, Job, Node, State, Treasury};
use solana_address::Address;

use crate::chain::Chain;
use crate::client::Settlement;
use crate::error::{Error, Result};

/// A state type's name, for errors.
pub trait Named: State {
    /// `Config`, `Node`, `Job` or `Treasury`.
    const NAME: &'static str;
}

impl Named for Config {
    const NAME: &'static str = "Config";
}
impl Named for Node {
    const NAME: &'static str = "Node";
}
impl Named for Job {
    const NAME: &'static str = "Job";
}
impl Named for Treasury {
    const NAME: &'static str = "Treasury";
}

impl<C: Chain> Settlement<C> {
    /// The account at `address` decoded as `T`; `Ok(None)` when there is none.
    pub fn try_read<T: Named>(&self, address: &Address) -> Result<Option<T>> {
        let account = self.chain().accounts(std::slice::from_ref(address))?;
        let Some(Some(account)) = account.into_iter().next() else {
            return Ok(None);
        };
        T::unpack(&account.data)
            .map(Some)
            .map_err(|error| Error::InvalidAccount {
                kind: T::NAME,
                address: *address,
                error,
            })
    }

    /// The account at `address` decoded as `T`; [`Error::AccountNotFound`] when there is none.
    pub fn read<T: Named>(&self, address: &Address) -> Result<T> {
        self.try_read(address)?.ok_or(Error::AccountNotFound {
            kind: T::NAME,
            address: *address,
        })
    }

    /// The config.
    pub fn config(&self) -> Result<Config> {
        self.read(&config_address().0)
    }

    /// The treasury.
    pub fn treasury(&self) -> Result<Treasury> {
        self.read(&treasury_address().0)
    }

    /// `operator`'s node.
    pub fn node(&self, operator: &Address) -> Result<Node> {
        self.read(&node_address(operator).0)
    }

    /// The job at `address`.
    pub fn job(&self, address: &Address) -> Result<Job> {
        self.read(address)
    }

    /// `renter`'s job `job_id` and its address.
    pub fn job_of(&self, renter: &Address, job_id: u64) -> Result<(Address, Job)> {
        let address = job_address(renter, job_id).0;
        Ok((address, self.job(&address)?))
    }

    /// Lamports at `address`.
    pub fn balance(&self, address: &Address) -> Result<u64> {
        self.chain().balance(address)
    }

    /// The cluster clock's unix time.
    pub fn now(&self) -> Result<i64> {
        self.chain().now()
    }
}
