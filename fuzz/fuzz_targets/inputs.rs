//! The recorded-inputs parser (`.shopset/inputs.yaml`): any text read as recorded inputs. When
//! read, the inputs written out read back as themselves, and writing them is a fixpoint (the
//! file written is the file read back and written again), so a branch re-rendered from its
//! own record is recognized as a rendering by content.
#![no_main]

use shopset_fuzz::{check_render, text};
use shopset_render::{inputs_yaml, parse_inputs};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let Ok(inputs) = parse_inputs(text) else {
        return;
    };
    let written = inputs_yaml(&inputs);
    let read = parse_inputs(&written)
        .unwrap_or_else(|e| panic!("written inputs do not parse: {e}\n{written}"));
    assert_eq!(read, inputs, "inputs read back differently:\n{written}");
    assert_eq!(
        inputs_yaml(&read),
        written,
        "writing the inputs is not a fixpoint"
    );
    if inputs.shop_sets.len() <= 8 {
        let _ = check_render(&inputs);
    }
});
