//! Tests of `inspect` on the fixtures of test/data/onnx (written by make_fixtures.py).
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../test/data/onnx/", $name, ".onnx")).as_slice()
    };
}

fn tensor(elem_type: i32, dims: &[Dim]) -> ValueType {
    ValueType::Tensor { elem_type, dims: Some(dims.to_vec()) }
}

fn free(name: &str) -> Dim {
    Dim::Free(name.into())
}

#[test]
fn reads_the_signature_without_initializers() {
    let sig = inspect(fixture!("conv_dynamic")).unwrap();
    assert_eq!(
        sig.inputs,
        vec![Value {
            name: "pixels".into(),
            ty: tensor(FLOAT, &[free("batch"), Dim::Fixed(3), Dim::Fixed(32), Dim::Fixed(32)])
        }]
    );
    assert_eq!(sig.outputs.len(), 1);
    assert_eq!(sig.outputs[0].name, "features");
    let two = inspect(fixture!("two_outputs")).unwrap();
    assert_eq!(two.outputs.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["logits", "features"]);
    assert_eq!(inspect(fixture!("two_inputs")).unwrap().inputs.len(), 2);
    let text = inspect(fixture!("text_input")).unwrap();
    assert_eq!(text.inputs[0].ty, tensor(8, &[free("batch"), Dim::Fixed(1)]));
    assert_eq!(elem_type_name(8), "string");
}

#[test]
fn our_own_encoders_pass() {
    use crate::engine::onnx::architectures::simclr_cnn;
    let encoder =
        crate::engine::onnx::encoder_file::with_initializer(simclr_cnn(1).features.plain, "params", &[0.0; 4]);
    let sig = inspect(&encoder).unwrap();
    assert_eq!(sig.inputs.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["images"], "params is an initializer");
    assert_eq!(sig.outputs[0].name, "embedding");
}

#[test]
fn external_data_is_refused_anywhere() {
    for model in [fixture!("external_data"), fixture!("external_in_subgraph")] {
        let err = inspect(model).unwrap_err().to_string();
        assert!(err.contains("external data file"), "{err}");
    }
    assert!(inspect(fixture!("external_data")).unwrap_err().to_string().contains("\"conv_w\""));
    assert!(inspect(fixture!("external_in_subgraph")).unwrap_err().to_string().contains("\"secret\""));
}

#[test]
fn custom_domains_are_refused() {
    let err = inspect(fixture!("custom_domain")).unwrap_err().to_string();
    assert!(err.contains("\"FastGelu\" of the custom domain \"my.custom.ops\""), "{err}");
}

#[test]
fn model_local_functions_may_be_called() {
    // A FunctionProto (field 25) named "Twice" in domain "local", called by a node of the graph.
    let mut model = Vec::new();
    let push = |out: &mut Vec<u8>, field: u8, payload: &[u8]| {
        out.push((field << 3) | 2);
        out.push(payload.len() as u8);
        out.extend_from_slice(payload);
    };
    let mut node = Vec::new();
    push(&mut node, 4, b"Twice");
    push(&mut node, 7, b"local");
    let mut graph = Vec::new();
    push(&mut graph, 1, &node);
    model.extend_from_slice(&[0x08, 0x08]); // ir_version 8
    push(&mut model, 7, &graph);
    let err = inspect(&model).unwrap_err().to_string();
    assert!(err.contains("custom domain \"local\""), "{err}");
    let mut function = Vec::new();
    push(&mut function, 1, b"Twice");
    push(&mut function, 10, b"local");
    model.push((25 << 3) | 2);
    model.push(1); // field 25 needs a two-byte key
    model.push(function.len() as u8);
    model.extend_from_slice(&function);
    assert!(inspect(&model).is_ok());
}

#[test]
fn garbage_and_truncated_files_are_not_onnx() {
    let good = fixture!("conv_dynamic");
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        let err = inspect(&good[..cut]).unwrap_err().to_string();
        assert!(err.starts_with("the data is not an ONNX model"), "cut at {cut}: {err}");
    }
    for garbage in [&b""[..], b"this is not an onnx model", b"\xff\xd8\xff\xe0 JFIF", &[0u8; 64]] {
        assert!(inspect(garbage).unwrap_err().to_string().starts_with("the data is not an ONNX model"));
    }
}

#[test]
fn no_byte_string_panics() {
    // Every prefix and a sweep of single-byte corruptions of a real model.
    let good = fixture!("two_outputs");
    for cut in 0..good.len() {
        let _ = inspect(&good[..cut]);
    }
    let mut bytes = good.to_vec();
    for i in 0..bytes.len() {
        let old = bytes[i];
        for new in [0x00, 0x7f, 0x80, 0xff, old ^ 0x07] {
            bytes[i] = new;
            let _ = inspect(&bytes);
        }
        bytes[i] = old;
    }
}
