//! Writing many new objects at once as one pack.
//!
//! Every object id is computed in memory first (`Oid::hash_object`), objects the repository
//! already has are skipped, and the rest are streamed as a version-2 pack into libgit2's pack
//! indexer: one file and one index instead of tens of thousands of loose files.

use std::collections::BTreeSet;
use std::io::Write as _;

use git2::{ObjectType, Oid};

/// Writes one object as a loose file, compressed with zlib's fastest level (libgit2's own
/// writer uses the default level, which for a large blob such as the recorded inputs costs
/// several times more). Written to a temporary file and renamed, as git does, so a reader
/// never sees half an object. Returns its id; an object already present is not written again.
pub(crate) fn write_loose(
    repo: &git2::Repository,
    odb: &git2::Odb<'_>,
    kind: ObjectType,
    bytes: &[u8],
) -> Result<Oid, git2::Error> {
    let oid = Oid::hash_object(kind, bytes)?;
    if odb.exists(oid) {
        return Ok(oid);
    }
    let io = |e: std::io::Error| git2::Error::from_str(&format!("write object {oid}: {e}"));
    let hex = oid.to_string();
    let dir = repo.path().join("objects").join(&hex[..2]);
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
    Ok(oid)
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
        let oid = Oid::hash_object(kind, &bytes)?;
        if !self.queued.contains(&oid) && !odb.exists(oid) {
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
        let digest = sha1_smol::Sha1::from(&out).digest().bytes();
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
