//! What request builders share, written once: the key-range methods of get, delete and
//! watch (all working through [`KeyRange`](crate::KeyRange)), the methods that set one
//! field of the request each, and the `IntoFuture` scaffolding of the requests that are
//! awaited.

/// The key-range methods of a builder whose key and range end are the fields at the
/// given paths of `self`: `range_end(..)`, `prefix()` and `from_key()`, plus
/// `range(..)` with `with range` first. `$verb` starts each method's doc ("Reads").
macro_rules! key_range_methods {
    (with range, $verb:literal, $($key:ident).+, $($end:ident).+) => {
        #[doc = concat!($verb, " the keys of `range` (replacing the key this request was made with).")]
        pub fn range(self, range: $crate::KeyRange) -> Self {
            self.update_range(|_| range)
        }

        key_range_methods!($verb, $($key).+, $($end).+);
    };
    ($verb:literal, $($key:ident).+, $($end:ident).+) => {
        #[doc = concat!($verb, " the keys in `[key, end)`.")]
        pub fn range_end(self, end: impl Into<bytes::Bytes>) -> Self {
            let end = end.into();
            self.update_range(|r| r.with_end(end))
        }

        #[doc = concat!($verb, " every key that starts with the key (every key, when the key is empty).")]
        pub fn prefix(self) -> Self {
            self.update_range($crate::KeyRange::into_prefix)
        }

        #[doc = concat!($verb, " every key from the key onwards (every key, when the key is empty).")]
        pub fn from_key(self) -> Self {
            self.update_range($crate::KeyRange::into_from_key)
        }

        /// Applies `f` to the key and range end as one [`KeyRange`](crate::KeyRange).
        fn update_range(mut self, f: impl FnOnce($crate::KeyRange) -> $crate::KeyRange) -> Self {
            $crate::KeyRange::update(&mut self.$($key).+, &mut self.$($end).+, f);
            self
        }
    };
}

/// Methods that switch on a `bool` field of the request held in the given field of `self`,
/// one a field, each named after the field it sets (etcd's name for the flag) and
/// documented by the doc comment written before it: `flag_methods!(request, { /// Doc
/// pub fn keys_only; })`.
macro_rules! flag_methods {
    ($request:ident, { $($(#[$doc:meta])* pub fn $flag:ident;)* }) => {
        $(
            $(#[$doc])*
            pub fn $flag(mut self) -> Self {
                self.$request.$flag = true;
                self
            }
        )*
    };
}

/// Methods that set a revision field of the request held in the given field of `self`, as
/// `flag_methods` does for flags: `revision_methods!(request, { /// Doc
/// pub fn min_mod_revision; })` takes a [`Revision`](crate::Revision) or an `i64`.
macro_rules! revision_methods {
    ($request:ident, { $($(#[$doc:meta])* pub fn $field:ident;)* }) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, revision: impl Into<$crate::Revision>) -> Self {
                self.$request.$field = revision.into().0;
                self
            }
        )*
    };
}

/// `IntoFuture` for a request builder: its future is the async block `$body`, in which
/// `$this` is the builder, and its output is `Result<$out>`. `$doc` documents
/// `into_future` (what it sends, and its `# Errors`).
macro_rules! request_future {
    ($(#[$doc:meta])* impl for $ty:ty => $out:ty, |$this:ident| $body:block) => {
        impl std::future::IntoFuture for $ty {
            type Output = $crate::Result<$out>;
            type IntoFuture = futures_util::future::BoxFuture<'static, $crate::Result<$out>>;

            $(#[$doc])*
            fn into_future(self) -> Self::IntoFuture {
                let $this = self;
                Box::pin(async move $body)
            }
        }
    };
}

/// `timeout(..)`, for a builder with a `timeout: Option<Duration>` field; documented as
/// overriding the client's request timeout unless given a doc of its own.
macro_rules! timeout_method {
    () => {
        timeout_method!("Overrides the client's request timeout for this request.");
    };
    ($doc:literal) => {
        #[doc = $doc]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.timeout = Some(timeout);
            self
        }
    };
}
