//! What the FIFO queue and the priority queue share: items as keys under a prefix, put
//! with a unique name, and taken by exactly one consumer with a delete that holds only
//! while the item is still there as it was read.

use std::fmt;

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp, Delete, Put, SortOrder, SortTarget};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, KeyValue, Result, Revision};

use crate::bounded::Deadline;
use crate::keys::{count_under, join};
use crate::watch_for::{Range, next_event};

/// How many unique names an enqueue tries before giving up (a clash needs two random
/// 64-bit names to be equal: more than one attempt is already very unlikely).
const PUT_ATTEMPTS: u32 = 3;

/// The width of a zero-padded priority in a priority queue's keys (`u16::MAX` is 65535).
pub(crate) const PRIORITY_DIGITS: usize = 5;

/// An item taken from a queue.
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    key: Bytes,
    value: Bytes,
    create_revision: Revision,
    priority: Option<u16>,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("value", &String::from_utf8_lossy(&self.value))
            .field("create_revision", &self.create_revision)
            .field("priority", &self.priority)
            .finish()
    }
}

impl Item {
    /// The item's key (deleted by now, for an item taken from the queue).
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The item's value.
    pub fn value(&self) -> &Bytes {
        &self.value
    }

    /// The revision at which the item was enqueued: the queue's order (within one
    /// priority, for a priority queue).
    pub fn create_revision(&self) -> Revision {
        self.create_revision
    }

    /// The item's priority, for an item of a priority queue whose key has the priority
    /// queue's layout; `None` otherwise.
    pub fn priority(&self) -> Option<u16> {
        self.priority
    }

    /// The value, consumed.
    pub fn into_value(self) -> Bytes {
        self.value
    }
}

/// The order items are taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// The oldest item first.
    Fifo,
    /// The lowest priority first (the smallest key), the oldest first within one.
    Priority,
}

/// The items under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Items {
    pub client: Client,
    /// `NAME/`.
    pub prefix: Bytes,
    order: Order,
}

impl Items {
    pub fn new(client: &Client, name: Bytes, order: Order) -> Items {
        Items {
            client: client.clone(),
            prefix: join(&name, b"/"),
            order,
        }
    }

    /// The prefix of the priority `priority`'s items: `NAME/PPPPP/`.
    fn bucket(&self, priority: u16) -> Bytes {
        join(
            &self.prefix,
            format!("{priority:0PRIORITY_DIGITS$}/").as_bytes(),
        )
    }

    /// Puts `value` as a new item (with `priority` in a priority queue) under a unique
    /// name, and returns it.
    ///
    /// # Errors
    ///
    /// The client's; [`ErrorKind::AlreadyExists`] when every name tried was taken.
    pub async fn put(&self, value: Bytes, priority: Option<u16>) -> Result<Item> {
        let under = match priority {
            Some(p) => self.bucket(p),
            None => self.prefix.clone(),
        };
        for _ in 0..PUT_ATTEMPTS {
            // The order is by creation revision, not by name: the name only has to be
            // unique, and the put checks that it is.
            let key = join(&under, format!("{:016x}", fastrand::u64(..)).as_bytes());
            let response = self
                .client
                .kv()
                .txn()
                .when([Compare::create_revision(
                    key.clone(),
                    CompareOp::Equal,
                    Revision(0),
                )])
                .and_then([Put::new(key.clone(), value.clone())])
                .await?;
            if response.succeeded() {
                return Ok(Item {
                    key,
                    value,
                    create_revision: response.header().revision(),
                    priority,
                });
            }
        }
        Err(Error::new(
            ErrorKind::AlreadyExists,
            "enqueue: every unique name tried was taken",
        ))
    }

    /// The next item to take, and the revision it was seen at.
    async fn first(&self) -> Result<(Option<KeyValue>, Revision)> {
        let oldest = |prefix: Bytes| {
            self.client
                .kv()
                .get(prefix)
                .prefix()
                .sort(SortTarget::Create, SortOrder::Ascend)
                .limit(1)
        };
        match self.order {
            Order::Fifo => {
                let response = oldest(self.prefix.clone()).await?;
                let seen_at = response.header().revision();
                Ok((response.into_kvs().into_iter().next(), seen_at))
            }
            Order::Priority => loop {
                let response = self
                    .client
                    .kv()
                    .get(self.prefix.clone())
                    .prefix()
                    .sort(SortTarget::Key, SortOrder::Ascend)
                    .limit(1)
                    .await?;
                let seen_at = response.header().revision();
                let Some(smallest) = response.into_kvs().into_iter().next() else {
                    return Ok((None, seen_at));
                };
                let Some(priority) = self.priority_of(smallest.key()) else {
                    // Not of our layout: taken where it sorts, as it is.
                    return Ok((Some(smallest), seen_at));
                };
                // The smallest key is in the lowest priority; its oldest item goes first
                // (names within a priority are random, so the key order is not FIFO).
                let response = oldest(self.bucket(priority)).await?;
                let seen_at = response.header().revision();
                if let Some(kv) = response.into_kvs().into_iter().next() {
                    return Ok((Some(kv), seen_at));
                }
                // That priority was emptied meanwhile by other consumers: items of other
                // priorities may be left, so this is no reason to wait. Look again.
            },
        }
    }

    /// The priority in a key of the layout `NAME/PPPPP/...`.
    fn priority_of(&self, key: &[u8]) -> Option<u16> {
        let rest = key.strip_prefix(self.prefix.as_ref())?;
        let digits = rest.get(..PRIORITY_DIGITS)?;
        if rest.get(PRIORITY_DIGITS) != Some(&b'/') || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// Deletes `kv` if it is still there as it was read: exactly one taker succeeds.
    ///
    /// # Errors
    ///
    /// The client's. After an unknown outcome the item is read again: still there, the
    /// error is returned as it is (nothing was taken); gone, the error says the item
    /// may have been taken by this call and is lost.
    async fn take(&self, kv: &KeyValue) -> Result<bool> {
        let still_there =
            Compare::mod_revision(kv.key().clone(), CompareOp::Equal, kv.mod_revision());
        match self
            .client
            .kv()
            .txn()
            .when([still_there])
            .and_then([Delete::new(kv.key().clone())])
            .await
        {
            Ok(response) => Ok(response.succeeded()),
            Err(e) if e.is_outcome_unknown() => {
                let now = self.client.kv().get(kv.key().clone()).await?;
                let unchanged = now
                    .first()
                    .is_some_and(|k| k.mod_revision() == kv.mod_revision());
                if unchanged {
                    Err(e)
                } else {
                    Err(Error::new(
                        ErrorKind::OutcomeUnknown,
                        format!(
                            "dequeue: the item {} is gone, maybe taken by this dequeue \
                             whose delete lost its answer ({e}); it is not delivered",
                            String::from_utf8_lossy(kv.key())
                        ),
                    ))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the next item, waiting for one (until the deadline) while there is none.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the deadline passes before an item was taken, and
    /// those of [`Items::take`].
    pub async fn dequeue(&self, deadline: Deadline) -> Result<Item> {
        loop {
            if let Some(item) = self.try_take(deadline).await? {
                return Ok(item);
            }
        }
    }

    /// One attempt: the next item taken; `None` when another consumer took it first
    /// or when a new item may have arrived (the caller tries again).
    async fn try_take(&self, deadline: Deadline) -> Result<Option<Item>> {
        let (first, seen_at) = deadline.bound(self.first()).await?;
        let Some(kv) = first else {
            // Empty at `seen_at`: wait for a put under the prefix after that.
            deadline
                .bound(next_event(
                    &self.client,
                    self.prefix.clone(),
                    Range::Prefix,
                    seen_at.next(),
                    EventType::Put,
                ))
                .await?;
            return Ok(None);
        };
        // Not bounded by the deadline: cut short after it applied, the item would be
        // lost. It is bounded by the client's request timeout.
        if !self.take(&kv).await? {
            return Ok(None);
        }
        Ok(Some(self.item(kv)))
    }

    /// A taken key-value as an item of this queue.
    fn item(&self, kv: KeyValue) -> Item {
        let priority = match self.order {
            Order::Priority => self.priority_of(kv.key()),
            Order::Fifo => None,
        };
        let create_revision = kv.create_revision();
        let (key, value) = kv.into_key_value();
        Item {
            key,
            value,
            create_revision,
            priority,
        }
    }

    /// Takes the next item if there is one, without waiting.
    ///
    /// # Errors
    ///
    /// Those of [`Items::take`].
    pub async fn try_dequeue(&self) -> Result<Option<Item>> {
        loop {
            let (first, _) = self.first().await?;
            let Some(kv) = first else { return Ok(None) };
            if self.take(&kv).await? {
                return Ok(Some(self.item(kv)));
            }
        }
    }

    /// How many items there are now.
    pub async fn len(&self) -> Result<u64> {
        Ok(count_under(&self.client, &self.prefix).await?.0)
    }
}
