//! Any bytes as a GGUF file or a safetensors buffer: an error is fine, a panic or a huge
//! allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = candle_core::safetensors::load_buffer(data, &candle_core::Device::Cpu);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), data).expect("write");
    // `models info`'s header check (it reads the header alone, from the file).
    let _ = mlkit_core::parts::check_safetensors(file.path());
    if let Ok(content) = mlkit_core::parts::read_gguf_content(file.path()) {
        let mut reader = std::fs::File::open(file.path()).expect("open");
        for name in content.tensor_infos.keys() {
            let _ = content.tensor(&mut reader, name, &candle_core::Device::Cpu);
        }
    }
});
