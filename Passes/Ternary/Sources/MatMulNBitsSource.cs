using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// An already-quantized weight: com.microsoft::MatMulNBits (ONNX Runtime; Olive and the GenAI model
/// builder write it, int4 by default). Its weight is W[n, k] = (q[n, k] - zero_point[n, b]) * scale[n, b]
/// for block b = k / block_size. A ternary weight quantized with block scales comes out as exactly
/// {-q, 0, +q} per block; when every row's non-zero values share one magnitude (TTF1 keeps one scale
/// per tensor or per output channel) the weight is transcoded losslessly, else it stays as it is and
/// the report says why. Sizes that disagree with K, N, bits and block_size are an error naming the node.
/// </summary>
internal static class MatMulNBitsSource
{
    public const string Domain = "com.microsoft";

    public static void ConsiderAll(Model model, PassContext ctx, TernaryDetections found)
    {
        foreach (var g in model.AllGraphs().ToList())
            foreach (var n in g.Nodes.ToList())
                if (n.OpType == "MatMulNBits" && n.DomainName == Domain)
                    Consider(g, n, ctx, found);
    }

    private static void Consider(Graph g, Node node, PassContext ctx, TernaryDetections found)
    {
        string name = node.Input(1)?.Name ?? node.Describe();
        void Reject(string why) => DetectTernaryWeights.RejectWith(ctx, name, why, WeightSources.MatMulNBits);
        if (node.Outputs.Count == 0 || node.Outputs[0] is null) { Reject($"{node.Describe()} has its output omitted"); return; }
        if (node.Input(1) is not { Initializer: { } b } bValue || node.Input(2) is not { Initializer: { } scales })
        {
            Reject("its weight or scales are not initializers");
            return;
        }
        long k = node.GetInt("K", -1), nOut = node.GetInt("N", -1), bits = node.GetInt("bits", 4), blockSize = node.GetInt("block_size", -1);
        var bad = Bad(node);
        if (k <= 0 || nOut <= 0) throw bad($"K {k} and N {nOut} must be positive");
        if (bits is not (2 or 4 or 8)) { Reject($"bits={bits}: only 2, 4 and 8 are read"); return; }
        if (blockSize < 16 || (blockSize & (blockSize - 1)) != 0) throw bad($"block_size {blockSize} is not a power of two of at least 16");
        long blocks = (k + blockSize - 1) / blockSize;
        long blob = blockSize * bits / 8;
        if (b.DataType != DataType.UInt8) throw bad($"B '{bValue.Name}' is {DataTypes.ShortName(b.DataType)}, not uint8");
        if (b.ElementCount != nOut * blocks * blob)
            throw bad($"B '{bValue.Name}' is [{string.Join(",", b.Dims)}] but K={k}, N={nOut}, bits={bits}, block_size={blockSize} need [{nOut},{blocks},{blob}]");
        if (scales.DataType is not (DataType.Float or DataType.Float16)) { Reject($"scales are {DataTypes.ShortName(scales.DataType)}"); return; }
        if (scales.ElementCount != nOut * blocks)
            throw bad($"scales '{node.Input(2)!.Name}' hold {scales.ElementCount:N0} values but N={nOut} rows of {blocks} block(s) need {nOut * blocks:N0}");
        Tensor? zp = null;
        if (node.Input(3) is { } zpValue)
        {
            if (zpValue.Initializer is not { } z) { Reject("its zero points are not an initializer"); return; }
            if (z.DataType != DataType.UInt8) { Reject($"zero points of type {DataTypes.ShortName(z.DataType)} (only packed uint8 ones are read)"); return; }
            long perRow = (blocks * bits + 7) / 8;
            if (z.ElementCount != nOut * perRow)
                throw bad($"zero points '{zpValue.Name}' hold {z.ElementCount:N0} bytes but N={nOut} rows of {blocks} {bits}-bit value(s) need {nOut * perRow:N0}");
            zp = z;
        }
        if (node.Input(4) is not null) { Reject("it has a g_idx (act-order) input"); return; }
        long elements = k * nOut;
        if (elements < ctx.Options.MinElements) { Reject($"{elements:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}"); return; }
        if (elements * 4 > int.MaxValue) { Reject($"{elements:N0} weights are more than one buffer holds"); return; }

        var type = scales.DataType;
        // The dequantized weight, row n (output feature) by row: [N, K], the layout TTF1 packs a
        // [K, N] MatMul weight in (channel rows), so the bytes are those of the transposed weight.
        using var w = new NativeBuffer((int)(elements * DataTypes.ByteCount(type, 1)));
        Dequantize(b, scales, zp, (int)nOut, (int)k, (int)blocks, (int)blob, (int)bits, (int)blockSize, type, w.GetSpan());
        var rows = new long[] { nOut, k };
        var scan = TernaryScan.Scan(w.GetSpan(), type, rows, 1);
        if (!scan.IsTernary) { Reject($"its dequantized weight is not ternary: {scan.Reason}"); return; }
        var layout = new TernaryLayout(rows, 1, ctx.Options.BlockSize);
        TensorData packed;
        using (var buffer = new NativeBuffer((int)layout.PackedBytes))
        {
            TernaryData.Pack(w.GetSpan(), type, layout, scan.ScaleBits, name, ctx.Options.Threads, buffer.GetSpan());
            packed = ctx.Spill.Add(buffer.GetSpan());
        }
        found.Weights.Add(new TernaryWeight
        {
            Name = name, Target = null, Source = bValue, Graph = g, Shape = [k, nOut], Axis = 0, Type = type,
            PerTensor = scan.PerTensor, ScaleBits = scan.ScaleBits, Packed = packed, NBitsNode = node,
            SourceKind = WeightSources.MatMulNBits, SourceOps = ["MatMulNBits"], OriginalBytes = b.ByteLength + scales.ByteLength + (zp?.ByteLength ?? 0),
        });
        ctx.Logger.LogDebug("ternary: MatMulNBits {Node} ({Bits}-bit, block {Block}): {Kind} scale", node.Describe(), bits, blockSize, scan.PerTensor ? "per-tensor" : "per-channel");
    }

    private static Func<string, TernionException> Bad(Node n) => why => new TernionException($"MatMulNBits {n.Describe()}: {why}");

    /// <summary>(q - zero_point) * scale, one float32 multiplication rounded once to the scale's type.</summary>
    private static void Dequantize(Tensor b, Tensor scales, Tensor? zeroPoints, int n, int k, int blocks, int blob, int bits, int blockSize, DataType type, Span<byte> dst)
    {
        using var bBytes = b.Data.Open();
        using var sBytes = scales.Data.Open();
        using var zBytes = zeroPoints?.Data.Open();
        var q = bBytes.Span;
        var s = sBytes.Span;
        var z = zeroPoints is null ? default : zBytes!.Value.Span;
        int perByte = 8 / bits, mask = (1 << bits) - 1, defaultZp = 1 << (bits - 1);
        int zpRow = (blocks * bits + 7) / 8;
        var f32 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(dst);
        var f16 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(dst);
        for (int row = 0; row < n; row++)
            for (int blk = 0; blk < blocks; blk++)
            {
                int si = row * blocks + blk;
                float scale = type == DataType.Float
                    ? BitConverter.ToSingle(s.Slice(si * 4, 4))
                    : (float)BitConverter.ToHalf(s.Slice(si * 2, 2));
                int zp = defaultZp;
                // Zero points are packed like the codes, each row padded to whole bytes.
                if (zeroPoints is not null) zp = (z[row * zpRow + blk / perByte] >> (blk % perByte * bits)) & mask;
                var blobBytes = q.Slice((row * blocks + blk) * blob, blob);
                int start = blk * blockSize;
                int end = Math.Min(k, start + blockSize);
                for (int kk = start; kk < end; kk++)
                {
                    int e = kk - start;
                    int code = (blobBytes[e / perByte] >> (e % perByte * bits)) & mask;
                    float v = (code - zp) * scale;
                    if (type == DataType.Float) f32[row * k + kk] = v;
                    else f16[row * k + kk] = (Half)v;
                }
            }
    }
}
