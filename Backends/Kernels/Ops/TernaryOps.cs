namespace Ternion.Backends.Kernels.Ops;

/// <summary>
/// Names of the com.ternion operators that ONNX Runtime runs through Ternion's custom-op library,
/// and of their attributes. The passes that emit these nodes and the kernels that run them both
/// read them from here, so the two cannot drift apart. The contract of each operator is in
/// docs/ort-custom-ops.md.
/// </summary>
public static class TernaryOps
{
    public const string Domain = "com.ternion";
    /// <summary>The spec's TernaryDecode (../shared/design/ternary-format.md, section 5).</summary>
    public const string Decode = "TernaryDecode";
    /// <summary>Y = X W (+ bias) with W = TTF1 trits times scale, decoded in the data path; float32 or float16 X.</summary>
    public const string MatMul = "TernaryMatMul";
    /// <summary>
    /// TernaryMatMul whose activations are first quantized per token to int8 by absmax, exactly as
    /// BitNet's activation quantization in the model does, then multiplied in integers.
    /// </summary>
    public const string MatMulAbsmaxInt8 = "TernaryMatMulAbsmaxInt8";
    public const long Version = 1;

    // TernaryMatMul and TernaryMatMulAbsmaxInt8: the weight's logical [K, N] and its TTF1 block size.
    public const string AttrK = "K";
    public const string AttrN = "N";
    public const string AttrBlockSize = "block_size";
    // TernaryMatMulAbsmaxInt8: s = QuantMax / max(max|x|, QuantEps); q = clip(round(x * s), ClipMin, ClipMax).
    public const string AttrQuantMax = "quant_max";
    public const string AttrQuantEps = "quant_eps";
    public const string AttrClipMin = "clip_min";
    public const string AttrClipMax = "clip_max";
    // TernaryDecode.
    public const string AttrShape = "shape";
    public const string AttrAxis = "axis";
}

/// <summary>Element types the operators take, as ONNX numbers them (TensorProto.DataType).</summary>
public enum TensorElementType
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Float16 = 10,
    Double = 11,
    BFloat16 = 16,
}
