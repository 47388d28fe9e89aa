//! Work spread over the cores: rendering many ShopSets, hashing and compressing a large tree.

/// How many threads share such work: every core, up to eight.
#[must_use]
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(8)
}

/// `f` of every item, in order, the items split among `threads` threads.
///
/// # Panics
/// When `f` panics on a thread.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a worker thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_results_are_in_the_items_order_whatever_the_threads() {
        let items: Vec<u32> = (0..1_001).collect();
        let one = parallel_map(&items, 1, |i| i * 3);
        for threads in [2, 3, 8, 2_000] {
            assert_eq!(parallel_map(&items, threads, |i| i * 3), one, "{threads}");
        }
        assert_eq!(one[1_000], 3_000);
        assert!(parallel_map(&[] as &[u32], 4, |i| *i).is_empty());
    }
}
