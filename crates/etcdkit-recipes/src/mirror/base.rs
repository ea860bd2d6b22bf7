//! The initial copy: the prefix read in pages, every page at one pinned revision, so the
//! copy is one consistent state of the source however long it takes.

use bytes::Bytes;
use etcdkit::{Client, KeyRange, Revision};

use super::batch::Change;

/// The source's current revision: the one the copy is pinned at.
///
/// # Errors
///
/// The source's failure to answer.
pub(crate) async fn current_revision(
    client: &Client,
    range: &KeyRange,
) -> etcdkit::Result<Revision> {
    let answer = client
        .kv()
        .get(range.start().clone())
        .range_end(range.end().clone())
        .keys_only()
        .limit(1)
        .await?;
    Ok(answer.header().revision())
}

/// Pages of the prefix at one revision, in key order.
pub(crate) struct Pages {
    client: Client,
    end: Bytes,
    /// Where the next page starts; `None` once the last page was read.
    next: Option<Bytes>,
    revision: Revision,
    page_size: i64,
}

impl Pages {
    pub(crate) fn new(
        client: Client,
        range: KeyRange,
        revision: Revision,
        page_size: i64,
    ) -> Pages {
        let (start, end) = (range.start().clone(), range.end().clone());
        Pages {
            client,
            end,
            next: Some(start),
            revision,
            page_size,
        }
    }

    /// The next page's keys as puts, or `None` after the last page.
    ///
    /// # Errors
    ///
    /// The source's failure, [`ErrorKind::Compacted`](etcdkit::ErrorKind::Compacted)
    /// when the pinned revision was compacted away between two pages.
    pub(crate) async fn next_page(&mut self) -> etcdkit::Result<Option<Vec<Change>>> {
        let Some(from) = self.next.take() else {
            return Ok(None);
        };
        let page = self
            .client
            .kv()
            .get(from)
            .range_end(self.end.clone())
            .revision(self.revision)
            .limit(self.page_size)
            .await?;
        let more = page.more();
        let changes: Vec<Change> = page
            .into_kvs()
            .into_iter()
            .map(|kv| Change::Put {
                key: kv.key().clone(),
                value: kv.value().clone(),
            })
            .collect();
        if more && let Some(last) = changes.last() {
            // The smallest key after the last one read.
            let mut after = last.key().to_vec();
            after.push(0);
            self.next = Some(Bytes::from(after));
        }
        Ok(Some(changes))
    }
}
