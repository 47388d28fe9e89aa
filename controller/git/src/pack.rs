//! Writing many new objects at once as one pack.
//!
//! Every object id is computed in memory first ([`object_id`]), objects the repository
//! already has are skipped, and the rest are streamed as a version-2 pack into libgit2's pack
//! indexer: one file and one index instead of tens of thousands of loose files.

use std::collections::BTreeSet;
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
        let file = std::fs::File::create(&tmp)?;
        let mut z = flate2::write::ZlibEncoder::new(file, flate2::Compression::fast());
        z.write_all(format!("{} {}\0", kind.str(), bytes.len()).as_bytes())?;
        z.write_all(bytes)?;
        z.finish()?;
        std::fs::rename(&tmp, dir.join(&hex[2..]))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Objects waiting to be written, in the order they were added.
#[derive(Default)]
pub(crate) struct PackBuffer {
    objects: Vec<(ObjectType, Vec<u8>)>,
    queued: BTreeSet<Oid>,
}

impl PackBuffer {
    /// Queues an object unless the database has it or it is queued; returns its id.
    pub(crate) fn add(
        &mut self,
        odb: &git2::Odb<'_>,
        kind: ObjectType,
        bytes: Vec<u8>,
    ) -> Result<Oid, git2::Error> {
        let oid = object_id(kind, &bytes);
        if !self.queued.contains(&oid) && !exists(odb, oid) {
            self.queued.insert(oid);
            self.objects.push((kind, bytes));
        }
        Ok(oid)
    }

    /// How many objects are queued.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    /// The pack stream of the queued objects.
    fn stream(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.objects
                .iter()
                .map(|(_, b)| b.len() / 4 + 16)
                .sum::<usize>()
                + 32,
        );
        out.extend_from_slice(b"PACK");
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(self.objects.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for (kind, bytes) in &self.objects {
            let code: u8 = match kind {
                ObjectType::Commit => 1,
                ObjectType::Tree => 2,
                ObjectType::Blob => 3,
                _ => 4,
            };
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
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(bytes).expect("writing to memory");
            out.extend_from_slice(&z.finish().expect("writing to memory"));
        }
        let digest = {
            use sha1::Digest as _;
            sha1::Sha1::digest(&out)
        };
        out.extend_from_slice(&digest);
        out
    }

    /// Writes the queued objects as one pack (nothing when none is queued).
    pub(crate) fn write(self, odb: &git2::Odb<'_>) -> Result<(), git2::Error> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let mut writer = odb.packwriter()?;
        writer
            .write_all(&self.stream())
            .map_err(|e| git2::Error::from_str(&e.to_string()))?;
        writer.commit()?;
        odb.refresh()
    }
}

/// The bytes of a tree object: entries in git's order (a directory sorts as its name plus `/`).
pub(crate) fn tree_bytes(mut entries: Vec<(u32, &str, Oid)>) -> Vec<u8> {
    let key = |mode: u32, name: &str| {
        if mode == 0o040000 {
            format!("{name}/")
        } else {
            name.to_owned()
        }
    };
    entries.sort_by_key(|e| key(e.0, e.1));
    let mut out = Vec::new();
    for (mode, name, oid) in entries {
        out.extend_from_slice(format!("{mode:o} {name}\0").as_bytes());
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
