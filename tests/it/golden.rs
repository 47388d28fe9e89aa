//! Golden trees: the rendered branches of the examples and of focused cases, file by file.
//! `SHOPSET_BLESS=1` rewrites the expected directories; review the diff before committing it.

use std::collections::BTreeMap;
use std::path::Path;

use shopset_tests::{read_dir_files, root};

fn bless() -> bool {
    std::env::var_os("SHOPSET_BLESS").is_some_and(|v| v == "1")
}

fn compare(actual: &BTreeMap<String, Vec<u8>>, expected_dir: &Path) {
    if bless() {
        if expected_dir.exists() {
            std::fs::remove_dir_all(expected_dir).unwrap();
        }
        for (path, bytes) in actual {
            let file = expected_dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, bytes).unwrap();
        }
        return;
    }
    assert!(
        expected_dir.is_dir(),
        "{} is missing: run the tests with SHOPSET_BLESS=1",
        expected_dir.display()
    );
    let expected = read_dir_files(expected_dir);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: missing {missing:?}, unexpected {extra:?}",
        expected_dir.display()
    );
    for (path, bytes) in actual {
        assert!(
            expected[path] == *bytes,
            "{}/{path} differs:\n--- expected\n{}\n--- actual\n{}",
            expected_dir.display(),
            String::from_utf8_lossy(&expected[path]),
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn focused_cases() {
    let cases = root().join("tests/golden/cases");
    let mut seen = 0;
    for entry in std::fs::read_dir(&cases).unwrap() {
        let case = entry.unwrap().path();
        let inputs = shopset_render::parse_inputs(
            &std::fs::read_to_string(case.join("inputs.yaml")).unwrap(),
        )
        .unwrap();
        let tree = shopset_render::render_tier(&inputs).unwrap();
        let mut files = tree.files.clone();
        for (path, commit) in &tree.gitlinks {
            files.insert(
                format!("{path}.gitlink"),
                format!("{commit}\n").into_bytes(),
            );
        }
        compare(&files, &case.join("expected"));
        seen += 1;
    }
    assert!(seen >= 1);
}

#[test]
fn examples() {
    let (_tmp, dir) = shopset_tests::quickstart();
    let real = dir.canonicalize().unwrap().display().to_string();
    let repo = shopset_git::Repo::open(&dir.join("system.git").display().to_string()).unwrap();
    for tier in ["tier-0", "tier-1", "tier-2"] {
        let tip = repo.tip(tier).unwrap().unwrap();
        let files: BTreeMap<String, Vec<u8>> = repo
            .read_dir(&tip, "")
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                shopset_git::FileEntry::File { path, bytes } => Some((
                    path,
                    String::from_utf8(bytes)
                        .unwrap()
                        .replace(&real, "@QUICKSTART_DIR@")
                        .into_bytes(),
                )),
                shopset_git::FileEntry::Symlink { .. } => None,
            })
            .collect();
        compare(&files, &root().join("tests/golden/examples").join(tier));
    }
}
