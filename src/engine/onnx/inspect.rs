//! What an ONNX file declares, read before ONNX Runtime ever sees it: its graph
//! inputs and outputs, and whether it is safe to load in a database server.
//!
//! Two things are refused wherever they appear (the main graph, subgraphs of
//! If/Loop/Scan, model-local functions, training graphs):
//! - tensors stored outside the file (`data_location = EXTERNAL` or
//!   `external_data` entries): ONNX Runtime would open those paths relative to
//!   the server's working directory, i.e. read server files the caller may not;
//! - operators of domains other than standard ONNX (`""`, `"ai.onnx"`) and
//!   ONNX Runtime's own `"com.microsoft"` contrib operators (built into the
//!   library, and written by ONNX Runtime's own optimisers), or a function the
//!   model itself defines. Any other domain would need a custom-operator library
//!   (native code) loaded into the server; image_search never loads one.
use super::wire::{self, Field, WireError};
use std::collections::HashSet;

/// Operator domains that ONNX Runtime implements itself.
pub const ALLOWED_DOMAINS: &[&str] = &["", "ai.onnx", "com.microsoft"];
/// Subgraphs nest inside node attributes; bound the recursion.
const MAX_GRAPH_DEPTH: usize = 32;

// Field numbers of onnx.proto3.
const MODEL_IR_VERSION: u32 = 1;
const MODEL_GRAPH: u32 = 7;
const MODEL_TRAINING_INFO: u32 = 20;
const MODEL_FUNCTIONS: u32 = 25;
const TRAINING_INITIALIZATION: u32 = 1;
const TRAINING_ALGORITHM: u32 = 2;
const FUNCTION_NAME: u32 = 1;
const FUNCTION_NODE: u32 = 7;
const FUNCTION_DOMAIN: u32 = 10;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const GRAPH_SPARSE_INITIALIZER: u32 = 15;
const NODE_ATTRIBUTE: u32 = 5;
const NODE_OP_TYPE: u32 = 4;
const NODE_DOMAIN: u32 = 7;
const ATTRIBUTE_T: u32 = 5;
const ATTRIBUTE_G: u32 = 6;
const ATTRIBUTE_TENSORS: u32 = 10;
const ATTRIBUTE_GRAPHS: u32 = 11;
const ATTRIBUTE_SPARSE_TENSOR: u32 = 22;
const ATTRIBUTE_SPARSE_TENSORS: u32 = 23;
const SPARSE_VALUES: u32 = 1;
const SPARSE_INDICES: u32 = 2;
const TENSOR_NAME: u32 = 8;
const TENSOR_EXTERNAL_DATA: u32 = 13;
const TENSOR_DATA_LOCATION: u32 = 14;
const DATA_LOCATION_EXTERNAL: u64 = 1;
const VALUE_NAME: u32 = 1;
const VALUE_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TYPE_SEQUENCE: u32 = 4;
const TYPE_MAP: u32 = 5;
const TYPE_SPARSE_TENSOR: u32 = 8;
const TYPE_OPTIONAL: u32 = 9;
const TENSOR_TYPE_ELEM: u32 = 1;
const TENSOR_TYPE_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_VALUE: u32 = 1;
const DIM_PARAM: u32 = 2;

/// ONNX's TensorProto.DataType code for float32.
pub const FLOAT: i32 = 1;

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    Fixed(i64),
    /// Named (`dim_param`, e.g. "batch") or left unknown (empty name).
    Free(String),
}

/// The declared type of a graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// A tensor of ONNX element type `elem_type`; `dims` is `None` when the rank is unknown.
    Tensor { elem_type: i32, dims: Option<Vec<Dim>> },
    /// A sequence, map, optional or sparse tensor: never an image.
    Other(&'static str),
    /// No type given.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: String,
    pub ty: ValueType,
}

/// The main graph's interface: the inputs a caller feeds (inputs that are also
/// initializers have defaults and are left out) and the outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
}

/// The name of an ONNX element type, for messages.
pub fn elem_type_name(code: i32) -> String {
    let name = match code {
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "float64",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => return format!("element type {code}"),
    };
    name.to_string()
}

/// Why a file is refused, by kind (each maps to its own SQLSTATE in the Postgres layer).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not a protobuf ModelProto, or cut short.
    #[error("{0}")]
    NotOnnx(String),
    /// A tensor whose data is in another file.
    #[error("{0}")]
    ExternalData(String),
    /// An operator of a domain ONNX Runtime does not implement itself.
    #[error("{0}")]
    CustomDomain(String),
}

fn not_onnx(e: WireError) -> Refusal {
    Refusal::NotOnnx(format!("the data is not an ONNX model, or it is truncated ({})", e.0))
}

/// Everything the walk collects besides the signature.
#[derive(Default)]
struct Walk {
    /// (op_type, domain) of every node, to check once the model's own functions are known.
    operators: Vec<(String, String)>,
    functions: HashSet<(String, String)>,
}

/// Reads an ONNX model's signature, refusing external data and foreign
/// operator domains (see the module comment). Never panics on any input.
pub fn inspect(model: &[u8]) -> Result<Signature, Refusal> {
    let mut walk = Walk::default();
    let mut interface = GraphInterface::default();
    let (mut has_ir_version, mut has_graph) = (false, false);
    for field in wire::fields(model) {
        match field.map_err(not_onnx)? {
            Field::Varint(MODEL_IR_VERSION, _) => has_ir_version = true,
            Field::Bytes(MODEL_GRAPH, graph) => {
                has_graph = true;
                walk_graph(graph, 0, &mut walk, Some(&mut interface))?;
            }
            Field::Bytes(MODEL_TRAINING_INFO, info) => {
                for f in wire::fields(info) {
                    if let Field::Bytes(TRAINING_INITIALIZATION | TRAINING_ALGORITHM, graph) = f.map_err(not_onnx)? {
                        walk_graph(graph, 1, &mut walk, None)?;
                    }
                }
            }
            Field::Bytes(MODEL_FUNCTIONS, function) => walk_function(function, &mut walk)?,
            Field::Bytes(MODEL_IR_VERSION, _) | Field::Varint(MODEL_GRAPH, _) => {
                return Err(not_onnx(WireError("a model field has the wrong wire type")))
            }
            _ => {}
        }
    }
    if !has_ir_version || !has_graph {
        return Err(Refusal::NotOnnx("the data is not an ONNX model (it has no ir_version or no graph)".into()));
    }
    for (op_type, domain) in &walk.operators {
        let allowed =
            ALLOWED_DOMAINS.contains(&domain.as_str()) || walk.functions.contains(&(domain.clone(), op_type.clone()));
        if !allowed {
            return Err(Refusal::CustomDomain(format!(
                "the ONNX model uses operator \"{op_type}\" of the custom domain \"{domain}\"; image_search runs only \
                 standard ONNX operators (domain \"\" or \"ai.onnx\"), ONNX Runtime's built-in \"com.microsoft\" \
                 operators and functions defined in the model itself, since other domains need custom operator \
                 libraries loaded into the database server: export the model with standard operators only"
            )));
        }
    }
    // Graph inputs that have an initializer of the same name are optional overrides, not inputs.
    let initializers = interface.initializers;
    Ok(Signature {
        inputs: interface.inputs.into_iter().filter(|v| !initializers.contains(&v.name)).collect(),
        outputs: interface.outputs,
    })
}

fn walk_function(function: &[u8], walk: &mut Walk) -> Result<(), Refusal> {
    let (mut name, mut domain) = (String::new(), String::new());
    for field in wire::fields(function) {
        match field.map_err(not_onnx)? {
            Field::Bytes(FUNCTION_NAME, n) => name = wire::text(n),
            Field::Bytes(FUNCTION_DOMAIN, d) => domain = wire::text(d),
            Field::Bytes(FUNCTION_NODE, node) => walk_node(node, 1, walk)?,
            _ => {}
        }
    }
    walk.functions.insert((domain, name));
    Ok(())
}

/// The main graph's declared inputs, outputs and initializer names. Protobuf
/// merges repeated occurrences of the `graph` field (`encoder_file` appends one
/// holding the weights), so these accumulate over all of them.
#[derive(Default)]
struct GraphInterface {
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    initializers: HashSet<String>,
}

fn walk_graph(
    graph: &[u8],
    depth: usize,
    walk: &mut Walk,
    interface: Option<&mut GraphInterface>,
) -> Result<(), Refusal> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(Refusal::NotOnnx(format!("the ONNX model nests subgraphs more than {MAX_GRAPH_DEPTH} deep")));
    }
    let (mut inputs, mut outputs, mut initializers) = (Vec::new(), Vec::new(), HashSet::new());
    for field in wire::fields(graph) {
        match field.map_err(not_onnx)? {
            Field::Bytes(GRAPH_NODE, node) => walk_node(node, depth, walk)?,
            Field::Bytes(GRAPH_INITIALIZER, tensor) => {
                initializers.insert(check_tensor(tensor)?);
            }
            Field::Bytes(GRAPH_SPARSE_INITIALIZER, sparse) => {
                if let Some(name) = check_sparse_tensor(sparse)? {
                    initializers.insert(name);
                }
            }
            Field::Bytes(GRAPH_INPUT, value) => inputs.push(read_value(value)?),
            Field::Bytes(GRAPH_OUTPUT, value) => outputs.push(read_value(value)?),
            _ => {}
        }
    }
    if let Some(interface) = interface {
        interface.inputs.extend(inputs);
        interface.outputs.extend(outputs);
        interface.initializers.extend(initializers);
    }
    Ok(())
}

fn walk_node(node: &[u8], depth: usize, walk: &mut Walk) -> Result<(), Refusal> {
    let (mut op_type, mut domain) = (String::new(), String::new());
    for field in wire::fields(node) {
        match field.map_err(not_onnx)? {
            Field::Bytes(NODE_OP_TYPE, t) => op_type = wire::text(t),
            Field::Bytes(NODE_DOMAIN, d) => domain = wire::text(d),
            Field::Bytes(NODE_ATTRIBUTE, attribute) => walk_attribute(attribute, depth, walk)?,
            _ => {}
        }
    }
    walk.operators.push((op_type, domain));
    Ok(())
}

fn walk_attribute(attribute: &[u8], depth: usize, walk: &mut Walk) -> Result<(), Refusal> {
    for field in wire::fields(attribute) {
        match field.map_err(not_onnx)? {
            Field::Bytes(ATTRIBUTE_T | ATTRIBUTE_TENSORS, tensor) => {
                check_tensor(tensor)?;
            }
            Field::Bytes(ATTRIBUTE_SPARSE_TENSOR | ATTRIBUTE_SPARSE_TENSORS, sparse) => {
                check_sparse_tensor(sparse)?;
            }
            Field::Bytes(ATTRIBUTE_G | ATTRIBUTE_GRAPHS, graph) => walk_graph(graph, depth + 1, walk, None)?,
            _ => {}
        }
    }
    Ok(())
}

/// A tensor's name, or an error if its data lives in another file.
fn check_tensor(tensor: &[u8]) -> Result<String, Refusal> {
    let (mut name, mut external) = (String::new(), false);
    for field in wire::fields(tensor) {
        match field.map_err(not_onnx)? {
            Field::Bytes(TENSOR_NAME, n) => name = wire::text(n),
            Field::Bytes(TENSOR_EXTERNAL_DATA, _) => external = true,
            Field::Varint(TENSOR_DATA_LOCATION, DATA_LOCATION_EXTERNAL) => external = true,
            _ => {}
        }
    }
    if external {
        return Err(Refusal::ExternalData(format!(
            "the ONNX model keeps tensor \"{name}\" in an external data file; image_search imports only \
             self-contained models, since reading the external file would read server files: load the model \
             with its data in Python (onnx.load) and save it as one file (onnx.save_model(model, path, \
             save_as_external_data=False); models over 2 GB cannot be one file)"
        )));
    }
    Ok(name)
}

fn check_sparse_tensor(sparse: &[u8]) -> Result<Option<String>, Refusal> {
    let mut name = None;
    for field in wire::fields(sparse) {
        match field.map_err(not_onnx)? {
            Field::Bytes(SPARSE_VALUES, t) => name = Some(check_tensor(t)?),
            Field::Bytes(SPARSE_INDICES, t) => {
                check_tensor(t)?;
            }
            _ => {}
        }
    }
    Ok(name)
}

fn read_value(value: &[u8]) -> Result<Value, Refusal> {
    let mut out = Value { name: String::new(), ty: ValueType::Unknown };
    for field in wire::fields(value) {
        match field.map_err(not_onnx)? {
            Field::Bytes(VALUE_NAME, n) => out.name = wire::text(n),
            Field::Bytes(VALUE_TYPE, t) => out.ty = read_type(t)?,
            _ => {}
        }
    }
    Ok(out)
}

fn read_type(ty: &[u8]) -> Result<ValueType, Refusal> {
    let mut out = ValueType::Unknown;
    for field in wire::fields(ty) {
        out = match field.map_err(not_onnx)? {
            Field::Bytes(TYPE_TENSOR, tensor) => read_tensor_type(tensor)?,
            Field::Bytes(TYPE_SEQUENCE, _) => ValueType::Other("sequence"),
            Field::Bytes(TYPE_MAP, _) => ValueType::Other("map"),
            Field::Bytes(TYPE_SPARSE_TENSOR, _) => ValueType::Other("sparse tensor"),
            Field::Bytes(TYPE_OPTIONAL, _) => ValueType::Other("optional"),
            _ => continue,
        };
    }
    Ok(out)
}

fn read_tensor_type(tensor: &[u8]) -> Result<ValueType, Refusal> {
    let (mut elem_type, mut dims) = (0i32, None);
    for field in wire::fields(tensor) {
        match field.map_err(not_onnx)? {
            Field::Varint(TENSOR_TYPE_ELEM, t) => elem_type = t as i32,
            Field::Bytes(TENSOR_TYPE_SHAPE, shape) => {
                let mut list = Vec::new();
                for dim in wire::fields(shape) {
                    if let Field::Bytes(SHAPE_DIM, dim) = dim.map_err(not_onnx)? {
                        list.push(read_dim(dim)?);
                    }
                }
                dims = Some(list);
            }
            _ => {}
        }
    }
    Ok(ValueType::Tensor { elem_type, dims })
}

fn read_dim(dim: &[u8]) -> Result<Dim, Refusal> {
    let mut out = Dim::Free(String::new());
    for field in wire::fields(dim) {
        match field.map_err(not_onnx)? {
            Field::Varint(DIM_VALUE, v) => out = Dim::Fixed(v as i64),
            Field::Bytes(DIM_PARAM, p) => out = Dim::Free(wire::text(p)),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
