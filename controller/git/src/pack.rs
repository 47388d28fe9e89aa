//! Writing many new objects at once as one pack.
//!
//! Every object id is computed in memory first ([`object_id`]), objects the repository
//! already has are left out ([`crate::present`]), and the rest are compressed on every core
//! (small ones by [`crate::deflate`]) and streamed into a version-2 pack, whose index is
//! written from the known ids: one file and one index instead of tens of thousands of loose
//! files.

use std::collections::HashSet;
use std::io::Write as _;

use git2::{ObjectType, Oid};

/// The id git gives an object: the SHA-1 of its header and bytes. Computed with the `sha1`
/// crate, about four times faster than libgit2's collision-detecting SHA-1 on large blobs
/// (the ids are the same; these objects are our own, not untrusted input).
pub(crate) fn object_id(kind: ObjectType, bytes: &[u8]) -> Oid {
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("{} {}\0", kind.str(), bytes.len()));
    hasher.update(bytes);
    Oid::from_bytes(&hasher.finalize()).expect("a SHA-1 digest is an object id")
}

/// Whether the database has `oid`, without rescanning its packs when it does not (libgit2 does
/// that on every miss, and every new object is a miss). A pack another process added since
/// the database was opened may be missed: the object is then written twice, which is
/// harmless.
pub(crate) fn exists(odb: &git2::Odb<'_>, oid: Oid) -> bool {
    odb.exists_ext(oid, git2::OdbLookupFlags::NO_REFRESH)
}

/// Writes one object as a loose file, compressed with zlib's fastest level (libgit2's own
/// writer uses the default level, which for a large blob such as the recorded inputs costs
/// several times more). Returns its id; an object already present is not written again.
pub(crate) fn write_loose(
    repo: &git2::Repository,
    odb: &git2::Odb<'_>,
    kind: ObjectType,
    bytes: &[u8],
) -> Result<Oid, git2::Error> {
    let oid = object_id(kind, bytes);
    if !exists(odb, oid) {
        write_loose_file(&repo.path().join("objects"), oid, kind, bytes)?;
    }
    Ok(oid)
}

/// Writes the object `oid` (of `kind`, with `bytes`) into the loose-object directory
/// `objects`, through a temporary file renamed into place, as git does, so a reader never sees
/// half an object. Touches no libgit2 handle: it may run on another thread.
pub(crate) fn write_loose_file(
    objects: &std::path::Path,
    oid: Oid,
    kind: ObjectType,
    bytes: &[u8],
) -> Result<(), git2::Error> {
    let io = |e: std::io::Error| git2::Error::from_str(&format!("write object {oid}: {e}"));
    let hex = oid.to_string();
    let dir = objects.join(&hex[..2]);
    std::fs::create_dir_all(&dir).map_err(io)?;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("tmp_obj_{}_{n}", std::process::id()));
    let written = (|| {
        // The name is unique among live processes (pid) and within this one (counter); a
        // leftover of a crashed process with the same pid is overwritten.
        let header = format!("{} {}\0", kind.str(), bytes.len());
        if bytes.len() <= crate::deflate::SMALL {
            let mut object = Vec::with_capacity(header.len() + bytes.len());
            object.extend_from_slice(header.as_bytes());
            object.extend_from_slice(bytes);
            let mut z = Vec::with_capacity(object.len() / 2 + 64);
            crate::deflate::zlib_small(&object, &mut z);
            std::fs::write(&tmp, z)?;
        } else {
            let file = std::fs::File::create(&tmp)?;
            let mut z = flate2::write::ZlibEncoder::new(file, flate2::Compression::fast());
            z.write_all(header.as_bytes())?;
            z.write_all(bytes)?;
            z.finish()?;
        }
        std::fs::rename(&tmp, dir.join(&hex[2..]))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Objects waiting to be written, in the order they were added: borrowed (the blobs of the
/// tree being written) or owned (the trees made from them).
#[derive(Default)]
pub(crate) struct PackBuffer<'a> {
    objects: Vec<Queued<'a>>,
    queued: HashSet<Oid, std::hash::BuildHasherDefault<IdHasher>>,
}

/// Hashes an object id by its first eight bytes: they are already uniformly spread.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // An id is hashed as its length, then its bytes; only the bytes count.
        if let Some(head) = bytes.get(..8) {
            self.0 = u64::from_le_bytes(head.try_into().expect("eight bytes"));
        }
    }

    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) use shopset_render::parallel::{parallel_map, threads};

/// One object as a pack entry: its type and size header, then its zlib stream.
fn entry(kind: ObjectType, bytes: &[u8]) -> Vec<u8> {
    let code: u8 = match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        _ => 4,
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 + 16);
    let mut size = bytes.len();
    let mut first = (code << 4) | u8::try_from(size & 0x0f).expect("four bits");
    size >>= 4;
    if size > 0 {
        first |= 0x80;
    }
    out.push(first);
    while size > 0 {
        let mut byte = u8::try_from(size & 0x7f).expect("seven bits");
        size >>= 7;
        if size > 0 {
            byte |= 0x80;
        }
        out.push(byte);
    }
    if bytes.len() <= crate::deflate::SMALL {
        crate::deflate::zlib_small(bytes, &mut out);
    } else {
        zlib_into(bytes, &mut out);
    }
    out
}

/// Appends `bytes` zlib-compressed (fastest level) to `out`. Each thread keeps one compressor
/// and resets it between objects: setting one up costs more than compressing a small file.
fn zlib_into(bytes: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        static ZLIB: std::cell::RefCell<flate2::Compress> =
            std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), true));
    }
    ZLIB.with_borrow_mut(|z| {
        z.reset();
        let start = z.total_in();
        loop {
            out.reserve(bytes.len() / 2 + 64);
            let read = usize::try_from(z.total_in() - start).expect("fits in memory");
            let status = z
                .compress_vec(&bytes[read..], out, flate2::FlushCompress::Finish)
                .expect("compressing in memory");
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
    });
}

impl<'a> PackBuffer<'a> {
    /// Queues an object unless it is queued; returns its id. Objects the database already has
    /// are left out when the pack is written.
    pub(crate) fn add(
        &mut self,
        kind: ObjectType,
        bytes: impl Into<std::borrow::Cow<'a, [u8]>>,
    ) -> Oid {
        let bytes = bytes.into();
        let oid = object_id(kind, &bytes);
        self.add_known(kind, bytes, oid)
    }

    /// As [`PackBuffer::add`], for an object whose id is already known.
    pub(crate) fn add_known(
        &mut self,
        kind: ObjectType,
        bytes: impl Into<std::borrow::Cow<'a, [u8]>>,
        oid: Oid,
    ) -> Oid {
        if self.queued.insert(oid) {
            self.objects.push((kind, bytes.into(), oid));
        }
        oid
    }

    /// Writes the pack of the queued objects to `out`, each compressed on one of `threads`
    /// threads (the bytes do not depend on how many), a chunk of objects at a time so that
    /// only a few chunks' compressed entries are in memory (the one being written, one ready
    /// per worker). Returns the pack's checksum and its
    /// index entries: (id, CRC-32 of the packed entry, offset), in the pack's order.
    fn pack_into(
        &self,
        out: impl std::io::Write,
        threads: usize,
    ) -> std::io::Result<([u8; 20], Vec<IndexEntry>)> {
        let mut out = Summed::new(out);
        out.write_all(b"PACK")?;
        out.write_all(&2u32.to_be_bytes())?;
        out.write_all(
            &u32::try_from(self.objects.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        )?;
        let mut index = Vec::with_capacity(self.objects.len());
        let chunks: Vec<&[Queued<'a>]> = self.objects.chunks(PACK_CHUNK).collect();
        let mut emit = |chunk: &[Queued<'a>], entries: Vec<(Vec<u8>, u32)>| {
            for ((e, crc), (_, _, oid)) in entries.into_iter().zip(chunk) {
                index.push((*oid, crc, out.written));
                out.write_all(&e)?;
            }
            Ok::<_, std::io::Error>(())
        };
        if threads <= 1 || chunks.len() < 2 {
            for chunk in chunks {
                emit(chunk, compress(chunk))?;
            }
        } else {
            // Each worker compresses every `threads`-th chunk and hands it over in turn, one
            // chunk ahead at most: the workers live as long as the pack (their compressors
            // and memory stay warm), and the entries are written in the objects' order.
            std::thread::scope(|scope| {
                let handed: Vec<_> = (0..threads)
                    .map(|worker| {
                        let (send, receive) = std::sync::mpsc::sync_channel(1);
                        let chunks = &chunks;
                        scope.spawn(move || {
                            for chunk in chunks.iter().skip(worker).step_by(threads) {
                                if send.send(compress(chunk)).is_err() {
                                    break; // the writer stopped
                                }
                            }
                        });
                        receive
                    })
                    .collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let entries = handed[i % threads]
                        .recv()
                        .expect("a worker thread panicked");
                    emit(chunk, entries)?;
                }
                Ok::<_, std::io::Error>(())
            })?;
        }
        let (mut inner, checksum) = out.finish();
        inner.write_all(&checksum)?;
        inner.flush()?;
        Ok((checksum, index))
    }

    /// Writes the queued objects as one pack and its index into `objects/pack` (nothing when
    /// none is queued), compressing them on `threads` threads. The index is written here
    /// from the ids already computed, rather than by libgit2's indexer, which would inflate
    /// and hash every object again. The pack is renamed into place first, then its index: a
    /// reader sees the pack only once both are whole, as git has it.
    pub(crate) fn write(
        mut self,
        repo: &git2::Repository,
        odb: &git2::Odb<'_>,
        threads: usize,
    ) -> Result<(), git2::Error> {
        let queued = self.objects.len();
        // What the database has, from its files when it can (no lock, no system call per
        // object), else from libgit2.
        let objects = repo.path().join("objects");
        let present = match crate::present::Present::read(&objects) {
            Some(has) => parallel_map(&self.objects, threads, |(_, _, oid)| has.has(*oid)),
            None => parallel_map(&self.objects, threads, |(_, _, oid)| exists(odb, *oid)),
        };
        let mut present = present.into_iter();
        self.objects
            .retain(|_| !present.next().expect("one answer per object"));
        tracing::debug!(queued, new = self.objects.len(), threads, "writing a pack");
        if self.objects.is_empty() {
            return Ok(());
        }
        let dir = repo.path().join("objects").join("pack");
        let io = |e: std::io::Error| git2::Error::from_str(&format!("write the pack: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Written under a temporary name (unique among live processes and within this one),
        // then named after its checksum.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp_pack = dir.join(format!("tmp_pack_{}_{n}", std::process::id()));
        let written = std::fs::File::create(&tmp_pack).and_then(|file| {
            self.pack_into(std::io::BufWriter::with_capacity(1 << 20, file), threads)
        });
        let (checksum, mut index) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_pack);
                return Err(io(e));
            }
        };
        index.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let idx = index_bytes(&index, &checksum);
        let name = format!("pack-{}", Oid::from_bytes(&checksum)?);
        let tmp_idx = dir.join(format!("tmp_idx_{}_{n}", std::process::id()));
        let placed = std::fs::rename(&tmp_pack, dir.join(format!("{name}.pack")))
            .and_then(|()| std::fs::write(&tmp_idx, &idx))
            .and_then(|()| std::fs::rename(&tmp_idx, dir.join(format!("{name}.idx"))));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp_pack);
            let _ = std::fs::remove_file(&tmp_idx);
            return Err(io(e));
        }
        odb.refresh()
    }
}

/// An object waiting to be written: its kind, its bytes, its id.
type Queued<'a> = (ObjectType, std::borrow::Cow<'a, [u8]>, Oid);

/// The pack entries of `chunk` and their CRC-32s.
fn compress(chunk: &[Queued<'_>]) -> Vec<(Vec<u8>, u32)> {
    chunk
        .iter()
        .map(|(kind, bytes, _)| {
            let e = entry(*kind, bytes);
            let mut crc = flate2::Crc::new();
            crc.update(&e);
            (e, crc.sum())
        })
        .collect()
}

/// A pack index entry: the object's id, the CRC-32 of its packed entry, its offset.
type IndexEntry = (Oid, u32, u64);

/// How many objects are compressed before their entries are written out: enough to keep
/// every core busy, few enough that a large tree's compressed pack is never whole in memory.
const PACK_CHUNK: usize = 4096;

/// A writer that counts and hashes (SHA-1) what passes through it: a pack's offsets and its
/// trailing checksum.
struct Summed<W> {
    inner: W,
    hasher: sha1::Sha1,
    written: u64,
}

impl<W: std::io::Write> Summed<W> {
    fn new(inner: W) -> Self {
        use sha1::Digest as _;
        Self {
            inner,
            hasher: sha1::Sha1::new(),
            written: 0,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use sha1::Digest as _;
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn finish(self) -> (W, [u8; 20]) {
        use sha1::Digest as _;
        (self.inner, self.hasher.finalize().into())
    }
}

/// A version-2 pack index: the fan-out table, the sorted ids, their CRC-32s, their offsets
/// (those past 2 GiB in a table of their own), the pack's checksum, and its own.
fn index_bytes(sorted: &[IndexEntry], pack_checksum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 256 * 4 + sorted.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (oid, _, _) in sorted {
        fanout[usize::from(oid.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (oid, _, _) in sorted {
        out.extend_from_slice(oid.as_bytes());
    }
    for (_, crc, _) in sorted {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, _, offset) in sorted {
        match u32::try_from(*offset) {
            Ok(small) if small < 0x8000_0000 => out.extend_from_slice(&small.to_be_bytes()),
            _ => {
                let at = u32::try_from(large.len()).expect("fewer than 2^31 large offsets");
                out.extend_from_slice(&(0x8000_0000 | at).to_be_bytes());
                large.push(*offset);
            }
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let digest = {
        use sha1::Digest as _;
        sha1::Sha1::digest(&out)
    };
    out.extend_from_slice(&digest);
    out
}

/// The bytes of a tree object: entries in git's order (a directory sorts as its name plus `/`).
pub(crate) fn tree_bytes(mut entries: Vec<(u32, &str, Oid)>) -> Vec<u8> {
    fn key(mode: u32, name: &str) -> impl Iterator<Item = &u8> {
        let slash: &[u8] = if mode == 0o040000 { b"/" } else { b"" };
        name.as_bytes().iter().chain(slash)
    }
    entries.sort_unstable_by(|a, b| key(a.0, a.1).cmp(key(b.0, b.1)));
    let size = entries.iter().map(|(_, name, _)| name.len() + 28).sum();
    let mut out = Vec::with_capacity(size);
    for (mode, name, oid) in entries {
        match mode {
            0o100644 => out.extend_from_slice(b"100644"),
            0o040000 => out.extend_from_slice(b"40000"),
            _ => write!(out, "{mode:o}").expect("writing to memory"),
        }
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(oid.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_gits() {
        let big = "x".repeat(100_000);
        for (kind, bytes) in [
            (ObjectType::Blob, &b""[..]),
            (ObjectType::Blob, b"hello\n"),
            (ObjectType::Blob, big.as_bytes()),
            (ObjectType::Tree, b"100644 a\0aaaaaaaaaaaaaaaaaaaa"),
            (
                ObjectType::Commit,
                b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
            ),
        ] {
            assert_eq!(
                object_id(kind, bytes),
                Oid::hash_object(kind, bytes).expect("libgit2 hashes"),
                "{kind:?} of {} bytes",
                bytes.len()
            );
        }
        // And the well-known empty blob.
        assert_eq!(
            object_id(ObjectType::Blob, b"").to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
    }
}
