//! The methods request builders share, written once: the key-range methods of get,
//! delete and watch (all working through [`KeyRange`](crate::KeyRange)).

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
