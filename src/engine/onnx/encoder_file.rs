//! Turning an encoder graph plus trained weights into one standalone ONNX file.
//!
//! The generated encoder takes its weights as a graph input named `params`.
//! Protobuf merges a repeated occurrence of a singular message field, so appending
//! a second `graph` field that holds only an initializer called `params` adds that
//! initializer to the graph: the result runs anywhere without feeding weights,
//! and no ONNX protobuf library is needed.

const MODEL_GRAPH_FIELD: u32 = 7; // ModelProto.graph
const GRAPH_INITIALIZER_FIELD: u32 = 5; // GraphProto.initializer
const TENSOR_DIMS_FIELD: u32 = 1; // TensorProto.dims (packed int64)
const TENSOR_DATA_TYPE_FIELD: u32 = 2; // TensorProto.data_type
const TENSOR_NAME_FIELD: u32 = 8; // TensorProto.name
const TENSOR_RAW_DATA_FIELD: u32 = 9; // TensorProto.raw_data
const ONNX_FLOAT: u64 = 1;

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(field: u32, payload: &[u8], out: &mut Vec<u8>) {
    varint(((field as u64) << 3) | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn float_tensor(name: &str, values: &[f32]) -> Vec<u8> {
    let mut tensor = Vec::with_capacity(values.len() * 4 + name.len() + 32);
    let mut dims = Vec::new();
    varint(values.len() as u64, &mut dims);
    length_delimited(TENSOR_DIMS_FIELD, &dims, &mut tensor);
    varint((TENSOR_DATA_TYPE_FIELD as u64) << 3, &mut tensor);
    varint(ONNX_FLOAT, &mut tensor);
    length_delimited(TENSOR_NAME_FIELD, name.as_bytes(), &mut tensor);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    length_delimited(TENSOR_RAW_DATA_FIELD, &raw, &mut tensor);
    tensor
}

/// `model` with a 1-D float initializer `name` holding `values` added to its graph.
pub fn with_initializer(model: &[u8], name: &str, values: &[f32]) -> Vec<u8> {
    let mut graph = Vec::new();
    length_delimited(GRAPH_INITIALIZER_FIELD, &float_tensor(name, values), &mut graph);
    let mut out = model.to_vec();
    length_delimited(MODEL_GRAPH_FIELD, &graph, &mut out);
    out
}

/// `model` with the serialized GraphProto `fragment` merged into its graph: the
/// fragment's nodes, outputs and initializers are added after the graph's own (its
/// other fields must be unset, or they would replace the graph's).
pub fn with_graph_fragment(model: &[u8], fragment: &[u8]) -> Vec<u8> {
    let mut out = model.to_vec();
    length_delimited(MODEL_GRAPH_FIELD, fragment, &mut out);
    out
}

/// The values of the first initializer `with_initializer` added to `model`, which must
/// start with `base` (the architecture's encoder graph it was made from): the
/// trained weights of a stored encoder, for warm starts. `None` when `model` was
/// not made that way (another architecture, or not ours).
pub fn appended_initializer(model: &[u8], base: &[u8], name: &str, count: usize) -> Option<Vec<f32>> {
    let rest = model.strip_prefix(base)?;
    let mut expected = Vec::new();
    length_delimited(GRAPH_INITIALIZER_FIELD, &float_tensor(name, &vec![0.0; count]), &mut expected);
    let mut header = Vec::new();
    varint(((MODEL_GRAPH_FIELD as u64) << 3) | 2, &mut header);
    varint(expected.len() as u64, &mut header);
    // Same layout as a tensor of `count` zeros: only the raw bytes may differ.
    // Further appended initializers (a model's gradient_pca) may follow.
    let graph = rest.strip_prefix(&header[..])?.get(..expected.len())?;
    let raw = &graph[graph.len() - count * 4..];
    if graph[..graph.len() - count * 4] != expected[..expected.len() - count * 4] {
        return None;
    }
    Some(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appended_weights_read_back_only_from_the_same_base() {
        let values = [1.5f32, -2.0, 0.25];
        let model = with_initializer(b"base graph", "params", &values);
        assert_eq!(appended_initializer(&model, b"base graph", "params", 3), Some(values.to_vec()));
        assert_eq!(appended_initializer(&model, b"other graph", "params", 3), None, "another architecture");
        assert_eq!(appended_initializer(&model, b"base graph", "params", 4), None, "another size");
        assert_eq!(appended_initializer(&model, b"base graph", "weights", 3), None, "another name");
        assert_eq!(appended_initializer(b"base graph", b"base graph", "params", 3), None, "no weights");
        let two = with_initializer(&model, "gradient_pca", &[7.0, 8.0]);
        assert_eq!(appended_initializer(&two, b"base graph", "params", 3), Some(values.to_vec()), "a second follows");
    }

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut out = Vec::new();
        varint(300, &mut out);
        assert_eq!(out, vec![0xac, 0x02]);
    }

    #[test]
    fn appended_tensor_has_the_expected_wire_bytes() {
        let out = with_initializer(b"", "p", &[1.0]);
        let tensor = [0x0a, 0x01, 0x01, 0x10, 0x01, 0x42, 0x01, b'p', 0x4a, 0x04, 0, 0, 0x80, 0x3f];
        let mut graph = vec![0x2a, tensor.len() as u8];
        graph.extend_from_slice(&tensor);
        let mut expected = vec![0x3a, graph.len() as u8];
        expected.extend_from_slice(&graph);
        assert_eq!(out, expected);
    }
}
