//! etcdctl's `table` format: the layout of the Go table writer it uses
//! (olekukonko/tablewriter 0.0.5), with every cell right-aligned as etcdctl asks.
//!
//! Written here rather than taken from a Rust table crate: the bytes must match, and the
//! details that decide them (headers centred with the odd space on the right, cells
//! wider than 30 columns wrapped at spaces with the least raggedness, a `+---+` rule
//! above and below the header and at the end) are not what `comfy-table` or `tabled`
//! produce by default.
//!
//! Widths count characters; the Go writer counts terminal columns, which differs only
//! for wide (East Asian) characters, which no etcd name or address is expected to hold.

use std::io::{self, Write};

/// Cells wider than this are wrapped at spaces.
const WRAP_WIDTH: usize = 30;

/// Writes a table with these (upper-case) headers and rows.
pub fn write(out: &mut Vec<u8>, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    // Each cell as its lines, widening its column as needed.
    let mut cells: Vec<Vec<Vec<String>>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut lines_of_row = Vec::with_capacity(row.len());
        for (column, cell) in row.iter().enumerate() {
            let lines = wrap_cell(cell);
            let cell_width = lines.iter().map(|l| width(l)).max().unwrap_or(0);
            if let Some(w) = widths.get_mut(column) {
                *w = (*w).max(cell_width);
            }
            lines_of_row.push(lines);
        }
        cells.push(lines_of_row);
    }
    rule(out, &widths)?;
    out.write_all(b"|")?;
    for (header, w) in headers.iter().zip(&widths) {
        let gap = w.saturating_sub(width(header));
        let left = gap / 2;
        write!(
            out,
            " {}{header}{} |",
            " ".repeat(left),
            " ".repeat(gap - left)
        )?;
    }
    out.write_all(b"\n")?;
    rule(out, &widths)?;
    for row in &cells {
        let height = row.iter().map(Vec::len).max().unwrap_or(0);
        for line in 0..height {
            out.write_all(b"|")?;
            for (column, w) in widths.iter().enumerate() {
                let text = row
                    .get(column)
                    .and_then(|lines| lines.get(line))
                    .map_or("", String::as_str);
                write!(
                    out,
                    " {}{text} |",
                    " ".repeat(w.saturating_sub(width(text)))
                )?;
            }
            out.write_all(b"\n")?;
        }
    }
    rule(out, &widths)
}

fn rule(out: &mut Vec<u8>, widths: &[usize]) -> io::Result<()> {
    out.write_all(b"+")?;
    for w in widths {
        write!(out, "{}+", "-".repeat(w + 2))?;
    }
    out.write_all(b"\n")
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// A cell's lines: each of its own lines, wrapped when the cell is wider than
/// [`WRAP_WIDTH`]; a blank line (one space) between two of its own lines.
fn wrap_cell(cell: &str) -> Vec<String> {
    let paragraphs: Vec<&str> = cell.split('\n').collect();
    let limit = paragraphs
        .iter()
        .map(|p| width(p))
        .max()
        .unwrap_or(0)
        .min(WRAP_WIDTH);
    let mut lines = Vec::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if i > 0 {
            lines.push(" ".to_owned());
        }
        lines.extend(wrap(paragraph, limit));
    }
    lines
}

/// Breaks `text` at single spaces into lines of at most `limit` columns (or the longest
/// word), choosing the breaks that minimise the sum of the squared shortfalls of all
/// lines but the last.
fn wrap(text: &str, limit: usize) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let limit = words.iter().map(|w| width(w)).fold(limit, usize::max);
    let n = words.len();
    // line_width(i, j): the width of words i..=j joined by single spaces.
    let line_width = |i: usize, j: usize| -> usize {
        words[i..=j].iter().map(|w| width(w)).sum::<usize>() + (j - i)
    };
    // cost[i]: the least raggedness of the words from i on; next[i]: where the line
    // starting at word i ends (exclusive).
    let mut cost = vec![u64::MAX; n + 1];
    let mut next = vec![n; n + 1];
    cost[n] = 0;
    for i in (0..n).rev() {
        if line_width(i, n - 1) <= limit {
            cost[i] = 0;
            next[i] = n;
            continue;
        }
        for j in i + 1..n {
            let used = line_width(i, j - 1);
            if used > limit {
                break;
            }
            let shortfall = (limit - used) as u64;
            let c = (shortfall * shortfall).saturating_add(cost[j]);
            if c < cost[i] {
                cost[i] = c;
                next[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        let end = next[i].max(i + 1);
        lines.push(words[i..end].join(" "));
        i = end;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_centre_with_the_odd_space_right_and_cells_align_right() {
        let mut out = Vec::new();
        write(
            &mut out,
            &["ID", "STATUS"],
            &[vec!["abc".to_owned(), "started".to_owned()]],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+-----+---------+\n\
             | ID  | STATUS  |\n\
             +-----+---------+\n\
             | abc | started |\n\
             +-----+---------+\n"
        );
    }

    #[test]
    fn long_cells_wrap_at_spaces() {
        let text = "the quick brown fox jumps over the lazy dog again";
        let lines = wrap_cell(text);
        assert!(lines.iter().all(|l| width(l) <= WRAP_WIDTH), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(
            wrap_cell("a-very-long-single-word-without-any-space"),
            ["a-very-long-single-word-without-any-space"]
        );
    }
}
