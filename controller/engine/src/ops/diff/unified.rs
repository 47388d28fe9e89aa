//! A line diff and its unified format. Pure: bytes in, text out.
//!
//! The edit script is Myers' O(ND) greedy algorithm on lines after the common prefix and suffix
//! are taken off; a middle that needs more than [`MAX_COST`] edits is shown as all of its old
//! lines removed and all of its new lines added (still a correct diff, only not a minimal one),
//! so a huge rewrite costs O(N) and not O(N²).

/// Edits beyond which the middle of a diff is shown as one replacement.
pub const MAX_COST: usize = 2000;

/// Lines of context around each change, as `git diff` shows.
pub const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// The lines of `bytes`, each with its `\n` (the last one may have none).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|b| *b == b'\n').collect()
}

/// Whether git would call these bytes binary: a NUL in the first 8000 bytes.
#[must_use]
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0)
}

/// The edits that turn `a` into `b`.
fn script(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a_rest, b_rest) = (&a[prefix..], &b[prefix..]);
    let suffix = a_rest
        .iter()
        .rev()
        .zip(b_rest.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let middle_a = &a_rest[..a_rest.len() - suffix];
    let middle_b = &b_rest[..b_rest.len() - suffix];
    let mut ops = vec![Op::Equal; prefix];
    match myers(middle_a, middle_b) {
        Some(middle) => ops.extend(middle),
        None => {
            ops.extend(std::iter::repeat_n(Op::Delete, middle_a.len()));
            ops.extend(std::iter::repeat_n(Op::Insert, middle_b.len()));
        }
    }
    ops.extend(std::iter::repeat_n(Op::Equal, suffix));
    ops
}

/// Myers' shortest edit script, or `None` when it needs more than [`MAX_COST`] edits.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn myers(a: &[&[u8]], b: &[&[u8]]) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let limit = (a.len() + b.len()).min(MAX_COST) as isize;
    let off = limit + 1;
    let at = |k: isize| (k + off) as usize;
    let mut v = vec![0isize; (2 * limit + 3) as usize];
    // trace[d]: the furthest x per diagonal before step d, for k in -d-1..=d+1.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=limit {
        trace.push(v[at(-d - 1)..=at(d + 1)].to_vec());
        for k in (-d..=d).step_by(2) {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m));
            }
        }
    }
    None
}

#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn backtrack(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let (mut x, mut y) = (n, m);
    let mut ops = Vec::new();
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Insert } else { Op::Delete });
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

/// Lines added and lines removed from `old` to `new`.
#[must_use]
pub fn counts(old: &[u8], new: &[u8]) -> (usize, usize) {
    let ops = script(&lines(old), &lines(new));
    let added = ops.iter().filter(|o| **o == Op::Insert).count();
    let removed = ops.iter().filter(|o| **o == Op::Delete).count();
    (added, removed)
}

fn range(start: usize, len: usize) -> String {
    // Like diff(1): an empty range names the line before it; a range of one has no length.
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn push_line(out: &mut String, sign: char, line: &[u8]) {
    out.push(sign);
    match line.strip_suffix(b"\n") {
        Some(text) => {
            out.push_str(&String::from_utf8_lossy(text));
            out.push('\n');
        }
        None => {
            out.push_str(&String::from_utf8_lossy(line));
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// The hunks (`@@ -a,b +c,d @@` and their lines) that turn `old` into `new`, with `context`
/// lines around each change; empty when they are equal.
#[must_use]
pub fn hunks(old: &[u8], new: &[u8], context: usize) -> String {
    let (a, b) = (lines(old), lines(new));
    let ops = script(&a, &b);
    let changes: Vec<usize> = (0..ops.len()).filter(|i| ops[*i] != Op::Equal).collect();
    let Some(&first) = changes.first() else {
        return String::new();
    };
    // Where each op starts, in the old and the new lines.
    let mut starts = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0, 0);
    for op in &ops {
        starts.push((i, j));
        match op {
            Op::Equal => {
                i += 1;
                j += 1;
            }
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    starts.push((i, j));
    let mut groups = Vec::new();
    let (mut start, mut end) = (first, first);
    for &c in &changes[1..] {
        if c - end - 1 > 2 * context {
            groups.push((start, end));
            start = c;
        }
        end = c;
    }
    groups.push((start, end));
    let mut out = String::new();
    for (start, end) in groups {
        let from = start.saturating_sub(context);
        let to = (end + context + 1).min(ops.len());
        let (i0, j0) = starts[from];
        let (i1, j1) = starts[to];
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(i0, i1 - i0),
            range(j0, j1 - j0)
        ));
        for k in from..to {
            let (i, j) = starts[k];
            match ops[k] {
                Op::Equal => push_line(&mut out, ' ', a[i]),
                Op::Delete => push_line(&mut out, '-', a[i]),
                Op::Insert => push_line(&mut out, '+', b[j]),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies the hunks of `old` -> `new` to `old` (a small patch(1)), to check they are right.
    fn apply(old: &str, hunks: &str) -> String {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut next = 0;
        let mut lines = hunks.lines().peekable();
        while let Some(header) = lines.next() {
            let spec = header.strip_prefix("@@ -").unwrap();
            let (old_range, _) = spec.split_once(' ').unwrap();
            let (start, len) = old_range
                .split_once(',')
                .map_or((old_range, "1"), |(s, l)| (s, l));
            let (start, len): (usize, usize) = (start.parse().unwrap(), len.parse().unwrap());
            let begin = if len == 0 { start } else { start - 1 };
            for line in &old[next..begin] {
                out.push_str(line);
            }
            next = begin;
            while let Some(line) = lines.next_if(|l| !l.starts_with("@@")) {
                let no_newline = lines.next_if(|l| l.starts_with('\\')).is_some();
                let text = format!("{}{}", &line[1..], if no_newline { "" } else { "\n" });
                match &line[..1] {
                    " " => {
                        assert_eq!(old[next], text);
                        out.push_str(&text);
                        next += 1;
                    }
                    "-" => {
                        assert_eq!(old[next], text);
                        next += 1;
                    }
                    "+" => out.push_str(&text),
                    other => panic!("unexpected line start {other:?}"),
                }
            }
        }
        for line in &old[next..] {
            out.push_str(line);
        }
        out
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn equal_inputs_have_no_hunks() {
        assert_eq!(hunks(b"a\nb\n", b"a\nb\n", 3), "");
        assert_eq!(counts(b"a\nb\n", b"a\nb\n"), (0, 0));
    }

    #[test]
    fn one_changed_line_with_context() {
        let old = numbered(10);
        let new = old.replace("line 5\n", "line five\n");
        assert_eq!(
            hunks(old.as_bytes(), new.as_bytes(), 3),
            "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n"
        );
        assert_eq!(counts(old.as_bytes(), new.as_bytes()), (1, 1));
    }

    #[test]
    fn far_apart_changes_make_two_hunks_and_near_ones_one() {
        let old = numbered(30);
        let far = old
            .replace("line 2\n", "two\n")
            .replace("line 20\n", "twenty\n");
        let text = hunks(old.as_bytes(), far.as_bytes(), 3);
        assert_eq!(text.matches("@@ ").count(), 2, "{text}");
        assert!(text.starts_with("@@ -1,5 +1,5 @@\n"), "{text}");
        assert!(text.contains("@@ -17,7 +17,7 @@\n"), "{text}");
        // Six lines apart: the contexts touch, one hunk.
        let near = old
            .replace("line 2\n", "two\n")
            .replace("line 9\n", "nine\n");
        let text = hunks(old.as_bytes(), near.as_bytes(), 3);
        assert_eq!(text.matches("@@ ").count(), 1, "{text}");
        assert_eq!(apply(&old, &text), near);
    }

    #[test]
    fn added_and_removed_files() {
        assert_eq!(hunks(b"", b"a\nb\n", 3), "@@ -0,0 +1,2 @@\n+a\n+b\n");
        assert_eq!(hunks(b"a\n", b"", 3), "@@ -1 +0,0 @@\n-a\n");
    }

    #[test]
    fn a_missing_final_newline_is_marked() {
        let text = hunks(b"a\nb", b"a\nb\n", 3);
        assert_eq!(
            text,
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
        );
        assert_eq!(apply("a\nb", &text), "a\nb\n");
    }

    #[test]
    fn insertions_and_deletions_are_minimal() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nx\nc\nd\nf\ng\n";
        assert_eq!(counts(old.as_bytes(), new.as_bytes()), (2, 2));
        assert_eq!(apply(old, &hunks(old.as_bytes(), new.as_bytes(), 1)), new);
    }

    #[test]
    fn many_random_edits_apply_back() {
        // A small deterministic generator: the hunks always turn old into new.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let old: Vec<String> = (0..(next() % 40))
                .map(|_| format!("{}\n", next() % 6))
                .collect();
            let mut new = old.clone();
            for _ in 0..(next() % 8) {
                let at = usize::try_from(next() % (new.len() as u64 + 1)).unwrap();
                match next() % 3 {
                    0 if at < new.len() => {
                        new.remove(at);
                    }
                    1 if at < new.len() => new[at] = format!("{}\n", next() % 6),
                    _ => new.insert(at, format!("new {}\n", next() % 3)),
                }
            }
            let (old, new) = (old.concat(), new.concat());
            for context in [0, 1, 3] {
                let text = hunks(old.as_bytes(), new.as_bytes(), context);
                assert_eq!(apply(&old, &text), new, "context {context}:\n{text}");
            }
            let (added, removed) = counts(old.as_bytes(), new.as_bytes());
            let lines = |s: &str| s.lines().count();
            assert_eq!(
                lines(&old) + added - removed,
                lines(&new),
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn a_huge_rewrite_is_one_replacement() {
        let old: String = (0..3000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("new {i}\n")).collect();
        let old = format!("head\n{old}tail\n");
        let new = format!("head\n{new}tail\n");
        assert_eq!(counts(old.as_bytes(), new.as_bytes()), (3000, 3000));
        let text = hunks(old.as_bytes(), new.as_bytes(), 3);
        assert!(text.starts_with("@@ -1,3002 +1,3002 @@\n head\n-old 0\n"));
        assert_eq!(apply(&old, &text), new);
    }

    #[test]
    fn binary_is_a_nul_byte() {
        assert!(is_binary(b"a\0b"));
        assert!(!is_binary(b"plain text\n"));
    }
}
