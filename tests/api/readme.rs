//! The README is a document, not a log: each section once, and its map of the code up to date.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

#[test]
fn every_section_appears_once() {
    let text = readme();
    let mut seen = std::collections::HashSet::new();
    for heading in text.lines().filter(|l| l.starts_with("## ")) {
        assert!(seen.insert(heading), "README.md has '{heading}' twice");
    }
    for needed in [
        "## Quick start",
        "## Configuration",
        "## Operating it",
        "## Performance",
        "## Development",
    ] {
        assert!(seen.contains(needed), "README.md lacks '{needed}'");
    }
}

#[test]
fn the_development_map_names_every_folder_and_benchmark() {
    let text = readme();
    let map = &text[text.find("## Development").expect("a Development section")..];
    let root = env!("CARGO_MANIFEST_DIR");
    for entry in std::fs::read_dir(format!("{root}/src"))
        .expect("src")
        .flatten()
    {
        if entry.path().is_dir() {
            let name = format!("{}/", entry.file_name().to_string_lossy());
            assert!(map.contains(&name), "the Development map misses src/{name}");
        }
    }
    for entry in std::fs::read_dir(format!("{root}/benches"))
        .expect("benches")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(bench) = name.strip_suffix(".rs") {
            assert!(
                map.contains(bench),
                "the Development map misses the {bench} benchmark"
            );
        }
    }
}
