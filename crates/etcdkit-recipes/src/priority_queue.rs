//! A priority queue: items are taken lowest priority number first, oldest first within
//! one priority, each by exactly one consumer.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit_recipes::priority_queue::PriorityQueue;
//!
//! let jobs = PriorityQueue::new(&client, "queues/urgent");
//! jobs.enqueue("rebuild index", 10).await?;
//! jobs.enqueue("page the on-call", 0).await?; // 0 goes first
//! let next = jobs.dequeue().timeout(Duration::from_secs(30)).await?;
//! assert_eq!(next.priority(), Some(0));
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Keys.** An item of priority `P` is the key `NAME/PPPPP/ID`: the priority
//!   zero-padded to five digits (so the key order is the priority order; `u16::MAX` is
//!   65535) and a random 64-bit id in hexadecimal, created only if it does not exist,
//!   under no lease.
//! - **[`dequeue`](PriorityQueue::dequeue)** finds the lowest priority that has an item
//!   (the smallest key), takes that priority's oldest item (by creation revision), and
//!   deletes it in a transaction that holds only while it is still there unchanged:
//!   exactly one of two racing consumers gets it. A key under the prefix that does not
//!   have this layout is taken where it sorts, as it is (its item has no
//!   [`priority`](Item::priority)). With no item, it watches the prefix from the
//!   revision after its read: nothing is missed, nothing polls.
//! - **Timeout, drop and failures** are those of the [FIFO queue](crate::work_queue): a
//!   timed-out dequeue took nothing; a dequeue dropped during its delete may lose that
//!   item; a delete whose answer is lost is checked, and reported as
//!   [`ErrorKind::OutcomeUnknown`] when the item may have been taken by the call.
//! - An item enqueued with a lower priority number while a consumer is taking an older,
//!   higher one may come second: the order holds among the items present when the
//!   consumer reads.
//!
//! [`ErrorKind::OutcomeUnknown`]: etcdkit::ErrorKind::OutcomeUnknown

use bytes::Bytes;
use etcdkit::{Client, Result};

pub use crate::bounded::Bounded;
pub use crate::items::Item;
use crate::items::{Items, Order};

/// A priority queue named by a key prefix. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PriorityQueue {
    items: Items,
}

impl PriorityQueue {
    /// The priority queue `name` (its items are `name/PPPPP/ID`; give the name without a
    /// trailing `/`, as for [`Queue::new`](crate::work_queue::Queue::new)).
    pub fn new(client: &Client, name: impl Into<Bytes>) -> PriorityQueue {
        PriorityQueue {
            items: Items::new(client, name.into(), Order::Priority),
        }
    }

    /// The prefix of the queue's items (`NAME/`).
    pub fn prefix(&self) -> &Bytes {
        &self.items.prefix
    }

    /// Adds `value` with `priority` (lower numbers are taken first) and returns the
    /// item.
    ///
    /// # Errors
    ///
    /// The client's errors.
    pub async fn enqueue(&self, value: impl Into<Bytes>, priority: u16) -> Result<Item> {
        self.items.put(value.into(), Some(priority)).await
    }
}

items_consumer!(PriorityQueue, next: "the item of the lowest priority number (the oldest of that priority)");
