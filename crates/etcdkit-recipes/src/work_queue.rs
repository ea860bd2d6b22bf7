//! A FIFO work queue: items are keys under a prefix, taken oldest first, each by exactly
//! one consumer.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit_recipes::work_queue::Queue;
//!
//! let jobs = Queue::new(&client, "queues/jobs");
//! jobs.enqueue("resize image 7").await?;
//! // In any number of consumers:
//! let job = jobs.dequeue().timeout(Duration::from_secs(30)).await?;
//! println!("got {:?}", job.value());
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Keys.** An item is the key `NAME/ID` (a random 64-bit id in hexadecimal, created
//!   only if it does not exist) with the item as its value, under no lease: items
//!   outlive their producers. The order is the keys' creation revision, not their names.
//! - **[`dequeue`](Queue::dequeue)** reads the oldest item and deletes it in a
//!   transaction that holds only while that item is still there unchanged (same mod
//!   revision): of two consumers racing for one item exactly one gets it, the other
//!   takes the next. With no item, it watches the prefix from the revision after its
//!   read, so an item enqueued in between is not missed, and nothing polls.
//! - **Timeout and drop.** The timeout bounds the reads and the waiting, never the
//!   delete that takes an item: a dequeue that timed out ([`ErrorKind::Timeout`]) took
//!   nothing. Dropping a `dequeue()` future while its delete is in flight may lose that
//!   item (deleted, never returned): drop only at an await you control, or use the
//!   timeout.
//! - **Failures.** A delete whose answer is lost (the connection broke) is checked by
//!   reading the item: still there, nothing was taken and the error is returned; gone,
//!   the error ([`ErrorKind::OutcomeUnknown`]) says the item may have been taken by this
//!   call and is not delivered. Items are thus delivered at most once, and exactly once
//!   while the cluster answers.
//! - **Failover.** Reads, watches and enqueues fail over like any other request of the
//!   client. An enqueue whose outcome is unknown may have added the item.
//! - The layout is the Go client's `recipe.Queue` (items under `NAME/`, oldest first by
//!   creation revision), so Go and Rust consumers can share a queue.
//!
//! [`ErrorKind::Timeout`]: etcdkit::ErrorKind::Timeout
//! [`ErrorKind::OutcomeUnknown`]: etcdkit::ErrorKind::OutcomeUnknown

use bytes::Bytes;
use etcdkit::{Client, Result};

pub use crate::bounded::Bounded;
pub use crate::items::Item;
use crate::items::{Items, Order};

/// A FIFO queue named by a key prefix. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    items: Items,
}

impl Queue {
    /// The queue `name` (its items are `name/ID`: give the name without a trailing `/`,
    /// `"jobs"` not `"jobs/"`, which would be the different queue `jobs//`). Every
    /// producer and consumer names the queue the same way; clone a `Queue` to share it.
    pub fn new(client: &Client, name: impl Into<Bytes>) -> Queue {
        Queue {
            items: Items::new(client, name.into(), Order::Fifo),
        }
    }

    /// The prefix of the queue's items (`NAME/`): for reading or watching them, not a
    /// name to pass to [`Queue::new`].
    pub fn prefix(&self) -> &Bytes {
        &self.items.prefix
    }

    /// Adds `value` at the end of the queue and returns the item.
    ///
    /// # Errors
    ///
    /// The client's errors.
    pub async fn enqueue(&self, value: impl Into<Bytes>) -> Result<Item> {
        self.items.put(value.into(), None).await
    }
}

items_consumer!(Queue, next: "the oldest item");
