fn main() {
    // The examples are embedded (include_dir): rebuild when they change.
    println!("cargo:rerun-if-changed=../../examples");
}
