//! Keys and values: which key an operation uses (in order or at random within the key
//! space) and how it is spelled (the prefix, then the index in decimal, zero-padded to
//! `--key-size` bytes, so every key has the same length and sorts in index order).

use bytes::{BufMut, Bytes, BytesMut};

use super::args::CommonArgs;
use crate::error::CliError;

/// The keys a run uses.
#[derive(Debug, Clone)]
pub struct KeySpace {
    prefix: Bytes,
    key_size: usize,
    size: u64,
    sequential: bool,
}

impl KeySpace {
    /// The key space the flags ask for; refused when `--key-size` is too short to spell
    /// every index of `--key-space-size`, since keys would then collide or vary in length.
    pub fn new(args: &CommonArgs) -> Result<KeySpace, CliError> {
        let needed = digits(args.key_space_size.saturating_sub(1));
        if args.key_size < needed {
            return Err(CliError::error(format!(
                "--key-size {} is too small for --key-space-size {}: keys need {needed} bytes after the prefix",
                args.key_size, args.key_space_size
            )));
        }
        Ok(KeySpace {
            prefix: Bytes::from(args.key_prefix.clone().into_bytes()),
            key_size: args.key_size,
            size: args.key_space_size.max(1),
            sequential: args.sequential_keys,
        })
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &Bytes {
        &self.prefix
    }

    /// How many distinct keys there are.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The key index operation `op` uses: `op` modulo the key space with
    /// `--sequential-keys`, otherwise drawn uniformly from `rng`.
    pub fn pick(&self, op: u64, rng: &mut fastrand::Rng) -> u64 {
        if self.sequential {
            op % self.size
        } else {
            rng.u64(0..self.size)
        }
    }

    /// The key of an index.
    pub fn key(&self, index: u64) -> Bytes {
        let mut key = BytesMut::with_capacity(self.prefix.len() + self.key_size);
        key.put_slice(&self.prefix);
        key.put_slice(format!("{index:0width$}", width = self.key_size).as_bytes());
        key.freeze()
    }
}

/// A value of `size` bytes. Its contents do not matter to etcd (it does not compress).
pub fn value(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

/// How many decimal digits `n` has.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn space(args: &[&str]) -> Result<KeySpace, CliError> {
        let flags =
            Flags::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).unwrap();
        KeySpace::new(&flags.common)
    }

    #[test]
    fn keys_are_the_prefix_and_the_padded_index() {
        let ks = space(&[
            "--key-size",
            "4",
            "--key-space-size",
            "100",
            "--key-prefix",
            "p/",
        ])
        .unwrap();
        assert_eq!(ks.key(7), Bytes::from_static(b"p/0007"));
        assert_eq!(ks.key(99), Bytes::from_static(b"p/0099"));
        assert_eq!(ks.prefix(), &Bytes::from_static(b"p/"));
    }

    #[test]
    fn sequential_keys_cycle_through_the_space() {
        let ks = space(&["--key-space-size", "3", "--sequential-keys"]).unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let picks: Vec<u64> = (0..7).map(|op| ks.pick(op, &mut rng)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn random_keys_stay_in_the_space() {
        let ks = space(&["--key-space-size", "10"]).unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut seen = [false; 10];
        for op in 0..1000 {
            let i = ks.pick(op, &mut rng);
            seen[usize::try_from(i).unwrap()] = true;
        }
        assert!(seen.iter().all(|&s| s), "every key is used: {seen:?}");
    }

    #[test]
    fn a_key_size_too_small_for_the_space_is_refused() {
        let e = space(&["--key-size", "2", "--key-space-size", "101"]).unwrap_err();
        assert!(
            e.message.contains("--key-size 2 is too small"),
            "{}",
            e.message
        );
        assert!(space(&["--key-size", "2", "--key-space-size", "100"]).is_ok());
        assert!(space(&["--key-size", "1", "--key-space-size", "1"]).is_ok());
    }

    #[test]
    fn digits_counts_decimal_digits() {
        assert_eq!(
            [0, 9, 10, 99, 100, u64::MAX].map(digits),
            [1, 1, 2, 2, 3, 20]
        );
    }
}
