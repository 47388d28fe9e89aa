//! Which objects a repository already has, read from its files once, for a check on many
//! objects at a time: the names of its loose objects and the sorted ids of its pack indexes.
//! libgit2 answers one object at a time, looking for its loose file (a system call) and taking
//! a lock per pack; for the hundreds of thousands of objects of a new tier that cost more than
//! compressing them.

use std::collections::HashSet;
use std::path::Path;

use git2::Oid;

use crate::pack::IdHasher;

/// The objects a repository had when it was read.
pub(crate) struct Present {
    loose: HashSet<Oid, std::hash::BuildHasherDefault<IdHasher>>,
    /// Each pack index whole (version 2): its fan-out table and sorted ids are searched.
    indexes: Vec<Vec<u8>>,
}

/// The first bytes of a version-2 pack index.
const INDEX_V2: [u8; 8] = [0xff, b't', b'O', b'c', 0, 0, 0, 2];

impl Present {
    /// Reads the object directory `objects`. `None` when it holds something this reader does
    /// not follow (alternates, an index of another version, an unreadable file): ask libgit2.
    pub(crate) fn read(objects: &Path) -> Option<Self> {
        if objects.join("info/alternates").exists() {
            return None;
        }
        let mut loose = HashSet::default();
        for fan in 0..=255u8 {
            let dir = objects.join(format!("{fan:02x}"));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue; // no object starts with these two digits
            };
            for entry in entries {
                let name = entry.ok()?.file_name();
                // Anything else there is a temporary file.
                if let Some(rest) = name.to_str().filter(|n| n.len() == 38)
                    && let Ok(oid) = Oid::from_str(&format!("{fan:02x}{rest}"))
                {
                    loose.insert(oid);
                }
            }
        }
        let mut indexes = Vec::new();
        if let Ok(entries) = std::fs::read_dir(objects.join("pack")) {
            for entry in entries {
                let path = entry.ok()?.path();
                if path.extension().is_some_and(|e| e == "idx") {
                    let bytes = std::fs::read(&path).ok()?;
                    if !well_formed(&bytes) {
                        return None;
                    }
                    indexes.push(bytes);
                }
            }
        }
        Some(Self { loose, indexes })
    }

    /// Whether the repository had `oid`.
    pub(crate) fn has(&self, oid: Oid) -> bool {
        self.loose.contains(&oid) || self.indexes.iter().any(|index| indexed(index, oid))
    }
}

/// A version-2 index whose fan-out table never decreases and whose ids are all there.
fn well_formed(index: &[u8]) -> bool {
    index.starts_with(&INDEX_V2)
        && index.len() >= 8 + 1024
        && (1..256).all(|i| fanout(index, i - 1) <= fanout(index, i))
        && index.len() >= 8 + 1024 + count(index) * 20
}

/// The `i`-th entry of an index's fan-out table: how many of its ids start with a byte up to `i`.
fn fanout(index: &[u8], i: usize) -> usize {
    let at = 8 + i * 4;
    u32::from_be_bytes(index[at..at + 4].try_into().expect("four bytes")) as usize
}

/// How many objects an index lists.
fn count(index: &[u8]) -> usize {
    fanout(index, 255)
}

/// Whether the version-2 pack index `index` lists `oid`.
fn indexed(index: &[u8], oid: Oid) -> bool {
    let id = oid.as_bytes();
    let first = usize::from(id[0]);
    let (mut lo, mut hi) = (
        if first == 0 {
            0
        } else {
            fanout(index, first - 1)
        },
        fanout(index, first),
    );
    let ids = &index[8 + 1024..];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match ids[mid * 20..mid * 20 + 20].cmp(id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str], stdin: &str) {
        use std::io::Write as _;
        let mut child = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Loose objects, a pack of ours and a pack of git's own are all found, as libgit2 finds
    /// them; what is absent is not; a repository with alternates is left to libgit2.
    #[test]
    fn it_finds_what_libgit2_finds() {
        let dir = std::env::temp_dir().join(format!("shopset-present-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = git2::Repository::init_bare(&dir).unwrap();
        let odb = repo.odb().unwrap();
        let objects = dir.join("objects");
        let blob = git2::ObjectType::Blob;
        let loose: Vec<Oid> = (0..50)
            .map(|i| crate::pack::write_loose(&repo, &odb, blob, format!("loose {i}").as_bytes()))
            .collect::<Result<_, _>>()
            .unwrap();
        let texts: Vec<String> = (0..3_000).map(|i| format!("packed {i}")).collect();
        let mut pack = crate::pack::PackBuffer::default();
        let packed: Vec<Oid> = texts.iter().map(|t| pack.add(blob, t.as_bytes())).collect();
        pack.write(&repo, &odb, 2).unwrap();
        let absent: Vec<Oid> = (0..3_000)
            .map(|i| crate::pack::object_id(blob, format!("absent {i}").as_bytes()))
            .collect();
        let check = |present: &Present| {
            for oid in loose.iter().chain(&packed) {
                assert!(present.has(*oid), "{oid}");
                assert!(odb.exists(*oid));
            }
            for oid in &absent {
                assert!(!present.has(*oid), "{oid}");
                assert!(!odb.exists(*oid));
            }
        };
        let present = Present::read(&objects).expect("a plain repository");
        assert_eq!(present.loose.len(), loose.len());
        assert_eq!(present.indexes.len(), 1);
        check(&present);
        // Everything into a pack written by git, the loose objects gone.
        let ids: String = loose
            .iter()
            .chain(&packed)
            .map(|o| format!("{o}\n"))
            .collect();
        let prefix = objects.join("pack/pack");
        git(
            &dir,
            &["pack-objects", "-q", prefix.to_str().unwrap()],
            &ids,
        );
        git(&dir, &["prune-packed"], "");
        let repacked = Present::read(&objects).expect("git's own index");
        assert!(repacked.loose.is_empty());
        assert_eq!(repacked.indexes.len(), 2);
        check(&repacked);

        std::fs::create_dir_all(objects.join("info")).unwrap();
        std::fs::write(objects.join("info/alternates"), "/elsewhere/objects\n").unwrap();
        assert!(Present::read(&objects).is_none(), "alternates: ask libgit2");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_index_is_left_to_libgit2() {
        let mut index = INDEX_V2.to_vec();
        index.extend((0..256u32).flat_map(|i| (i / 2).to_be_bytes()));
        index.extend(std::iter::repeat_n(0u8, 127 * 20));
        assert!(well_formed(&index));
        index.truncate(index.len() - 1);
        assert!(!well_formed(&index), "an id cut short");
        let mut decreasing = INDEX_V2.to_vec();
        decreasing.extend((0..256u32).flat_map(|i| (if i == 7 { 0u32 } else { 1 }).to_be_bytes()));
        decreasing.extend(std::iter::repeat_n(0u8, 20));
        assert!(!well_formed(&decreasing));
    }
}
