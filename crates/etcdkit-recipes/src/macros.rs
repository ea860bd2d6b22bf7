//! The macros that give recipe types the parts they share: what every guard over a
//! held queue key has, what every held lock has, and what every item queue's consumer
//! has. Macros, because these are public inherent methods, documented on each type:
//! a trait would make callers import it, and a shared wrapper type would change the
//! public API.

/// `Debug` and `key()` for a guard over our key at the head of a queue (a `held:
/// queue::Held` field): the mutex's, the read/write mutex's, the election's and the
/// double barrier's guards all print and expose their key the same way. `Debug` prints
/// the key as text and its creation revision under the name the guard gives it
/// (`$rev`); the printed type name is the guard's, or what its `$debug_name()` method
/// says (a guard whose name shows its mode). The doc comment given is `key()`'s.
macro_rules! held_key_guard {
    ($guard:ident, revision: $rev:literal, $(#[$key_doc:meta])+) => {
        held_key_guard!(@impl $guard, |_guard| stringify!($guard), $rev, $(#[$key_doc])+);
    };
    ($guard:ident, debug_name: $debug_name:ident, revision: $rev:literal, $(#[$key_doc:meta])+) => {
        held_key_guard!(@impl $guard, |guard| guard.$debug_name(), $rev, $(#[$key_doc])+);
    };
    (@impl $guard:ident, |$this:ident| $name:expr, $rev:literal, $(#[$key_doc:meta])+) => {
        impl std::fmt::Debug for $guard {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $this = self;
                self.held.fmt_as($name, $rev, f)
            }
        }

        impl $guard {
            $(#[$key_doc])+
            pub fn key(&self) -> &bytes::Bytes {
                self.held.key()
            }
        }
    };
}

/// The accessors of a held lock, inside the `impl` of a guard with a `held:
/// queue::Held` field: the mutex's and the read/write mutex's guards mean the same by
/// each (a fencing token, when the lock was seen held, a compare for fenced writes, the
/// wait for its loss).
macro_rules! held_lock_accessors {
    () => {
        /// The fencing token: the key's creation revision. Every grant of the lock has a
        /// larger one than the grants before it.
        pub fn fencing_token(&self) -> etcdkit::Revision {
            self.held.rev
        }

        /// The revision at which the lock was seen to be held.
        pub fn acquired_at(&self) -> etcdkit::Revision {
            self.held.seen_at
        }

        /// A compare that holds only while this guard still holds the lock: the key
        /// exists with the guard's creation revision. Add it to your own transactions.
        pub fn compare(&self) -> etcdkit::kv::Compare {
            self.held.compare()
        }

        /// Finishes when the lock is lost, and says why.
        pub async fn lost(&self) -> crate::queue::LostCause {
            self.held.lost().await
        }
    };
}

/// The consuming side of a queue over [`Items`](crate::items::Items) (an `items`
/// field): the FIFO and the priority queue take, count and check their items alike, and
/// differ only in which item comes next (the order their `Items` serves). `$next` names
/// that item in the docs.
macro_rules! items_consumer {
    ($queue:ident, next: $next:literal) => {
        impl $queue {
            #[doc = concat!("Takes ", $next, ", waiting for one while the queue is empty.")]
            /// Await the returned [`Bounded`], after setting a timeout if you want one.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Timeout`](etcdkit::ErrorKind::Timeout) when the timeout passes
            /// before an item was taken (nothing was taken), the client's errors, and
            /// [`ErrorKind::OutcomeUnknown`](etcdkit::ErrorKind::OutcomeUnknown) when an
            /// item may have been taken by this call but its answer was lost.
            pub fn dequeue(&self) -> Bounded<'_, Item> {
                Bounded::new("dequeue", move |deadline| {
                    Box::pin(self.items.dequeue(deadline))
                })
            }

            #[doc = concat!("Takes ", $next, " if there is one, without waiting.")]
            ///
            /// # Errors
            ///
            /// Those of [`dequeue`](Self::dequeue) except the timeout.
            pub async fn try_dequeue(&self) -> etcdkit::Result<Option<Item>> {
                self.items.try_dequeue().await
            }

            /// How many items the queue holds now.
            ///
            /// # Errors
            ///
            /// The client's errors.
            pub async fn len(&self) -> etcdkit::Result<u64> {
                self.items.len().await
            }

            /// Whether the queue is empty now.
            ///
            /// # Errors
            ///
            /// The client's errors.
            pub async fn is_empty(&self) -> etcdkit::Result<bool> {
                Ok(self.len().await? == 0)
            }
        }
    };
}
