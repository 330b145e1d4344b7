using System.Runtime.InteropServices;
using Ternion.IR;
using Attribute = Ternion.IR.Attribute;

namespace Ternion.SampleGen;

/// <summary>How a master weight is quantized online (BitNet b1.58's weight_quant, as torch.onnx writes it unfolded).</summary>
public sealed record OnlineQuant
{
    /// <summary>One absmean per output channel (ReduceMean over the input axis) instead of one per tensor.</summary>
    public bool PerChannel { get; init; }
    /// <summary>The scale is applied to the MatMul's output (Div), not to the weight: the weight operand is the trits.</summary>
    public bool ScaleAfterMatMul { get; init; }
    /// <summary>1/x as Reciprocal instead of Div(1, x).</summary>
    public bool Reciprocal { get; init; }
    /// <summary>Gemm(x, W, transB=1) reads the [N, K] weight instead of Transpose + MatMul.</summary>
    public bool Gemm { get; init; }
}

/// <summary>How HF transformers' BitNet unpacks its uint8 weights in the exported graph.</summary>
public enum UnpackStyle
{
    /// <summary>BitwiseAnd with 3 &lt;&lt; 2i, BitShift right by 2i (opset 18+).</summary>
    BitOps,
    /// <summary>Cast to int32, Div by 4^i, Mod 4 (older exporters).</summary>
    DivMod,
}

/// <summary>
/// Writes a linear layer's weight the ways exporters do, into an IR graph: the weight W of
/// torch.nn.Linear has shape [N, K] (out, in) and the layer computes X @ W^T. Each method returns the
/// value to use as the MatMul B operand ([K, N]) or builds the consuming node itself. Used by the
/// tests (one model per form, with decoys), the sample's twins and the benchmark generator; tensors
/// are passed in as IR tensors so large ones can be produced lazily.
/// </summary>
public sealed class ExportForms(Graph graph, long opset)
{
    public Graph Graph { get; } = graph;
    public long Opset { get; } = opset;

    private Value Op(string op, IEnumerable<Value?> inputs, params Attribute[] attrs) => Graph.Append(new Node("", op, inputs, 1, attrs)).Output();
    private Value Op(string domain, string op, IEnumerable<Value?> inputs, params Attribute[] attrs) => Graph.Append(new Node(domain, op, inputs, 1, attrs)).Output();
    public Value Constant<T>(string name, DataType type, long[] dims, params T[] v) where T : unmanaged =>
        Graph.AddInitializer(Tensor.FromArray(name, type, dims, v), name);
    private Value Float(string name, float v) => Constant(name, DataType.Float, [], v);

    /// <summary>Y = X @ B for the B operand a form returned.</summary>
    public Value MatMul(Value x, Value b) => Op("MatMul", [x, b]);

    // ---- form 1: online quantization of a master weight ----

    /// <summary>
    /// BitNet b1.58's weight_quant unfolded: s = 1 / clip(mean(|M|), 1e-5); t = clip(round(M * s), -1, 1);
    /// W = t / s, transposed to [K, N]. A float16/bfloat16 master is cast to float first. With
    /// <see cref="OnlineQuant.ScaleAfterMatMul"/> the weight operand is t^T and <paramref name="x"/>'s
    /// product is divided by s after the MatMul. Returns the layer's output.
    /// </summary>
    public Value OnlineQuantizedLinear(Value x, Value master, string prefix, OnlineQuant q)
    {
        var (w, s) = OnlineQuantizedWeight(master, prefix, q);
        if (q.ScaleAfterMatMul)
        {
            var y = q.Gemm ? Op("Gemm", [x, w], Attribute.Int("transB", 1)) : MatMul(x, Op("Transpose", [w], Attribute.Ints("perm", [1, 0])));
            // s is [N, 1] per channel: the product is [.., N], so the scale goes in as a row.
            var sRow = q.PerChannel ? Op("Transpose", [s], Attribute.Ints("perm", [1, 0])) : s;
            return Op("Div", [y, sRow]);
        }
        return q.Gemm ? Op("Gemm", [x, w], Attribute.Int("transB", 1)) : MatMul(x, Op("Transpose", [w], Attribute.Ints("perm", [1, 0])));
    }

    /// <summary>
    /// The quantized [N, K] weight (t / s, or the trits t alone with <see cref="OnlineQuant.ScaleAfterMatMul"/>)
    /// and the scale s (a scalar, or [N, 1] per channel).
    /// </summary>
    public (Value Weight, Value Scale) OnlineQuantizedWeight(Value master, string prefix, OnlineQuant q)
    {
        var m = master.ElemType == DataType.Float ? master : Op("Cast", [master], Attribute.Int("to", (long)DataType.Float));
        var abs = Op("Abs", [m]);
        Value mean = q.PerChannel
            ? ReduceMean(abs, [1], keepDims: true)
            : ReduceMean(abs, null, keepDims: false);
        var clipped = Op("Clip", [mean, Float(prefix + ".eps", 1e-5f)]);
        var s = q.Reciprocal ? Op("Reciprocal", [clipped]) : Op("Div", [Float(prefix + ".one", 1f), clipped]);
        var t = Op("Clip", [Op("Round", [Op("Mul", [m, s])]), Float(prefix + ".lo", -1f), Float(prefix + ".hi", 1f)]);
        return (q.ScaleAfterMatMul ? t : Op("Div", [t, s]), s);
    }

    private Value ReduceMean(Value x, long[]? axes, bool keepDims)
    {
        var keep = Attribute.Int("keepdims", keepDims ? 1 : 0);
        if (axes is null) return Op("ReduceMean", [x], keep);
        return Opset >= 18
            ? Op("ReduceMean", [x, Constant($"axes_{Graph.Names.Fresh("r")}", DataType.Int64, [axes.Length], axes)], keep)
            : Op("ReduceMean", [x], Attribute.Ints("axes", axes), keep);
    }

    // ---- form 2: HF transformers BitNet packed uint8 ----

    /// <summary>
    /// HF BitNet's layout: uint8 [N/4, K], 2 bits per trit (value = trit + 1); unpacked row i*N/4 + p
    /// comes from bits 2i of packed row p.
    /// </summary>
    public static byte[] PackHfBitNet(ReadOnlySpan<sbyte> tritsNK, int n, int k)
    {
        if (n % 4 != 0) throw new ArgumentException("N must be a multiple of 4");
        int p = n / 4;
        var packed = new byte[p * k];
        for (int row = 0; row < n; row++)
        {
            int i = row / p, pr = row % p;
            for (int c = 0; c < k; c++) packed[pr * k + c] |= (byte)((tritsNK[row * k + c] + 1) << (2 * i));
        }
        return packed;
    }

    /// <summary>
    /// Unpacks [N/4, K] uint8 into float trits [N, K] in the graph (Concat along axis 0, Sub 1, Cast),
    /// optionally times <paramref name="scale"/> ([N, 1] or a scalar), and transposes to the [K, N] B operand.
    /// </summary>
    public Value UnpackedWeight(Value packed, string prefix, UnpackStyle style, Value? scale = null)
    {
        var parts = new List<Value>();
        if (style == UnpackStyle.BitOps)
            for (int i = 0; i < 4; i++)
            {
                var masked = Op("BitwiseAnd", [packed, Constant($"{prefix}.mask{i}", DataType.UInt8, [], (byte)(3 << (2 * i)))]);
                parts.Add(Op("BitShift", [masked, Constant($"{prefix}.shift{i}", DataType.UInt8, [], (byte)(2 * i))], Attribute.String("direction", "RIGHT")));
            }
        else
        {
            var ints = Op("Cast", [packed], Attribute.Int("to", (long)DataType.Int32));
            for (int i = 0; i < 4; i++)
            {
                var d = Op("Div", [ints, Constant($"{prefix}.div{i}", DataType.Int32, [], 1 << (2 * i))]);
                parts.Add(Op("Mod", [d, Constant($"{prefix}.mod{i}", DataType.Int32, [], 4)]));
            }
        }
        var cat = Op("Concat", parts, Attribute.Int("axis", 0));
        var f = Op("Cast", [cat], Attribute.Int("to", (long)DataType.Float));
        var t = Op("Sub", [f, Float($"{prefix}.one", 1f)]);
        if (scale is not null) t = Op("Mul", [t, scale]);
        return Op("Transpose", [t], Attribute.Ints("perm", [1, 0]));
    }

    // ---- form 3: float16 / bfloat16 behind Cast ----

    /// <summary>A low-precision [K, N] weight cast to float32 (plus an Identity, as some exporters leave).</summary>
    public Value CastWeight(Value lowPrecision) => Op("Identity", [Op("Cast", [lowPrecision], Attribute.Int("to", (long)DataType.Float))]);

    /// <summary>A low-precision [N, K] weight cast to float32 and transposed to [K, N].</summary>
    public Value CastTransposedWeight(Value lowPrecisionNK) =>
        Op("Transpose", [Op("Cast", [lowPrecisionNK], Attribute.Int("to", (long)DataType.Float))], Attribute.Ints("perm", [1, 0]));

    /// <summary>A flat low-precision weight cast to float32 and reshaped to [K, N].</summary>
    public Value CastReshapedWeight(Value flat, long k, long n) =>
        Op("Reshape", [Op("Cast", [flat], Attribute.Int("to", (long)DataType.Float)), Constant($"shape_{Graph.Names.Fresh("kn")}", DataType.Int64, [2], k, n)]);

    // ---- form 4: already quantized ----

    /// <summary>DequantizeLinear(q, scale[, zero_point]) with attributes for per-axis and blocked scales.</summary>
    public Value Dequantize(Value q, Value scale, Value? zeroPoint, long? axis = null, long? blockSize = null)
    {
        var attrs = new List<Attribute>();
        if (axis is { } a) attrs.Add(Attribute.Int("axis", a));
        if (blockSize is { } b) attrs.Add(Attribute.Int("block_size", b));
        return Op("DequantizeLinear", zeroPoint is null ? [q, scale] : [q, scale, zeroPoint], attrs.ToArray());
    }

    /// <summary>com.microsoft::MatMulNBits(A, B, scales[, zero_points]) computing A @ W^T for W [N, K].</summary>
    public Value MatMulNBits(Value a, NBitsWeight w, string prefix)
    {
        var b = Graph.AddInitializer(new Tensor(null, DataType.UInt8, [w.N, w.Blocks, w.BlobBytes], new MemoryTensorData(w.Codes)), $"{prefix}.qweight");
        var s = Graph.AddInitializer(Tensor.FromArray(null, DataType.Float, [w.N * w.Blocks], w.Scales), $"{prefix}.scales");
        Value? zp = w.ZeroPoints is null ? null : Graph.AddInitializer(new Tensor(null, DataType.UInt8, [w.ZeroPoints.Length], new MemoryTensorData(w.ZeroPoints)), $"{prefix}.qzeros");
        var inputs = new List<Value?> { a, b, s };
        if (zp is not null) inputs.Add(zp);
        return Op("com.microsoft", "MatMulNBits", inputs,
            Attribute.Int("K", w.K), Attribute.Int("N", w.N), Attribute.Int("bits", w.Bits), Attribute.Int("block_size", w.BlockSize));
    }

    /// <summary>
    /// Block-wise round-to-nearest quantization of W [N, K] as MatMulNBits stores it: per block
    /// scale = absmax / qmax (qmax = 2^(bits-1) - 1), code = round(w / scale) + zero point (the
    /// default 2^(bits-1), or an explicit one per block). A ternary weight comes out as codes
    /// zp - qmax, zp, zp + qmax.
    /// </summary>
    public static NBitsWeight QuantizeNBits(float[] wNK, int n, int k, int bits, int blockSize, bool explicitZeroPoints)
    {
        int blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8, perByte = 8 / bits;
        int qmax = (1 << (bits - 1)) - 1, zp = 1 << (bits - 1);
        var codes = new byte[n * blocks * blob];
        var scales = new float[n * blocks];
        int zpRow = (blocks * bits + 7) / 8;
        var zps = explicitZeroPoints ? new byte[n * zpRow] : null;
        for (int row = 0; row < n; row++)
            for (int blk = 0; blk < blocks; blk++)
            {
                float amax = 0;
                for (int c = blk * blockSize; c < Math.Min(k, (blk + 1) * blockSize); c++) amax = Math.Max(amax, Math.Abs(wNK[row * k + c]));
                float scale = amax == 0 ? 1f : amax / qmax;
                scales[row * blocks + blk] = scale;
                if (zps is not null) zps[row * zpRow + blk / perByte] |= (byte)(zp << (blk % perByte * bits));
                for (int e = 0; e < blockSize; e++)
                {
                    int c = blk * blockSize + e;
                    int code = c < k ? Math.Clamp((int)MathF.Round(wNK[row * k + c] / scale) + zp, 0, (1 << bits) - 1) : zp;
                    codes[(row * blocks + blk) * blob + e / perByte] |= (byte)(code << (e % perByte * bits));
                }
            }
        return new NBitsWeight(n, k, bits, blockSize, codes, scales, zps);
    }
}

/// <summary>A MatMulNBits weight: codes [N, blocks, blob], scales [N * blocks], optional packed zero points.</summary>
public sealed record NBitsWeight(int N, int K, int Bits, int BlockSize, byte[] Codes, float[] Scales, byte[]? ZeroPoints)
{
    public int Blocks => (K + BlockSize - 1) / BlockSize;
    public int BlobBytes => BlockSize * Bits / 8;
}

/// <summary>Element conversions the forms need.</summary>
public static class LowPrecision
{
    public static byte[] BFloat16(ReadOnlySpan<float> v)
    {
        var r = new ushort[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(v[i]);
            r[i] = (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
        return MemoryMarshal.AsBytes(r.AsSpan()).ToArray();
    }

    public static byte[] Float16(ReadOnlySpan<float> v)
    {
        var r = new Half[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = (Half)v[i];
        return MemoryMarshal.AsBytes(r.AsSpan()).ToArray();
    }
}
