//! Any bytes as a pytorch_model.bin, raw or as the data.pkl of a well-formed torch.save
//! archive (so that the unpickler itself is reached): an error is fine, a panic, a huge
//! allocation or a deep recursion is a bug.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mlkit_core::weights::{load, WeightFormat};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = tempfile::NamedTempFile::new().expect("temp file");
    if mode % 2 == 0 {
        std::fs::write(file.path(), rest).expect("write");
    } else {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(file.path()).expect("create"));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("archive/data.pkl", stored).expect("entry");
        zip.write_all(rest).expect("write");
        zip.start_file("archive/data/0", stored).expect("entry");
        zip.write_all(&[0u8; 64]).expect("write");
        zip.finish().expect("finish");
    }
    let _ = load(WeightFormat::Pickle, &[file.path().to_path_buf()]);
});
